"""load_zoo, the split helpers and fetch_small_cnn_zoo on zoos written into tmp_path."""

from __future__ import annotations

import builtins
import hashlib
import io
import random
import socket
import tarfile
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.utils import Bunch

from skweights import datasets
from skweights._format import METRICS_COLUMNS, atomic_save_npy, write_zoo
from skweights.datasets import fetch_small_cnn_zoo, load_zoo, nfn_split, paper_split
from skweights.layout import Layout

LAYOUT = Layout.small_cnn_zoo()
STEPS = (0, 1, 2, 3, 20, 40, 60, 80, 86)


def make_zoo(path, n_runs=5, crashed=None, nan_runs=(), seed=0):
    """Write a zoo like the released ones: every run checkpointed at STEPS.

    ``crashed`` maps a run to the last step it reached; runs in ``nan_runs`` have NaN weights at
    their last checkpoint.
    """
    rng = np.random.default_rng(seed)
    crashed = crashed or {}
    rows, weights = [], []
    for run in range(n_runs):
        last = crashed.get(run, 86)
        steps = [s for s in STEPS if s <= last]
        config = {
            "config.activation": rng.choice(["relu", "tanh"]),
            "config.b_init": "zeros",
            "config.dataset": "mnist",
            "config.dnn_architecture": "cnn",
            "config.dropout": float(rng.uniform(0, 0.7)),
            "config.epochs": 86,
            "config.epochs_between_checkpoints": 20,
            "config.init_std": float(rng.uniform(1e-3, 0.5)),
            "config.l2reg": float(10 ** rng.uniform(-8, -2)),
            "config.learning_rate": float(10 ** rng.uniform(-4, -1)),
            "config.num_layers": 3,
            "config.num_units": 16,
            "config.optimizer": rng.choice(["adam", "sgd", "rmsprop"]),
            "config.random_seed": 42,
            "config.train_fraction": float(rng.choice([0.1, 0.25, 0.5, 1.0])),
            "config.w_init": "he_normal",
        }
        for s in steps:
            acc = float(rng.uniform(0.1, 0.99))
            rows.append(
                config
                | {
                    "modeldir": f"/placer/prod/home/zoo/mnist/{run:05d}",
                    "step": s,
                    "test_accuracy": acc,
                    "test_loss": float(rng.uniform(0, 3)),
                    "train_accuracy": acc,
                    "train_loss": float(rng.uniform(0, 3)),
                }
            )
            w = rng.normal(scale=0.1, size=LAYOUT.n_params).astype(np.float32)
            if run in nan_runs and s == steps[-1]:
                w[::7] = np.nan
            weights.append(w)
    metrics = pd.DataFrame(rows, columns=list(METRICS_COLUMNS))
    return write_zoo(path, np.stack(weights), metrics, LAYOUT), np.stack(weights), metrics


# --------------------------------------------------------------------------- load_zoo
def test_load_zoo_all_round_trips_the_files(tmp_path):
    path, weights, metrics = make_zoo(tmp_path)
    zoo = load_zoo(path, step="all")
    np.testing.assert_array_equal(zoo.weights, weights)
    pd.testing.assert_frame_equal(zoo.metrics, metrics, check_dtype=False)
    np.testing.assert_array_equal(zoo.target, metrics["test_accuracy"].to_numpy())
    assert zoo.target.dtype == np.float64
    assert zoo.layout == LAYOUT and zoo.path == path and zoo.n_dropped_nonfinite == 0
    np.testing.assert_array_equal(zoo.rows, np.arange(len(weights)))
    assert list(zoo.hyperparameters.columns) == [c[7:] for c in METRICS_COLUMNS[:16]]
    assert (
        zoo.hyperparameters["learning_rate"].tolist() == metrics["config.learning_rate"].tolist()
    )


def test_final_step_keeps_the_last_checkpoint_of_each_run_including_crashed_runs(tmp_path):
    path, weights, metrics = make_zoo(tmp_path, n_runs=4, crashed={1: 20, 3: 2})
    zoo = load_zoo(path)  # step="final"
    assert zoo.metrics["modeldir"].is_unique and len(zoo.metrics) == 4
    assert zoo.metrics["step"].tolist() == [86, 20, 86, 2]
    np.testing.assert_array_equal(zoo.weights, weights[zoo.rows])
    np.testing.assert_array_equal(zoo.target, metrics["test_accuracy"].to_numpy()[zoo.rows])
    completed = load_zoo(path, step=86)
    assert completed.metrics["step"].tolist() == [86, 86]


