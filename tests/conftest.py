"""Shared fixtures: the repository root and the chapters listed in `_toc.yml`."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_files() -> list[Path]:
    """Every page `_toc.yml` lists, as a path to its source file."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                names.append(entry["file"])
            walk(entry.get("sections"))
            for part in entry.get("parts", []) or []:
                walk(part.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []) or []:
        walk(part.get("chapters"))
    paths = []
    for name in names:
        candidates = [ROOT / f"{name}.md", ROOT / f"{name}.ipynb", ROOT / name]
        found = next((p for p in candidates if p.is_file()), None)
        assert found is not None, f"_toc.yml lists {name!r}, which does not exist"
        paths.append(found)
    return paths


def is_notebook(path: Path) -> bool:
    """A MyST page is a notebook when its front matter names a kernel."""
    text = path.read_text()
    return text.startswith("---") and "kernelspec:" in text.split("---", 2)[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
