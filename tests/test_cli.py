"""The ``skweights`` command on a real zoo: fit, save, predict a zoo, a .npy and a .keras model."""

from __future__ import annotations

import numpy as np
import pytest

from skweights.cli import main
from skweights.datasets import load_zoo
from skweights.layout import Layout
from skweights.predictor import make_predictor

pytestmark = pytest.mark.xdist_group("real-zoo")


@pytest.fixture(scope="module")
def predictor_path(zoo_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "predictor.skops"
    assert main(["fit", str(zoo_path), "--out", str(out), "--quiet"]) == 0
    return out


def test_fit_reports_held_out_scores_and_saves(predictor_path, capsys):
    assert predictor_path.exists()


def test_predict_zoo_directory_prints_one_row_per_network(predictor_path, zoo_path, capsys):
    assert main(["predict", str(predictor_path), str(zoo_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    zoo = load_zoo(zoo_path)
    assert lines[0] == "name,predicted_accuracy"
    assert len(lines) == 1 + len(zoo.target)
    pred = np.array([float(line.rsplit(",", 1)[1]) for line in lines[1:]])
    assert np.corrcoef(pred, zoo.target)[0, 1] > 0.5


def test_predict_npy_equals_zoo_prediction(predictor_path, zoo_path, tmp_path, capsys):
    zoo = load_zoo(zoo_path)
    np.save(tmp_path / "w.npy", zoo.weights[:3])
    out = tmp_path / "pred.csv"
    assert main(["predict", str(predictor_path), str(tmp_path / "w.npy"), "--out", str(out)]) == 0
    rows = out.read_text().strip().splitlines()[1:]
    assert len(rows) == 3


def test_predict_a_keras_model_through_its_layout(predictor_path, tmp_path, capsys):
    from skweights.zoo import build_cnn

    model = build_cnn(seed=0)
    path = tmp_path / "mine.keras"
    model.save(path)
    assert main(["predict", str(predictor_path), str(path)]) == 0
    name, value = capsys.readouterr().out.strip().splitlines()[1].split(",")
    assert name == "mine.keras"
    assert 0.0 <= float(value) <= 1.0
    flat = Layout.small_cnn_zoo().flatten_keras(model, match="position")
    bias = flat[Layout.small_cnn_zoo()["conv2d/bias"].slice]
    np.testing.assert_array_equal(bias, 0.0)  # zero-initialised biases land in bias columns


def test_bad_input_gives_one_line_error_and_nonzero_exit(predictor_path, tmp_path, capsys):
    np.save(tmp_path / "short.npy", np.zeros((2, 100), dtype=np.float32))
    assert main(["predict", str(predictor_path), str(tmp_path / "short.npy")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "100 weights per network" in err and "4970" in err
    assert main(["predict", str(predictor_path), str(tmp_path / "missing.npy")]) == 1


def test_make_predictor_rejects_unknown_choices():
    with pytest.raises(ValueError, match="unknown feature set 'foo'"):
        make_predictor(Layout.small_cnn_zoo(), features="foo")


def test_bench_runs_a_benchmark_script_and_rejects_unknown_names(zoo_path, capsys):
    assert (
        main(["bench", "table9_sensitivity", "--quick", "--zoo", str(zoo_path), "--no-cache"]) == 0
    )
    assert "|" in capsys.readouterr().out  # a markdown table
    assert main(["bench", "no_such_benchmark"]) == 1
    assert "unknown benchmark 'no_such_benchmark'" in capsys.readouterr().err


# ----------------------------------------------------------------- issue 13: one-line errors
def _one_error_line(capsys) -> str:
    """The whole stderr: exactly one line ``skweights: error: ...`` (no traceback)."""
    err = capsys.readouterr().err
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith("skweights: error: "), err
    return lines[0].removeprefix("skweights: error: ")


def _damaged_zoo(zoo_path, tmp_path, damage):
    import shutil

    out = tmp_path / "zoo"
    shutil.copytree(zoo_path, out, ignore=shutil.ignore_patterns(".*", "*.json"))
    damage(out / "metrics.csv.gz")
    return out


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (
            lambda m: m.write_bytes(m.read_bytes()[:-300]),
            r"/zoo/metrics.csv.gz is not a readable gzip-compressed CSV \(truncated or another "
            r"format: EOFError: .*\)$",
        ),
        (
            lambda m: m.write_bytes(b"not gzip at all"),
            r"/zoo/metrics.csv.gz is not a readable gzip-compressed CSV \(.*BadGzipFile: .*\)$",
        ),
        (
            lambda m: m.unlink() or m.mkdir(),
            r"/zoo is not a complete zoo: missing \['metrics.csv.gz'\]",
        ),
    ],
    ids=["truncated", "not-gzip", "directory"],
)
def test_fit_on_an_unreadable_metrics_file_is_one_line_naming_it(
    zoo_path, tmp_path, capsys, damage, expected
):
    import re

    zoo = _damaged_zoo(zoo_path, tmp_path, damage)
    assert main(["fit", str(zoo), "--out", str(tmp_path / "p.joblib"), "--quiet"]) == 1
    assert re.search(expected, _one_error_line(capsys))
    assert not (tmp_path / "p.joblib").exists()


def test_fit_out_that_is_a_directory_or_under_a_file_fails_before_fitting(
    zoo_path, tmp_path, capsys, monkeypatch
):
    import skweights.predictor

    monkeypatch.setattr(skweights.predictor, "make_predictor", None)  # fails if fitting began
    (tmp_path / "file").write_text("x")
    cases = {
        str(tmp_path): f"cannot write '{tmp_path}': it is a directory; expected a file path "
        f"such as {tmp_path}/out",
        "": "cannot write '': it is a directory; expected a file path such as out",
        str(tmp_path / "file" / "p.joblib"): f"cannot write {tmp_path}/file/p.joblib: "
        f"{tmp_path}/file is a file, not a directory",
        str(tmp_path / "file" / "a" / "b"): f"{tmp_path}/file is a file, not a directory",
    }
    for out, message in cases.items():
        assert main(["fit", str(zoo_path), "--out", out, "--quiet"]) == 1
        assert message in _one_error_line(capsys)
    assert (tmp_path / "file").read_text() == "x"


def test_predict_out_that_is_a_directory_or_under_a_file(
    predictor_path, zoo_path, tmp_path, capsys
):
    (tmp_path / "file").write_text("x")
    for out, message in [
        (tmp_path, "it is a directory"),
        (tmp_path / "file" / "pred.csv", f"{tmp_path}/file is a file, not a directory"),
    ]:
        assert main(["predict", str(predictor_path), str(zoo_path), "--out", str(out)]) == 1
        assert message in _one_error_line(capsys)
        assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["fit", "z", "--out", "p", "--seed", "-1"], "argument --seed: expected a non-negative integer, got '-1'"),  # noqa: E501
        (["demo", "--seed", "x"], "argument --seed: expected a non-negative integer, got 'x'"),
        (["zoo", "generate", "--out", "z", "--seed", "-5"], "argument --seed: expected a non-negative integer, got '-5'"),  # noqa: E501
        (["fit", "z", "--out", "p", "--train-fraction", "1.5"], "argument --train-fraction: expected a fraction in (0, 1), got '1.5'"),  # noqa: E501
    ],
)  # fmt: skip
def test_bad_arguments_name_the_argument_and_exit_2(argv, expected, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(expected)


def test_mnist_without_network_names_the_dataset_and_where_to_put_files(
    tmp_path, capsys, monkeypatch
):
    import socket

    def no_network(*args, **kwargs):
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    home = tmp_path / "home"
    argv = ["zoo", "generate", "--dataset", "mnist", "--data-home", str(home)]
    assert main([*argv, "--out", str(tmp_path / "z"), "--n-networks", "2", "--quiet"]) == 1
    line = _one_error_line(capsys)
    assert line.startswith(f"could not load 'mnist': no local files (looked for {home}/mnist.npz")
    assert "Temporary failure in name resolution" in line
    assert line.endswith("Put the files in one of those places or retry with network access.")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (PermissionError(13, "Permission denied", "/data/zoo/weights.npy"), "Permission denied: '/data/zoo/weights.npy'"),  # noqa: E501
        (IsADirectoryError(21, "Is a directory", "zoo/layout.csv"), "Is a directory: 'zoo/layout.csv'"),  # noqa: E501
        (KeyError("no tensor named 'x'; the layout has ['a']"), "no tensor named 'x'; the layout has ['a']"),  # noqa: E501
        (ModuleNotFoundError("No module named 'psycopg2'", name="psycopg2"), "No module named 'psycopg2'; install the missing package (e.g. pip install psycopg2)"),  # noqa: E501
        (EOFError("Ran out of input"), "Ran out of input"),
        (ValueError("line one\nline two"), "line one line two"),
        (RuntimeError("boom"), "unexpected RuntimeError: boom (set SKWEIGHTS_DEBUG=1 for the traceback)"),  # noqa: E501
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else "",
)  # fmt: skip
def test_every_error_from_a_command_is_one_line_and_exit_1(
    zoo_path, tmp_path, capsys, monkeypatch, error, expected
):
    import skweights.datasets

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(skweights.datasets, "load_zoo", fail)
    monkeypatch.delenv("SKWEIGHTS_DEBUG", raising=False)
    assert main(["fit", str(zoo_path), "--out", str(tmp_path / "p"), "--quiet"]) == 1
    assert _one_error_line(capsys) == expected


def test_debug_env_adds_the_traceback_of_an_unexpected_error(
    zoo_path, tmp_path, capsys, monkeypatch
):
    import skweights.datasets

    def fail(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(skweights.datasets, "load_zoo", fail)
    monkeypatch.setenv("SKWEIGHTS_DEBUG", "1")
    assert main(["fit", str(zoo_path), "--out", str(tmp_path / "p"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.strip().splitlines()[-1] == (
        "skweights: error: unexpected RuntimeError: boom (set SKWEIGHTS_DEBUG=1 for the traceback)"
    )


@pytest.mark.slow
def test_fit_nfn_saves_a_safe_predictor_whose_predictions_ignore_hidden_permutations(
    zoo, zoo_path, tmp_path, capsys
):
    from skweights.models import hidden_neuron_permutation

    out = tmp_path / "nfn.skops"
    assert main(["fit", str(zoo_path), "--estimator", "nfn", "--out", str(out), "--quiet"]) == 0
    assert "Kendall τ" in capsys.readouterr().out
    rows = np.asarray(zoo.weights[:6], dtype=np.float32)
    rng = np.random.default_rng(0)
    permuted = rows[:, hidden_neuron_permutation(zoo.layout, 1, rng.permutation(16))]
    assert not np.array_equal(permuted, rows)
    for name, x in (("rows", rows), ("permuted", permuted)):
        np.save(tmp_path / f"{name}.npy", x)
        assert main(["predict", str(out), str(tmp_path / f"{name}.npy")]) == 0
    a, b = (
        np.array([float(line.split(",")[1]) for line in block.strip().splitlines()[1:]])
        for block in capsys.readouterr().out.split("name,predicted_accuracy")[1:]
    )
    np.testing.assert_allclose(a, b, atol=1e-5)
    # the NFN reads raw weights only
    assert main(["fit", str(zoo_path), "--estimator", "nfn", "--features", "stats",
                 "--out", str(tmp_path / "x.skops")]) == 1  # fmt: skip
    assert "expected features='weights', got 'stats'" in capsys.readouterr().err


def test_a_trial_stopped_by_ctrl_c_is_logged_without_its_traceback():
    import logging
    import sys

    from skweights._errors import OPTUNA_TRIAL_LOGGER, _NoInterruptTraceback

    def record(exc):
        try:
            raise exc
        except BaseException:
            info = sys.exc_info()
        return logging.LogRecord(OPTUNA_TRIAL_LOGGER, logging.WARNING, "", 0, "failed", (), info)

    interrupted, failed = record(KeyboardInterrupt()), record(ValueError("bad"))
    assert _NoInterruptTraceback().filter(interrupted) and interrupted.exc_info is None
    assert _NoInterruptTraceback().filter(failed) and failed.exc_info is not None


def test_bench_outside_a_checkout_ignores_a_foreign_benchmarks_dir(tmp_path, monkeypatch, capsys):
    # an installed skweights sits in site-packages, where another distribution may have put a
    # top-level ``benchmarks/``: its scripts are not ours and must not run
    import skweights.cli._bench as bench

    site = tmp_path / "site-packages"
    (site / "skweights" / "cli").mkdir(parents=True)
    (site / "benchmarks").mkdir()
    marker = tmp_path / "ran"
    (site / "benchmarks" / "foreign.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.setattr(bench, "__file__", str(site / "skweights" / "cli" / "_bench.py"))
    assert main(["bench", "foreign"]) == 1
    assert not marker.exists()
    assert "not found: run from a checkout" in capsys.readouterr().err


def test_ctrl_c_masked_by_an_error_while_unwinding_still_exits_130(monkeypatch, capsys):
    # Optuna's trial loop can raise UnboundLocalError from its ``finally`` when Ctrl-C lands
    # while it commits a trial (the KeyboardInterrupt is then only the error's __context__)
    import skweights.cli._demo as demo

    def interrupted_then_failed(args):
        try:
            raise KeyboardInterrupt
        finally:
            raise UnboundLocalError("cannot access local variable 'updated_state'")

    monkeypatch.setattr(demo, "_demo", interrupted_then_failed)
    assert main(["demo", "--quiet"]) == 130
    assert capsys.readouterr().err == "skweights: interrupted\n"


def test_bench_script_exiting_with_a_message_reports_it_in_one_line(tmp_path, monkeypatch, capsys):
    import skweights.cli._bench as bench

    (tmp_path / "skweights" / "cli").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'skweights'\n")
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "needs_zoo.py").write_text(
        "import sys\nsys.exit('no zoo under $SKWEIGHTS_BENCH_ZOOS')\n"
    )
    monkeypatch.setattr(bench, "__file__", str(tmp_path / "skweights" / "cli" / "_bench.py"))
    assert main(["bench", "needs_zoo"]) == 1
    assert capsys.readouterr().err == "skweights: error: no zoo under $SKWEIGHTS_BENCH_ZOOS\n"


def test_bench_ctrl_c_in_an_optuna_trial_logs_no_traceback(tmp_path, monkeypatch, capsys):
    # Optuna logs a trial stopped by Ctrl-C with its traceback; `skweights fit` kept it to one
    # line, `skweights bench` (a benchmark's search) must too
    import logging

    import skweights.cli._bench as bench

    logger = logging.getLogger("optuna.study._optimize")
    monkeypatch.setattr(logger, "filters", [])
    (tmp_path / "skweights" / "cli").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'skweights'\n")
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "search.py").write_text(
        "import optuna\n"
        "def objective(trial):\n"
        "    raise KeyboardInterrupt\n"
        "optuna.create_study().optimize(objective, n_trials=1)\n"
    )
    monkeypatch.setattr(bench, "__file__", str(tmp_path / "skweights" / "cli" / "_bench.py"))
    # a handler on the logger itself: caplog misses Optuna's records when an earlier test of
    # the same process changed Optuna's verbosity or propagation
    import optuna

    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger.addHandler(handler)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        assert main(["bench", "search"]) == 130
    finally:
        logger.removeHandler(handler)
        optuna.logging.set_verbosity(verbosity)
    assert capsys.readouterr().err.endswith("skweights: interrupted\n")
    stopped = [r for r in records if "KeyboardInterrupt" in r.getMessage()]
    assert stopped and all(r.exc_info is None for r in stopped)