def test_step_int_and_list_select_those_epochs(tmp_path):
    path, weights, _ = make_zoo(tmp_path, n_runs=3)
    zoo = load_zoo(path, step=0)
    assert zoo.metrics["step"].tolist() == [0, 0, 0]
    np.testing.assert_array_equal(zoo.weights, weights[[0, 9, 18]])
    zoo = load_zoo(path, step=[1, 86])
    assert zoo.metrics["step"].tolist() == [1, 86] * 3
    assert zoo.rows.tolist() == [1, 8, 10, 17, 19, 26]


@pytest.mark.parametrize(
    ("step", "match"),
    [
        (
            87,
            r"no checkpoint at step \[87\]; the zoo has steps \[0, 1, 2, 3, 20, 40, 60, 80, 86\]",
        ),
        ([0, 5], r"no checkpoint at step \[5\]"),
        ("last", "step must be 'final', 'all', an int or a list of ints, got 'last'"),
        ([], "step must be"),
        (1.5, "step must be"),
    ],
)
def test_bad_step_is_rejected_with_available_steps(tmp_path, step, match):
    path, _, _ = make_zoo(tmp_path, n_runs=2)
    with pytest.raises(ValueError, match=match):
        load_zoo(path, step=step)


def test_nonfinite_networks_are_dropped_counted_and_warned(tmp_path):
    path, weights, metrics = make_zoo(tmp_path, n_runs=5, nan_runs=(1, 4))
    with pytest.warns(UserWarning, match="dropped 2 of 5 selected networks"):
        zoo = load_zoo(path)
    assert zoo.n_dropped_nonfinite == 2 and len(zoo.target) == 3
    assert np.isfinite(zoo.weights).all()
    assert zoo.metrics["modeldir"].str[-1].tolist() == ["0", "2", "3"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = load_zoo(path, drop_nonfinite=False)
        assert load_zoo(path, step=0).n_dropped_nonfinite == 0
    assert kept.n_dropped_nonfinite == 0 and len(kept.target) == 5
    assert np.isnan(kept.weights).any(axis=1).sum() == 2


def test_nonfinite_test_accuracy_is_dropped_too(tmp_path):
    path, weights, metrics = make_zoo(tmp_path / "a", n_runs=3)
    metrics.loc[8, "test_accuracy"] = np.nan  # final row of run 0
    write_zoo(tmp_path / "b", weights, metrics, LAYOUT)
    with pytest.warns(UserWarning, match="dropped 1 of 3"):
        zoo = load_zoo(tmp_path / "b")
    assert zoo.rows.tolist() == [17, 26]


def test_all_networks_nonfinite_is_a_clear_error(tmp_path):
    path, _, _ = make_zoo(tmp_path, n_runs=2, nan_runs=(0, 1))
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no networks left"):
        load_zoo(path)


def test_final_step_needs_run_identifiers(tmp_path):
    rows = pd.concat([_one_row(modeldir="a"), _one_row(modeldir=np.nan)])
    path = write_zoo(tmp_path, np.ones((2, LAYOUT.n_params)), rows, LAYOUT)
    with pytest.raises(ValueError, match="'modeldir' has missing values"):
        load_zoo(path)
    assert len(load_zoo(path, step="all").target) == 2


def test_single_network_zoo_loads(tmp_path):
    path = write_zoo(tmp_path, np.ones((1, LAYOUT.n_params)), _one_row(), LAYOUT)
    zoo = load_zoo(path)
    assert zoo.weights.shape == (1, LAYOUT.n_params) and zoo.target.tolist() == [0.5]


def _one_row(**kw):
    return pd.DataFrame([{c: 0 for c in METRICS_COLUMNS} | {"test_accuracy": 0.5} | kw])


def test_mmap_modes(tmp_path, monkeypatch):
    path, weights, _ = make_zoo(tmp_path, n_runs=2)
    assert isinstance(load_zoo(path, step="all", mmap=True).weights, np.memmap)
    assert not isinstance(load_zoo(path, step="all").weights, np.memmap)  # small: read
    monkeypatch.setattr(datasets, "MMAP_THRESHOLD_BYTES", 1000)
    auto = load_zoo(path, step="all")
    assert isinstance(auto.weights, np.memmap) and not auto.weights.flags.writeable
    final = load_zoo(path, mmap=True)  # a selection is read into memory
    assert not isinstance(final.weights, np.memmap)
    np.testing.assert_array_equal(final.weights, weights[[8, 17]])
    assert load_zoo(path, step="all", mmap=False).weights.flags.writeable


# --------------------------------------------------------------------------- bad files
def _corrupt(path: Path, what: str) -> None:
    w = path / "weights.npy"
    if what == "truncated":
        w.write_bytes(w.read_bytes()[:-4])
    elif what == "int dtype":
        atomic_save_npy(w, np.zeros((18, LAYOUT.n_params), dtype=np.int32))
    elif what == "1-D":
        atomic_save_npy(w, np.zeros(18 * LAYOUT.n_params, dtype=np.float32))
    elif what == "missing column":
        m = pd.read_csv(path / "metrics.csv.gz").drop(columns=["test_accuracy"])
        m.to_csv(path / "metrics.csv.gz", index=False)
    elif what == "extra rows":
        m = pd.read_csv(path / "metrics.csv.gz")
        extra = m.iloc[:1].assign(modeldir="another run")
        pd.concat([m, extra]).to_csv(path / "metrics.csv.gz", index=False)
    elif what == "narrow layout":
        Layout.from_shapes([("net/fc/kernel:0", (10, 10))]).to_csv(path / "layout.csv")
    elif what == "empty":
        atomic_save_npy(w, np.zeros((0, LAYOUT.n_params), dtype=np.float32))
        pd.read_csv(path / "metrics.csv.gz").iloc[:0].to_csv(path / "metrics.csv.gz", index=False)
    elif what == "no layout":
        (path / "layout.csv").unlink()
    elif what == "bad step":
        m = pd.read_csv(path / "metrics.csv.gz")
        m["step"] = m["step"].astype(object)
        m.loc[3, "step"] = "final"
        m.to_csv(path / "metrics.csv.gz", index=False)


@pytest.mark.parametrize(
    ("what", "error", "match"),
    [
        ("truncated", ValueError, r"weights.npy is truncated.*\(18, 4970\)"),
        ("int dtype", ValueError, "floating point weights .* got dtype int32"),
        ("1-D", ValueError, r"2-D .* got shape \(89460,\)"),
        ("missing column", ValueError, r"missing required columns \['test_accuracy'\]"),
        ("extra rows", ValueError, "metrics.csv.gz has 19 rows but weights.npy has 18 rows"),
        ("narrow layout", ValueError, "has 4970 columns but layout.csv describes 100 parameters"),
        ("empty", ValueError, "is empty: weights.npy has 0 rows"),
        ("no layout", FileNotFoundError, r"not a complete zoo: missing \['layout.csv'\]"),
        ("bad step", ValueError, "column 'step' must hold epochs .* got 'final'"),
    ],
)
def test_bad_zoo_files_give_expected_vs_got_errors(tmp_path, what, error, match):
    path, _, _ = make_zoo(tmp_path, n_runs=2)
    _corrupt(path, what)
    with pytest.raises(error, match=match):
        load_zoo(path, step="all")


def test_paths_in_metrics_are_data_and_never_opened(tmp_path, monkeypatch):
    evil = tmp_path / "secret"
    evil.write_text("do not open")
    rows = pd.concat([_one_row(modeldir=str(evil)), _one_row(modeldir="../../etc/passwd")])
    zoo_dir = write_zoo(tmp_path / "zoo", np.ones((2, LAYOUT.n_params)), rows, LAYOUT)
    opened = []
    real_open = builtins.open

    def spy(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    zoo = load_zoo(zoo_dir, step="all")
    assert zoo.metrics["modeldir"].tolist() == [str(evil), "../../etc/passwd"]
    assert opened and all(Path(p).parent == zoo_dir for p in opened if not isinstance(p, int))


# --------------------------------------------------------------------------- paper_split
def test_paper_split_sizes_disjoint_cover_and_deterministic():
    train, test = paper_split(20000)
    assert len(train) == 15000 and len(test) == 5000
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(np.sort(np.r_[train, test]), np.arange(20000))
    assert (np.diff(train) > 0).all()
    again, _ = paper_split(20000)
    np.testing.assert_array_equal(train, again)
    assert not np.array_equal(train, paper_split(20000, random_state=1)[0])


def test_paper_split_fraction_and_bunch_input(tmp_path):
    path, _, _ = make_zoo(tmp_path, n_runs=10)
    zoo = load_zoo(path)
    train, test = paper_split(zoo, n_train=0.5)
    assert len(train) == len(test) == 5
    assert paper_split(np.zeros(7), n_train=3)[0].shape == (3,)


@pytest.mark.parametrize(
    ("n_train", "match"),
    [
        (15000, "n_train=15000 must be between 1 and n - 1 = 99 for a zoo of 100 networks"),
        (100, "n_train=100 must be between"),
        (1.0, r"fractional n_train must be in \(0, 1\), got 1.0"),
        (0.001, "n_train=0 must be between"),
    ],
)
def test_paper_split_rejects_training_sets_as_large_as_the_zoo(n_train, match):
    with pytest.raises(ValueError, match=match):
        paper_split(100, n_train=n_train)


# --------------------------------------------------------------------------- nfn_split
def _nfn_reference(weights, metrics, idcs_file):
    """NFN's ZooDataset split, transcribed: permute all rows, keep step 86, split by position."""
    shuffled = pd.read_csv(idcs_file, header=None).values.flatten()
    metrics = metrics.iloc[shuffled]
    isfinal = (metrics["step"] == 86).to_numpy()
    rows = np.arange(len(weights))[shuffled][isfinal]
    half = int(0.5 * len(rows))
    trainval = list(range(half))
    random.Random(0).shuffle(trainval)
    cut = int(0.8 * len(trainval))
    return rows[trainval[:cut]], rows[trainval[cut:]], rows[half:]


def test_nfn_split_matches_nfn_code_including_the_header_quirk(tmp_path):
    path, weights, metrics = make_zoo(tmp_path / "zoo", n_runs=30)
    perm = np.random.default_rng(3).permutation(len(weights))
    perm = np.r_[perm[perm == 8], perm[perm != 8]]  # row 8 (run 0, step 86) first
    index_file = tmp_path / "split.csv"
    pd.DataFrame(perm).to_csv(index_file, index=False)  # header line "0", as published
    assert index_file.read_text().splitlines()[:2] == ["0", "8"]

    zoo = load_zoo(path, step=86)
    train, val, test = nfn_split(zoo, index_file)
    ref = _nfn_reference(weights, metrics, index_file)
    for ours, theirs in zip((train, val, test), ref):
        np.testing.assert_array_equal(zoo.rows[ours], theirs)
    # 31 entries (row 0 from the header is not final, row 8 is): sizes 12 / 3 / 15 + quirk
    assert (len(train), len(val), len(test)) == (12, 3, 15)


def test_nfn_split_header_zero_duplicates_row_zero_when_it_is_selected(tmp_path):
    index_file = tmp_path / "split.csv"
    index_file.write_text("0\n" + "\n".join(map(str, [3, 0, 1, 2, 4, 5, 6, 7, 8, 9])) + "\n")
    train, val, test = nfn_split(np.arange(10), index_file)
    allpos = np.r_[train, val, test]
    assert len(allpos) == 11 and (allpos == 0).sum() == 2
    assert test.tolist() == [2, 4, 5, 6, 7, 8, 9][-len(test) :]


def test_nfn_split_generated_permutation_is_disjoint_and_deterministic():
    train, val, test = nfn_split(np.arange(100))
    assert (len(train), len(val), len(test)) == (40, 10, 50)
    allpos = np.r_[train, val, test]
    np.testing.assert_array_equal(np.sort(allpos), np.arange(100))
    again = nfn_split(np.arange(100))
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again))
    other = nfn_split(np.arange(100), random_state=1)
    assert not np.array_equal(test, other[2])


