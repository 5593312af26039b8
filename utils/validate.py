"""Argument checks at the boundary of the library's public functions.

Every public function of `utils` checks its arguments before it computes, so
that bad input fails with a `TypeError` (wrong type or dtype) or a
`ValueError` (wrong shape, out-of-range value) whose message names the
argument and says what was expected, instead of a trace from deep inside
`lax.scan` or a broadcast. `tests/test_errors.py` holds every public function
to this.

The checks cost nothing in training:

- shape, dtype and type checks are static: under `jit`/`vmap` they run once,
  at trace time, on the tracers' shapes and dtypes;
- value checks (finite, in a range, probabilities) look only at concrete
  numbers and skip tracers (`is_traced`), so they never break tracing and
  never add work to a compiled function.

Shapes are written as in the docstrings and jaxtyping annotations: a string
of space-separated axis names, e.g. `"N H"`; `"*N H"` allows any number of
leading axes before `H`; a number is an exact size (`"T 4"`); `""` is a
scalar. Pass the same `dims` dict to several calls to make axes with the same
name agree across arguments.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import MutableMapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "is_traced",
    "as_float_array",
    "as_int_array",
    "as_bool_array",
    "check_shape",
    "check_same_shape",
    "check_broadcastable",
    "check_in_range",
    "check_int",
    "check_finite",
    "check_probabilities",
    "check_callable",
    "check_key",
    "check_instance",
    "check_pytree_like",
]


def is_traced(x: Any) -> bool:
    """Whether `x` is a JAX tracer (inside `jit`, `vmap`, `grad`, `scan`, ...)."""
    return isinstance(x, jax.core.Tracer)


def _describe(x: Any) -> str:
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"an array of shape {tuple(x.shape)} and dtype {x.dtype}"
    return f"{type(x).__name__} {x!r}" if isinstance(x, (numbers.Number, str)) else type(x).__name__


def _to_array(name: str, x: Any, what: str):
    """`x` as an array (tracers and JAX arrays unchanged), or a TypeError."""
    if isinstance(x, (jax.Array, np.ndarray)):
        return x
    if x is None or isinstance(x, (str, bytes, dict)) or callable(x):
        raise TypeError(f"`{name}` must be {what}, got {_describe(x)}")
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as err:  # ragged lists, objects: the caller passed the wrong thing
        raise TypeError(f"`{name}` must be {what}, got {type(x).__name__} ({err})") from None
    if arr.dtype == object:
        raise TypeError(f"`{name}` must be {what}, got {type(x).__name__} that is not a rectangular array of numbers")
    return arr


def check_shape(name: str, x: Any, shape: str, dims: MutableMapping[str, int] | None = None) -> None:
    """Raise a ValueError unless `x.shape` matches the axis names of `shape` (see the module docstring).

    A named axis seen before in `dims` must have the same size; a new one is recorded."""
    spec = shape.split()
    actual = tuple(np.shape(x))
    star = bool(spec) and spec[0].startswith("*")
    fixed = spec[1:] if star else spec
    ok = len(actual) >= len(fixed) if star else len(actual) == len(fixed)
    if not ok:
        want = "(..., " + ", ".join(fixed) + ")" if star else "(" + ", ".join(fixed) + (",)" if len(fixed) == 1 else ")")
        raise ValueError(f"`{name}` must have shape {want} ({len(fixed)}{'+' if star else ''} axes), got shape {actual}")
    tail = actual[len(actual) - len(fixed):] if fixed else ()
    for axis, size in zip(fixed, tail):
        if axis.isdigit():
            if size != int(axis):
                raise ValueError(f"`{name}` must have shape ({', '.join(fixed)}) with {axis} = {int(axis)}, "
                                 f"got shape {actual}")
        elif dims is not None:
            if axis in dims and dims[axis] != size:
                raise ValueError(f"`{name}` must have {axis} = {dims[axis]} along axis '{axis}' (as the arguments "
                                 f"before it), got shape {actual}")
            dims.setdefault(axis, size)


def as_float_array(name: str, x: Any, shape: str | None = None, dims: MutableMapping[str, int] | None = None):
    """`x` as an array of floats; integers are converted to the default float dtype.

    TypeError for anything that is not real numbers (None, strings, booleans,
    complex); ValueError if `shape` is given and does not match."""
    arr = _to_array(name, x, "an array of real numbers")
    dtype = arr.dtype
    if dtype == bool or not (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)):
        raise TypeError(f"`{name}` must hold real numbers (a float dtype), got dtype {dtype}")
    if shape is not None:
        check_shape(name, arr, shape, dims)
    if jnp.issubdtype(dtype, jnp.integer):
        return jnp.asarray(arr, jnp.result_type(float))
    # NumPy floats are returned as they are: a check must not round float64 inputs to float32.
    return arr


def as_int_array(name: str, x: Any, shape: str | None = None, dims: MutableMapping[str, int] | None = None):
    """`x` as an array of integers (indices: states, actions). TypeError for floats, booleans and non-arrays."""
    arr = _to_array(name, x, "an array of integers")
    if arr.dtype == bool or not jnp.issubdtype(arr.dtype, jnp.integer):
        raise TypeError(f"`{name}` must hold integers (an int dtype), got dtype {arr.dtype}")
    if shape is not None:
        check_shape(name, arr, shape, dims)
    return arr if is_traced(arr) or isinstance(arr, jax.Array) else jnp.asarray(arr)


def as_bool_array(name: str, x: Any, shape: str | None = None, dims: MutableMapping[str, int] | None = None):
    """`x` as an array of booleans (flags such as `terminated`); integer 0/1 flags are accepted and converted."""
    arr = _to_array(name, x, "an array of booleans")
    if not (arr.dtype == bool or jnp.issubdtype(arr.dtype, jnp.integer)):
        raise TypeError(f"`{name}` must hold booleans (dtype bool), got dtype {arr.dtype}")
    if shape is not None:
        check_shape(name, arr, shape, dims)
    if arr.dtype != bool:
        if not is_traced(arr) and not bool(np.all((np.asarray(arr) == 0) | (np.asarray(arr) == 1))):
            raise ValueError(f"`{name}` must hold booleans (or 0/1 flags), got other integers")
        return jnp.asarray(arr) != 0
    return arr if is_traced(arr) or isinstance(arr, jax.Array) else jnp.asarray(arr)


def check_same_shape(*named: tuple[str, Any]) -> None:
    """Raise a ValueError unless all `(name, array)` pairs have the shape of the first."""
    first_name, first = named[0]
    for name, x in named[1:]:
        if np.shape(x) != np.shape(first):
            raise ValueError(f"`{name}` must have the same shape as `{first_name}` {tuple(np.shape(first))}, "
                             f"got shape {tuple(np.shape(x))}")


def check_broadcastable(*named: tuple[str, Any]) -> tuple[int, ...]:
    """Raise a ValueError unless the `(name, array)` pairs broadcast together; returns the broadcast shape."""
    shape: tuple[int, ...] = ()
    for name, x in named:
        try:
            shape = tuple(np.broadcast_shapes(shape, tuple(np.shape(x))))
        except ValueError:
            others = ", ".join(f"`{n}` {tuple(np.shape(y))}" for n, y in named if n != name)
            raise ValueError(f"`{name}` must broadcast against {others}, got shape {tuple(np.shape(x))}") from None
    return shape


def _real_scalar(name: str, value: Any):
    """`value` as a Python float (or the tracer itself), after the type checks."""
    if isinstance(value, bool) or isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"`{name}` must be a real number, got {_describe(value)}")
    if isinstance(value, numbers.Real):
        return float(value)
    if not (hasattr(value, "shape") and hasattr(value, "dtype")):
        raise TypeError(f"`{name}` must be a real number, got {_describe(value)}")
    if np.ndim(value) != 0:
        raise ValueError(f"`{name}` must be a scalar, got an array of shape {tuple(np.shape(value))}")
    if value.dtype == bool or not (jnp.issubdtype(value.dtype, jnp.floating) or jnp.issubdtype(value.dtype, jnp.integer)):
        raise TypeError(f"`{name}` must be a real number, got dtype {value.dtype}")
    return value if is_traced(value) else float(value)


def check_in_range(name: str, value: Any, low: float | None = None, high: float | None = None, *,
                   inclusive: tuple[bool, bool] | bool = True) -> Any:
    """Raise unless `value` is a real scalar in the interval from `low` to `high` (None: unbounded).

    `inclusive` says whether each end belongs to the interval (one bool for both).
    NaN and infinities are rejected unless an end is unbounded on that side.
    Traced values pass (their type and shape are still checked). Returns `value`."""
    x = _real_scalar(name, value)
    if is_traced(x):
        return value
    lo_in, hi_in = (inclusive, inclusive) if isinstance(inclusive, bool) else inclusive
    ok = not math.isnan(x)
    if ok and low is not None:
        ok = x >= low if lo_in else x > low
    if ok and high is not None:
        ok = x <= high if hi_in else x < high
    if ok and (low is None or high is None) and math.isinf(x):
        ok = False
    if not ok:
        left = "(-inf" if low is None else ("[" if lo_in else "(") + f"{low:g}"
        right = "inf)" if high is None else f"{high:g}" + ("]" if hi_in else ")")
        raise ValueError(f"`{name}` must be a finite number in {left}, {right}, got {x}")
    return value


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """Raise unless `value` is a Python (or NumPy) integer, not a bool, in `low, ..., high`. Returns an int.

    For static sizes and counts (horizons, numbers of steps), which must be known at trace time."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"`{name}` must be an int, got {_describe(value)}")
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            want = {1: "positive int", 0: "non-negative int"}.get(low, f"int >= {low}")
            raise ValueError(f"`{name}` must be a {want}, got {value}")
        elif low is None:
            want = f"<= {high}"
        else:
            want = f"in {low}, ..., {high}"
        raise ValueError(f"`{name}` must be an int {want}, got {value}")
    return int(value)


