"""utils.plotting: figures at the size the page shows them, and their legend off the data."""
from __future__ import annotations

import matplotlib
import pytest

matplotlib.use("Agg")
from utils import plotting  # noqa: E402
from utils.plotting import figure, legend_below, plt  # noqa: E402


def test_one_and_two_panels_are_drawn_at_the_column_sizes():
    fig, ax = figure()
    assert tuple(fig.get_size_inches()) == (plotting.NARROW, plotting.PANEL_HEIGHT) and fig.dpi == plotting.DPI
    assert round(plotting.WIDE * plotting.DPI) == plotting.FIGURE_PX <= plotting.COLUMN_PX == 688
    fig2, axes = figure(2, nrows=2, height=5)
    assert axes.shape == (2, 2) and tuple(fig2.get_size_inches()) == (plotting.WIDE, 5.0)
    fig3, row = figure(2)
    assert row.shape == (2,)
    # 11 pt figure text at 96 px per inch is 14.7 CSS px, beside 16 px body text.
    assert 13 <= matplotlib.rcParams["font.size"] * plotting.DPI / 72 <= 16
    plt.close("all")


def test_the_legend_goes_under_the_panels_once_per_label():
    fig, (a, b) = figure(2)
    a.plot([0, 1], label="x")
    b.plot([0, 1], label="x")
    b.plot([1, 0], label="y")
    legend = legend_below(fig)
    assert [t.get_text() for t in legend.get_texts()] == ["x", "y"]
    fig.canvas.draw()
    box = legend.get_window_extent()
    assert all(box.y1 <= ax.get_window_extent().y0 + 1 for ax in (a, b))  # below the data
    plt.close("all")


@pytest.mark.parametrize("kwargs, name", [({"ncols": 3}, "ncols"), ({"ncols": True}, "ncols"), ({"nrows": 0}, "nrows"),
                                          ({"height": -1.0}, "height"), ({"height": "3"}, "height")])
def test_bad_figure_arguments_are_refused(kwargs, name):
    with pytest.raises(ValueError, match=name):
        figure(**kwargs)


def test_bad_legend_arguments_are_refused():
    with pytest.raises(TypeError, match="fig"):
        legend_below("not a figure")
    with pytest.raises(TypeError, match="sharex"):
        figure(sharex="yes")
    fig, ax = figure()
    with pytest.raises(ValueError, match="fig"):
        legend_below(fig)  # nothing labelled
    ax.plot([0, 1], label="x")
    with pytest.raises(ValueError, match="ncols"):
        legend_below(fig, ncols=0)
    plt.close("all")
