"""The main job (`skweights demo` / `make demo`) end to end on a small digits zoo."""

from __future__ import annotations

import json

import pytest

from skweights.cli import main

pytestmark = pytest.mark.xdist_group("real-zoo")


def test_demo_trains_a_zoo_reports_r2_and_tau_and_saves_the_plot(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--n-networks", "48", "--epochs", "4", "--quiet"]
    assert main(args + ["--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "R²" in printed and "τ" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["n_train"] + results["n_test"] <= 48
    assert -1.0 <= results["kendall_tau"] <= 1.0
    assert results["kendall_tau"] > 0.2  # weight statistics rank even a tiny zoo above chance
    assert (out / "true_vs_predicted.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "zoo" / "weights.npy").exists()
