"""Tests of the zoo generator: format, determinism, resume, dask, fidelity vs Keras."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skweights._format import METRICS_COLUMNS
from skweights.layout import Layout
from skweights.zoo import (
    HYPERPARAMETER_RANGES,
    default_checkpoints,
    generate_zoo,
    sample_hyperparameters,
)

KW = {"dataset": "digits", "n_networks": 8, "epochs": 2, "seed": 3, "group_size": 4}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    return generate_zoo(tmp_path_factory.mktemp("ref"), progress=False, **KW)


def _read(path):
    return np.load(path / "weights.npy"), pd.read_csv(path / "metrics.csv.gz")


def test_format_round_trip(reference):
    weights, metrics = _read(reference)
    assert tuple(metrics.columns) == METRICS_COLUMNS
    assert weights.dtype == np.float32 and weights.shape == (len(metrics), 4970)
    assert Layout.from_csv(reference / "layout.csv").n_params == 4970
    packaged = (
        Path(__file__).resolve().parents[2] / "skweights" / "data" / "small_cnn_zoo_layout.csv"
    )
    assert pd.read_csv(reference / "layout.csv").equals(pd.read_csv(packaged))
    assert metrics["modeldir"].nunique() == KW["n_networks"]
    assert (metrics["config.dnn_architecture"] == "cnn").all()
    assert (metrics["config.optimizer"] == "adam").all()
    assert set(metrics["step"]) <= set(default_checkpoints(KW["epochs"]))
    # rows ordered by run then step
    key = list(zip(metrics["modeldir"], metrics["step"]))
    assert key == sorted(key)
    for col in ("test_accuracy", "train_accuracy"):
        assert metrics[col].between(0, 1).all()
    # step 0 weights: biases are zero
    assert np.all(weights[metrics["step"].to_numpy() == 0][:, :16] == 0)


def test_sampler_ranges():
    configs = pd.DataFrame(sample_hyperparameters(300, seed=1))
    for key in ("learning_rate", "l2reg", "dropout", "init_std"):
        low, high = HYPERPARAMETER_RANGES[key]
        assert configs[key].between(low, high).all()
    assert set(configs["w_init"]) == set(HYPERPARAMETER_RANGES["w_init"])
    assert set(configs["train_fraction"]) == {0.1, 0.25, 0.5, 1.0}
    assert configs["random_seed"].nunique() == 300
    # prefix-stable
    assert sample_hyperparameters(5, seed=1) == sample_hyperparameters(300, seed=1)[:5]
    with pytest.raises(ValueError, match="Unknown hyperparameter"):
        sample_hyperparameters(2, hyperparameter_ranges={"nope": (1, 2)})


def test_resume_after_kill(reference, tmp_path):
    out = tmp_path / "resumed"
    code = (
        "from skweights.zoo import generate_zoo\n"
        f"generate_zoo({str(out)!r}, progress=False, **{KW!r})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    shards = out / ".shards"
    deadline = time.time() + 600
    while time.time() < deadline and not list(shards.glob("group-*.npz")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = {p.name: p.stat().st_mtime_ns for p in shards.glob("group-*.npz")}
    assert first, "no shard was written before the kill"
    assert not (out / "weights.npy").exists()
    generate_zoo(out, progress=False, **KW)
    for name, mtime in first.items():  # finished groups were not retrained
        assert (shards / name).stat().st_mtime_ns == mtime
    w_ref, m_ref = _read(reference)
    w, m = _read(out)
    np.testing.assert_array_equal(w, w_ref)
    pd.testing.assert_frame_equal(m, m_ref)
    with pytest.raises(ValueError, match="different generation"):
        generate_zoo(out, progress=False, **{**KW, "seed": 4})


def test_zoo_of_an_older_grouping_is_reused_when_finished_and_refused_when_not(
    reference, tmp_path
):
    import json
    import shutil

    out = tmp_path / "older"
    shutil.copytree(reference, out)
    manifest = out / ".shards" / "manifest.json"
    old = json.loads(manifest.read_text())
    del old["grouping"]  # as written by the first generator version
    manifest.write_text(json.dumps(old))
    before = (out / "weights.npy").stat().st_mtime_ns
    assert generate_zoo(out, progress=False, **KW) == out  # finished: the same networks
    assert (out / "weights.npy").stat().st_mtime_ns == before  # nothing retrained or rewritten
    (out / "weights.npy").unlink()
    with pytest.raises(ValueError, match=r"unfinished shards of an older generator.*Delete"):
        generate_zoo(out, progress=False, **KW)
    # other settings are still a different generation, whatever the grouping
    with pytest.raises(ValueError, match="different generation"):
        generate_zoo(out, progress=False, **{**KW, "epochs": 3})


def test_nonfinite_runs_recorded(tmp_path):
    kw = {**KW, "n_networks": 4, "epochs": 3}
    ranges = {"learning_rate": (1e6, 1e7), "w_init": ("RandomNormal",), "init_std": (0.5, 0.5)}
    out = generate_zoo(tmp_path, progress=False, hyperparameter_ranges=ranges, **kw)
    weights, metrics = _read(out)
    finite = np.isfinite(weights).all(axis=1) & np.isfinite(metrics["test_loss"])
    assert not finite.all()
    assert metrics["modeldir"].nunique() == 4  # nobody dropped
    last = metrics.groupby("modeldir")["step"].max()
    bad = metrics.loc[~finite, "modeldir"].unique()
    assert (last[bad] <= kw["epochs"]).all()
    # a diverged run stops: its non-finite row is its last
    for run in bad:
        rows = metrics.index[metrics["modeldir"] == run]
        assert not finite[rows[-1]]


def test_fidelity_vs_keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import jax.numpy as jnp
    import keras

    from skweights.zoo._architecture import build_cnn, get_keras_weights, param_shapes
    from skweights.zoo._images import load_images
    from skweights.zoo._init import init_group
    from skweights.zoo._trainer import first_layer_patches, init_state, train_epoch

    images = load_images("digits")
    configs = sample_hyperparameters(2, seed=5, hyperparameter_ranges={"dropout": (0.0, 0.0)})
    configs[0]["activation"], configs[1]["activation"] = "relu", "tanh"
    for c in configs:
        c["learning_rate"], c["l2reg"] = 0.01, 1e-4
    params = init_group(configs, param_shapes())
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(images.x_train), (4, 2, 32)).astype(np.int32)
    state = init_state(params)
    state = train_epoch(
        state,
        first_layer_patches(jnp.asarray(images.x_train)),
        jnp.asarray(images.y_train),
        jnp.asarray(idx),
        jnp.ones(idx.shape, jnp.float32),
        jnp.asarray([4, 4]),
        jnp.full(2, 0.01),
        jnp.full(2, 1e-4),
        jnp.zeros(2),
        jnp.zeros(2, jnp.uint32),
        jnp.uint32(0),
        jnp.asarray([True, False]),
        dropout=False,
    )
    for k, c in enumerate(configs):
        model = build_cnn(
            activation=c["activation"],
            l2reg=1e-4,
            w_init=c["w_init"],
            init_std=c["init_std"],
            seed=c["random_seed"],
        )
        start = get_keras_weights(model)
        for a, b in zip(start, params):
            np.testing.assert_array_equal(a, b[k])  # same Keras initialisation
        model.compile(
            optimizer=keras.optimizers.Adam(0.01),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        for s in range(4):
            model.train_on_batch(images.x_train[idx[s, k]], images.y_train[idx[s, k]])
        for a, b in zip(get_keras_weights(model), state.params):
            np.testing.assert_allclose(np.asarray(b[k]), a, atol=1e-5)


def test_cli(tmp_path, capsys):
    from skweights.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["zoo", "generate", "--help"])
    assert exc.value.code == 0
    assert "--n-networks" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["zoo", "generate", "--out", str(tmp_path), "--n-networks", "0"])
    assert exc.value.code == 2
    assert main(["zoo", "generate", "--out", str(tmp_path), "--dataset", "nope"]) == 1
    assert "error" in capsys.readouterr().err


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_networks"):
        generate_zoo(tmp_path, n_networks=0, progress=False)
    with pytest.raises(ValueError, match="checkpoints"):
        generate_zoo(tmp_path, n_networks=2, epochs=2, checkpoints=[5], progress=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"checkpoints": [0.5, 2]}, r"checkpoints must be whole epochs \(int\), got 0.5"),
        ({"checkpoints": [True, 2]}, r"checkpoints must be whole epochs \(int\), got True"),
        ({"epochs_between_checkpoints": -3}, "epochs_between_checkpoints must be an integer"),
        ({"epochs_between_checkpoints": True}, "epochs_between_checkpoints must be an integer"),
    ],
)
def test_checkpoint_arguments_are_never_truncated_or_read_as_bools(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_zoo(tmp_path / "z", n_networks=2, epochs=2, progress=False, **kwargs)
    assert not (tmp_path / "z" / "weights.npy").exists()


def test_init_matches_keras_initializers():
    """The JAX-native group initialisation equals the Keras initializers, for every kind."""
    from skweights.zoo._architecture import init_params, param_shapes
    from skweights.zoo._init import init_group

    kinds = HYPERPARAMETER_RANGES["w_init"]
    configs = sample_hyperparameters(2 * len(kinds), seed=11)
    for k, c in enumerate(configs):
        c["w_init"] = kinds[k % len(kinds)]
    shapes = param_shapes()
    stacked = init_group(configs, shapes)
    for k, c in enumerate(configs):
        for j, ref in enumerate(init_params(c, shapes)):
            np.testing.assert_array_equal(stacked[j][k], ref, err_msg=f"{c['w_init']} {j}")
    with pytest.raises(ValueError, match="w_init"):
        init_group([{**configs[0], "w_init": "zeros"}], shapes)


def test_plan_groups_balanced_and_sorted():
    from skweights.zoo._generate import plan_groups

    configs = sample_hyperparameters(200, seed=0)
    n_relu = sum(c["activation"] == "relu" for c in configs)
    groups = plan_groups(configs, 64)
    sizes = [len(g) for g in groups]
    assert sum(sizes) == 200 and max(sizes) <= 64
    assert sorted(i for g in groups for i in g) == list(range(200))
    flat = [i for g in groups for i in g]
    keys = [(configs[i]["activation"], configs[i]["train_fraction"], i) for i in flat]
    assert keys == sorted(keys)
    for g in groups:  # one activation per group, sizes within an activation differ by <= 1
        assert len({configs[i]["activation"] for i in g}) == 1
    relu_sizes = [len(g) for g in groups if configs[g[0]]["activation"] == "relu"]
    assert sum(relu_sizes) == n_relu and max(relu_sizes) - min(relu_sizes) <= 1
    same = [{"train_fraction": 0.5, "activation": "relu"}] * 7
    assert [len(g) for g in plan_groups(same, 3)] == [3, 2, 2]


def test_activation_modes_and_chunked_evaluation_agree():
    """Static-activation programs and chunk-by-chunk evaluation equal the general ones."""
    import jax.numpy as jnp

    from skweights.zoo._architecture import param_shapes
    from skweights.zoo._init import init_group
    from skweights.zoo._trainer import (
        _eval_own,
        _eval_shared,
        activation_mode,
        first_layer_patches,
        forward,
    )

    assert activation_mode(["relu", "relu"]) == "relu"
    assert activation_mode(["relu", "tanh"]) == "mixed"
    rng = np.random.default_rng(0)
    configs = sample_hyperparameters(4, seed=2)
    params = [jnp.asarray(p) for p in init_group(configs, param_shapes())]
    x = jnp.asarray(rng.normal(size=(40, 16, 16, 1)).astype(np.float32))
    y = jnp.asarray(rng.integers(0, 10, 40).astype(np.int32))
    for act in ("relu", "tanh"):
        flags = jnp.full(4, act == "relu")
        np.testing.assert_allclose(
            forward(params, x, flags, act=act), forward(params, x, flags), rtol=1e-6, atol=1e-6
        )
    patches = first_layer_patches(x)
    np.testing.assert_allclose(
        forward(params, patches, relu_all := jnp.ones(4, bool), patched=True),
        forward(params, x, relu_all),
        rtol=1e-6,
        atol=1e-6,
    )
    relu = jnp.asarray([True, False, True, False])
    l2 = jnp.full(4, 1e-3)
    # training subsets in chunks of 8 images; network 2 has 5 images, network 3 none (padding)
    sub = [np.arange(30), np.arange(0, 30, 2), np.arange(5), np.arange(0)]
    idx = np.zeros((4, 4, 8), np.int32)
    mask = np.zeros((4, 4, 8), np.float32)
    for k, s in enumerate(sub):
        flat_idx, flat_mask = np.zeros(32, np.int32), np.zeros(32, np.float32)
        flat_idx[: len(s)], flat_mask[: len(s)] = 10 + s, 1.0
        idx[:, k], mask[:, k] = flat_idx.reshape(4, 8), flat_mask.reshape(4, 8)
    counts = jnp.asarray([-(-len(s) // 8) for s in sub], jnp.int32)
    test = (patches[None, :10], y[None, :10], jnp.ones((1, 10)))
    whole = _eval_shared(params, *test, l2, relu) + _eval_own(
        params, patches, y, idx, mask, counts, l2, relu
    )
    for chunk in (1, 2):
        chunked = _eval_shared(params, *test, l2, relu, chunk=chunk) + _eval_own(
            params, patches, y, idx, mask, counts, l2, relu, chunk=chunk
        )
        for got, ref in zip(chunked, whole):
            np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=1e-5, atol=1e-7)
    # the training metrics are those of each network's own images
    for k in range(3):
        logits = forward([p[k : k + 1] for p in params], x[10 + sub[k]], relu[k : k + 1])
        acc = np.mean(np.argmax(np.asarray(logits)[0], axis=1) == np.asarray(y)[10 + sub[k]])
        np.testing.assert_allclose(float(whole[3][k]), acc, rtol=1e-6)


def test_longest_groups_are_dispatched_first():
    from skweights.zoo._generate import _group_cost, plan_zoo

    plan = plan_zoo("digits", 12, 1, 3, 3, None, None, 3, 16, 128, None)
    tasks = plan.tasks(range(len(plan.groups)), None, 128)
    costs = [_group_cost(t.configs) for t in tasks]
    assert len(tasks) >= 4 and costs == sorted(costs, reverse=True)
    assert sorted(t.group for t in tasks) == list(range(len(plan.groups)))
    assert {t.pad_to for t in tasks} == {max(len(g) for g in plan.groups)}


def test_worker_core_claims_are_distinct_and_local(tmp_path):
    from skweights.zoo._dispatch import pinning_cores
    from skweights.zoo._worker import _claim_core

    assert [_claim_core(str(tmp_path), [0, 1]) for _ in range(3)] == [0, 1, None]
    assert _claim_core(str(tmp_path / "other-machine"), [0, 1]) is None
    # pinning only for several local workers, each with a core of its own
    assert pinning_cores(1) is None
    n_cores = len(os.sched_getaffinity(0))
    assert pinning_cores(n_cores + 1) is None
    if n_cores >= 2:
        assert pinning_cores(2) == sorted(os.sched_getaffinity(0))


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_two_workers_pin_themselves_to_distinct_cores_and_run_one_xla_thread(tmp_path):
    # each worker is a fresh process, as loky starts them; both claim from one token dir
    cores = sorted(os.sched_getaffinity(0))[:2]
    code = (
        "import os; from skweights.zoo._worker import configure_worker; "
        f"configure_worker(({str(tmp_path)!r}, {cores!r})); "
        f"configure_worker(({str(tmp_path)!r}, {cores!r})); "  # again: keeps its core
        "print(sorted(os.sched_getaffinity(0)))"
    )
    outs = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    ]
    assert sorted(outs) == sorted(f"[{c}]" for c in cores)
    # a third worker finds no free core: unpinned, its threads may run on every core again
    third = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert third.stdout.strip() == f"{sorted(os.sched_getaffinity(0))}"


def test_a_worker_whose_jax_was_set_up_elsewhere_refuses_to_train():
    code = (
        "import jax; jax.devices()\n"
        "from skweights.zoo._worker import configure_worker\n"
        "try:\n    configure_worker()\nexcept ValueError as e:\n    print('refused', e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.startswith("refused JAX was initialised in this worker"), done.stderr


def test_progress_bar_reports_the_share_of_work_and_time_left(tmp_path, capsys):
    generate_zoo(tmp_path / "z", progress=True, workers=1, **KW)
    err = capsys.readouterr().err
    shares = [int(s) for s in re.findall(r"(\d+)% of the work, ~\d+:\d\d:\d\d left", err)]
    # one update per finished group (KW has two), the last one the whole zoo
    assert len(shares) >= 2 and shares == sorted(shares) and shares[-1] == 100
    assert f"{KW['n_networks']}/{KW['n_networks']}" in err


def test_remaining_time_counts_work_not_networks():
    from skweights.zoo._generate import _group_cost, remaining_text

    dear = [{"train_fraction": 1.0, "activation": "tanh"}] * 4
    cheap = [{"train_fraction": 0.1, "activation": "relu"}] * 4
    # the dear half of the networks took 60 s: the cheap half is far less than 60 s more
    done, left = _group_cost(dear), _group_cost(cheap)
    text = remaining_text(done, left, 60.0, done + left)
    assert text == "79% of the work, ~0:00:15 left"  # counting networks: 50%, 0:01:00
