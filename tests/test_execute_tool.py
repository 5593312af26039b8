"""tools/execute.py keys each notebook as myst-nb's build does, so the build reads what it executed."""
from __future__ import annotations

import sys

from jupyter_cache.cache.main import JupyterCacheBase
from myst_nb.core.config import NbParserConfig
from myst_nb.core.read import create_nb_reader
from myst_parser.config.main import MdParserConfig

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import execute  # noqa: E402


def _key(notebook) -> str:
    return JupyterCacheBase.create_hashed_notebook(None, notebook)[1]


def test_every_chapter_is_read_with_the_key_the_build_gives_it():
    extensions = execute._config()["parse"]["myst_enable_extensions"]
    md_config = MdParserConfig(enable_extensions=set(extensions))
    for path in sorted((ROOT / "chapters").glob("*.md")):
        text = path.read_text()
        reader = create_nb_reader(str(path), md_config, NbParserConfig(), text)
        if reader is None:
            continue  # a page of text, not a notebook
        assert _key(execute.read_notebook(path)) == _key(reader.read(text)), path.name


def test_a_changed_code_cell_changes_the_key(tmp_path):
    source = (ROOT / "chapters" / "pdl.md").read_text()
    changed = tmp_path / "pdl.md"
    changed.write_text(source.replace("```{code-cell}", "```{code-cell}\n# changed", 1))
    assert _key(execute.read_notebook(changed)) != _key(execute.read_notebook(ROOT / "chapters" / "pdl.md"))


def test_jobs_must_be_positive(capsys):
    try:
        execute.main(["--jobs", "0", "chapters/pdl.md"])
    except SystemExit as exit:
        assert exit.code == 2
    else:
        raise AssertionError("--jobs 0 was accepted")
    assert "--jobs must be a positive integer" in capsys.readouterr().err
