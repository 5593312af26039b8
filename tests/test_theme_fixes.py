"""tools/theme_fixes.py: an edited static file reaches the site even when no page changed."""
from __future__ import annotations

import os
import sys
from types import SimpleNamespace

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import theme_fixes  # noqa: E402


def test_an_edited_static_file_is_copied_when_no_page_changed(tmp_path):
    (tmp_path / "_static").mkdir()
    (tmp_path / ".cache" / "static").mkdir(parents=True)
    out = tmp_path / "html" / "_static"
    out.mkdir(parents=True)
    css, old = tmp_path / "_static" / "book.css", out / "book.css"
    old.write_text("pre { white-space: pre; }")
    css.write_text("pre { white-space: pre-wrap; }")
    os.utime(old, (1, 1))  # built long before the edit
    (tmp_path / ".cache" / "static" / "mathjax.js").write_text("// vendored: Sphinx copies it when it must")
    (tmp_path / "_static" / "new.js").write_text("// added since the last build")
    app = SimpleNamespace(builder=SimpleNamespace(format="html"), outdir=str(tmp_path / "html"), confdir=str(tmp_path),
                          config=SimpleNamespace(html_static_path=[".cache/static", "_static"]))
    theme_fixes.publish_edited_static_files(app, None)
    assert old.read_text() == css.read_text() and (out / "new.js").is_file()
    assert not (out / "mathjax.js").exists()
    # A copy newer than its source is left alone; a failed build publishes nothing.
    old.write_text("kept")
    theme_fixes.publish_edited_static_files(app, None)
    assert old.read_text() == "kept"
    os.utime(old, (1, 1))
    theme_fixes.publish_edited_static_files(app, RuntimeError("the build failed"))
    assert old.read_text() == "kept"
