"""Initial weights of a group of zoo CNNs, equal to the Keras 3 initializers' (JAX backend).

Kernels are drawn in JAX by one compiled program per chunk of networks (no Keras import and no
eager call per network and tensor); orthogonal kernels take the QR of their normal draws one
network at a time (a vmapped QR stalled XLA CPU workers). Biases are zero. Pinned against
`skweights.zoo._architecture.init_params` (real Keras initializers) by a test.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["init_group"]


def _fans(shape):
    """Keras ``compute_fans``: (fan_in, fan_out) of a dense or HWIO conv kernel."""
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


_TRUNC = 0.87962566103423978  # Keras VarianceScaling: stddev of a unit normal cut at +-2


def _init_kind(w_init):
    key = str(w_init).lower().replace("_", "")
    if key not in ("glorotnormal", "henormal", "orthogonal", "randomnormal", "truncatednormal"):
        raise ValueError(
            "w_init must be one of glorot_normal, he_normal, orthogonal, RandomNormal, "
            f"TruncatedNormal; got {w_init!r}."
        )
    return key


_INIT_CHUNK = 32
_KINDS = ("glorotnormal", "henormal", "orthogonal", "randomnormal", "truncatednormal")


@partial(jax.jit, static_argnames=("shapes",))
def _draw(keys, stddev, kind, shapes):
    """Kernels drawn as the Keras 3 JAX-backend initializers draw them, for N networks at once.

    ``keys`` (N, T, 2) uint32 are Keras's ``draw_seed(int_seed)`` = ``[seed, 0]`` per kernel,
    ``stddev`` (N, T) float32 the multiplier of the normal draws, ``kind`` (N,) int32 an index
    into `_KINDS`. Every kind is drawn for every network (the kernels are tiny) and the wanted
    one selected, so there is one compiled program per group size. The optimisation barriers
    keep XLA from fusing the scaling into the draw, which keeps the values bit-identical to
    Keras's eager calls.
    """
    out = []
    for t, shape in enumerate(shapes):
        rows, cols = int(np.prod(shape[:-1])), shape[-1]

        def one(key, sd, k, shape=shape, rows=rows, cols=cols):
            normal = lax.optimization_barrier(jax.random.normal(key, shape, jnp.float32))
            trunc = lax.optimization_barrier(
                jax.random.truncated_normal(key, -2.0, 2.0, shape, jnp.float32)
            )
            scaled_normal = normal * sd + 0.0
            scaled_trunc = trunc * sd + 0.0
            return jnp.where((k == 0) | (k == 1) | (k == 4), scaled_trunc, scaled_normal), normal

        out.append(jax.vmap(one)(keys[:, t], stddev[:, t], kind))
    return out


def init_group(configs, shapes):
    """Stacked initial tensors, equal to the real Keras initializers' (`init_params`).

    Drawn in JAX directly by one compiled program for the whole group (no Keras import and no
    eager call per network and tensor). Pinned against
    `skweights.zoo._architecture.init_params` by a test.
    """
    from skweights.zoo._architecture import kernel_seed

    n = len(configs)
    kinds = np.asarray([_KINDS.index(_init_kind(c["w_init"])) for c in configs], np.int32)
    kernels = [
        (j, tuple(int(d) for d in shape))
        for j, (name, shape) in enumerate(shapes)
        if not name.endswith("bias:0")
    ]
    keys = np.zeros((n, len(kernels), 2), np.uint32)
    sd = np.zeros((n, len(kernels)), np.float32)
    for t, (j, shape) in enumerate(kernels):
        fan_in, fan_out = _fans(shape)
        glorot = math.sqrt(1.0 / max(1.0, (fan_in + fan_out) / 2.0)) / _TRUNC
        he = math.sqrt(2.0 / max(1.0, fan_in)) / _TRUNC
        for k, c in enumerate(configs):
            keys[k, t, 0] = kernel_seed(c["random_seed"], j) & 0xFFFFFFFF
            sd[k, t] = (glorot, he, 1.0, c["init_std"], c["init_std"])[kinds[k]]
    out = [np.zeros((n,) + tuple(int(d) for d in shape), np.float32) for _, shape in shapes]
    # fixed chunks of _INIT_CHUNK networks: one compiled program whatever the group size (and
    # XLA CPU's batched QR stalled here with 128 networks in one call)
    total = -(-n // _INIT_CHUNK) * _INIT_CHUNK
    pad = total - n
    keys = np.concatenate([keys, np.zeros((pad,) + keys.shape[1:], np.uint32)])
    sd = np.concatenate([sd, np.ones((pad, sd.shape[1]), np.float32)])
    kinds = np.concatenate([kinds, np.zeros(pad, np.int32)])
    static = tuple(s for _, s in kernels)
    for lo in range(0, n, _INIT_CHUNK):
        hi = lo + _INIT_CHUNK
        drawn = _draw(
            jnp.asarray(keys[lo:hi]), jnp.asarray(sd[lo:hi]), jnp.asarray(kinds[lo:hi]), static
        )
        for (j, shape), (tensor, normal) in zip(kernels, drawn):
            out[j][lo : min(hi, n)] = np.asarray(tensor, np.float32)[: min(hi, n) - lo]
            for k in range(lo, min(hi, n)):
                if kinds[k] == 2:
                    out[j][k] = _orthogonal(normal[k - lo], shape)
    return out


def _orthogonal(normal, shape):
    """Keras ``Orthogonal`` (gain 1) from its normal draws, with the same eager JAX calls.

    Kept out of the vectorised draw: a vmapped QR stalled XLA CPU workers.
    """
    rows, cols = int(np.prod(shape[:-1])), shape[-1]
    # Keras draws (max, min) normals from the same key: the same bits, reshaped
    a = jnp.reshape(normal, (max(cols, rows), min(cols, rows)))
    q, r = jnp.linalg.qr(a)
    q = q * jnp.sign(jnp.diag(r))
    if rows < cols:
        q = jnp.transpose(q)
    return np.asarray(1.0 * jnp.reshape(q, shape), np.float32)
