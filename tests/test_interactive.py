"""utils.interactive: one frame per value, drawn once, in every view of the output.

(tests/test_browser.py moves the HTML control in the built book and slides.)
"""
from __future__ import annotations

import base64
import json
import re

import pytest

from utils import plt
from utils.interactive import MAX_FRAMES, frame_slider


def draw_line(slope):
    fig, ax = plt.subplots(figsize=(2, 1.5), layout="constrained")
    ax.plot([0, 1], [0, slope])
    ax.set_ylim(-3, 3)
    return fig


def frames_in(html: str) -> dict:
    payload = re.search(r'<script type="application/json" class="pgb-interactive-frames">(.*?)</script>', html, re.S)
    return json.loads(payload.group(1).replace("<\\/", "</"))


def test_one_distinct_frame_per_value_and_the_default_shown_first():
    before = len(plt.get_fignums())
    demo = frame_slider(draw_line, [-2, 0, 2], default=2, label="slope", alt=lambda s: f"a line of slope {s}")
    assert len(plt.get_fignums()) == before, "the frames' figures must be closed"
    assert len(set(demo.frames)) == 3 and all(f.startswith(b"\x89PNG") for f in demo.frames)
    bundle = demo._repr_mimebundle_()
    data = frames_in(bundle["text/html"])
    assert data["frames"] == [demo.data_uri(i) for i in range(3)]
    assert data["labels"] == ["-2", "0", "2"] and data["alts"][0] == "a line of slope -2"
    assert base64.b64decode(bundle["image/png"]) == demo.frames[2]          # the PDF and no-JS view
    assert f'src="{demo.data_uri(2)}"' in bundle["text/html"] and 'value="2"' in bundle["text/html"]
    assert "http" not in bundle["text/html"].replace("http://www.w3.org", "")  # nothing loaded from elsewhere


def test_svg_frames():
    demo = frame_slider(draw_line, (1, 2), 1, "slope", alt="a line", image_format="svg")
    assert demo.frames[0].lstrip().startswith(b"<?xml") and "image/png" not in demo._repr_mimebundle_()


def test_the_widget_view_swaps_the_frames():
    pytest.importorskip("ipywidgets")
    demo = frame_slider(draw_line, [-1, 1], default=-1, label="slope", alt="a line")
    slider, image = demo.widget().children
    assert image.value == demo.frames[0]
    slider.value = 1
    assert image.value == demo.frames[1]


@pytest.mark.parametrize("change, error, words", [
    ({"draw": "not callable"}, TypeError, "`draw`"),
    ({"values": "abc"}, TypeError, "`values`"),
    ({"values": []}, ValueError, "`values`"),
    ({"values": list(range(MAX_FRAMES + 1))}, ValueError, "`values`"),
    ({"values": [1, 1.0]}, ValueError, "distinct"),
    ({"default": 7}, ValueError, "`default`"),
    ({"label": 3}, TypeError, "`label`"),
    ({"label": " "}, ValueError, "`label`"),
    ({"alt": ""}, ValueError, "`alt`"),
    ({"alt": 3}, TypeError, "`alt`"),
    ({"caption": None}, TypeError, "`caption`"),
    ({"image_format": "gif"}, ValueError, "`image_format`"),
    ({"dpi": 0}, ValueError, "`dpi`"),
    ({"draw": lambda v: 3}, TypeError, "matplotlib figure"),
])
def test_bad_arguments_are_named(change, error, words):
    arguments = {"draw": draw_line, "values": [0, 1], "default": 0, "label": "slope", "alt": "a line"} | change
    with pytest.raises(error, match=re.escape(words)):
        frame_slider(**arguments)
