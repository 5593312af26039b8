"""utils.cache: the environment the book's processes run JAX with, and the cache it enables."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT
from utils.cache import BOOK_XLA_FLAGS, CACHE_DIR_ENV, book_env, book_xla_flags, cache_env, installed_jaxlib


def test_cache_env_names_the_folder_and_caches_every_program(tmp_path):
    env = cache_env(tmp_path)
    assert env[CACHE_DIR_ENV] == str(tmp_path.resolve())
    assert float(env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]) == 0.0
    assert int(env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"]) == 0


def test_book_env_sets_the_book_flags_unless_xla_flags_is_set(tmp_path):
    assert book_env(tmp_path, environ={})["XLA_FLAGS"] == BOOK_XLA_FLAGS
    # A reader's (or a GPU machine's) own XLA_FLAGS are theirs: left alone.
    assert "XLA_FLAGS" not in book_env(tmp_path, environ={"XLA_FLAGS": "--xla_dump_to=/tmp/x"})
    assert book_env(tmp_path, environ={})[CACHE_DIR_ENV] == str(tmp_path.resolve())


def test_the_flags_are_those_the_running_jaxlib_knows(tmp_path):
    # The floor's jaxlib aborts on a flag it does not know: it gets the -O1 flag alone.
    assert book_xla_flags("0.4.30") == "--xla_backend_optimization_level=1"
    assert book_xla_flags(None) == book_xla_flags("0.4.30")
    assert "--xla_cpu_use_fusion_emitters=false" in book_xla_flags("0.10.2").split()
    assert "--xla_cpu_use_fusion_emitters=false" in book_xla_flags("1.2.0rc1").split()
    assert BOOK_XLA_FLAGS == book_xla_flags(installed_jaxlib())


def test_a_process_started_with_book_env_writes_and_reuses_the_cache(tmp_path):
    program = "import jax, jax.numpy as jnp; print(jax.jit(lambda x: jnp.sin(x) * 2)(1.0))"
    env = {**os.environ, **book_env(tmp_path / "jax", environ={})}
    first = subprocess.run([sys.executable, "-c", program], env=env, cwd=ROOT, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    entries = sorted(p.name for p in (tmp_path / "jax").iterdir())
    assert entries, "the first process wrote nothing to the compilation cache"
    second = subprocess.run([sys.executable, "-c", program], env=env, cwd=ROOT, capture_output=True, text=True)
    assert second.returncode == 0 and second.stdout == first.stdout, second.stderr
    # The second process compiled nothing new: it read the program back.
    assert sorted(p.name for p in (tmp_path / "jax").iterdir()) == entries


def test_tasks_give_each_environment_the_flags_of_its_own_jaxlib(tmp_path, monkeypatch):
    import tasks
    monkeypatch.delenv("XLA_FLAGS", raising=False)  # as on a machine where the reader set none
    assert tasks.jaxlib_version(Path(sys.executable)) == installed_jaxlib()
    assert tasks.jaxlib_version(tmp_path / "no-such-python") is None
    # .venv-floors's processes (jaxlib at its floor) must not get a flag that only newer jaxlibs read.
    assert tasks.jax_env(tmp_path / "no-such-python")["XLA_FLAGS"] == book_xla_flags(None)
    assert tasks.jax_env(Path(sys.executable))["XLA_FLAGS"] == BOOK_XLA_FLAGS
