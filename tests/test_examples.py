"""Every ``examples/plot_*.py`` runs in quick mode on the test zoo and writes its figure."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("real-zoo")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("plot_*.py"))


def test_there_are_examples():
    names = {p.name for p in SCRIPTS}
    assert {"plot_predict_accuracy.py", "plot_early_stopping.py"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_example_runs_in_quick_mode_and_writes_its_figure(script, zoo_path, tmp_path):
    env = os.environ | {
        "MPLBACKEND": "Agg",
        "SKWEIGHTS_EXAMPLE_QUICK": "1",
        "SKWEIGHTS_EXAMPLE_ZOO": str(zoo_path),
        "SKWEIGHTS_EXAMPLE_OUT": str(tmp_path),
        "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax"),
    }
    done = subprocess.run(
        [sys.executable, str(script), "--quick"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    png = tmp_path / f"{script.stem}.png"
    assert png.is_file() and png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "zoos").exists()  # the test zoo was reused, nothing trained


def _python_blocks(rst: Path) -> list[str]:
    """The ``.. code-block:: python`` blocks of a reST file, dedented."""
    import textwrap

    blocks, lines = [], rst.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.strip() == ".. code-block:: python":
            body = []
            for nxt in lines[i + 1 :]:
                if nxt.strip() and not nxt.startswith("   "):
                    break
                body.append(nxt)
            blocks.append(textwrap.dedent("\n".join(body)).strip())
    return blocks


def test_user_guide_code_runs_on_the_test_zoo(zoo_path, tmp_path):
    guide = Path(__file__).resolve().parents[1] / "docs" / "user_guide.rst"
    blocks = _python_blocks(guide)
    assert len(blocks) >= 7
    # the guide trains a 1500-network zoo in its first block; here the test zoo stands in
    assert "generate_zoo(" in blocks[0]
    code = f"zoo_dir = {str(zoo_path)!r}\n" + "\n\n".join(blocks[1:])
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=os.environ | {"MPLBACKEND": "Agg"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "Kendall τ = " in out and "R² = " in out
    # statistics per tensor ignore the order inside a tensor: exactly no change
    assert "permute within tensors   MAD = 0.0000" in out
    assert "(96, 4970) ['conv2d', 'conv2d_1', 'conv2d_2', 'dense']" in out
    assert "same as the zoo row: True" in out
    assert re.search(r"coverage (0\.\d\d|1\.00)\n", out), out  # a fraction of networks
