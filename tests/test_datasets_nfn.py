"""NFN split files: `write_nfn_split` / ``skweights zoo split`` against `nfn_split` and NFN."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from skweights.cli import main
from skweights.datasets import load_zoo, nfn_split, write_nfn_split


def _nfn_zoo_dataset_rows(zoo_path, idcs_file, final_step):
    """File rows of NFN's ``ZooDataset`` splits (experiments/data_utils.py, its code verbatim
    except ``step == 86`` -> ``final_step`` and returning rows instead of tensors)."""
    shuffled_idcs = pd.read_csv(idcs_file, header=None).values.flatten()
    rows = np.arange(len(np.load(zoo_path / "weights.npy", mmap_mode="r")))[shuffled_idcs]
    metrics = pd.read_csv(zoo_path / "metrics.csv.gz", compression="gzip")
    metrics = metrics.iloc[shuffled_idcs]
    isfinal = metrics["step"] == final_step
    rows = rows[isfinal.to_numpy()]
    test_split_point = int(0.5 * len(rows))
    trainval_idcs = list(range(test_split_point))
    val_point = int(0.8 * len(trainval_idcs))
    rng = random.Random(0)
    rng.shuffle(trainval_idcs)
    splits = {
        "train": trainval_idcs[:val_point],
        "val": trainval_idcs[val_point:],
        "test": list(range(test_split_point, len(rows))),
    }
    return {mode: rows[idcs] for mode, idcs in splits.items()}


def test_written_split_has_nfns_format_and_round_trips_through_nfn_split(zoo_path, tmp_path):
    path = write_nfn_split(zoo_path, tmp_path / "zoo_split.csv", random_state=3)
    n_rows = len(pd.read_csv(zoo_path / "metrics.csv.gz"))
    lines = path.read_text().splitlines()
    # the published files: a "0" header line, then a permutation of every row of the files
    assert lines[0] == "0" and len(lines) == n_rows + 1
    assert sorted(map(int, lines[1:])) == list(range(n_rows))

    zoo = load_zoo(zoo_path, step="final")
    final_step = int(zoo.metrics["step"].max())
    train, val, test = nfn_split(zoo, path)
    nfn = _nfn_zoo_dataset_rows(zoo_path, path, final_step)
    for ours, mode in ((train, "train"), (val, "val"), (test, "test")):
        np.testing.assert_array_equal(zoo.rows[ours], nfn[mode])
    assert len(train) + len(val) + len(test) >= len(zoo.target)
    assert set(train) | set(val) | set(test) == set(range(len(zoo.target)))


def test_split_of_a_loaded_zoo_covers_the_files_rows_and_depends_on_the_seed(
    zoo, zoo_path, tmp_path
):
    # a Bunch loaded at its final step still gets a permutation of all rows of the files
    a = write_nfn_split(zoo, tmp_path / "a_split.csv", random_state=0).read_text()
    b = write_nfn_split(zoo_path, tmp_path / "b_split.csv", random_state=0).read_text()
    c = write_nfn_split(zoo_path, tmp_path / "c_split.csv", random_state=1).read_text()
    assert a == b != c
    assert len(a.split()) == len(pd.read_csv(zoo_path / "metrics.csv.gz")) + 1


def test_cli_zoo_split_writes_the_same_file(zoo_path, tmp_path, capsys):
    out = tmp_path / "cli_split.csv"
    assert main(["zoo", "split", str(zoo_path), "--out", str(out), "--seed", "5"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    expected = write_nfn_split(zoo_path, tmp_path / "lib_split.csv", random_state=5)
    assert out.read_text() == expected.read_text()
    assert main(["zoo", "split", str(tmp_path / "nowhere"), "--out", str(out)]) == 1
    assert capsys.readouterr().err.startswith("skweights: error: ")


def test_write_nfn_split_rejects_what_is_not_a_zoo(tmp_path):
    with pytest.raises(ValueError, match="at least 2 rows, got 1"):
        write_nfn_split(1, tmp_path / "s.csv")
    with pytest.raises(TypeError, match="got list"):
        write_nfn_split([1, 2], tmp_path / "s.csv")
    assert not (tmp_path / "s.csv").exists()


def test_write_nfn_split_from_two_writers_at_once(tmp_path):
    # each call writes through a temporary file of its own: no writer deletes another's
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "zoo_split.csv"

    def write(_):
        return write_nfn_split(17000, path, random_state=0)

    with ThreadPoolExecutor(4) as pool:
        assert len(list(pool.map(write, range(40)))) == 40
    lines = path.read_text().split()
    assert lines[0] == "0" and sorted(map(int, lines[1:])) == list(range(17000))
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    assert path.stat().st_mode & 0o044  # readable by group and others, like any written file
