"""Slider figures that work everywhere the book is read: Jupyter, Colab, the web book, the slides.

    demo = frame_slider(draw, values=[0.0, 0.5, 1.0], default=0.5, label="shift δ",
                        alt=lambda v: f"... for shift {v}", caption="...")
    demo            # as the last expression of a cell

`draw(value)` draws one frame and returns its matplotlib figure. Every frame
is drawn once, when the cell runs (when the book builds), and saved as an
image; moving the slider only swaps images, so nothing needs a kernel. The
cell's output carries three views of the same frames:

* `application/vnd.jupyter.widget-view+json`: an ipywidgets slider and image,
  shown by Jupyter and Colab;
* `text/html`: a self-contained control (an `<input type="range">`, the
  frames inline as base64 and a few lines of inline JavaScript; nothing is
  loaded from elsewhere), shown by the web book (`nb_mime_priority_overrides`
  in `_config.yml` ranks it above the widget view, which needs a kernel) and
  by the slides (`tools/slides.py` drops widget views);
* `image/png` of the default frame (PNG frames only), for the PDF and for
  viewers that run no JavaScript.

Frames are saved without `bbox_inches="tight"`, so that every frame has the
same size and the figure does not jump as the slider moves: draw them with
`layout="constrained"` (or `tight_layout`).
"""
from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import numbers
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["FrameSlider", "frame_slider", "MAX_FRAMES"]

# Each frame is drawn while the book builds and shipped inside the page.
MAX_FRAMES = 40
FORMATS = {"png": "image/png", "svg": "image/svg+xml"}

# One copy per page is enough, but every control carries it so that a cell's
# output works on its own (the script only acts once per control).
_SCRIPT = """(function () {
  function setUp(figure) {
    if (figure.dataset.ready) return;
    figure.dataset.ready = "1";
    var data = JSON.parse(figure.querySelector("script.pgb-interactive-frames").textContent);
    var image = figure.querySelector("img.pgb-interactive-frame");
    var input = figure.querySelector("input.pgb-interactive-input");
    var shown = figure.querySelector("output.pgb-interactive-value");
    function show() {
      var i = Number(input.value);
      image.src = data.frames[i];
      image.alt = data.alts[i];
      shown.textContent = data.labels[i];
      input.setAttribute("aria-valuetext", data.labels[i]);
      figure.dataset.index = String(i);
    }
    input.addEventListener("input", show);
    input.addEventListener("change", show);
    // reveal.js moves between slides with the arrow keys: keep them for the slider.
    input.addEventListener("keydown", function (event) { event.stopPropagation(); });
    show();
  }
  document.querySelectorAll("figure.pgb-interactive").forEach(setUp);
})();"""

_STYLE = """figure.pgb-interactive { margin: 1em 0; max-width: 100%; }
figure.pgb-interactive img.pgb-interactive-frame { display: block; max-width: 100%; height: auto; }
figure.pgb-interactive .pgb-interactive-control { display: flex; align-items: center; gap: 0.75em;
  flex-wrap: wrap; margin: 0.5em 0; font-size: 0.95em; }
figure.pgb-interactive input.pgb-interactive-input { flex: 1 1 12em; max-width: 28em; }
figure.pgb-interactive output.pgb-interactive-value { font-variant-numeric: tabular-nums; min-width: 4em; }
figure.pgb-interactive figcaption { font-size: 0.9em; }"""


def _format_value(value: Any) -> str:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"{float(value):g}"
    return str(value)


