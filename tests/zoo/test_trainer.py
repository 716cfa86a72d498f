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

    assert chunk_size_for((28, 28, 1)) == 1
    assert chunk_size_for((16, 16, 1)) == 2
    assert chunk_size_for((32, 32, 1)) == 1
    assert chunk_size_for((8, 8, 1)) == 8


def test_eval_batch_keeps_activations_cache_sized():
    from skweights.zoo._trainer import eval_batch_for

    assert eval_batch_for((28, 28, 1), 1) == 64
    assert eval_batch_for((16, 16, 1), 2) == 64
    assert eval_batch_for((32, 32, 1), 1) == 32
    assert eval_batch_for((256, 256, 1), 1) == 8  # never below 8


def test_tanh_is_bitwise_jnp_tanh_values_and_gradients():
    import jax

    from skweights.zoo._trainer import tanh

    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 4e-4, 3.99e-4, 7.9988, 8.0], "f4")
    x = np.concatenate([bits, np.linspace(-10, 10, 200_001, dtype=np.float32), specials])
    ours = np.asarray(jax.jit(tanh)(x))
    ref = np.asarray(jax.jit(jnp.tanh)(x))
    np.testing.assert_array_equal(ours, ref)  # NaN == NaN for assert_array_equal
    grad = jax.jit(jax.vmap(jax.grad(tanh)))
    np.testing.assert_array_equal(
        np.asarray(grad(x)), np.asarray(jax.jit(jax.vmap(jax.grad(jnp.tanh)))(x))
    )


@pytest.mark.parametrize("shared", [False, True])
def test_custom_matmuls_match_autodiff_of_plain_matmul(shared):
    import jax

    from skweights.zoo._trainer import _matmul, _narrow_matmul

    rng = np.random.default_rng(3)
    w9 = jnp.asarray(rng.normal(size=(3, 9, 16)), jnp.float32)
    w144 = jnp.asarray(rng.normal(size=(3, 144, 16)), jnp.float32)
    p9 = jnp.asarray(rng.normal(size=(50, 9) if shared else (3, 50, 9)), jnp.float32)
    p144 = jnp.asarray(rng.normal(size=(3, 50, 144)), jnp.float32)
    cot = jnp.asarray(rng.normal(size=(3, 50, 16)), jnp.float32)

    def check(ours, p, w, wrt):
        def plain(p, w):
            return jnp.einsum("mk,nku->nmu" if p.ndim == 2 else "nmk,nku->nmu", p, w)

        np.testing.assert_allclose(ours(p, w), plain(p, w), rtol=1e-5, atol=1e-5)
        g_ours = jax.grad(lambda p, w: jnp.sum(ours(p, w) * cot), argnums=wrt)(p, w)
        g_ref = jax.grad(lambda p, w: jnp.sum(plain(p, w) * cot), argnums=wrt)(p, w)
        for a, b in zip(g_ours, g_ref):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)

    check(_narrow_matmul, p9, w9, (1,))  # the first layer's patches are data: no gradient
    if not shared:
        check(_matmul, p144, w144, (0, 1))


@pytest.mark.parametrize("once", [False, True])
def test_relu_dropout_matches_autodiff_of_the_plain_expression(once):
    import jax

    from skweights.zoo._trainer import _relu_dropout

    rng = np.random.default_rng(5)
    z = jnp.asarray(rng.normal(size=(3, 40, 16)), jnp.float32).at[0, 0, :4].set(0.0)
    keep = jnp.asarray(rng.random((3, 40, 16)) > 0.3)
    r = jnp.asarray([0.0, 0.3, 0.65], jnp.float32)[:, None, None]
    cot = jnp.asarray(rng.normal(size=(3, 40, 16)), jnp.float32)

    def plain(z):
        return jnp.where(keep, jax.nn.relu(z) / (1.0 - r), 0.0)

    def ours(z):
        return _relu_dropout(z, keep, r, once)

    np.testing.assert_array_equal(jax.jit(ours)(z), jax.jit(plain)(z))
    g_ours = jax.jit(jax.grad(lambda z: jnp.sum(ours(z) * cot)))(z)
    g_plain = jax.jit(jax.grad(lambda z: jnp.sum(plain(z) * cot)))(z)
    np.testing.assert_array_equal(g_ours, g_plain)