def test_nfn_split_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("idx\n1\n")
    with pytest.raises(ValueError, match=r"line 1: expected one integer .* got 'idx'"):
        nfn_split(np.arange(2), bad)
    short = tmp_path / "short.csv"
    short.write_text("0\n1\n")
    with pytest.raises(ValueError, match=r"1 rows of the zoo \(e.g. row 2\) are not in"):
        nfn_split(np.arange(3), short)
    with pytest.raises(ValueError, match="at least 2 networks"):
        nfn_split(np.arange(1))


# --------------------------------------------------------------------------- fetch
def _archive(tmp_path, name="mnist", members=("weights.npy", "metrics.csv.gz", "layout.csv")):
    src, weights, _ = make_zoo(tmp_path / "src", n_runs=3)
    archive = tmp_path / f"{name}.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        for m in members:
            tar.add(src / m, arcname=f"{name}/{m}")
    return archive, weights


def test_fetch_downloads_verifies_extracts_and_loads(tmp_path):
    archive, weights = _archive(tmp_path)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    home = tmp_path / "home"
    zoo = fetch_small_cnn_zoo("mnist", home, url=archive.as_uri(), sha256=digest, step="all")
    np.testing.assert_array_equal(zoo.weights, weights)
    target = home / "small_cnn_zoo" / "mnist"
    assert zoo.path == target
    assert sorted(p.name for p in home.rglob("*") if p.is_file()) == [
        "layout.csv",
        "metrics.csv.gz",
        "weights.npy",
    ]  # no archive or temporary left behind


