"""`skweights.predictor`: the predictor factory; predictor files load without running code."""

from __future__ import annotations

import os
from pathlib import Path

import joblib
import numpy as np
import pytest
import skops.io as sio
from sklearn.preprocessing import FunctionTransformer

from skweights.layout import Layout
from skweights.predictor import (
    ESTIMATORS,
    FEATURE_SETS,
    FORMAT,
    load_predictor,
    make_predictor,
    save_predictor,
    trusted_types,
)

pytestmark = pytest.mark.xdist_group("real-zoo")


class _Payload:
    """Rebuilding this object creates a file: proof that a loader ran code from the file."""

    def __init__(self, path):
        self.path = str(path)

    def __setstate__(self, state):
        Path(state["path"]).touch()
        self.__dict__.update(state)

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))

    def predict(self, X):  # pragma: no cover - never reached
        return np.zeros(len(X))


@pytest.fixture(scope="module")
def fitted(zoo):
    model = make_predictor(zoo.layout, "stats", "gbm", random_state=0)
    model.set_params(model__min_child_samples=5, model__n_estimators=50)
    return model.fit(zoo.weights, zoo.target)


def test_registries_build_every_feature_set_and_estimator():
    layout = Layout.small_cnn_zoo()
    from skweights.predictor import RAW_WEIGHT_ESTIMATORS

    for features in FEATURE_SETS:
        for estimator in ESTIMATORS:
            if estimator in RAW_WEIGHT_ESTIMATORS and features != "weights":
                with pytest.raises(ValueError, match="expected features='weights'"):
                    make_predictor(layout, features, estimator)
                continue
            pipe = make_predictor(layout, features, estimator)
            assert [name for name, _ in pipe.steps] == ["features", "model"]
    with pytest.raises(ValueError, match="unknown estimator 'nope'; expected one of"):
        make_predictor(layout, estimator="nope")


def test_saved_predictor_is_a_skops_file_that_predicts_identically(fitted, zoo, tmp_path):
    path = save_predictor(tmp_path / "p.skops", fitted, zoo.layout, features="stats")
    assert path.read_bytes()[:2] == b"PK"  # a zip archive, not a pickle
    saved = load_predictor(path)
    assert saved["format"] == FORMAT and saved["features"] == "stats"
    assert saved["layout"] == zoo.layout
    np.testing.assert_array_equal(saved["model"].predict(zoo.weights), fitted.predict(zoo.weights))


def test_every_type_of_a_saved_predictor_is_in_the_explicit_trusted_list(fitted, zoo):
    found = sio.get_untrusted_types(data=sio.dumps({"model": fitted, "layout": zoo.layout}))
    assert found and set(found) <= set(trusted_types())
    assert not [t for t in trusted_types() if t.split(".")[0] in ("os", "posix", "builtins")]


def test_the_payload_would_fire_if_the_file_were_loaded_blindly(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.skops"
    sio.dump({"model": _Payload(marker), "layout": Layout.small_cnn_zoo()}, path)
    sio.load(path, trusted=sio.get_untrusted_types(file=path))
    assert marker.exists()


def test_a_crafted_skops_file_is_refused_without_running_its_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.skops"
    sio.dump({"model": _Payload(marker), "layout": Layout.small_cnn_zoo()}, path)
    with pytest.raises(
        ValueError, match=r"evil.skops holds types that are not trusted: .*_Payload"
    ):
        load_predictor(path)
    assert not marker.exists()
    sio.dump({"model": FunctionTransformer(func=os.system), "layout": None}, path)
    with pytest.raises(ValueError, match=r"not trusted: \['(posix|nt).system'\]"):
        load_predictor(path)


def test_a_pickle_is_refused_unless_allowed_and_never_run(fitted, zoo, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.joblib"
    joblib.dump({"model": _Payload(marker), "layout": zoo.layout}, evil)
    with pytest.raises(ValueError, match="is a pickle .* pass allow_pickle=True"):
        load_predictor(evil)
    assert not marker.exists()
    legacy = tmp_path / "legacy.joblib"
    joblib.dump({"model": fitted, "layout": zoo.layout, "features": "stats"}, legacy)
    saved = load_predictor(legacy, allow_pickle=True)
    np.testing.assert_array_equal(saved["model"].predict(zoo.weights), fitted.predict(zoo.weights))
    # what decides is the content, not the name: a skops file called .joblib is safe to load
    save_predictor(tmp_path / "named.joblib", fitted, zoo.layout)
    assert load_predictor(tmp_path / "named.joblib")["layout"] == zoo.layout


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty; expected a predictor file"),
        (b"hello, world", "is not a zip archive; expected a predictor file"),
        ("truncated", "is truncated or corrupt"),
        ("not-a-dict", "holds a list, not a predictor"),
        ("no-layout", "holds a dict, not a predictor"),
    ],
)
def test_broken_predictor_files_name_the_file_and_what_was_expected(
    fitted, zoo, tmp_path, content, message
):
    path = tmp_path / "bad.skops"
    if content == "truncated":
        good = sio.dumps({"format": FORMAT, "model": fitted, "layout": zoo.layout})
        path.write_bytes(good[: len(good) // 2])
    elif content == "not-a-dict":
        sio.dump([1, 2], path)
    elif content == "no-layout":
        sio.dump({"model": fitted}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as info:
        load_predictor(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_newer_format_version_is_refused(fitted, zoo, tmp_path):
    path = tmp_path / "new.skops"
    sio.dump({"format": FORMAT, "format_version": 99, "model": fitted, "layout": zoo.layout}, path)
    with pytest.raises(ValueError, match="format version 99, newer than this skweights"):
        load_predictor(path)
