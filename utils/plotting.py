"""The book's figure style, applied once when `utils` is imported.

Every figure in the chapter uses matplotlib's pyplot with these settings, so
the chapters never set colours, fonts or sizes themselves.
"""
from __future__ import annotations

import matplotlib

matplotlib.rcParams.update(
    {
        "figure.figsize": (6.4, 4.0),
        "figure.dpi": 100,
        "savefig.dpi": 150,
        "savefig.bbox": "tight",
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": "medium",
        "axes.labelsize": "medium",
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

__all__ = ["plt"]
