"""The recurrent GRU actor-critic RLModule for PPO, built from the stage-2 GRU strategy.

The actor IS ``quantray.models.StrategyGRU``'s network: its ``GRUCell`` over [frozen feature
of day t, held position, t/E, episode return so far] (D + 3 inputs, exactly the env's
observation with ``include_episode_return=True``) and its position head, giving logits over
the A = 11 positions. The critic is a value head on the same GRU state (the seed's
``RLStrategyNetwork``: shared recurrent torso, separate policy and value heads). The GRU
state is RLlib's ``Columns.STATE_IN`` / ``STATE_OUT`` (key "h", [B, hidden]); RLlib's
connectors cut training batches into sequences of ``max_seq_len`` = E = 20 steps with the
stored state at each sequence start.

``model_config`` keys: ``hidden_size`` (GRU state, default 64), ``head_hidden`` (hidden width
of the policy and value heads, default 64), ``max_seq_len`` (20), and optionally
``strategy_checkpoint``: a stage-2 ``strategy.pt`` (``quantray.train.strategy``) whose
GRUCell and position head initialise the actor, so PPO can fine-tune the differentiable
strategy (its hidden sizes then come from the checkpoint).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import Tensor, nn

from quantray.config import StrategyConfig
from quantray.models.strategy_gru import PORTFOLIO_STATE_SIZE, StrategyGRU


class GRUActorCritic(TorchRLModule, ValueFunctionAPI):
    """StrategyGRU's GRUCell + position head (actor) and a value head (critic)."""

    def setup(self) -> None:
        size = int(self.observation_space.shape[0])
        feature_dim = size - PORTFOLIO_STATE_SIZE
        if feature_dim < 1:
            raise ValueError(
                f"GRUActorCritic: observations of length {size} are too short; expected the "
                f"feature vector plus {PORTFOLIO_STATE_SIZE} portfolio columns (make the env "
                "with include_episode_return=True; quantray.rl.ppo_config(module='gru') does)"
            )
        n_actions = int(self.action_space.n)
        checkpoint = self.model_config.get("strategy_checkpoint")
        if checkpoint:
            from quantray.train.strategy import load_strategy

            strategy, config, _, _ = load_strategy(checkpoint)
            if strategy.feature_dim != feature_dim or config.n_actions != n_actions:
                raise ValueError(
                    f"GRUActorCritic: strategy checkpoint {checkpoint} has D={strategy.feature_dim}"
                    f", A={config.n_actions}; the env gives D={feature_dim}, A={n_actions}. Use "
                    "the checkpoint trained on the same feature cache."
                )
        else:
            config = StrategyConfig(
                feature_dim=feature_dim,
                hidden_size=int(self.model_config.get("hidden_size", 64)),
                head_hidden=int(self.model_config.get("head_hidden", 64)),
                n_actions=n_actions,
            )
            strategy = StrategyGRU(config, feature_dim)
        self.hidden_size = config.hidden_size
        self.cell = strategy.cell  # GRUCell(D + 3 -> hidden)
        self.policy_head = strategy.head  # hidden -> A logits
        self.value_head = nn.Sequential(
            nn.Linear(config.hidden_size, config.head_hidden),
            nn.GELU(),
            nn.Linear(config.head_hidden, 1),
        )

    def get_initial_state(self) -> dict[str, np.ndarray]:
        """Zero GRU state [hidden] at the start of every episode (as StrategyGRU starts)."""
        return {"h": np.zeros(self.hidden_size, dtype=np.float32)}

    def _unroll(self, batch: dict[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
        """GRU states [B, T, hidden] over the batch's sequences, and the last state."""
        obs = batch[Columns.OBS]  # [B, T, D + 3]
        hidden = batch[Columns.STATE_IN]["h"]  # [B, hidden]
        outputs = []
        # The GRU is sequential in time; B sequences advance together (T <= max_seq_len).
        for t in range(obs.shape[1]):
            hidden = self.cell(obs[:, t], hidden)  # [B, D + 3] -> [B, hidden]
            outputs.append(hidden)
        return torch.stack(outputs, dim=1), {"h": hidden}  # T x [B, hidden] -> [B, T, hidden]

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        embeddings, state_out = self._unroll(batch)
        return {
            Columns.ACTION_DIST_INPUTS: self.policy_head(embeddings),  # [B, T, A]
            Columns.STATE_OUT: state_out,
        }

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        embeddings, state_out = self._unroll(batch)
        return {
            Columns.ACTION_DIST_INPUTS: self.policy_head(embeddings),  # [B, T, A]
            Columns.STATE_OUT: state_out,
            Columns.EMBEDDINGS: embeddings,
        }

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> Tensor:
        """State values [B, T] from the value head on the GRU state."""
        if embeddings is None:
            embeddings, _ = self._unroll(batch)
        return self.value_head(embeddings).squeeze(-1)  # [B, T, 1] -> [B, T]
