"""The book builds with warnings as errors and prints no warning at all.

This executes every notebook (through jupyter-cache) and writes the HTML into
`_build/html`, exactly as `python3 tasks.py book` does.
"""
from __future__ import annotations

import re

from book_build import book_lock, build_book
from conftest import ROOT, toc_files


def test_book_builds_without_warnings():
    with book_lock():  # tests/test_browser.py builds the same folder
        result = build_book()
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    # Sphinx's warnings and errors; ipykernel's own start-up notice about
    # unencrypted local TCP ("[IPKernelApp] WARNING | ...") is not about the book.
    warnings = [
        line for line in log.splitlines()
        if re.search(r"\b(WARNING|ERROR)\b", line) and not line.lstrip().startswith("[IPKernelApp]")
    ]
    assert not warnings, "\n".join(warnings)
    for page in toc_files():
        html = ROOT / "_build" / "html" / page.relative_to(ROOT).with_suffix(".html")
        assert html.is_file(), f"{html} was not built"
        text = html.read_text()
        assert "Traceback" not in text and "ModuleNotFoundError" not in text, f"{html.name} shows an error"
