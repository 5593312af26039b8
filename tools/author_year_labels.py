"""A Sphinx extension: the bibliography's entries are labelled as the text cites them.

The book cites author-year (`bibtex_reference_style: author_year`: "(Schulman et
al., 2017)"), but pybtex's `plain` style labels the list of references [1], [2],
..., so a reader could not find a citation in the list by its label. The style
`author_year_plain` formats entries as `plain` does and labels each one like its
citation: "Schulman et al., 2017" (two authors: "Sutton and Barto, 2018"; a
letter tells apart two works of one label: "2017a", "2017b"). Select it with
`bibtex_default_style: author_year_plain`. Loaded by `sphinx: local_extensions`.
"""
from __future__ import annotations

import re
from collections import Counter

import pybtex.plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle


def _plain(text: str) -> str:
    text = re.sub(r"\\[`'^\"~=.]\{?(\w)\}?", r"\1", text)  # accents: {\"o} -> o
    return re.sub(r"[{}]", "", text)


def authors_and_year(entry) -> tuple[str, str]:
    """("Schulman et al.", "2017"), as the text cites `entry` (a pybtex Entry)."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_plain(" ".join(p.prelast_names + p.last_names)) for p in people]
    if not names:
        authors = _plain(entry.fields.get("organization", entry.fields.get("title", entry.key)))
    elif len(names) == 1:
        authors = names[0]
    elif len(names) == 2:
        authors = f"{names[0]} and {names[1]}"
    else:
        authors = f"{names[0]} et al."
    return authors, _plain(entry.fields.get("year", "n.d."))


def author_year(entry) -> str:
    return ", ".join(authors_and_year(entry))


class AuthorYearLabelStyle(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [author_year(entry) for entry in entries]
        repeated = Counter(labels)
        seen: Counter = Counter()
        for label in labels:
            if repeated[label] > 1:
                seen[label] += 1
                yield f"{label}{'abcdefghijklmnopqrstuvwxyz'[seen[label] - 1]}"
            else:
                yield label


class AuthorYearPlainStyle(PlainStyle):
    default_label_style = "author_year"


def setup(app):
    pybtex.plugin.register_plugin("pybtex.style.labels", "author_year", AuthorYearLabelStyle)
    pybtex.plugin.register_plugin("pybtex.style.formatting", "author_year_plain", AuthorYearPlainStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
