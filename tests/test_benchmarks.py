"""The paper-table benchmark scripts, run in ``--quick`` mode on the small test zoo."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import _common  # noqa: E402
import paper_numbers as P  # noqa: E402

FLOAT = r"-?\d+\.\d+"


@pytest.fixture(scope="module")
def bench_cache(tmp_path_factory):
    """One result cache for the module (cells shared between scripts, as in full mode)."""
    path = tmp_path_factory.mktemp("bench-cache")
    old = _common.CACHE_DIR
    _common.CACHE_DIR = path
    yield path
    _common.CACHE_DIR = old


def _args(zoo_path, out, *extra):
    return ["--quick", "--zoo", str(zoo_path), "--out", str(out), *extra]


def test_paper_numbers_are_consistent_across_tables():
    # Table 1 (CIFAR10-GS) and Table 2 repeat entries of Table 5: the transcriptions must agree.
    for feature in ("W4", "W", "W_bar", "W_L"):
        assert P.TABLE1_CIFAR10["gbm"][feature] == P.table2(feature, "CIFAR10")
        assert P.TABLE5_MNIST_R2["gbm"][feature] == P.table2(feature, "MNIST")
    for collection in P.COLLECTIONS:
        assert P.TABLE5_R2_WL[collection]["gbm"][0] == P.table2("W_L", collection)
        assert P.TABLE3_TAU[collection][collection] >= 0.85
    assert P.TABLE1_CIFAR10["lin"]["W_L"] == P.TABLE5_R2_WL["CIFAR10"]["lin"][0]
    assert set(P.TABLE2_GBM_R2) == set(_common.FEATURE_SETS)
    mads = list(P.TABLE9_MAD.values())
    assert mads == sorted(mads, reverse=True) and len(mads) == 12


def test_markdown_table_and_mean_std():
    table = _common.markdown_table(["a", "b"], [[1, "x"], [2, "y"]])
    assert table.splitlines() == ["| a | b |", "| --- | --- |", "| 1 | x |", "| 2 | y |"]
    assert _common.mean_std([0.5, 0.7, 0.6]) == "0.600 ± 0.082"
    assert _common.mean_std([np.nan]) == "n/a"


def test_feature_sets_shapes(zoo_path):
    zoo = _common.load(zoo_path)
    n = len(zoo.target)
    assert len(zoo.train) + len(zoo.test) == n
    assert not set(zoo.train) & set(zoo.test)
    widths = {key: _common.features(zoo, key).shape for key in _common.FEATURE_SETS}
    assert all(shape[0] == n for shape in widths.values())
    assert widths["W"][1] == zoo.layout.n_params
    assert widths["W_L"][1] == 56 and widths["W_bar"][1] == 7
    assert widths["W_l1"][1] == widths["W_l2"][1] == 8
    assert widths["W_L4"][1] == 14 and widths["W_L14"][1] == 28
    assert widths["lambda_LR"][1] == 1
    assert widths["lambda_W"][1] == widths["lambda"][1] + widths["W"][1]
    assert sum(widths[f"W{i}"][1] for i in range(1, 5)) == widths["W"][1]


def test_table2_and_table5(zoo_path, tmp_path, bench_cache):
    import table2_features

    out = tmp_path / "t2.md"
    text = table2_features.run(
        _args(zoo_path, out, "--features", "W_L", "W4", "lambda_LR", "--table5-estimators", "gbm")
    )
    assert out.read_text().startswith("### Table 2")
    table5 = (tmp_path / "t2_table5_6.md").read_text()
    assert "2 trials per L-Linear/GBM cell." in table5 and "DNN" not in table5  # gbm only
    row = next(line for line in text.splitlines() if line.startswith("| W_L (per-layer"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "0.988" and cells[2] == "0.977"  # paper MNIST, CIFAR10-GS
    mean, std = map(float, re.findall(FLOAT, cells[3]))
    assert -1.0 < mean <= 1.0 and 0.0 <= std < 0.5
    assert len(list(bench_cache.glob("gbm-W_L-*.json"))) == 1
    nfn = (tmp_path / "t2_nfn.md").read_text()
    taus = [float(x) for x in re.findall(rf"\| ({FLOAT}) \|", nfn)]
    assert len(taus) == 3 and 0.2 < taus[0] <= 1.0  # W_L ranks NFN's test half
    assert "StatNN 0.915, NFN-HNP 0.934, NG-T 0.935" in nfn
    by_fraction = (tmp_path / "t2_by_fraction.md").read_text()
    w_l = next(line for line in by_fraction.splitlines() if line.startswith("| W_L (per-layer"))
    r2s = [float(x) for x in re.findall(rf"\| ({FLOAT}) ", w_l)]
    assert len(r2s) == 3 and r2s[0] == 0.988  # paper, all networks, train_fraction >= 0.5
    assert all(-1.0 < r <= 1.0 for r in r2s[1:]) and r2s[1] != r2s[2]
    gaps = (tmp_path / "t2_gap_analysis.md").read_text()
    shares = [float(x) for x in re.findall(r"\| (\d+\.\d)% \|", gaps)]
    assert len(shares) == 4 and abs(sum(shares) - 100) < 0.5  # the four train fractions
    assert re.search(r"noise ceiling of the target: 0\.99\d+", gaps)


def test_table1(zoo_path, tmp_path, bench_cache):
    import table1_estimators

    text = table1_estimators.run(
        _args(zoo_path, tmp_path, "--estimators", "gbm", "lin", "--features", "W_L")
    )
    assert (tmp_path / "table1_estimators.md").is_file() or "Table 1" in text
    rows = [line for line in text.splitlines() if line.startswith(("| GBM", "| L-Linear"))]
    assert len(rows) == 2
    assert "0.988 (paper MNIST)" in rows[0] and "0.815 (paper MNIST)" in rows[1]
    assert "2 CV-search trials per GBM/L-Linear cell (paper: 1k)" in text
    assert "DNN" not in text.split("Zoos:")[0]  # no DNN budget for a table without a DNN row


def test_table3_transfer(zoo_path, tmp_path, bench_cache):
    import table3_transfer

    text = table3_transfer.run(_args(zoo_path, tmp_path / "t3.md"))
    ours = text.split("| paper:")[0]
    taus = [float(x) for x in re.findall(FLOAT, ours.split("| --- |")[-1])]
    assert len(taus) == 1
    # the in-domain ranking of a GBM on W_L must beat chance even on the tiny CI zoo
    assert 0.2 < taus[0] <= 1.0


def test_table9_sensitivity(zoo_path, tmp_path, bench_cache):
    import table9_sensitivity

    text = table9_sensitivity.run(_args(zoo_path, tmp_path / "t9.md", "--n-perms", "1"))
    rows = [
        line for line in text.splitlines() if line.startswith(("| scale", "| global", "| perm"))
    ]
    assert len(rows) == 13
    ours = [float(row.strip("|").split("|")[-1]) for row in rows]
    assert all(m >= 0 for m in ours) and max(ours) > 0  # the GBM reacts to some modification
    c2 = next(row for row in rows if "c = 2 " in row)
    assert "0.0401" in c2


def test_figures(zoo_path, tmp_path, bench_cache):
    import figures

    written = figures.run(_args(zoo_path, tmp_path))
    names = sorted(p.name for p in written)
    assert len(names) == 4 and names[0] == "fig2_accuracy_histograms.png"
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # one figure alone, under a suffixed name (no GBM refit for the others)
    only = figures.run([*_args(zoo_path, tmp_path / "one"), "--only", "fig3", "--suffix", "_17k"])
    assert [p.name for p in only] == [names[1].replace(".png", "_17k.png")]
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == [only[0].name]


@pytest.mark.parametrize("extra", [[], ["--memmap"]])
def test_bench_features_quick_prints_ratios_and_checks_results(capsys, extra):
    import bench_features

    assert bench_features.main(["--quick", *extra]) == 0
    out = capsys.readouterr().out
    for n_jobs in (1, 2):
        assert re.search(rf"\| LayerStatistics, .*n_jobs={n_jobs} \| {FLOAT} \| {FLOAT} \|", out)
        assert re.search(rf"\| LayerNorms, .*n_jobs={n_jobs} \| {FLOAT} \| {FLOAT} \|", out)
    assert "peak anonymous memory" in out
    if extra:
        assert "private memory < 2 GB target: ok" in out
    else:  # the naive baselines ran and matched (the script asserts equality to them)
        assert re.search(rf"\| naive np.mean/np.var/np.quantile \| {FLOAT} \|", out)


def test_bench_zoo_quick_compares_batched_with_both_naive_baselines(capsys):
    import bench_zoo

    rows = bench_zoo.main(["--quick", "--datasets", "digits", "--workers", "1"])
    (dataset, epochs, n_batched, batched, n_naive, naive_zoo, naive_fit, final) = rows[0]
    assert (dataset, epochs, n_batched, n_naive) == ("digits", 3, 32, 2)
    assert batched > 0 and naive_zoo > 0 and naive_fit > 0 and 0 <= final <= 1
    out = capsys.readouterr().out
    assert re.search(r"\| digits \| 3 \| 32 \| [\d,]+ \| 2 \| [\d,]+ \| \d+\.\dx \|", out)


def test_table4_architectures_ranks_other_widths_and_depths(zoo_path, tmp_path):
    import table4_architectures as T4
    from conftest import _cached_zoo

    targets = [
        _cached_zoo(
            dataset="digits", n_networks=n, epochs=1, seed=1, n_layers=layers, n_units=units
        )
        for layers, units, n in T4.TARGETS["quick"]
    ]
    argv = _args(zoo_path, tmp_path / "t4.md")
    text = T4.run(argv + [arg for t in targets for arg in ("--target", str(t))])
    rows = [
        line
        for line in text.splitlines()
        if line.startswith("| 2 conv") or line.startswith("| 3 conv")
    ]
    assert len(rows) == 2 * len(targets)  # the main table and the per-feature table
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[0] == "2 conv × 32 (x2)" and cells[1] == "8"
    # the paper's Table 4 x2 column beside ours: pred-test, pred-train, train-test
    assert cells[5:] == ["0.59", "0.58", "0.77"]
    taus = [float(re.findall(FLOAT, c)[0]) for c in cells[2:5]]
    assert all(-1.0 <= t <= 1.0 for t in taus)


def test_layer_roles_do_not_depend_on_layer_names():
    import table4_architectures as T4

    from skweights.layout import Layout
    from skweights.zoo import cnn_layout

    assert T4.layer_roles(cnn_layout(2, 32)) == {
        "first": ["conv2d"], "hidden": ["conv2d_1"], "final": ["dense"]
    }  # fmt: skip
    renamed = Layout.from_shapes(
        [(f"net/{name}/{kind}:0", shape) for name, kind, shape in [
            ("a", "bias", (4,)), ("a", "kernel", (3, 3, 1, 4)),
            ("b", "bias", (4,)), ("b", "kernel", (3, 3, 4, 4)),
            ("c", "bias", (4,)), ("c", "kernel", (3, 3, 4, 4)),
            ("out", "bias", (10,)), ("out", "kernel", (4, 10)),
        ]]
    )  # fmt: skip
    assert T4.layer_roles(renamed) == {"first": ["a"], "hidden": ["b", "c"], "final": ["out"]}
    with pytest.raises(ValueError, match="expected convolutions"):
        T4.layer_roles(Layout.from_shapes([("n/d/bias:0", (2,)), ("n/d/kernel:0", (3, 2))]))


def test_table4_paper_numbers_have_three_rows_of_three_widths():
    assert set(P.TABLE4_TAU) == {"pred_train", "pred_test", "train_test"}
    assert all(list(row) == ["x1", "x2", "x4"] for row in P.TABLE4_TAU.values())
    # the paper's reading: train-test agreement falls with width (overfitting)
    assert list(P.TABLE4_TAU["train_test"].values()) == sorted(
        P.TABLE4_TAU["train_test"].values(), reverse=True
    )


@pytest.mark.slow
@pytest.mark.xdist_group("dask-cluster")
def test_bench_dask_quick_times_local_and_cluster_runs_of_the_same_zoo(capsys):
    import bench_dask

    rows = bench_dask.main(["--quick"])
    assert [r[0].split(",")[0] for r in rows] == ["local", "dask", "dask"]
    assert all(r[3] in ("-", "yes") for r in rows), rows
    assert float(rows[0][2]) == 1.0 and all(float(r[2]) > 0 for r in rows)
    assert "| dispatch | networks/hour |" in capsys.readouterr().out


def test_bench_intervals_reports_coverage_and_width_at_both_levels(
    zoo_path, tmp_path, bench_cache
):
    import bench_intervals

    text = bench_intervals.run(_args(zoo_path, tmp_path / "intervals.md"))
    rows = [line for line in text.splitlines() if re.match(r"\| \S+ \| plus \| 0\.[89] \|", line)]
    assert [row.split("|")[3].strip() for row in rows] == ["0.8", "0.9"]
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        coverage = float(re.findall(FLOAT, cells[3])[0])
        width = float(re.findall(FLOAT, cells[5])[0])
        assert 0.5 <= coverage <= 1.0 and 0.0 < width < 2.0
    assert (tmp_path / "intervals.md").read_text().startswith("### Prediction intervals")


def test_bench_search_quick_compares_pruning_with_none(zoo_path, tmp_path, capsys):
    import bench_search

    out = tmp_path / "search.md"
    rows = bench_search.main(
        ["--quick", "--zoo", str(zoo_path), "--budget", "1", "--out", str(out)]
    )
    assert [r["pruner"] for r in rows] == ["none", "halving"]
    assert rows[0]["pruned"] == 0
    for r in rows:
        assert r["complete"] >= 1 and r["per_hour"] > 0 and -1 < r["cv_r2"] <= 1
    text = out.read_text()
    row = rf"\| halving \| \d+ \(\d+ \+ \d+\) \| [\d,]+ \| {FLOAT} \| {FLOAT} \| {FLOAT} \|"
    assert re.search(row, text)


def test_bench_nfn_quick_reports_all_predictors_on_both_protocols(
    zoo_path, tmp_path, capsys, bench_cache, monkeypatch
):
    import bench_nfn

    out = tmp_path / "nfn.md"
    results = bench_nfn.main(["--quick", "--zoo", str(zoo_path), "--out", str(out)])
    assert [(r["protocol"], r["kind"]) for r in results] == [
        (protocol, kind) for protocol in ("paper", "nfn") for kind in ("gbm", "statnn", "nfn")
    ]
    for r in results:
        assert -1 <= r["tau"] <= 1 and r["fit_time"] > 0 and r["predict_nets_per_s"] > 0
        assert r["n_train"] + r["n_test"] == 96
    text = out.read_text()
    assert text == capsys.readouterr().out
    assert text.count("| NFN-HNP (NeuralFunctionalRegressor) |") == 2
    # a rerun takes every cell from the cache (a stopped run resumes); --no-cache fits again
    monkeypatch.setattr(bench_nfn, "run_cell", lambda *a: pytest.fail("cell was refitted"))
    argv = ["--quick", "--zoo", str(zoo_path), "--out", str(out)]
    assert bench_nfn.main(argv) == results
    with pytest.raises(pytest.fail.Exception, match="refitted"):
        bench_nfn.main([*argv, "--no-cache", "--protocols", "nfn", "--predictors", "gbm"])


def test_bench_nfn_speed_compares_a_git_revision_with_this_checkout(zoo_path, tmp_path):
    import bench_nfn_speed

    out = tmp_path / "speed.md"
    tiny = '{"hidden_channels": [2], "head_units": [8], "batch_size": 16}'
    argv = ["--zoo", str(zoo_path), "--n-train", "40", "--epochs", "1", "--repeats", "1"]
    runs = bench_nfn_speed.main(
        [*argv, "--baseline", "HEAD", "--nfn-params", tiny, "--out", str(out)]
    )
    (base,), (new,) = runs["baseline"], runs["current"]
    assert Path(new["source"]) == Path(bench_nfn_speed.ROOT) / "skweights"
    assert Path(base["source"]) != Path(new["source"])  # the exported revision, not this one
    assert base["n_train"] == new["n_train"] == 40 and len(new["pred"]) == 56
    assert new["fit_nets_epochs_per_s"] > 0 and new["predict_nets_per_s"] > 0
    text = out.read_text()
    assert "| baseline `HEAD` |" in text and "| this checkout |" in text
    assert re.search(r"speed-up \(current / baseline\): fit [\d.]+x, predict [\d.]+x", text)


def test_bench_augment_reports_each_predictor_with_and_without_copies(zoo_path, tmp_path):
    import bench_augment

    out = tmp_path / "augment.md"
    argv = ["--zoo", str(zoo_path), "--n-train", "48", "--predictors", "gbm"]
    results = bench_augment.main([*argv, "--copies", "0", "2", "--out", str(out)])
    assert [(r["kind"], r["copies"]) for r in results] == [("gbm", 0), ("gbm", 2)]
    assert all(-1 <= r["tau"] <= 1 and r["fit_time"] > 0 for r in results)
    assert results[0]["tau"] != results[1]["tau"]  # the copies change the fit
    assert out.read_text().count("| GBM on raw weights |") == 2


def test_learning_curve_points_are_cached_and_drawn(zoo_path, tmp_path, bench_cache):
    import learning_curve

    argv = _args(zoo_path, tmp_path / "lc.md", "--features", "W_L", "--estimators", "gbm")
    text = learning_curve.run([*argv, "--sizes", "12", "48", "1000"])
    row = next(line for line in text.splitlines() if line.startswith("| GBM on W_L"))
    cells = [c.strip() for c in row.strip("|").split("|")][1:]
    assert len(cells) == 2  # 1000 is capped by the 48-network training split
    r2, r2_sd, tau, tau_sd = map(float, re.findall(FLOAT, cells[-1]))
    assert -1.0 < r2 <= 1.0 and 0.2 < tau <= 1.0 and r2_sd >= 0 and tau_sd >= 0
    assert (tmp_path / "lc.md").read_text().startswith("### Learning curves")
    png = next(tmp_path.glob("learning_curve_*.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list(bench_cache.glob("lc-gbm-W_L-*.json"))) == 4  # 2 sizes × 2 repeats
    again = learning_curve.run([*argv, "--sizes", "12", "48"])  # every point from the cache
    assert row in again and len(list(bench_cache.glob("lc-gbm-W_L-*.json"))) == 4


def test_a_tuned_learning_curve_names_each_estimators_own_search_budget(
    zoo_path, tmp_path, bench_cache
):
    import learning_curve

    argv = _args(zoo_path, tmp_path / "lc.md", "--features", "W_L", "--sizes", "48")
    text = learning_curve.run([*argv, "--estimators", "gbm", "dnn", "--tuned", "--n-trials", "12"])
    assert "the best of 12 (GBM), 2 (DNN) CV-search trials" in text  # DNN: a sixth of the budget


def test_paper_gbm_bounds_lightgbm_memory_without_changing_cell_keys():
    from skweights.models._gbm import EarlyStoppingLGBMRegressor

    capped, _ = _common.make_estimator("gbm", False, seed=3, paper=True)
    assert capped.get_params()["histogram_pool_size"] == _common.GBM_HISTOGRAM_POOL_MB > 0
    uncapped = EarlyStoppingLGBMRegressor(
        n_estimators=1000, stopping_rounds=50, random_state=3, n_jobs=1, verbose=-1
    )
    # the key of a cell computed before the cap: its cached result and study stay in use
    assert _common.estimator_key(capped) == repr(uncapped)
    assert _common.estimator_key(capped.set_params(num_leaves=7)) != repr(uncapped)


def test_paper_mode_uses_the_paper_protocol_and_budget(zoo_path):
    args = _common.parse(_common.parser("x"), ["--mode", "paper", "--zoo", str(zoo_path),
                                               "--train-fraction", "60"])  # fmt: skip
    assert args.mode == "paper" and not args.quick and args.n_trials == 100
    (zoo,) = args.zoos
    assert (len(zoo.train), len(zoo.test), zoo.protocol) == (60, 36, "paper")
    estimator, space = _common.make_estimator("gbm", False, paper=True)
    assert (estimator.n_estimators, estimator.stopping_rounds, space) == (1000, 50, "gbm")
    assert _common.trials_for("gbm", 100) >= 100 and _common.trials_for("dnn", 100) == 16
    specs = _common.ZOO_SPECS["paper"]
    assert _common.zoo_dir("digits", specs["digits"]).name == (
        "digits-dataset=digits-epochs=18-n_networks=17000-seed=0"
    )
    assert all(s["n_networks"] - _common.PAPER_N_TRAIN >= 2000 for s in specs.values())


def test_a_cell_search_resumes_and_extends_its_study(zoo_path, bench_cache):
    import optuna

    zoo = _common.load(zoo_path, 0.5, 0, "full")
    first = _common.evaluate(zoo, "lin", "W_L", 2, quick=False)
    (db,) = (bench_cache / "studies").glob("lin-W_L-*.db")
    name = db.stem

    def n_complete():
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
        return len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))

    assert n_complete() == 2
    # more trials: the same study goes on (2 kept + 1 new), and the cell result is new
    more = _common.evaluate(zoo, "lin", "W_L", 3, quick=False)
    assert n_complete() == 3 and more["n_trials"] == 3 and first["n_trials"] == 2
    assert (first["study_trials"], more["study_trials"]) == (2, 3)
    # fewer trials than the study holds: the result says how many it rests on
    assert _common.evaluate(zoo, "lin", "W_L", 1, quick=False)["study_trials"] == 3
    # a cached cell costs nothing; --no-cache starts the study afresh
    assert _common.evaluate(zoo, "lin", "W_L", 3, quick=False) == more
    _common.evaluate(zoo, "lin", "W_L", 1, quick=False, use_cache=False)
    assert n_complete() == 1


def test_a_second_run_of_a_cell_waits_for_the_first_and_keeps_its_study(
    zoo_path, bench_cache, capfd
):
    import threading

    import optuna
    from filelock import FileLock

    zoo = _common.load(zoo_path, 0.5, 0, "full")
    before = set(bench_cache.glob("studies/*.db"))
    _common.evaluate(zoo, "lin", "W_L", 1, quick=False, seed=7)
    (db,) = set(bench_cache.glob("studies/*.db")) - before
    holder = FileLock(db.with_suffix(".lock"))
    holder.acquire()  # another run is searching this cell
    done = threading.Event()
    thread = threading.Thread(
        target=lambda: (
            _common.evaluate(zoo, "lin", "W_L", 1, quick=False, seed=7, use_cache=False),
            done.set(),
        )
    )
    thread.start()
    thread.join(timeout=3)
    # --no-cache waits: it neither deletes the study in use nor searches beside the holder
    assert not done.is_set()
    study = optuna.load_study(study_name=db.stem, storage=f"sqlite:///{db}")
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 1
    holder.release()
    thread.join(timeout=120)
    assert done.is_set()
    assert "waiting for it" in capfd.readouterr().err


def test_a_killed_runs_trials_are_failed_at_once_and_no_cache_refits_a_cell_once(
    zoo_path, bench_cache, capfd, monkeypatch
):
    import optuna

    zoo = _common.load(zoo_path, 0.5, 0, "full")
    before = set(bench_cache.glob("studies/*.db"))
    _common.evaluate(zoo, "lin", "W_L", 1, quick=False, seed=11)
    (db,) = set(bench_cache.glob("studies/*.db")) - before
    study = optuna.load_study(study_name=db.stem, storage=f"sqlite:///{db}")
    study.ask()  # a trial left RUNNING by a killed run (its heartbeat would take ~2 min)
    calls = []
    real = _common._evaluate_cell
    monkeypatch.setattr(
        _common, "_evaluate_cell", lambda *a, **k: calls.append(a[:3]) or real(*a, **k)
    )
    _common.evaluate(zoo, "lin", "W_L", 2, quick=False, seed=11)
    states = [t.state.name for t in study.get_trials()]
    assert states.count("FAIL") == 1 and states.count("RUNNING") == 0
    assert states.count("COMPLETE") == 2
    assert "failed 1 trial(s) of a killed run" in capfd.readouterr().err
    # --no-cache: the first table of a run recomputes the cell, the next ones share it
    first = _common.evaluate(zoo, "lin", "W_L", 2, quick=False, seed=11, use_cache=False)
    again = _common.evaluate(zoo, "lin", "W_L", 2, quick=False, seed=11, use_cache=False)
    assert first == again and len(calls) == 2


def test_a_search_that_ends_short_is_not_cached_and_a_rerun_continues_it(
    zoo_path, bench_cache, capfd, monkeypatch
):
    import skweights.search

    class ShortSearch(skweights.search.WeightSearchCV):
        def fit(self, X, y=None, **fit_params):
            self.n_trials -= 1  # as if a trial had failed
            return super().fit(X, y, **fit_params)

    zoo = _common.load(zoo_path, 0.5, 0, "full")
    monkeypatch.setattr(skweights.search, "WeightSearchCV", ShortSearch)
    short = _common.evaluate(zoo, "lin", "W_L", 2, quick=False, seed=13)
    assert short["study_trials"] == 1
    assert "1 of 2 trials finished; result not cached" in capfd.readouterr().err
    monkeypatch.undo()
    assert _common.evaluate(zoo, "lin", "W_L", 2, quick=False, seed=13)["study_trials"] == 2


def test_the_nfn_split_file_belongs_to_one_generation_of_a_zoo(zoo_path, tmp_path, bench_cache):
    import os
    import shutil

    import _protocols

    copy = tmp_path / "zoo"
    shutil.copytree(zoo_path, copy)
    zoo = _common.load(copy, 0.5, 0, "full")
    first = _protocols.nfn_split_file(zoo)
    st = (copy / "weights.npy").stat()
    os.utime(copy / "weights.npy", (st.st_atime, st.st_mtime + 100))  # generated again
    second = _protocols.nfn_split_file(zoo)
    assert first != second and first.is_file() and second.is_file()
    assert first.read_text() == second.read_text()  # same rows, same seed: the same split


def test_learning_curve_runs_the_neural_functional_on_raw_weights_only(
    zoo_path, tmp_path, bench_cache
):
    import json

    import learning_curve

    argv = _args(zoo_path, tmp_path / "lc.md", "--features", "W_L", "W", "--sizes", "24", "48",
                 "--estimators", "gbm", "nfn", "--repeats", "1")  # fmt: skip
    text = learning_curve.run(argv)
    labels = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")]
    assert {"NFN-HNP on W", "GBM on W_L", "GBM on W"} <= set(labels)
    assert not any(label.startswith("NFN-HNP on W_L") for label in labels)
    points = [json.loads(p.read_text()) for p in bench_cache.glob("lc-nfn-W-*.json")]
    assert sorted(p["size"] for p in points) == [24, 48]
    assert all(-10 < p["r2"] <= 1 and -1 <= p["tau"] <= 1 for p in points)


def test_gap_by_epoch_scores_the_same_networks_at_every_checkpoint(zoo_path, tmp_path):
    import gap_by_epoch

    zoos = gap_by_epoch.zoo_at_epochs(zoo_path, [1, 6], 48, 0, "full")
    early, final = zoos[1], zoos[6]
    assert (early.train == final.train).all() and len(early.target) == len(final.target)
    assert list(early.metrics["modeldir"]) == list(final.metrics["modeldir"])
    assert (early.metrics["step"] == 1).all() and (final.metrics["step"] == 6).all()
    assert early.target.mean() < final.target.mean()  # the same networks, trained longer

    out = tmp_path / "gap.md"
    argv = _args(zoo_path, out, "--epochs", "2", "6", "--features", "W_L", "W_L4")
    text = gap_by_epoch.run(argv)
    rows = [line for line in text.splitlines() if re.match(r"\| \d+ \|", line)]
    assert [r.split("|")[1].strip() for r in rows] == ["2", "6"]
    cells = [float(x) for x in re.findall(FLOAT, rows[1])]
    accuracy, r2_wl, r2_wl4, gap = cells
    assert 0 < accuracy < 1 and abs((r2_wl - r2_wl4) - gap) < 2e-3
    assert out.read_text().startswith("### Single-layer inputs")
    half = gap_by_epoch.run([*argv, "--min-fraction", "0.5"])
    n_train, n_test = map(int, re.search(r"only; (\d+) train / (\d+) test", half).groups())
    assert 0 < n_train < 48 and 0 < n_test < 48  # the 10 % and 25 % networks left out
    with pytest.raises(SystemExit, match=r"no checkpoint at epoch\(s\) \[7\]"):
        gap_by_epoch.run(_args(zoo_path, out, "--epochs", "7"))
    with pytest.raises(SystemExit, match=r"--min-fraction must be in \[0, 1\], got 2.0"):
        gap_by_epoch.run([*argv, "--min-fraction", "2"])
    # a handful of networks: the trees cannot split, so no R² rather than one for every input
    tiny = gap_by_epoch.run([*argv, "--min-fraction", "1"])
    assert "| n/a | n/a | n/a |" in tiny


def test_gap_by_epoch_repeats_report_mean_and_spread_over_splits(zoo_path, tmp_path):
    import gap_by_epoch

    argv = _args(zoo_path, tmp_path / "gap.md", "--epochs", "6", "--features", "W_L", "W_L4")
    single = [gap_by_epoch.run([*argv, "--seed", str(s)]) for s in (0, 1, 2)]
    r2 = [float(re.findall(FLOAT, _row(t, "6"))[1]) for t in single]
    assert len(set(r2)) > 1  # the seeds draw different splits

    figure = tmp_path / "gap.png"
    text = gap_by_epoch.run([*argv, "--repeats", "3", "--figure", str(figure)])
    assert "3 random splits" in text and "Figure: gap.png" in text
    assert figure.read_bytes().startswith(b"\x89PNG")
    cell = _row(text, "6").split("|")[3].strip()
    mean, std = map(float, cell.split(" ± "))
    assert mean == pytest.approx(np.mean(r2), abs=1e-3)
    assert std == pytest.approx(np.std(r2), abs=1e-3)
    with pytest.raises(SystemExit, match="--figure must be a .png file, got "):
        gap_by_epoch.run([*argv, "--figure", str(tmp_path)])
    with pytest.raises(SystemExit, match="--repeats must be at least 1, got 0"):
        gap_by_epoch.run([*argv, "--repeats", "0"])


def _row(text: str, first: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {first} |"))


def test_subset_r2_refuses_empty_or_unsplittable_subsets(zoo_path):
    import _protocols
    from sklearn.dummy import DummyRegressor

    zoo = _common.load(zoo_path)
    X, y = _common.features(zoo, "W_L"), zoo.target
    gbm, _ = _common.make_estimator("gbm", quick=True)
    assert _protocols.subset_r2(gbm, X, y, zoo.train[:0], zoo.test) is None
    assert _protocols.subset_r2(DummyRegressor(), X, y, zoo.train, zoo.test) is None
    r2 = _protocols.subset_r2(gbm, X, y, zoo.train, zoo.test)
    assert r2 is not None and -1.0 < r2 <= 1.0


def test_a_wrong_zoo_is_a_one_line_usage_error(tmp_path, capsys):
    import table2_features

    (tmp_path / "weights.npy").write_bytes(b"")  # an interrupted generation: no metrics, layout
    with pytest.raises(SystemExit) as exit_:
        table2_features.run(["--quick", "--zoo", str(tmp_path)])
    assert exit_.value.code == 2  # argparse's usage error, not a traceback
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error: --zoo " in err
    assert "missing ['metrics.csv.gz', 'layout.csv']" in err


def test_fraction_split_refuses_networks_without_a_train_fraction(zoo_path):
    import dataclasses

    import _protocols

    zoo = _common.load(zoo_path)
    train, test = _protocols.fraction_split(zoo, 0.5)
    fractions = zoo.hyperparameters["train_fraction"]
    assert (fractions.iloc[train] >= 0.5).all() and (fractions.iloc[test] >= 0.5).all()
    hyper = zoo.hyperparameters.copy()
    hyper.loc[[0, 3], "train_fraction"] = np.nan
    broken = dataclasses.replace(zoo, hyperparameters=hyper)
    n = len(hyper)
    with pytest.raises(ValueError, match=rf"missing for 2 of {n} networks; expected one per"):
        _protocols.fraction_split(broken, 0.5)
