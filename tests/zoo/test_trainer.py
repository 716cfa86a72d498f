"""The vectorised trainer: training chunk by chunk equals training all networks at once."""

import numpy as np
import pytest

from skweights.zoo import sample_hyperparameters

jnp = pytest.importorskip("jax.numpy")


def _epoch(chunk, steps):
    from skweights.zoo._architecture import param_shapes
    from skweights.zoo._images import load_images
    from skweights.zoo._init import init_group
    from skweights.zoo._trainer import first_layer_patches, init_state, train_epoch

    images = load_images("digits")
    configs = sample_hyperparameters(4, seed=11)
    for c in configs:
        c["activation"] = "relu"
    state = init_state(init_group(configs, param_shapes()))
    rng = np.random.default_rng(1)
    idx = rng.integers(0, len(images.x_train), (3, 4, 16)).astype(np.int32)
    mask = np.zeros(idx.shape, np.float32)
    for k, s in enumerate(steps):
        mask[:s, k] = 1.0
    return train_epoch(
        state,
        first_layer_patches(jnp.asarray(images.x_train)),
        jnp.asarray(images.y_train),
        jnp.asarray(idx),
        jnp.asarray(mask),
        jnp.asarray(steps, jnp.int32),
        jnp.asarray([c["learning_rate"] for c in configs], jnp.float32),
        jnp.asarray([c["l2reg"] for c in configs], jnp.float32),
        jnp.full(4, 0.2),
        jnp.arange(4, dtype=jnp.uint32),
        jnp.uint32(3),
        jnp.ones(4, bool),
        dropout=True,
        act="relu",
        chunk=chunk,
    )


def test_chunked_training_equals_all_at_once_with_uneven_step_counts():
    # networks 0/1 form one chunk of 2 with 3 and 1 steps; networks 2/3 take 2 steps and none
    steps = [3, 1, 2, 0]
    whole = _epoch(None, steps)
    for chunk in (1, 2):
        part = _epoch(chunk, steps)
        for a, b in zip(part.params, whole.params):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(np.asarray(part.t), [3, 1, 2, 0])
    # a network without steps keeps its initial weights, the others moved
    start = _epoch(None, [0, 0, 0, 0])
    moved = [
        not np.allclose(np.asarray(a[k]), np.asarray(b[k]))
        for k in range(4)
        for a, b in zip(whole.params[1:2], start.params[1:2])
    ]
    assert moved == [True, True, True, False]


def test_chunk_size_keeps_activations_cache_sized():
    from skweights.zoo._trainer import chunk_size_for

    assert chunk_size_for((28, 28, 1)) == 2
    assert chunk_size_for((16, 16, 1)) == 4
    assert chunk_size_for((32, 32, 1)) == 1
    assert chunk_size_for((8, 8, 1)) == 16