def test_fetch_uses_present_files_without_network(tmp_path, monkeypatch):
    make_zoo(tmp_path / "small_cnn_zoo" / "cifar10", n_runs=2)

    def no_network(*args, **kwargs):
        raise AssertionError("the network must not be used")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    zoo = fetch_small_cnn_zoo("cifar10_gs", data_home=tmp_path)
    assert len(zoo.target) == 2


def test_fetch_checksum_mismatch_is_rejected_and_nothing_installed(tmp_path):
    archive, _ = _archive(tmp_path)
    with pytest.raises(ValueError, match=r"checksum mismatch .* expected sha256 0{64}, got"):
        fetch_small_cnn_zoo("mnist", tmp_path / "home", url=archive.as_uri(), sha256="0" * 64)
    assert [p for p in (tmp_path / "home").rglob("*") if p.is_file()] == []
    assert not (tmp_path / "home" / "small_cnn_zoo" / "mnist").exists()


def test_fetch_unreachable_network_names_the_url(tmp_path):
    with socket.socket() as s:  # a port that refuses connections: bound, never listening
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/mnist.tar.xz"
        with pytest.raises(OSError, match=rf"could not download {url} .*extract weights.npy"):
            fetch_small_cnn_zoo("mnist", tmp_path, url=url)
    assert not (tmp_path / "small_cnn_zoo" / "mnist").exists()


