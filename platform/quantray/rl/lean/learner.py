"""A PPO learner that runs RLlib's minibatch loop over plain tensors.

RLlib's ``Learner.update`` wraps every minibatch step in its own machinery: a
``MiniBatchCyclicIterator`` that slices and concatenates ``SampleBatch`` objects, per-step
timers and Prometheus counters, six logged loss statistics (of which only the last
minibatch's survive: they are logged with ``window=1``), a ``torch.isfinite`` check per
parameter and a single-tensor Adam. With SB3's PPO defaults (64-sample minibatches, 10
epochs) that machinery costs ~1.4 ms of a ~2.1 ms step on a 2-core CPU, about three times
the arithmetic.

``LeanPPOTorchLearner`` keeps RLlib's PPO (its learner connector, GAE, KL-coefficient and
entropy schedules, checkpoints, metrics) and changes only how the epochs x minibatches are
stepped through:

- the train batch is built once by RLlib and handed to ``_update`` whole; ``_update`` walks
  the same minibatch sequence as ``MiniBatchCyclicIterator`` (consecutive slices of
  ``minibatch_size`` rows that wrap across epoch boundaries, the batch re-shuffled in place
  with ``np.random.permutation`` at each boundary), as index gathers on tensors;
- each minibatch computes the same PPO loss as ``PPOTorchLearner.compute_loss_for_module``
  (``ppo_loss`` below), and the last one goes through RLlib's own method so its statistics
  are logged exactly as RLlib logs them;
- one finite-gradient check over all parameters (``get_total_norm``) instead of one per
  parameter, with RLlib's fallback (zero the non-finite entries, warn) when it fails;
- Adam with ``fused=True`` (one kernel for all parameters; available on CPU and GPU).

Anything else goes through RLlib's own iterator unchanged (``_lean_applies``): batches with
a time rank (the recurrent GRU module), several modules or optimizers, non-tensor columns,
or a subclass that overrides the loss or gradient steps. ``tests/rl/test_lean_path.py``
checks the minibatch order against RLlib's iterator, ``ppo_loss`` against RLlib's loss, and
that updates leave the weights equal (up to float rounding: fused vs single-tensor Adam) to
the stock learner's on the same batches and seed.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import TorchCategorical
from ray.rllib.core.learner.learner import (
    ALL_MODULES,
    NUM_ENV_STEPS_TRAINED,
    NUM_ENV_STEPS_TRAINED_LIFETIME,
    NUM_MODULE_STEPS_TRAINED,
    NUM_MODULE_STEPS_TRAINED_LIFETIME,
)
from ray.rllib.core.rl_module.apis import SelfSupervisedLossAPI
from ray.rllib.evaluation.postprocessing import Postprocessing
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import MODULE_TRAIN_BATCH_SIZE_MEAN, WEIGHTS_SEQ_NO
from ray.rllib.utils.minibatch_utils import MiniBatchCyclicIterator, MiniBatchDummyIterator

logger = logging.getLogger(__name__)


def minibatch_indices(
    num_rows: int, minibatch_size: int, num_epochs: int, shuffle: bool
) -> list[np.ndarray]:
    """Row indices of each minibatch, in the order RLlib's ``MiniBatchCyclicIterator`` uses.

    Minibatches are consecutive ``minibatch_size`` slices of the batch; one that runs past
    the end wraps to the start of the next pass. Each time the end is reached the batch
    is shuffled in place (``np.random.permutation``, the global NumPy RNG, as RLlib does),
    so the first pass is in the batch's own order. Stops once every row has been used
    ``num_epochs`` times.
    """
    order = np.arange(num_rows)
    start, covered, out = 0, 0, []
    while covered < num_epochs:
        need, parts = minibatch_size, []
        while start + need >= num_rows:
            parts.append(order[start:])
            need -= num_rows - start
            start = 0
            covered += 1
            if shuffle:
                order = order[np.random.permutation(num_rows)]
        if need > 0:
            parts.append(order[start : start + need])
            start += need
        out.append(np.concatenate(parts) if len(parts) > 1 else parts[0])
    return out


def ppo_loss(
    learner: PPOTorchLearner,
    module_id: str,
    config: Any,
    batch: dict[str, torch.Tensor],
    fwd_out: dict[str, torch.Tensor],
) -> torch.Tensor:
    """``PPOTorchLearner.compute_loss_for_module``'s total loss, without its logging.

    The same terms (clipped surrogate, clipped value loss x ``vf_loss_coeff``, entropy x the
    scheduled coefficient, the KL penalty x the adaptive coefficient when ``use_kl_loss``),
    masked means when the batch has a loss mask; equal up to float rounding (the sum is
    taken in another order). For ``TorchCategorical`` the log-probabilities, entropy and KL
    are computed from ``log_softmax`` directly instead of through torch.distributions.
    """
    module = learner.module[module_id].unwrapped()
    if Columns.LOSS_MASK in batch:
        mask = batch[Columns.LOSS_MASK]
        num_valid = torch.sum(mask)

        def mean(x: torch.Tensor) -> torch.Tensor:
            return torch.sum(torch.where(mask, x, 0.0)) / num_valid
    else:
        mean = torch.mean

    logits = fwd_out[Columns.ACTION_DIST_INPUTS]
    train_cls = module.get_train_action_dist_cls()
    fast = issubclass(train_cls, TorchCategorical) and issubclass(
        module.get_exploration_action_dist_cls(), TorchCategorical
    )
    if fast:  # the Categorical terms on log-probabilities, without building distributions
        log_probs = torch.log_softmax(logits, dim=-1)
        actions = batch[Columns.ACTIONS].long().unsqueeze(-1)
        logp = log_probs.gather(-1, actions).squeeze(-1)
        entropy = -(log_probs.exp() * log_probs).sum(-1)
    else:
        curr = train_cls.from_logits(logits)
        logp, entropy = curr.logp(batch[Columns.ACTIONS]), curr.entropy()
    ratio = torch.exp(logp - batch[Columns.ACTION_LOGP])
    advantages = batch[Postprocessing.ADVANTAGES]
    surrogate = torch.min(
        advantages * ratio,
        advantages * torch.clamp(ratio, 1 - config.clip_param, 1 + config.clip_param),
    )
    entropy_coeff = learner.entropy_coeff_schedulers_per_module[module_id].get_current_value()
    per_sample = -surrogate - entropy_coeff * entropy
    if config.use_critic:
        values = module.compute_values(batch, embeddings=fwd_out.get(Columns.EMBEDDINGS))
        vf_loss = torch.pow(values - batch[Postprocessing.VALUE_TARGETS], 2.0)
        per_sample = per_sample + config.vf_loss_coeff * torch.clamp(
            vf_loss, 0, config.vf_clip_param
        )
    total = mean(per_sample)
    if config.use_kl_loss:
        prev_logits = batch[Columns.ACTION_DIST_INPUTS]
        if fast:
            prev_log_probs = torch.log_softmax(prev_logits, dim=-1)
            kl = (prev_log_probs.exp() * (prev_log_probs - log_probs)).sum(-1)
        else:
            prev = module.get_exploration_action_dist_cls().from_logits(prev_logits)
            kl = prev.kl(train_cls.from_logits(logits))
        total = total + learner.curr_kl_coeffs_per_module[module_id] * mean(kl)
    return total


def _flat_tensor_columns(module_batch: SampleBatch) -> bool:
    """True when every column is a tensor with one row per sample (no nested or list
    columns, which RLlib's own slicing handles)."""
    rows = len(module_batch)
    return all(
        isinstance(v, torch.Tensor) and v.ndim > 0 and v.shape[0] == rows
        for v in module_batch.values()
    )


class LeanPPOTorchLearner(PPOTorchLearner):
    """RLlib's ``PPOTorchLearner`` with a lean epochs x minibatches loop (module docstring)."""

    def build(self) -> None:
        super().build()
        # Row indices of each minibatch of the current update when the lean loop runs it
        # (set with the iterator, read by _update and the steps-trained metrics); else None.
        self._lean_minibatches: list[np.ndarray] | None = None

    def configure_optimizers_for_module(self, module_id: str, config: Any = None) -> None:
        """RLlib's default optimizer (Adam over all of the module's parameters, learning rate
        set by RLlib's scheduler from ``config.lr``), fused into one kernel per step."""
        params = self.get_parameters(self._module[module_id])
        optimizer = torch.optim.Adam(params, fused=True)
        self.register_optimizer(
            module_id=module_id, optimizer=optimizer, params=params, lr_or_lr_schedule=config.lr
        )

    def _create_iterator_if_necessary(self, **kwargs: Any) -> Any:
        # RLlib builds the train batch (learner connector, tensors on the device) and picks
        # its iterator; when the lean loop applies, it takes over that iterator's epochs,
        # minibatch size and shuffling, and RLlib's loop gets the whole batch once.
        iterator = super()._create_iterator_if_necessary(**kwargs)
        self._lean_minibatches = None
        if (
            isinstance(iterator, MiniBatchCyclicIterator)
            and iterator._num_total_minibatches == 0
            and self._lean_applies(iterator._batch)
        ):
            batch = iterator._batch
            self._lean_minibatches = minibatch_indices(
                len(next(iter(batch.policy_batches.values()))),
                iterator._minibatch_size,
                iterator._num_epochs,
                iterator._shuffle_batch_per_epoch,
            )
            return MiniBatchDummyIterator(batch, minibatch_size=iterator._minibatch_size)
        return iterator

    def _lean_applies(self, batch: MultiAgentBatch) -> bool:
        """True for what the lean loop reproduces exactly: one module with one optimizer,
        a flat batch of tensors (no time rank), trainable parameters, and this class's loss
        and gradient steps (a subclass overriding any of them, a self-supervised-loss
        module, grad scalers, torch lr schedulers, a compiled whole update or several
        learners: RLlib's loop)."""
        if len(batch.policy_batches) != 1:
            return False
        ((module_id, module_batch),) = batch.policy_batches.items()
        module = self.module[module_id]
        stock_steps = all(
            getattr(type(self), name) is getattr(LeanPPOTorchLearner, name)
            for name in (
                "compute_losses",
                "compute_loss_for_module",
                "compute_gradients",
                "postprocess_gradients",
                "postprocess_gradients_for_module",
                "apply_gradients",
            )
        )
        return (
            stock_steps
            and len(module_batch) > 0
            and module_batch.get(SampleBatch.SEQ_LENS) is None
            and _flat_tensor_columns(module_batch)
            and len(self.get_optimizers_for_module(module_id)) == 1
            and not module.inference_only
            and not isinstance(module.unwrapped(), SelfSupervisedLossAPI)
            and any(p.requires_grad for p in module.parameters())
            and self._grad_scalers is None
            and self._lr_scheduler_classes is None
            and not self._torch_compile_complete_update  # RLlib compiles its own _update
            and self.config.num_learners <= 1
        )

    def _update(self, batch: dict[str, Any], **kwargs: Any) -> tuple[Any, Any, Any]:
        plan = self._lean_minibatches
        if plan is None:
            return super()._update(batch, **kwargs)
        ((module_id, module_batch),) = batch.items()
        self._compute_off_policyness(batch)
        config = self.config.get_config_for_module(module_id)
        columns = dict(module_batch.items())  # all [rows, ...] tensors (_flat_tensor_columns)
        ((_, optimizer),) = self.get_optimizers_for_module(module_id)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        module = self.module[module_id]
        module.train()  # once, rather than in every forward_train call
        for i, idx in enumerate(plan):
            index = torch.as_tensor(idx, device=self._device)
            minibatch = {k: v.index_select(0, index) for k, v in columns.items()}
            fwd_out = module._forward_train(minibatch)
            if i < len(plan) - 1:
                loss = ppo_loss(self, module_id, config, minibatch, fwd_out)
            else:  # RLlib's own loss, which logs the statistics it reports (window=1)
                loss = self.compute_loss_for_module(
                    module_id=module_id, config=config, batch=minibatch, fwd_out=fwd_out
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None or config.log_gradients:
                # RLlib's clipping (and its gradient-norm logging), as TorchLearner does.
                processed = self.postprocess_gradients(
                    {p: p.grad for p in params if p.grad is not None}
                )
                for p, grad in processed.items():
                    p.grad = grad
            self._check_finite(params)
            optimizer.step()
        return {module_id: fwd_out}, {module_id: loss}, {}

    def _check_finite(self, params: list[torch.Tensor]) -> None:
        """RLlib's nan/inf rule with one check for all gradients: unless the config says
        to skip such updates, non-finite gradient entries are set to zero, with a warning."""
        if self.config.torch_skip_nan_gradients:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if torch.isfinite(torch.nn.utils.get_total_norm(grads)):
            return
        logger.warning("Gradients contain nan/inf values; setting them to zero.")
        for p in params:
            if p.grad is not None:
                p.grad = torch.nan_to_num(p.grad)

    def _log_steps_trained_metrics(self, batch: MultiAgentBatch) -> None:
        """RLlib logs these once per minibatch; the lean loop logs their totals once."""
        plan = self._lean_minibatches
        if plan is None:
            return super()._log_steps_trained_metrics(batch)
        count, size = len(plan), len(plan[0])
        trained = count * size
        for mid in batch.policy_batches:
            self.metrics.log_value((mid, WEIGHTS_SEQ_NO), self._weights_seq_no, window=1)
            self.metrics.log_value((mid, MODULE_TRAIN_BATCH_SIZE_MEAN), size, reduce="mean")
            self.metrics.log_value((mid, NUM_MODULE_STEPS_TRAINED), trained, reduce="sum")
            self.metrics.log_value(
                (mid, NUM_MODULE_STEPS_TRAINED_LIFETIME),
                trained,
                reduce="lifetime_sum",
                with_throughput=True,
            )
        for key, reduce in (
            (NUM_MODULE_STEPS_TRAINED, "sum"),
            (NUM_MODULE_STEPS_TRAINED_LIFETIME, "lifetime_sum"),
        ):
            self.metrics.log_value((ALL_MODULES, key), trained, reduce=reduce, with_throughput=True)
        # RLlib counts the whole batch's env steps once per minibatch.
        env_steps = batch.env_steps() * count
        self.metrics.log_value(
            (ALL_MODULES, NUM_ENV_STEPS_TRAINED), env_steps, reduce="sum", with_throughput=True
        )
        self.metrics.log_value(
            (ALL_MODULES, NUM_ENV_STEPS_TRAINED_LIFETIME),
            env_steps,
            reduce="lifetime_sum",
            with_throughput=True,
        )
