"""Multi-node behaviour on one machine with ``ray.cluster_utils.Cluster``.

A 0-CPU head plus 1-CPU worker nodes: two Ray Train workers (1 CPU each) must land on two
different nodes, the frozen-feature export's two Ray Data actors too (with the in-process
features), two tasks pinned to different nodes build the stage-1 feature cache on a
shared root exactly once, and (slow) a node removed mid-run is survived by restarting the
worker group from the last checkpoint. Everything runs in a private RAY_TMPDIR so the
simulated cluster never becomes the "current cluster" another process on this machine joins.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from quantray.config import DataConfig, PriceModelConfig, PriceTrainConfig, SplitConfig
from quantray.data.synthetic import generate, write_bars
from quantray.train import ray_runtime
from quantray.train.price import (
    PriceRunSpec,
    build_price_data,
    fit_price_model,
    load_checkpoint,
)

TRAIN_WORKER = "RayTrainWorker"


def micro_spec(model: PriceModelConfig, data_path: Path, epochs: int = 1) -> PriceRunSpec:
    return PriceRunSpec(
        model,
        PriceTrainConfig(
            epochs=epochs,
            max_steps_per_epoch=2,
            eval_samples=32,
            batch_size=8,
            warmup_steps=1,
        ),
        str(data_path),
        DataConfig(window=60),
        SplitConfig(),
    )


def train_worker_nodes() -> dict[str, tuple[str, str]]:
    """actor id -> (node id, state) of every Ray Train worker actor this cluster has run
    (the GCS actor table keeps dead actors too)."""
    import ray._private.state

    return {
        actor_id: (info["Address"]["NodeID"], info["State"])
        for actor_id, info in ray._private.state.actors().items()
        if info["ActorClassName"] == TRAIN_WORKER
    }


@pytest.fixture(scope="module")
def cluster():
    """Head with 0 CPUs (it schedules nothing) and two 1-CPU worker nodes; the driver
    joins it through ``ray_runtime.init_ray`` (which drops the local-only num_cpus)."""
    import ray
    from ray.cluster_utils import Cluster

    tmp = Path(tempfile.mkdtemp(prefix="qrc", dir="/tmp"))  # short: socket paths are limited
    patch = pytest.MonkeyPatch()
    patch.setenv("RAY_TMPDIR", str(tmp))
    patch.delenv("RAY_ADDRESS", raising=False)
    sim = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "include_dashboard": False},
    )
    try:
        workers = [sim.add_node(num_cpus=1) for _ in range(2)]
        sim.wait_for_nodes()
        ray_runtime.init_ray(sim.address, "tests/cluster/test_multinode.py", num_cpus=8)
        bars = {s: f.drop(columns="regime") for s, f in generate(2, 700, seed=5).items()}
        data = write_bars(bars, tmp / "bars.parquet")
        yield sim, workers, tmp, data
    finally:
        ray.shutdown()
        sim.shutdown()
        patch.undo()
        shutil.rmtree(tmp, ignore_errors=True)


def test_driver_joined_the_simulated_cluster(cluster):
    import ray

    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert len(nodes) == 3
    assert ray.cluster_resources()["CPU"] == 2.0  # num_cpus=8 was not applied when joining
    assert ray.get_runtime_context().namespace == ray_runtime.NAMESPACE


def test_train_workers_spread_across_nodes(cluster, micro_model):
    _, workers, tmp, data = cluster
    before = set(train_worker_nodes())
    spec = micro_spec(micro_model, data)
    result = fit_price_model(spec, storage_path=str(tmp / "runs"), name="spread", num_workers=2)
    assert result.error is None
    # Each worker fetched only its shard: the larger one is about half the panel, not all.
    whole_mib = build_price_data(spec).nbytes / 2**20
    assert result.metrics["data_mib"] <= 0.6 * whole_mib, (result.metrics["data_mib"], whole_mib)
    with result.checkpoint.as_directory() as directory:
        assert load_checkpoint(directory)["epoch"] == 0
    ran = {a: v for a, v in train_worker_nodes().items() if a not in before}
    assert len(ran) == 2, ran
    nodes = {node for node, _ in ran.values()}
    # Two workers with 1 CPU each on 1-CPU nodes: one per worker node, none on the head.
    assert nodes == {w.node_id for w in workers}


def test_stage1_cache_built_once_by_two_nodes_at_the_same_time(cluster, micro_model):
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    _, workers, tmp, data = cluster
    root = tmp / "shared-cache"  # one directory both "nodes" see, as on a shared filesystem
    spec = micro_spec(micro_model, data)

    @ray.remote(num_cpus=1)
    def build(spec_dict: dict, root: str) -> tuple[str, str, float, float]:
        from quantray.features.store import ensure_feature_cache
        from quantray.train.price import PriceRunSpec

        started = time.time()
        path = ensure_feature_cache(PriceRunSpec.from_dict(spec_dict), root)
        return str(path), ray.get_runtime_context().get_node_id(), started, time.time()

    refs = [
        build.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(w.node_id, soft=False)
        ).remote(spec.to_dict(), str(root))
        for w in workers
    ]
    (path_a, node_a, start_a, end_a), (path_b, node_b, start_b, end_b) = ray.get(refs)
    assert {node_a, node_b} == {w.node_id for w in workers}
    assert start_a < end_b and start_b < end_a  # the two calls overlapped in time
    assert path_a == path_b
    assert len(list(root.glob("stage1-*"))) == 1
    assert [p.name for p in root.glob("features-*")] == [Path(path_a).name]
    assert not list(root.glob("*.partial"))
    assert (Path(path_a) / "meta.json").exists()


def test_export_actors_on_two_nodes_give_the_in_process_features(
    cluster, micro_model, stage1_checkpoint
):
    import json

    import numpy as np

    from quantray.config import RayExportSettings
    from quantray.features.export import export_features

    _, workers, tmp, data = cluster
    ckpt = stage1_checkpoint(tmp / "export-model.pt", data, micro_model)
    local = export_features(
        ckpt, tmp / "local", data, progress=False, settings=RayExportSettings(backend="local")
    )
    settings = RayExportSettings(backend="ray", actors=2, num_cpus=1, rows_per_block=64)
    remote = export_features(ckpt, tmp / "remote", data, progress=False, settings=settings)
    meta = json.loads((remote / "meta.json").read_text())
    # One 1-CPU actor per 1-CPU worker node (the head has no CPU): both nodes computed rows.
    assert meta["export"] == "ray_data" and meta["nodes_used"] == 2, meta
    assert set(meta["rows_by_node"]) == {w.node_id for w in workers}
    assert meta["duplicate_rows"] == 0
    np.testing.assert_allclose(
        np.load(remote / "features.npy"), np.load(local / "features.npy"), rtol=1e-5, atol=1e-6
    )


@pytest.mark.slow
def test_node_removed_mid_run_is_survived(cluster, micro_model):
    """Kill the node hosting a Train worker after the first checkpoint: FailureConfig
    restarts the worker group (on the spare node) from that checkpoint and the run ends."""
    sim, _, tmp, data = cluster
    sim.add_node(num_cpus=1)  # a spare node for the restart
    sim.wait_for_nodes()
    storage, name, epochs = tmp / "runs", "survive", 6
    before = set(train_worker_nodes())
    removed: list[str] = []

    def remove_a_worker_node() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if list((storage / name).glob("checkpoint_*")):
                alive = {
                    node
                    for a, (node, state) in train_worker_nodes().items()
                    if a not in before and state == "ALIVE"
                }
                node = worker_node_among(sim, alive)
                if node is not None:
                    removed.append(node.node_id)
                    sim.remove_node(node, allow_graceful=False)
                    return
            time.sleep(0.2)

    killer = threading.Thread(target=remove_a_worker_node, daemon=True)
    killer.start()
    result = fit_price_model(
        micro_spec(micro_model, data, epochs=epochs),
        storage_path=str(storage),
        name=name,
        num_workers=2,
        max_failures=2,
    )
    killer.join(timeout=30)
    assert removed, "no worker node was removed: the run ended before its first checkpoint"
    assert result.error is None
    with result.checkpoint.as_directory() as directory:
        assert load_checkpoint(directory)["epoch"] == epochs - 1
    ran = {a: v for a, v in train_worker_nodes().items() if a not in before}
    assert len(ran) >= 4, ran  # a second worker group was started after the failure
    assert all(node != removed[0] for node, state in ran.values() if state == "ALIVE")


def worker_node_among(sim: Any, node_ids: set[str]) -> Any | None:
    """A live worker node of the simulated cluster whose id is in ``node_ids``, or None. The
    cluster is shared by the module's tests: a node another test added (its spare) counts."""
    return next((n for n in sim.worker_nodes if n.node_id in node_ids), None)