def check_finite(name: str, x: Any) -> None:
    """Raise a ValueError if a concrete `x` (array or pytree of arrays) holds NaN or infinity; tracers pass."""
    for leaf in jax.tree_util.tree_leaves(x):
        if is_traced(leaf) or not hasattr(leaf, "dtype") and not isinstance(leaf, numbers.Number):
            continue
        arr = np.asarray(leaf)
        if jnp.issubdtype(arr.dtype, jnp.inexact) and not np.all(np.isfinite(arr)):
            bad = "NaN" if np.any(np.isnan(arr)) else "infinity"
            raise ValueError(f"`{name}` must be finite, got {bad}")


def check_probabilities(name: str, p: Any, axis: int = -1, atol: float = 1e-5) -> None:
    """Raise a ValueError unless a concrete `p` is non-negative and sums to 1 along `axis`; tracers pass."""
    if is_traced(p):
        return
    arr = np.asarray(p, np.float64)
    if arr.ndim == 0:
        raise ValueError(f"`{name}` must be an array of probabilities, got a scalar")
    if not np.all(np.isfinite(arr)) or np.any(arr < -atol):
        raise ValueError(f"`{name}` must hold probabilities (finite and >= 0), got min {np.nanmin(arr):g}")
    sums = arr.sum(axis=axis)
    if not np.allclose(sums, 1.0, atol=atol * max(1, arr.shape[axis])):
        raise ValueError(f"`{name}` must sum to 1 along axis {axis}, got sums from {sums.min():g} to {sums.max():g}")


