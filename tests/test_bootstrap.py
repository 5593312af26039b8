"""The first cell of every chapter, as a Colab user meets it.

Colab has Python, JAX, NumPy, matplotlib and Jupyter but not this book's
package. The tests make that situation: a fresh virtual environment that sees
the scientific stack of `.venv` (through a folder of links, as Colab's
preinstalled packages) but not the package. With a repository configured, a
local bare repository stands in for the host (its `main` has moved on past the
release tag), and a whole chapter notebook runs: its bootstrap cell must install
exactly the pinned release before anything else runs. With none configured, the
cell installs nothing and says why (PGBOOK_INSTALL_SOURCE still works).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import jupytext
import nbformat

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import notebooks  # noqa: E402

# Ours: the package, its editable-install hooks and metadata. Not Colab's.
OURS = ("utils", "__editable__", "policy_gradient_book")


def colab_like_venv(where: Path) -> Path:
    """A new venv whose only extra packages are links to .venv's, minus this book's."""
    venv.EnvBuilder(with_pip=True).create(where / "venv")
    python = where / "venv" / "bin" / "python"
    stack = where / "preinstalled"
    stack.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(OURS) and entry.suffix != ".pth":
            (stack / entry.name).symlink_to(entry)
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "preinstalled.pth").write_text(f"{stack}\n")
    return python


def checkout_copy(where: Path) -> Path:
    """What pip would get from the repository: the package and its build files."""
    source = where / "checkout"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "utils", source / "utils", ignore=shutil.ignore_patterns("__pycache__"))
    return source


def git(*args, cwd: Path) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def host_with_a_release(where: Path, ref: str) -> tuple[str, str]:
    """A local bare repository standing in for the book's host: the release `ref` is tagged,
    and `main` has moved on past it (a later commit adds `utils/_after_the_release.py`).
    Returns the repository's URL and the tagged commit."""
    work = checkout_copy(where)
    git("init", "-q", "-b", "main", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "release", cwd=work)
    git("tag", ref, cwd=work)
    tagged = git("rev-parse", "HEAD", cwd=work)
    (work / "utils" / "_after_the_release.py").write_text("MOVED_ON = True\n")
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "after the release", cwd=work)
    git("clone", "-q", "--bare", str(work), str(where / "host.git"), cwd=where)
    return (where / "host.git").as_uri(), tagged


def colab_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PGBOOK_INSTALL_SOURCE")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def test_a_chapter_installs_exactly_the_pinned_release_where_the_book_is_missing(tmp_path):
    python = colab_like_venv(tmp_path)
    env = colab_env()
    missing = subprocess.run([python, "-c", "import utils.latex"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert missing.returncode != 0 and "No module named 'utils'" in missing.stderr, missing.stderr

    ref = notebooks.release_ref()
    url, tagged = host_with_a_release(tmp_path, ref)
    chapter = jupytext.reads(notebooks.process((ROOT / "chapters" / "intro.md").read_text(), url, ref), fmt="md:myst")
    work = tmp_path / "work"
    work.mkdir()
    nbformat.write(chapter, work / "intro.ipynb")
    subprocess.run([python, "-m", "ipykernel", "install", "--prefix", tmp_path / "venv", "--name", "colab-like"],
                   env=env, check=True, capture_output=True)
    run = (
        "import nbformat, sys\n"
        "from nbclient import NotebookClient\n"
        "nb = nbformat.read('intro.ipynb', as_version=4)\n"
        "NotebookClient(nb, timeout=600, kernel_name='colab-like', resources={'metadata': {'path': '.'}}).execute()\n"
        "nbformat.write(nb, 'executed.ipynb')\n"
    )
    executed = subprocess.run([python, "-c", run], cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert executed.returncode == 0, executed.stderr[-4000:]

    first = next(c for c in nbformat.read(work / "executed.ipynb", as_version=4).cells if c.cell_type == "code")
    assert notebooks.is_bootstrap(first)
    probe = ("import importlib.metadata as m, json, utils, pathlib; "
             "d = json.loads(m.distribution('policy-gradient-book').read_text('direct_url.json')); "
             "print(json.dumps([utils.__file__, d['vcs_info'].get('requested_revision'), d['vcs_info']['commit_id'], "
             "(pathlib.Path(utils.__file__).parent / '_after_the_release.py').exists()]))")
    installed, revision, commit, moved_on = json.loads(subprocess.run(
        [python, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout)
    assert Path(installed).is_relative_to(tmp_path / "venv"), installed  # installed into the fresh venv, by the cell
    assert (revision, commit) == (ref, tagged), "the cell must install the release tag, not the moving branch"
    assert not moved_on


def test_with_no_repository_configured_the_bootstrap_installs_nothing_and_says_why(tmp_path):
    python = colab_like_venv(tmp_path)
    env = colab_env()
    source = notebooks.bootstrap_source(None, notebooks.release_ref())
    assert "git+" not in source and "github" not in source
    result = subprocess.run([python, "-c", source], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "names no repository" in result.stderr and "PGBOOK_INSTALL_SOURCE" in result.stderr, result.stderr[-2000:]
    still_missing = subprocess.run([python, "-c", "import utils"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert still_missing.returncode != 0, "nothing may be installed without a configured repository"
    # A local checkout (or a wheel) still installs through PGBOOK_INSTALL_SOURCE.
    env["PGBOOK_INSTALL_SOURCE"] = str(checkout_copy(tmp_path))
    result = subprocess.run([python, "-c", source], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_bootstrap_cell_does_nothing_where_the_book_is_installed(tmp_path):
    url, ref = "https://example.invalid/book", notebooks.release_ref()
    env = dict(os.environ, PGBOOK_INSTALL_SOURCE=str(tmp_path / "no-such-package"))
    # Were it to install, pip would fail on the missing source and the cell would raise.
    for configured in (url, None):
        result = subprocess.run([sys.executable, "-c", notebooks.bootstrap_source(configured, ref)], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "pip" not in result.stdout + result.stderr


def test_the_bootstrap_cell_pins_the_release_of_the_configured_repository(tmp_path):
    ref = notebooks.release_ref()
    assert re.fullmatch(r"v[0-9]+(\.[0-9]+)*\S*", ref)
    source = notebooks.bootstrap_source("https://example.invalid/book", ref)
    assert f'"git+https://example.invalid/book@{ref}"' in source and "PGBOOK_INSTALL_SOURCE" in source
    assert "@main" not in source
    assert source.splitlines()[-1] == notebooks.IMPORT_LINE
    compile(source, "bootstrap", "exec")
    config = tmp_path / "_config.yml"
    config.write_text("repository:\n  url: ''\n  branch: main\n")
    assert notebooks.repository(config) is None
    config.write_text("repository:\n  url: https://example.invalid/book/\n  branch: main\n")
    assert notebooks.repository(config) == "https://example.invalid/book"
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\nversion = "2.3.1"\n')
    assert notebooks.release_ref(pyproject) == "v2.3.1"
