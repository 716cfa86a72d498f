"""What a generation promises: locked, never overwrites, deterministic, cleans up after kills.

Each test runs the real generator on a tiny digits zoo (see docs/guarantees.md).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skweights._format import default_file_mode
from skweights.zoo import generate_zoo
from skweights.zoo._store import GenerationLockedError, ShardStore

KW = {"dataset": "digits", "n_networks": 8, "epochs": 2, "seed": 3, "group_size": 4}
ZOO_FILES = ("weights.npy", "metrics.csv.gz", "layout.csv")

pytestmark = pytest.mark.xdist_group("zoo-trust")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    return generate_zoo(tmp_path_factory.mktemp("ref"), progress=False, workers=1, **KW)


def _bytes(path: Path) -> dict[str, bytes]:
    return {f: (path / f).read_bytes() for f in ZOO_FILES}


def _wait_for(predicate, timeout=600.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# ------------------------------------------------------------------ 2. determined by arguments
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_zoo_bytes_are_the_same_for_1_and_2_workers_pinned_and_not(reference, tmp_path):
    two = generate_zoo(tmp_path / "two", progress=False, workers=2, **KW)
    unpinned = generate_zoo(
        tmp_path / "unpinned", progress=False, workers=2, pin_workers=False, **KW
    )
    assert _bytes(two) == _bytes(reference)
    assert _bytes(unpinned) == _bytes(reference)


def test_the_manifest_records_what_the_bytes_depend_on(reference):
    env = json.loads((reference / ".shards" / "manifest.json").read_text())["environment"]
    assert set(env) == {"trainer", "jax", "jaxlib", "cpu"}
    from importlib.metadata import version

    assert env["jax"] == version("jax")


def test_resume_under_another_environment_is_refused_naming_it(reference, tmp_path):
    out = tmp_path / "other-env"
    shutil.copytree(reference / ".shards", out / ".shards")
    manifest = out / ".shards" / "manifest.json"
    saved = json.loads(manifest.read_text())
    saved["environment"]["jax"] = "0.0.1"
    manifest.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match=r"another environment \(jax: '0.0.1' there"):
        generate_zoo(out, progress=False, **KW)


def test_a_group_from_a_worker_of_another_environment_is_refused():
    from skweights.zoo._generate import _check_environment, plan_zoo

    plan = plan_zoo("digits", 4, 1, 0, 4, None, None, 3, 16, 128, None)
    env = {**plan.manifest["environment"], "cpu": "some other cpu"}
    with pytest.raises(ValueError, match="group 0 was trained under another environment"):
        _check_environment(plan, 0, env)


# ------------------------------------------------------------------ 1. no data loss
def test_a_second_writer_is_refused_naming_the_first(tmp_path):
    out = tmp_path / "locked"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from skweights.zoo._store import ShardStore\n"
            f"with ShardStore({str(out)!r}, {{'n_networks': 256}}):\n"
            "    print('held', flush=True); time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(GenerationLockedError, match=rf"pid {holder.pid} on .*n_networks=256"):
            generate_zoo(out, progress=False, **{**KW, "n_networks": 4})
        assert not list((out / ".shards").glob("group-*"))
    finally:
        holder.kill()
        holder.wait()
    # the lock dies with its holder: the next run goes ahead
    assert (generate_zoo(out, progress=False, **{**KW, "n_networks": 4}) / "weights.npy").exists()


def test_a_zoo_the_generator_did_not_write_is_never_overwritten(reference, tmp_path):
    foreign = tmp_path / "downloaded"
    foreign.mkdir()
    for f in ZOO_FILES:
        shutil.copy(reference / f, foreign / f)
    before = _bytes(foreign)
    with pytest.raises(ValueError, match="did not write.*refusing to overwrite"):
        generate_zoo(foreign, progress=False, **KW)
    assert _bytes(foreign) == before
    assert not (foreign / ".shards").exists()


@pytest.mark.parametrize("bad", ["", "  "])
def test_an_empty_output_path_is_refused(bad):
    with pytest.raises(ValueError, match="output directory is empty"):
        generate_zoo(bad, progress=False, **KW)


def test_an_output_path_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a directory"):
        generate_zoo(tmp_path / "file" / "zoo", progress=False, **KW)


@pytest.mark.parametrize("root", ["/", "/tmp/.."])
def test_the_root_of_the_file_system_is_refused(root):
    with pytest.raises(ValueError, match="root of the file system"):
        generate_zoo(root, progress=False, **KW)


# ------------------------------------------------------------------ 3. kills and broken files
def test_a_corrupt_shard_is_named_and_trained_again(reference, tmp_path):
    out = tmp_path / "corrupt"
    shutil.copytree(reference / ".shards", out / ".shards")
    shard = sorted((out / ".shards").glob("group-00001-*.npz"))[0]
    shard.write_bytes(shard.read_bytes()[:1000])  # truncated
    with pytest.warns(RuntimeWarning, match=rf"shard .*{shard.name} is corrupt.*group 1"):
        generate_zoo(out, progress=False, **KW)
    assert _bytes(out) == _bytes(reference)


def test_temporary_files_of_killed_writes_are_removed_and_modes_match(reference, tmp_path):
    out = tmp_path / "tmpfiles"
    shutil.copytree(reference / ".shards", out / ".shards")
    stale = [out / ".weights.npy.k2j3.tmp", out / ".shards" / ".group-00000-ab.npz.x1.tmp"]
    for path in stale:
        path.write_bytes(b"half")
    mine = out / ".notes.tmp"  # not a name of ours: left alone
    mine.write_text("user file")
    generate_zoo(out, progress=False, **KW)
    assert not any(p.exists() for p in stale) and mine.exists()
    files = [p for p in [*out.glob("*"), *out.glob(".shards/*")] if p.is_file()]
    modes = {p.name: p.stat().st_mode & 0o777 for p in files}
    assert set(modes.values()) == {default_file_mode()}, modes


def _children(pid: int) -> list[int]:
    import psutil

    return [c.pid for c in psutil.Process(pid).children(recursive=True)]


def test_workers_stop_when_the_generation_is_killed(tmp_path):
    import psutil

    out = tmp_path / "killed"
    code = (
        "from skweights.zoo import generate_zoo\n"
        f"generate_zoo({str(out)!r}, progress=False, workers=2, "
        "**{'dataset': 'digits', 'n_networks': 64, 'epochs': 6, 'seed': 5, 'group_size': 4})\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        _wait_for(lambda: len(list((out / ".shards").glob("group-*.npz"))) >= 1, what="a shard")
        workers = [psutil.Process(p) for p in _children(parent.pid)]
        assert workers
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"workers still running 10 s after their parent died: {alive}"
    n = len(list((out / ".shards").glob("group-*.npz")))
    time.sleep(1)
    assert len(list((out / ".shards").glob("group-*.npz"))) == n  # nobody writes any more
    # and the lock died with the parent: the same command resumes
    with ShardStore(out, {}):
        pass


def test_the_cli_reports_a_refused_output_directory_in_one_line(reference, tmp_path, capsys):
    from skweights.cli import main

    foreign = tmp_path / "downloaded"
    shutil.copytree(reference, foreign, ignore=shutil.ignore_patterns(".shards"))
    args = ["zoo", "generate", "--n-networks", "8", "--epochs", "2", "--quiet", "--out"]
    assert main([*args, str(foreign)]) == 1
    assert main([*args, ""]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("skweights: error: ") for line in err)
    assert "did not write" in err[0] and "output directory is empty" in err[1]
    assert "unexpected" not in " ".join(err)


def test_a_manifest_that_is_not_an_object_is_named_not_a_crash(reference, tmp_path):
    out = tmp_path / "listed"
    shutil.copytree(reference, out)
    (out / ".shards" / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"manifest.json holds a JSON list, expected the object"):
        generate_zoo(out, progress=False, **KW)


def test_an_edited_manifest_names_only_the_argument_that_differs(reference, tmp_path):
    out = tmp_path / "edited"
    shutil.copytree(reference, out)
    manifest = out / ".shards" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"seed": 3', '"seed": 4'))
    with pytest.raises(ValueError, match="different generation") as info:
        generate_zoo(out, progress=False, **KW)
    assert "(seed: 4 there, 3 now)" in str(info.value), info.value
    assert "environment" not in str(info.value) and "grouping" not in str(info.value)


def test_a_damaged_finished_zoo_is_written_again_from_its_shards(reference, tmp_path):
    out = tmp_path / "damaged"
    shutil.copytree(reference, out)
    weights = out / "weights.npy"
    weights.write_bytes(weights.read_bytes()[:1000])  # a truncated copy, say
    with pytest.warns(RuntimeWarning, match=r"finished zoo in .*damaged .*weights.npy is trunc"):
        generate_zoo(out, progress=False, **KW)
    assert _bytes(out) == _bytes(reference)


def test_the_cli_shows_a_warning_as_one_line(reference, tmp_path):
    out = tmp_path / "damaged-cli"
    shutil.copytree(reference, out)
    (out / "weights.npy").write_bytes((reference / "weights.npy").read_bytes()[:1000])
    args = ["zoo", "generate", "--n-networks", "8", "--epochs", "2", "--seed", "3"]
    code = "import sys; from skweights.cli import main; sys.exit(main(sys.argv[1:]))"
    run = subprocess.run(
        [sys.executable, "-c", code, *args, "--group-size", "4", "--quiet", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert (
        run.stderr.splitlines()
        == [l for l in run.stderr.splitlines() if l.startswith("skweights: warning: ")]
        and len(run.stderr.splitlines()) == 1
    ), run.stderr
    assert "finished zoo in" in run.stderr and _bytes(out) == _bytes(reference)


def test_a_shard_renamed_to_another_group_is_caught_and_trained_again(reference, tmp_path):
    out = tmp_path / "renamed"
    shutil.copytree(reference / ".shards", out / ".shards")
    first = sorted((out / ".shards").glob("group-00000-*.npz"))[0]
    for second in (out / ".shards").glob("group-00001-*.npz"):
        second.unlink()
    digest = first.stem.rsplit("-", 1)[-1]
    shutil.copy(first, out / ".shards" / f"group-00001-{digest}.npz")  # checksum still right
    with pytest.warns(RuntimeWarning, match="holds the networks of group 0"):
        generate_zoo(out, progress=False, **KW)
    assert _bytes(out) == _bytes(reference)


def test_a_bad_scheduler_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="scheduler must be a dask scheduler address"):
        generate_zoo(tmp_path / "z", scheduler="garbage", progress=False, **KW)
    with pytest.raises(ValueError, match="backend must be None, 'loky' or 'dask'"):
        generate_zoo(tmp_path / "z", backend="nope", progress=False, **KW)
    assert not (tmp_path / "z").exists()