class FrameSlider:
    """Precomputed frames of a figure, one per slider value, with the views described in the module.

    Built by `frame_slider`; `frames[i]` is the encoded image for `values[i]`.
    """

    def __init__(self, values: Sequence, default_index: int, label: str, frames: Sequence[bytes],
                 alts: Sequence[str], caption: str, image_format: str, width: int):
        n = len(values) if isinstance(values, Sequence) and not isinstance(values, (str, bytes)) else None
        if n is None:
            raise TypeError(f"`values` must be a sequence of slider values, got {type(values).__name__}")
        if isinstance(default_index, bool) or not isinstance(default_index, numbers.Integral) \
                or not 0 <= default_index < n:
            raise ValueError(f"`default_index` must be an int in 0, ..., {n - 1}, got {default_index!r}")
        if not isinstance(label, str):
            raise TypeError(f"`label` must be a string naming the slider, got {type(label).__name__}")
        for name, items, kind in (("frames", frames, bytes), ("alts", alts, str)):
            if not isinstance(items, Sequence) or len(items) != n or not all(isinstance(x, kind) for x in items):
                raise ValueError(f"`{name}` must hold {n} {kind.__name__} (one per value), got {items!r:.60}")
        if image_format not in FORMATS:
            raise ValueError(f"`image_format` must be one of {sorted(FORMATS)}, got {image_format!r}")
        if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < 1:
            raise ValueError(f"`width` must be a positive int (pixels), got {width!r}")
        self.values = tuple(values)
        self.default_index = default_index
        self.label = label
        self.frames = tuple(frames)
        self.alts = tuple(alts)
        self.labels = tuple(_format_value(v) for v in self.values)
        self.caption = caption
        self.image_format = image_format
        self.width = width

    @property
    def default(self):
        return self.values[self.default_index]

    def data_uri(self, index: int) -> str:
        """The frame for `values[index]` as a `data:` URI."""
        encoded = base64.b64encode(self.frames[index]).decode("ascii")
        return f"data:{FORMATS[self.image_format]};base64,{encoded}"

    def to_html(self) -> str:
        """The self-contained HTML control: the default frame, a range input, the frames and the script."""
        digest = hashlib.sha1(b"".join(self.frames) + self.label.encode()).hexdigest()[:12]
        ident = f"pgb-interactive-{digest}"
        i = self.default_index
        data = {"frames": [self.data_uri(k) for k in range(len(self.frames))],
                "alts": list(self.alts), "labels": list(self.labels)}
        # `</` cannot end the JSON's script element early: JSON allows `<\/`.
        payload = json.dumps(data).replace("</", "<\\/")
        caption = f"<figcaption>{html.escape(self.caption)}</figcaption>" if self.caption else ""
        return (
            f'<figure class="pgb-interactive" id="{ident}" data-default="{i}" data-index="{i}">'
            f"<style>{_STYLE}</style>"
            f'<img class="pgb-interactive-frame" src="{self.data_uri(i)}" alt="{html.escape(self.alts[i])}"'
            f' width="{self.width}">'
            f'<div class="pgb-interactive-control">'
            f'<label for="{ident}-input">{html.escape(self.label)}</label>'
            f'<input class="pgb-interactive-input" id="{ident}-input" type="range" min="0"'
            f' max="{len(self.frames) - 1}" step="1" value="{i}" aria-valuetext="{html.escape(self.labels[i])}">'
            f'<output class="pgb-interactive-value" for="{ident}-input">{html.escape(self.labels[i])}</output>'
            f"</div>{caption}"
            f'<script type="application/json" class="pgb-interactive-frames">{payload}</script>'
            f"<script>{_SCRIPT}</script></figure>"
        )

    def widget(self):
        """The ipywidgets view: a selection slider over the values and the frame for the chosen one."""
        import ipywidgets as widgets

        image_format = "svg+xml" if self.image_format == "svg" else "png"
        image = widgets.Image(value=self.frames[self.default_index], format=image_format,
                              layout=widgets.Layout(max_width="100%", width=f"{self.width}px"))
        slider = widgets.SelectionSlider(
            options=[(text, k) for k, text in enumerate(self.labels)], value=self.default_index,
            description=self.label, continuous_update=True, style={"description_width": "initial"},
            layout=widgets.Layout(width="min(100%, 32em)"))

        def show(change):
            image.value = self.frames[change["new"]]

        slider.observe(show, names="value")
        return widgets.VBox([slider, image])

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = {"text/plain": f"<{self.label} slider: {len(self.frames)} frames>", "text/html": self.to_html()}
        if self.image_format == "png":
            bundle["image/png"] = base64.b64encode(self.frames[self.default_index]).decode("ascii")
        if _in_kernel():
            try:
                view = self.widget()._repr_mimebundle_()
            except ImportError:  # no ipywidgets: the HTML control is the view
                view = None
            if view:
                key = "application/vnd.jupyter.widget-view+json"
                bundle[key] = view[key]
        return bundle

    def __repr__(self) -> str:
        return f"FrameSlider(label={self.label!r}, values={self.values!r}, default={self.default!r})"


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def frame_slider(
    draw: Callable[[Any], Any],
    values: Sequence,
    default: Any,
    label: str,
    *,
    alt: str | Callable[[Any], str],
    caption: str = "",
    image_format: str = "png",
    dpi: float = 100,
) -> FrameSlider:
    """Draw `draw(value)` for every value once and return the slider over the frames.

    Args:
        draw: draws the figure for one value and returns it (a matplotlib `Figure`; or
            None, and the current figure is taken). The figure is closed once saved.
        values: the slider's positions, in order: 1 to MAX_FRAMES distinct values.
        default: the value shown first (one of `values`): the frame the text discusses.
        label: the slider's name, shown beside it ("step size η").
        alt: the alt text of every frame, or a function of the value giving it.
        caption: a sentence under the control (optional: the text may describe it instead).
        image_format: "png" or "svg".
        dpi: resolution of PNG frames (the displayed width is the figure's width at 96 px per inch).
    """
    if not callable(draw):
        raise TypeError(f"`draw` must be a callable that draws the frame for a value, got {type(draw).__name__}")
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"`values` must be a sequence (list or tuple) of slider values, got {type(values).__name__}")
    values = list(values)
    if not 1 <= len(values) <= MAX_FRAMES:
        raise ValueError(f"`values` must hold between 1 and {MAX_FRAMES} values (each is a frame), got {len(values)}")
    labels = [_format_value(v) for v in values]
    if len(set(labels)) != len(labels):
        raise ValueError(f"`values` must be distinct (as shown on the slider), got {labels}")
    matches = [k for k, v in enumerate(values) if _same(v, default)]
    if not matches:
        raise ValueError(f"`default` must be one of `values` {labels}, got {default!r}")
    if not isinstance(label, str):
        raise TypeError(f"`label` must be a string naming the slider, got {type(label).__name__}")
    if not label.strip():
        raise ValueError("`label` must name the slider, got an empty string")
    if isinstance(alt, str):
        if not alt.strip():
            raise ValueError("`alt` must be a non-empty description of the figure")
        alt_of = lambda value: alt  # noqa: E731
    elif callable(alt):
        alt_of = alt
    else:
        raise TypeError(f"`alt` must be a string or a function of the value returning one, got {type(alt).__name__}")
    if not isinstance(caption, str):
        raise TypeError(f"`caption` must be a string, got {type(caption).__name__}")
    if image_format not in FORMATS:
        raise ValueError(f"`image_format` must be one of {sorted(FORMATS)}, got {image_format!r}")
    if isinstance(dpi, bool) or not isinstance(dpi, numbers.Real) or not 10 <= dpi <= 600:
        raise ValueError(f"`dpi` must be a number between 10 and 600, got {dpi!r}")

    from utils.plotting import plt

    frames, alts, width = [], [], None
    for value in values:
        figure = draw(value)
        if figure is None:
            figure = plt.gcf()
        if not hasattr(figure, "savefig"):
            raise TypeError(f"`draw` must return a matplotlib figure (or None), got {type(figure).__name__}")
        text = alt_of(value)
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"`alt` gave no description for the value {value!r}: {text!r}")
        buffer = io.BytesIO()
        figure.savefig(buffer, format=image_format, dpi=dpi, bbox_inches=None)
        width = width or round(figure.get_figwidth() * 96)
        plt.close(figure)
        frames.append(buffer.getvalue())
        alts.append(text)
    return FrameSlider(values, matches[0], label, frames, alts, caption, image_format, width)


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False
