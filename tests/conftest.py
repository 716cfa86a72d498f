"""Shared fixtures: a tiny real zoo trained by our own generator, made once and cached.

The zoo is cached on disk under ``.cache/test-zoos/`` (keyed by its generation arguments) so that
repeated test runs and the pytest-xdist workers share one generation; a file lock makes the
workers wait for the one that generates it.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("SKWEIGHTS_TEST_CACHE", ROOT / ".cache" / "test-zoos"))

# Keras 3 runs on JAX here (see README); a test that imports keras directly must get it too.
os.environ.setdefault("KERAS_BACKEND", "jax")

#: The generation every real-data test uses: small enough to train in well under a minute on
#: 2 cores, large enough that accuracies spread from chance to good.
TEST_ZOO = {"dataset": "digits", "n_networks": 96, "epochs": 6, "seed": 0}


def _cached_zoo(**kwargs) -> Path:
    from skweights.zoo import generate_zoo

    key = "-".join(f"{k}={v}" for k, v in sorted(kwargs.items()))
    out = CACHE / key
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = out / "generation.json"
        if not done.exists():
            generate_zoo(out, progress=False, **kwargs)
            done.write_text(json.dumps(kwargs))
    return out


@pytest.fixture(scope="session")
def zoo_path() -> Path:
    """Directory of a real digits zoo in the Small CNN Zoo format (all checkpoints)."""
    return _cached_zoo(**TEST_ZOO)


@pytest.fixture(scope="session")
def zoo(zoo_path):
    """The real test zoo loaded at its final checkpoint (a Bunch, see `load_zoo`)."""
    from skweights.datasets import load_zoo

    return load_zoo(zoo_path, step="final")
