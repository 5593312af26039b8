"""JAX's persistent compilation cache: a program compiled once is written to disk
and read back by later processes instead of being compiled again.

    from utils.cache import enable_compilation_cache
    enable_compilation_cache()          # before the first jit; the default folder is below

On the book's 2-core CPU machine compiling is most of the time a short training
run takes (`benchmarks/ppo_cartpole.py`), so the benchmarks enable the cache,
and the book's executions (`python3 tasks.py book`, the tests' book build and
nbval) start their kernels with the same settings as environment variables
(`cache_env`), so a rebuild or a second execution reads what the first one compiled.

The cache is keyed by the program, the JAX and jaxlib versions and the XLA
flags, so a stale entry is never used; deleting the folder only costs a recompile.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["CACHE_DIR_ENV", "BOOK_XLA_FLAGS", "book_xla_flags", "installed_jaxlib", "default_cache_dir",
           "cache_env", "book_env", "enable_compilation_cache"]

CACHE_DIR_ENV = "JAX_COMPILATION_CACHE_DIR"
# JAX caches only programs that took at least a second to compile (the defaults target
# TPU/GPU programs); on CPU most of the book's programs compile in less, so cache them all.
_SETTINGS = {
    "jax_persistent_cache_min_compile_time_secs": 0.0,
    "jax_persistent_cache_min_entry_size_bytes": 0,
}


# XLA's CPU backend with LLVM at -O1 instead of its default -O2: about a quarter less compile
# time (most of what a section's execution costs on 2 cores), and no slower for the book's small
# programs (benchmarks/ppo_cartpole.py). From jaxlib 0.10 on, also XLA's older loop emitters instead
# of its new fusion emitters: they compile the book's programs in about 40% less time and run the
# longer training runs up to a third slower, a trade that shortens the whole cold book build from
# 269 s to 198 s on the 2-core machine (benchmarks/book_build.py, 2026-12-04). The results are not
# bit-identical to XLA's defaults (as they are not between CPUs): the chapters' checks hold, with
# the margins they state, with and without the fusion emitters.
_FLAGS = "--xla_backend_optimization_level=1"
# Flags only some jaxlib releases know, by the first release the book uses them with. An unknown
# flag in XLA_FLAGS aborts the process (jaxlib 0.4.30, the floor, has no fusion emitters).
_NEWER_FLAGS = {(0, 10): "--xla_cpu_use_fusion_emitters=false"}


def installed_jaxlib() -> str | None:
    """This interpreter's jaxlib version (without importing it), or None if it has none."""
    from importlib import metadata
    try:
        return metadata.version("jaxlib")
    except metadata.PackageNotFoundError:
        return None


def book_xla_flags(jaxlib_version: str | None) -> str:
    """The book's XLA flags for a process that runs `jaxlib_version` (None: a jaxlib of unknown
    version, which gets only the flags every release since the floor reads)."""
    if jaxlib_version is not None and not isinstance(jaxlib_version, str):
        raise TypeError(f"jaxlib_version must be a version string such as '0.10.2' or None, "
                        f"got {type(jaxlib_version).__name__} {jaxlib_version!r}")
    release = ()
    if jaxlib_version is not None:
        import re
        match = re.match(r"(\d+)\.(\d+)", jaxlib_version)
        if match is None:
            raise ValueError(f"jaxlib_version must be a version string such as '0.10.2', got {jaxlib_version!r}")
        release = (int(match[1]), int(match[2]))
    extra = [flag for since, flag in _NEWER_FLAGS.items() if release and release >= since]
    return " ".join([_FLAGS, *extra])


# The flags for this interpreter's jaxlib.
BOOK_XLA_FLAGS = book_xla_flags(installed_jaxlib())


def default_cache_dir() -> Path:
    """`$JAX_COMPILATION_CACHE_DIR` if set; else `.cache/jax` in the book's checkout
    (where `utils` is installed in editable mode); else `~/.cache/jax`."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV])
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file() and (root / "utils").is_dir():
        return root / ".cache" / "jax"
    return Path.home() / ".cache" / "jax"


def _check_path(path) -> Path:
    if path is None:
        return default_cache_dir()
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise TypeError(f"path must be a folder name (str or os.PathLike) or None, got {type(path).__name__} {path!r}")
    return Path(path)


def cache_env(path: str | os.PathLike | None = None) -> dict[str, str]:
    """The environment variables that enable the cache, in folder `path` (default
    `default_cache_dir()`), in a JAX process started with them (e.g. a Jupyter kernel)."""
    env = {CACHE_DIR_ENV: str(_check_path(path).resolve())}
    env.update({name.upper(): repr(value) for name, value in _SETTINGS.items()})
    return env


def book_env(path: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """What the book's own processes (its build's kernels, the tests, nbval) run with: `cache_env(path)`
    and `XLA_FLAGS` set to `BOOK_XLA_FLAGS` (the flags for this interpreter's jaxlib), unless
    `environ` (default `os.environ`) sets `XLA_FLAGS`."""
    environ = os.environ if environ is None else environ
    if not isinstance(environ, Mapping):
        raise TypeError(f"environ must be a mapping of environment variables (or None), got {type(environ).__name__}")
    env = cache_env(path)
    if "XLA_FLAGS" not in environ:
        env["XLA_FLAGS"] = BOOK_XLA_FLAGS
    return env


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path:
    """Enable JAX's persistent compilation cache in this process, in folder `path`
    (default `default_cache_dir()`, created if missing), for every program however fast
    it compiles. Returns the folder.

    Call it before the first `jax.jit` compile if you can; if something was compiled
    already, JAX's cache state is reset so that later compiles use this folder.
    Works with JAX 0.4.30 and later (options missing from a version keep their default).
    """
    path = _check_path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"path {str(path)!r} cannot be used as the compilation cache folder: {err}") from err
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    jax.config.update("jax_compilation_cache_dir", str(path.resolve()))
    for name, value in _SETTINGS.items():
        try:
            jax.config.update(name, value)
        except AttributeError:  # an older JAX without this option
            pass
    # JAX decides once per process, at the first compile, whether a cache is used;
    # start that decision over, so that a cache enabled after a compile still works.
    compilation_cache.reset_cache()
    return path
