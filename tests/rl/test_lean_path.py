"""quantray's lean PPO path (quantray.rl.lean.learner, quantray.rl.lean.sampling) against RLlib's stock
learner and sampling pipelines: same minibatch order, same update, same episodes."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME
from ray.rllib.utils.minibatch_utils import MiniBatchCyclicIterator

from quantray.config import CostConfig, PPOSettings
from quantray.envs.vector_env import TradingVectorEnv
from quantray.evaluate import backtest_episodes
from quantray.rl import ppo_config, rl_positions
from quantray.rl.lean.learner import LeanPPOTorchLearner, minibatch_indices, ppo_loss
from quantray.rl.lean.sampling import LeanPPOTorchRLModule


@pytest.mark.parametrize(
    "rows, size, epochs, shuffle",
    [(10, 4, 3, True), (10, 4, 3, False), (8, 4, 2, True), (7, 10, 2, True), (64, 64, 1, True)],
)
def test_minibatch_order_is_rllibs_cyclic_iterator(rows, size, epochs, shuffle):
    """Same rows in the same minibatches as MiniBatchCyclicIterator, wrap-around and
    in-place reshuffles at every epoch boundary included (same global NumPy seed)."""
    batch = MultiAgentBatch({"p": SampleBatch({"row": np.arange(rows)})}, env_steps=rows)
    np.random.seed(7)
    stock = [
        mb.policy_batches["p"]["row"].tolist()
        for mb in MiniBatchCyclicIterator(
            batch, num_epochs=epochs, minibatch_size=size, shuffle_batch_per_epoch=shuffle
        )
    ]
    np.random.seed(7)
    ours = [idx.tolist() for idx in minibatch_indices(rows, size, epochs, shuffle)]
    assert ours == stock
    assert all(len(mb) == size for mb in ours)


def _pair(task, *, lean_learner: bool, lean_sampling: bool, envs: int = 2, **training):
    settings = PPOSettings.smoke().replace(
        num_envs=envs,
        train_batch_size=200,
        minibatch_size=48,  # 200 + the extra bootstrap steps is no multiple: wrap-around
        num_epochs=3,
    )
    config = ppo_config(
        {"task": task, "cost": "cn_a_share"},
        settings,
        seed=0,
        lean_learner=lean_learner,
        lean_sampling=lean_sampling,
    )
    if training:
        config.training(**training)
    return config.build_algo()


def _weights(algo) -> dict[str, torch.Tensor]:
    """The learner's copy of the policy weights (``get_module`` is the env runner's)."""
    module = algo.learner_group._learner.module["default_policy"]
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize(
    "training",
    [
        {},  # PPO's defaults: adaptive KL penalty, no gradient clipping
        {"use_kl_loss": False, "grad_clip": 0.05, "grad_clip_by": "global_norm"},
    ],
    ids=["kl-penalty", "no-kl-clipped"],
)
def test_lean_learner_updates_equal_stock_learner(ray_local, limit_task, training):
    """Two PPO updates (3 epochs of 48-sample minibatches each, shuffled; the KL coefficient
    adapts in between) from the same weights on the same episodes: equal weights and equal
    reported statistics after each."""
    stock = _pair(limit_task, lean_learner=False, lean_sampling=False, **training)
    lean = _pair(limit_task, lean_learner=True, lean_sampling=False, **training)
    try:
        assert isinstance(lean.learner_group._learner, LeanPPOTorchLearner)
        lean.set_state({"learner_group": stock.learner_group.get_state(components="learner")})
        start = _weights(stock)
        for key, value in _weights(lean).items():
            torch.testing.assert_close(value, start[key], rtol=0, atol=0)
        for update in range(2):
            episodes = stock.env_runner.sample(num_timesteps=200, explore=True)
            results = []
            for algo in (stock, lean):
                np.random.seed(3 + update)
                results.append(
                    algo.learner_group.update(
                        episodes=copy.deepcopy(episodes),
                        timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: 200 * (update + 1)},
                        num_epochs=3,
                        minibatch_size=48,
                        shuffle_batch_per_epoch=True,
                    )
                )
            # The lean loop ran (not RLlib's, which it falls back to for other batches).
            plan = lean.learner_group._learner._lean_minibatches
            assert plan is not None and {len(mb) for mb in plan} == {48}
            assert len(plan) == _minibatch_count(results[0])
            after_stock, after_lean = _weights(stock), _weights(lean)
            moved = max((after_stock[k] - start[k]).abs().max().item() for k in start)
            assert moved > 1e-5  # the update did something
            for key, value in after_lean.items():
                # Fused vs single-tensor Adam: the same arithmetic up to rounding.
                torch.testing.assert_close(value, after_stock[key], rtol=1e-4, atol=1e-6)
            stats_stock, stats_lean = (r["default_policy"] for r in _peek(results))
            assert set(stats_lean) == set(stats_stock)
            for key in ("policy_loss", "vf_loss", "entropy", "mean_kl_loss", "curr_kl_coeff"):
                if key not in stats_stock:  # no KL coefficient without the KL loss
                    continue
                np.testing.assert_allclose(
                    stats_lean[key], stats_stock[key], rtol=1e-4, atol=1e-6, err_msg=key
                )
            for key in ("num_module_steps_trained", "module_train_batch_size_mean"):
                assert stats_lean[key] == stats_stock[key], key
    finally:
        stock.stop()
        lean.stop()


def test_ppo_loss_equals_rllibs_loss_on_a_masked_batch(ray_local, limit_task):
    """ppo_loss (every minibatch but the last) against PPOTorchLearner's own loss on RLlib's
    train batch, loss mask included, with a non-trivial KL coefficient."""
    from ray.rllib.core.learner.training_data import TrainingData

    algo = _pair(limit_task, lean_learner=True, lean_sampling=False)
    try:
        learner = algo.learner_group._learner
        learner.curr_kl_coeffs_per_module["default_policy"].data.fill_(0.7)
        episodes = algo.env_runner.sample(num_timesteps=200, explore=True)
        whole = learner._create_iterator_if_necessary(
            training_data=TrainingData(episodes=episodes), num_epochs=1
        )
        (batch,) = (dict(b.items()) for b in whole._batch.policy_batches.values())
        assert not batch[Columns.LOSS_MASK].all()  # the bootstrap steps are masked out
        module = learner.module["default_policy"]
        # Perturb the policy so the ratio, clipping and KL terms are all non-trivial.
        with torch.no_grad():
            for p in module.parameters():
                p.add_(0.05 * torch.randn_like(p))
        fwd_out = module.forward_train(batch)
        config = learner.config.get_config_for_module("default_policy")
        ours = ppo_loss(learner, "default_policy", config, batch, fwd_out)
        rllib = learner.compute_loss_for_module(
            module_id="default_policy", config=config, batch=batch, fwd_out=fwd_out
        )
        torch.testing.assert_close(ours, rllib, rtol=1e-6, atol=1e-9)
        # Its gradient too (what the optimizer sees).
        grads = [
            torch.autograd.grad(x, list(module.parameters()), retain_graph=True)
            for x in (ours, rllib)
        ]
        for a, b in zip(*grads, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-8)
    finally:
        algo.stop()


def _minibatch_count(stock_result) -> int:
    """Minibatches the stock learner stepped through: samples trained / minibatch size."""
    (stats,) = _peek([stock_result])
    return int(stats["default_policy"]["num_module_steps_trained"]) // 48


def _peek(results):
    from ray.rllib.utils.metrics.stats import StatsBase

    def value(x):
        return x.peek() if isinstance(x, StatsBase) else x

    out = []
    for result in results:
        result = result[0] if isinstance(result, list) else result
        out.append({mid: {k: value(v) for k, v in d.items()} for mid, d in result.items()})
    return out


def test_lean_sampling_gives_the_stock_episodes(ray_local, limit_task):
    """One env, same seed and weights: the lean connectors, module and TradingVectorEnv
    record the same observations, actions, log-probabilities, logits and rewards as RLlib's
    default pipelines over SyncVectorEnv(TradingEnv)."""
    stock = _pair(limit_task, lean_learner=False, lean_sampling=False, envs=1)
    lean = _pair(limit_task, lean_learner=False, lean_sampling=True, envs=1)
    try:
        assert isinstance(lean.env_runner.module, LeanPPOTorchRLModule)
        assert isinstance(lean.env_runner.env.unwrapped, TradingVectorEnv)
        assert not isinstance(stock.env_runner.env.unwrapped, TradingVectorEnv)
        lean.env_runner.set_state(stock.env_runner.get_state())
        recorded = []
        for algo in (stock, lean):
            torch.manual_seed(11)
            algo.env_runner.env.reset(seed=5)
            episodes = algo.env_runner.sample(num_timesteps=100, explore=True, force_reset=True)
            recorded.append(episodes)
        assert sum(len(e) for e in recorded[1]) == sum(len(e) for e in recorded[0]) >= 100
        for a, b in zip(*recorded, strict=True):
            np.testing.assert_array_equal(b.get_observations(), a.get_observations())
            np.testing.assert_array_equal(b.get_actions(), a.get_actions())
            np.testing.assert_array_equal(b.get_rewards(), a.get_rewards())
            for column in (Columns.ACTION_LOGP, Columns.ACTION_DIST_INPUTS):
                np.testing.assert_allclose(
                    b.get_extra_model_outputs(column),
                    a.get_extra_model_outputs(column),
                    rtol=1e-5,
                    atol=1e-6,
                )
    finally:
        stock.stop()
        lean.stop()


def test_lean_ppo_rllib_evaluation_plays_the_greedy_policy(ray_local, limit_task):
    """RLlib's own evaluation (explore=False through the lean connectors, TradingVectorEnv in
    eval mode) earns, on the first validation episodes, the summed daily net returns of
    the greedy positions quantray's evaluation computes for the same policy."""
    config = ppo_config(
        {"task": limit_task, "cost": "cn_a_share"},
        smoke=True,
        seed=1,
        evaluation_interval=1,
        evaluation_episodes=4,
    )
    algo = config.build_algo()
    try:
        result = algo.train()
        evaluation = result["evaluation"]["env_runners"]
        assert evaluation["num_episodes"] == 4
        valid = limit_task.episodes("valid", stride=limit_task.data.episode_len)
        positions = rl_positions(algo, limit_task, valid, action_type="discrete", cost="cn_a_share")
        cost = CostConfig.preset("cn_a_share")
        net = backtest_episodes(positions, valid, cost).net
        np.testing.assert_allclose(
            evaluation["episode_return_mean"], net[:4].sum(axis=1).mean(), rtol=1e-6
        )
    finally:
        algo.stop()


def test_lean_sampling_on_a_remote_env_runner(ray_local, limit_task):
    """The lean connectors, module and vector env travel to an env-runner actor (the
    cluster layout) and sample there."""
    config = ppo_config({"task": limit_task, "cost": "cn_a_share"}, smoke=True, num_env_runners=1)
    algo = config.build_algo()
    try:
        result = algo.train()
        assert result["env_runners"]["num_env_steps_sampled"] == 400
        remote = algo.env_runner_group.foreach_env_runner(
            lambda runner: (type(runner.module).__name__, type(runner.env.unwrapped).__name__),
            local_env_runner=False,
        )
        assert remote == [("LeanPPOTorchRLModule", "TradingVectorEnv")]
    finally:
        algo.stop()