def test_fetch_default_url_is_the_released_bucket(tmp_path, monkeypatch):
    seen = []

    def fake_urlopen(url, timeout=None):
        seen.append(url)
        raise OSError("offline")

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    with pytest.raises(OSError, match="offline"):
        fetch_small_cnn_zoo("svhn_gs", tmp_path)
    assert seen == [
        "https://storage.googleapis.com/gresearch/smallcnnzoo-dataset/svhn_cropped.tar.xz"
    ]


def test_fetch_rejects_incomplete_or_bad_archives(tmp_path):
    archive, _ = _archive(tmp_path, members=("weights.npy", "metrics.csv.gz"))
    with pytest.raises(ValueError, match=r"exactly one of each .* \{'layout.csv': 0\}"):
        fetch_small_cnn_zoo("mnist", tmp_path / "h", url=archive.as_uri())
    junk = tmp_path / "junk.tar.xz"
    junk.write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="not a readable tar archive"):
        fetch_small_cnn_zoo("mnist", tmp_path / "h", url=junk.as_uri())


def test_fetch_never_writes_outside_the_target(tmp_path):
    src, _, _ = make_zoo(tmp_path / "src", n_runs=2)
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        for m in ("weights.npy", "metrics.csv.gz", "layout.csv"):
            tar.add(src / m, arcname=f"../../escape/{m}")
        info = tarfile.TarInfo("../../escape/other.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    home = tmp_path / "deep" / "home"
    zoo = fetch_small_cnn_zoo("mnist", home, url=archive.as_uri(), step="all")
    assert len(zoo.target) == 18
    assert not any(p.name == "escape" for p in tmp_path.rglob("*"))


def test_fetch_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown zoo 'imagenet'; expected one of"):
        fetch_small_cnn_zoo("imagenet", tmp_path)
    with pytest.raises(FileNotFoundError, match="download_if_missing=False"):
        fetch_small_cnn_zoo("mnist", tmp_path, download_if_missing=False)


def test_load_zoo_returns_a_bunch(tmp_path):
    path, _, _ = make_zoo(tmp_path, n_runs=2)
    assert isinstance(load_zoo(path), Bunch)
