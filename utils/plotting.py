"""The book's figure style, applied once when `utils` is imported.

Every figure in the chapter uses matplotlib's pyplot with these settings, so
the chapters never set colours, fonts or sizes themselves.

Figures are drawn at the size the page shows them. The text column of the
HTML book (sphinx-book-theme) is COLUMN_PX = 688 CSS pixels wide at a 1280 px
window, of which a numbered figure's image gets FIGURE_PX = 672 (358 px on a
390 px phone, where figures scale down with the column).
At DPI = 96 one inch of the figure is 96 CSS pixels, so a point in the figure
is a point on the page: 11 pt figure text is 14.7 px beside the 16 px body
text. In a notebook the figures are sent as double-resolution PNGs ("retina")
that declare their size in CSS pixels, so they stay sharp on fine screens.

`figure(ncols, nrows, height=...)` gives a figure of the book's width with one
or two panels a row, and `legend_below(fig)` puts one legend for all panels
under them, off the data.
"""
from __future__ import annotations

import numbers

import matplotlib

COLUMN_PX = 688        # measured: content column at a 1280 px window
FIGURE_PX = 672        # measured: the widest image a numbered figure shows there (its margins)
PHONE_COLUMN_PX = 358  # measured: content column at a 390 px window
DPI = 96               # CSS pixels per inch
WIDE = FIGURE_PX / DPI  # inches: two panels, the whole figure width (7.0 in)
NARROW = 5.6           # inches: one panel (538 px), so that text stays legible when a phone scales it
FONT_SIZE = 11         # points = 14.7 px at DPI, beside 16 px body text
PANEL_HEIGHT = 3.2     # inches per row of panels, unless a figure asks otherwise

matplotlib.rcParams.update(
    {
        "figure.figsize": (NARROW, PANEL_HEIGHT),
        "figure.dpi": DPI,
        "savefig.dpi": 2 * DPI,
        "savefig.bbox": "tight",
        "savefig.pad_inches": 0.04,
        "font.size": FONT_SIZE,
        "axes.titlesize": FONT_SIZE,
        "axes.labelsize": FONT_SIZE,
        "xtick.labelsize": FONT_SIZE - 1,
        "ytick.labelsize": FONT_SIZE - 1,
        "legend.fontsize": FONT_SIZE - 1,
        "legend.title_fontsize": FONT_SIZE - 1,
        "figure.titlesize": FONT_SIZE,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
        "lines.linewidth": 1.8,
        "image.cmap": "viridis",
        "axes.prop_cycle": matplotlib.cycler(
            color=["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
        ),  # Okabe–Ito: distinguishable with colour-vision deficiency
        "animation.html": "jshtml",
    }
)

import matplotlib.pyplot as plt  # noqa: E402  (after the style, so new figures get it)


def _send_sharp_pngs() -> None:
    """In IPython, show figures as double-resolution PNGs of the figure's size in CSS px."""
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import InlineBackend, set_matplotlib_formats
    except ImportError:  # plain Python: nothing is displayed inline
        return
    if get_ipython() is None:
        return
    # The trait is what the inline backend reads when it is first activated
    # (possibly after this import); the call covers a backend already active.
    InlineBackend.instance().figure_formats = {"retina"}
    set_matplotlib_formats("retina")


_send_sharp_pngs()


def figure(ncols: int = 1, nrows: int = 1, *, height: float | None = None, sharex: bool = False,
           sharey: bool = False):
    """A figure at the size the page shows it, and its axes.

    One panel is NARROW inches wide, two panels a row fill the column (WIDE).
    `height` is the figure's height in inches (default PANEL_HEIGHT per row).
    Returns (fig, ax) for one panel, else (fig, axes) with axes of shape
    (ncols,) for one row and (nrows, ncols) for more.
    """
    if isinstance(ncols, bool) or not isinstance(ncols, numbers.Integral) or ncols not in (1, 2):
        raise ValueError(f"ncols: expected 1 or 2 panels a row (the column holds at most two), got {ncols!r}")
    if isinstance(nrows, bool) or not isinstance(nrows, numbers.Integral) or not 1 <= nrows <= 4:
        raise ValueError(f"nrows: expected an integer from 1 to 4, got {nrows!r}")
    if height is None:
        height = PANEL_HEIGHT * nrows
    elif isinstance(height, bool) or not isinstance(height, numbers.Real) or not 0.5 <= height <= 10:
        raise ValueError(f"height: expected a height in inches between 0.5 and 10, got {height!r}")
    for name, value in (("sharex", sharex), ("sharey", sharey)):
        if not isinstance(value, bool):
            raise TypeError(f"{name}: expected True or False, got {value!r}")
    width = NARROW if ncols == 1 else WIDE
    return plt.subplots(nrows, ncols, figsize=(width, float(height)), sharex=sharex, sharey=sharey,
                        squeeze=True, layout="constrained")


def legend_below(fig, ncols: int | None = None):
    """One legend for every labelled line of `fig`, centred under its panels (off the data).

    Labels repeated across panels appear once. `ncols` defaults to as many
    entries as fit beside each other (at most 3). Returns the Legend.
    """
    if not isinstance(fig, matplotlib.figure.Figure):
        raise TypeError(f"fig: expected a matplotlib Figure, got {type(fig).__name__}")
    entries: dict[str, object] = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    if not entries:
        raise ValueError("fig: no panel has a labelled line, so there is nothing to put in a legend")
    if ncols is None:
        ncols = min(3, len(entries))
    elif isinstance(ncols, bool) or not isinstance(ncols, numbers.Integral) or ncols < 1:
        raise ValueError(f"ncols: expected a positive integer, got {ncols!r}")
    return fig.legend(list(entries.values()), list(entries), loc="outside lower center", ncols=int(ncols))


__all__ = ["plt", "figure", "legend_below", "COLUMN_PX", "DPI", "WIDE", "NARROW"]
