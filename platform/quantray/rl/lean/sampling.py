"""A lean sampling path for PPO's MLP policy on the trading env's ``Discrete(11)`` positions.

RLlib's env runner spends most of a sampling step outside the env and the network: the
default env-to-module pipeline (five connector pieces, each timed through the metrics
logger, each walking the batch with ``tree.map_structure``), the default module-to-env
pipeline (six more), and ``TorchRLModule.forward_exploration`` switching the whole module
to ``eval()`` and back to ``train()`` around every forward pass. On a 2-core CPU that is
~0.5 ms of a one-env step whose env and 64x64 MLP take ~0.1 ms.

For a stateless single-agent policy with a ``Discrete`` action the defaults reduce to two
small steps, which this module implements as one connector piece each:

- ``ObservationsToTensor``: the latest observation of every ongoing episode, in env-vector
  order, as one float tensor (what ``AddObservationsFromEpisodesToBatch``,
  ``BatchIndividualItems`` and ``NumpyToTensor`` produce together);
- ``SampleDiscreteActions``: actions drawn from the categorical over the module's logits
  (``argmax`` when not exploring), their log-probabilities, and the logits, as NumPy arrays
  indexable by env index (what ``GetActions``, ``TensorToNumpy``,
  ``UnBatchToIndividualItems`` and ``ListifyDataForVectorEnv`` produce; the action
  normaliser is a no-op for ``Discrete``).

``LeanPPOTorchRLModule`` is RLlib's default PPO module with one change: an inference-only
copy (the env runner's) stays in ``eval()`` mode instead of toggling around every call.

``ppo_config`` turns all three on for ``module="mlp"`` (``lean_sampling=True``);
``tests/rl/test_lean_path.py`` checks that a seeded sampling round gives the same episodes
(observations, actions, log-probabilities, logits, rewards) on both paths.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import (
    DefaultPPOTorchRLModule,
)
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns


class LeanPPOTorchRLModule(DefaultPPOTorchRLModule):
    """RLlib's default PPO module (MLP encoders, pi and vf heads). Forward passes for
    acting switch the module to ``eval()`` once and leave it there (the stock module goes
    ``eval()`` -> ``train()`` around every call; ``forward_train`` re-enters training mode
    itself, so a module that both acts and learns stays correct)."""

    def forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if self.training:
            self.eval()
        return self._forward_exploration(batch, **kwargs)

    def forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if self.training:
            self.eval()
        return self._forward_inference(batch, **kwargs)


class ObservationsToTensor(ConnectorV2):
    """Env-to-module piece: ``batch["obs"]`` = the last observation of each episode, [N, K]."""

    def __init__(self, *args: Any, device: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._device = device

    def __call__(self, *, batch: dict[str, Any], episodes: list[Any], **kwargs: Any) -> Any:
        # RLlib's pipeline passes every argument by keyword; the unused ones (rl_module,
        # explore, shared_data, metrics) land in kwargs.
        if Columns.OBS not in batch:
            obs = np.stack([episode.get_observations(-1) for episode in episodes])
            tensor = torch.from_numpy(obs.astype(np.float32, copy=False))
            batch[Columns.OBS] = tensor if self._device is None else tensor.to(self._device)
        return batch


class SampleDiscreteActions(ConnectorV2):
    """Module-to-env piece: categorical actions from ``action_dist_inputs`` (logits).

    Exploring: a draw from softmax(logits) (``torch.multinomial``, the sampler torch's
    ``Categorical`` uses) and its log-probability; otherwise the argmax with log-probability
    0 (RLlib's ``to_deterministic()``). Writes ``actions`` [N] int64, ``action_logp`` [N]
    float32 and ``action_dist_inputs`` [N, A] float32 as NumPy arrays. Only for a
    ``Discrete`` action space (``ppo_config`` uses it only there).
    """

    def __call__(self, *, batch: dict[str, Any], explore: bool | None = None, **kwargs: Any) -> Any:
        # Keyword arguments from RLlib's pipeline; rl_module, episodes, shared_data and
        # metrics are unused here.
        logits = batch[Columns.ACTION_DIST_INPUTS].cpu()
        log_probs = torch.log_softmax(logits, dim=-1)
        if explore:
            actions = torch.multinomial(log_probs.exp(), 1).squeeze(-1)
            logp = log_probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        else:
            # RLlib's deterministic distribution: the argmax, with log-probability 0.
            actions = log_probs.argmax(dim=-1)
            logp = torch.zeros_like(actions, dtype=log_probs.dtype)
        batch[Columns.ACTION_LOGP] = logp.numpy()
        batch[Columns.ACTIONS] = actions.numpy()
        batch[Columns.ACTION_DIST_INPUTS] = logits.numpy()
        return batch


def lean_env_to_module(env: Any = None, spaces: Any = None, device: Any = None) -> ConnectorV2:
    """``config.env_runners(env_to_module_connector=...)`` factory."""
    return ObservationsToTensor(device=device)


def lean_module_to_env(env: Any = None, spaces: Any = None) -> ConnectorV2:
    """``config.env_runners(module_to_env_connector=...)`` factory."""
    return SampleDiscreteActions()
