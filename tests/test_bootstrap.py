"""The first cell of every chapter, as a Colab user meets it.

Colab has Python, JAX, NumPy, matplotlib and Jupyter but not this book's
package. The test makes that situation: a fresh virtual environment that sees
the scientific stack of `.venv` (through a folder of links, as Colab's
preinstalled packages) but not the package, with the install source redirected
(PGBOOK_INSTALL_SOURCE) from the repository to a copy of this checkout. It then
executes a whole chapter notebook, whose bootstrap cell must pip-install the
package before anything else runs.
"""
from __future__ import annotations

import os
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


def test_a_chapter_installs_the_book_where_it_is_missing(tmp_path):
    python = colab_like_venv(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PGBOOK_INSTALL_SOURCE=str(checkout_copy(tmp_path)), PIP_DISABLE_PIP_VERSION_CHECK="1")
    missing = subprocess.run([python, "-c", "import utils.latex"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert missing.returncode != 0 and "No module named 'utils'" in missing.stderr, missing.stderr

    url, branch = notebooks.repository()
    chapter = jupytext.reads(notebooks.process((ROOT / "chapters" / "intro.md").read_text(), url, branch), fmt="md:myst")
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
    installed = subprocess.run([python, "-c", "import utils; print(utils.__file__)"], cwd=tmp_path, env=env,
                               capture_output=True, text=True, check=True).stdout.strip()
    assert Path(installed).is_relative_to(tmp_path / "venv"), installed  # installed into the fresh venv, by the cell


def test_the_bootstrap_cell_does_nothing_where_the_book_is_installed(tmp_path):
    url, branch = notebooks.repository()
    env = dict(os.environ, PGBOOK_INSTALL_SOURCE=str(tmp_path / "no-such-package"))
    # Were it to install, pip would fail on the missing source and the cell would raise.
    result = subprocess.run([sys.executable, "-c", notebooks.bootstrap_source(url, branch)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "pip" not in result.stdout + result.stderr


def test_the_bootstrap_cell_installs_from_the_repository_of_config():
    url, branch = notebooks.repository()
    source = notebooks.bootstrap_source(url, branch)
    assert f'"git+{url}@{branch}"' in source and "PGBOOK_INSTALL_SOURCE" in source
    assert source.splitlines()[-1] == notebooks.IMPORT_LINE
    compile(source, "bootstrap", "exec")