def map_worker_nodes() -> dict[str, str]:
    """actor id -> node id of every ALIVE Ray Data map worker (the export's actor pool)."""
    import ray._private.state

    return {
        actor_id: info["Address"]["NodeID"]
        for actor_id, info in ray._private.state.actors().items()
        if "MapWorker" in info["ActorClassName"] and info["State"] == "ALIVE"
    }


@pytest.mark.slow
def test_node_removed_mid_export_loses_and_duplicates_no_row(
    cluster, micro_model, stage1_checkpoint, monkeypatch
):
    """Remove a node hosting an export actor after the first output block arrives: Ray Data
    restarts the actor on the spare node and re-runs its unfinished blocks; every row is
    written exactly once and the features equal the in-process export."""
    import json

    import numpy as np

    from quantray.config import RayExportSettings
    from quantray.features import ray_export
    from quantray.features.export import export_features

    sim, _, tmp, data = cluster
    sim.add_node(num_cpus=1)  # a spare node for the restart
    sim.wait_for_nodes()
    ckpt = stage1_checkpoint(tmp / "removal-model.pt", data, micro_model)
    local = export_features(
        ckpt,
        tmp / "removal-local",
        data,
        progress=False,
        settings=RayExportSettings(backend="local"),
    )
    removed: list[str] = []
    encode = ray_export.ray_encode_rows

    def encode_and_remove_a_node(state, normalized, rows, window, settings, sink):
        def sink_then_remove(block_rows, features):
            sink(block_rows, features)
            if removed:
                return
            node = worker_node_among(sim, set(map_worker_nodes().values()))
            if node is not None:
                removed.append(node.node_id)
                sim.remove_node(node, allow_graceful=False)

        return encode(state, normalized, rows, window, settings, sink_then_remove)

    monkeypatch.setattr(ray_export, "ray_encode_rows", encode_and_remove_a_node)
    # Small blocks: the export (fast for this one-layer model) is still running when the
    # first block reaches the driver.
    settings = RayExportSettings(backend="ray", actors=2, num_cpus=1, rows_per_block=4)
    remote = export_features(
        ckpt, tmp / "removal-remote", data, progress=False, settings=settings
    )  # a lost row would raise here
    assert removed, "no export actor was found to remove"
    meta = json.loads((remote / "meta.json").read_text())
    assert meta["export"] == "ray_data" and meta["duplicate_rows"] == 0, meta
    np.testing.assert_allclose(
        np.load(remote / "features.npy"), np.load(local / "features.npy"), rtol=1e-5, atol=1e-6
    )
