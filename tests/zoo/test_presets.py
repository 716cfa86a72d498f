"""Named training schedules: ``schedule_preset`` and ``zoo generate --preset``."""

from __future__ import annotations

import pandas as pd
import pytest

from skweights.cli import main
from skweights.zoo import RELEASED_SCHEDULE, default_checkpoints, schedule_preset

RELEASED_STEPS = [0, 1, 2, 3, 20, 40, 60, 80, 86]


def test_released_preset_is_the_released_zoos_schedule():
    assert schedule_preset("released") == {"epochs": 86, "checkpoints": RELEASED_STEPS}
    assert list(RELEASED_SCHEDULE["checkpoints"]) == default_checkpoints(86, 20)
    assert schedule_preset("paper") == {"epochs": 18, "checkpoints": default_checkpoints(18)}
    with pytest.raises(ValueError, match=r"unknown schedule preset 'nfn'; expected one of"):
        schedule_preset("nfn")


def test_cli_released_preset_writes_the_steps_nfn_selects(tmp_path, capsys):
    # two digits networks keep 86 epochs fast (compilation dominates)
    out = tmp_path / "released"
    # an explicit --epochs that agrees with the preset is accepted
    assert main(["zoo", "generate", "--preset", "released", "--epochs", "86", "--n-networks",
                 "2", "--group-size", "2", "--out", str(out), "--quiet"]) == 0  # fmt: skip
    metrics = pd.read_csv(out / "metrics.csv.gz")
    assert sorted(set(metrics["step"])) == RELEASED_STEPS
    assert metrics.groupby("modeldir")["step"].apply(list).tolist() == [RELEASED_STEPS] * 2
    # NFN's ZooDataset keeps `metrics["step"] == 86`: every network is found
    assert metrics.loc[metrics["step"] == 86, "modeldir"].nunique() == 2


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--epochs", "18"], "--epochs 18 conflicts with --preset released (epochs 86)"),
        (["--checkpoints", "0,86"], "--checkpoints [0, 86] conflicts with --preset released"),
    ],
)
def test_cli_preset_conflicting_with_explicit_schedule_is_a_one_line_error(
    tmp_path, capsys, extra, message
):
    argv = ["zoo", "generate", "--preset", "released", "--out", str(tmp_path / "z"), *extra]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("skweights: error: ") and message in err
    assert err.count("\n") == 1
    assert not (tmp_path / "z").exists()


def test_cli_explicit_epochs_and_checkpoints_without_a_preset(tmp_path):
    out = tmp_path / "z"
    argv = ["zoo", "generate", "--epochs", "2", "--checkpoints", "2,0", "--n-networks", "2",
            "--group-size", "2", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    assert sorted(set(pd.read_csv(out / "metrics.csv.gz")["step"])) == [0, 2]
    with pytest.raises(SystemExit):
        main(["zoo", "generate", "--checkpoints", "0,x", "--out", str(out)])