def check_callable(name: str, f: Any) -> None:
    """Raise a TypeError unless `f` is callable."""
    if not callable(f):
        raise TypeError(f"`{name}` must be a callable, got {_describe(f)}")


def check_key(name: str, key: Any) -> None:
    """Raise a TypeError unless `key` is a JAX PRNG key: `jax.random.key(...)` or a raw uint32 key of shape (2,).

    Static (type, dtype and shape only), so it works on traced keys too."""
    if not (hasattr(key, "shape") and hasattr(key, "dtype")):
        raise TypeError(f"`{name}` must be a PRNG key (jax.random.key(seed)), got {_describe(key)}")
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"`{name}` must be a single PRNG key (shape ()), got a batch of shape {tuple(key.shape)}")
        return
    if key.dtype != jnp.uint32 or tuple(key.shape) != (2,):
        raise TypeError(f"`{name}` must be a PRNG key (jax.random.key(seed) or jax.random.PRNGKey(seed)), "
                        f"got {_describe(key)}")


def check_instance(name: str, x: Any, cls: type | tuple[type, ...], what: str | None = None) -> None:
    """Raise a TypeError unless `isinstance(x, cls)`; `what` names the expected type in the message."""
    if not isinstance(x, cls):
        if what is None:
            classes = cls if isinstance(cls, tuple) else (cls,)
            what = " or ".join(f"{c.__module__}.{c.__qualname__}" if c.__module__ != "builtins" else c.__name__
                               for c in classes)
        raise TypeError(f"`{name}` must be a {what}, got {type(x).__name__}")


def check_pytree_like(name: str, x: Any, like: Any, like_name: str) -> None:
    """Raise a ValueError unless pytree `x` has the structure and leaf shapes of `like`."""
    x_leaves, x_def = jax.tree_util.tree_flatten(x)
    l_leaves, l_def = jax.tree_util.tree_flatten(like)
    if x_def != l_def or any(np.shape(a) != np.shape(b) for a, b in zip(x_leaves, l_leaves)):
        raise ValueError(f"`{name}` must have the structure and shapes of `{like_name}` "
                         f"({[tuple(np.shape(v)) for v in l_leaves]}), got {[tuple(np.shape(v)) for v in x_leaves]}")

