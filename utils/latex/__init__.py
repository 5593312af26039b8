"""Render a Python function as readable, MathJax-safe algorithm pseudocode.

    from utils import latex

    @latex
    def sgd(theta_init, estimate_gradient, eta, n_steps):
        \"\"\"Stochastic gradient ascent.\"\"\"
        theta = theta_init
        for k in range(n_steps):
            theta = theta + eta * estimate_gradient(theta)
        return theta

`sgd` still runs as before (also under `jax.jit`); in Jupyter it displays as a titled,
line-numbered algorithm, `sgd.to_latex()` gives the LaTeX source, and
`latex(sgd, names={"estimate_gradient": r"\\widehat{\\nabla} J"})` adds name
mappings for one function (`register_names`, also reachable as
`latex.register_names`, adds them for the whole book).

The box reads as a textbook's algorithm: an upright title, the docstring's first
paragraph as a wrapped caption (`$...$` is mathematics, a backticked span is typeset as
code, spelled-out Greek letters become symbols), an **Input** line from the signature
(defaults shown as "(default 10^{-6})") and an **Output** line from the final `return`.
Idioms read as mathematics: `reversed(range(n))`, `enumerate`, `range(a, b, s)`,
`for _ in range(n)` in a comprehension ("n samples"), `while True` (**loop**),
`x = x.at[i].set(v)` (x_i <- v), reductions over an `axis` (max_a Q_{s,a}, index names
from `indices=` or `register_indices`), `eye`, `float("inf")`, `stop_gradient` (sg),
`a @ b` of vectors (a^T b); `dtype=` and shape arguments vanish. Declared policies
(`policies=`, `register_policy`) read pi_theta(a | s); `hide=` and a trailing
`# latex: hide` remove plumbing such as PRNG key splitting.

The output is a display-math `array` of numbered rows (title, docstring caption,
`\\gets`, `\\textbf{for}`, `\\quad` indentation), using only macros of MathJax 3's base
and ams packages, so that it typesets wherever the notebook goes: Jupyter Book
(myst-nb turns the `text/latex` output into a Sphinx math block), JupyterLab,
nbconvert, Colab and reveal.js slides. There is no `algorithmic`/`algpseudocode`
environment, which MathJax lacks.

Why our own `ast` renderer and not latexify-py: latexify's `algorithmic` mode (0.4)
prints the docstring as a statement, module paths (`jnp.zeros_like`, `jax.grad(f)`),
`range(n)` and raw `theta_init` literally, has no tuple unpacking, comprehensions or
nested functions, and the project is unmaintained since 2024, so none of that will be
fixed upstream. Its expression code would have to be overridden almost entirely, so
this package is a small visitor over Python's `ast` instead: `_names.py` holds the one
table of name mappings and the naming rules, `_render.py` one visitor method per
construct. A construct it does not typeset (try, with, raise, import, f-strings, ...)
raises `LatexRenderError`, naming the construct and its line; no statement is ever
dropped.
"""
from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Mapping

from utils.latex._names import NAMES, POLICIES, check_names, check_policies, register_names, register_policy
from utils.latex._render import INDICES, AlgorithmRenderer, LatexRenderError, check_indices, register_indices

__all__ = ["latex", "register_names", "register_policy", "register_indices", "LatexFunction",
           "LatexRenderError", "NAMES", "POLICIES", "INDICES"]


def assemble(title: str, header: list[str] | str | None, rows: list[tuple[bool, str]]) -> str:
    """The algorithm block: title, caption lines and Input/Output between rules, then numbered rows."""
    if not isinstance(title, str):
        raise TypeError(f"`title` must be a str (LaTeX), got {type(title).__name__}")
    if header is not None and not isinstance(header, str) and not (
            isinstance(header, (list, tuple)) and all(isinstance(line, str) for line in header)):
        raise TypeError(f"`header` must be None, a str or a list of str (LaTeX lines), got {header!r:.60}")
    if not isinstance(rows, (list, tuple)) or not all(
            isinstance(row, tuple) and len(row) == 2 and isinstance(row[1], str) for row in rows):
        raise TypeError(f"`rows` must be a list of (numbered, LaTeX) pairs, got {rows!r:.60}")
    lines = [r"\begin{array}{r l}", r"\hline", rf"& {title} \\"]
    if isinstance(header, str):
        header = [header]
    for line in header or []:
        lines.append(rf"& {line} \\")
    lines.append(r"\hline")
    number = 0
    for numbered, text in rows:
        label = ""
        if numbered:
            number += 1
            label = rf"{{\scriptstyle {number}}}"
        # Display style, so that sums carry their limits below and fractions are legible.
        lines.append(rf"{label} & \displaystyle {text} \\")
    lines += [r"\hline", r"\end{array}"]
    return "\n".join(lines)


class LatexFunction:
    """A function that displays as its pseudocode; calling it calls the function.

    `to_latex()` (or `.source`) is the LaTeX of the algorithm block, without math
    delimiters; `_repr_latex_()` wraps it in `$$ ... $$` for Jupyter.
    """

    def __init__(self, fn: Callable, names: Mapping[str, str] | None = None, *,
                 policies: Mapping[str, int] | None = None, hide=None, indices=None):
        if not callable(fn) or not inspect.isfunction(inspect.unwrap(fn)):
            raise TypeError(f"`fn` must be a function defined with def, got {type(fn).__name__}")
        names = check_names(names, "names") if names is not None else None
        policies = check_policies(policies, "policies") if policies is not None else None
        indices = check_indices(indices, "indices") if indices is not None else None
        if hide is not None and (isinstance(hide, str) or not all(isinstance(h, str) for h in hide)):
            raise TypeError(f"`hide` must be a collection of names (str), got {hide!r}")
        functools.update_wrapper(self, fn)
        # The source is that of the innermost function (below e.g. a `jax.jit`); calls
        # still go through `fn`.
        renderer = AlgorithmRenderer(inspect.unwrap(fn), dict(names or {}), policies=dict(policies or {}),
                                     hide=set(hide or ()), indices=dict(indices or {}))
        title, header, rows = renderer.render()
        self.source = assemble(title, header, rows)

    def __call__(self, *args, **kwargs):
        return self.__wrapped__(*args, **kwargs)

    def __get__(self, instance, owner=None):
        # Decorating a method: bind like the plain function would.
        return self if instance is None else types.MethodType(self, instance)

    def to_latex(self) -> str:
        return self.source

    def _repr_latex_(self) -> str:
        return f"$$\n{self.source}\n$$"

    def __repr__(self) -> str:
        return f"<pseudocode of {self.__wrapped__!r}>"


def latex(fn: Callable | None = None, *, names: Mapping[str, str] | None = None,
          policies: Mapping[str, int] | None = None, hide=None, indices=None):
    """Decorator (`@latex`, `@latex(names={...})`) and call (`latex(f, names={...})`).

    Returns a `LatexFunction`: it behaves as `fn` (same results, name, docstring and
    signature; works under `jax.jit`) and displays as `fn`'s pseudocode. For this
    function only, on top of the book-wide tables:

    - `names` maps identifiers (or attribute paths, `"mdp.n_actions": r"|\\A|"`) to LaTeX;
    - `policies` maps callables to the position of their parameter (`{"pi": 0}`: `pi(theta, s, a)`
      reads pi_theta(a | s); see `register_policy`);
    - `hide` names plumbing the reader does not see (`{"key", "subkey"}`: those parameters,
      call arguments and assignments disappear; a line ending in `# latex: hide` does too);
    - `indices` names the axes of arrays (`{"Q": ("s", "a")}`: `Q.max(axis=1)` reads max_a Q_{s,a}).

    Raises `LatexRenderError` (a ValueError) for syntax it does not typeset.
    """
    extra = check_names(names, "names") if names is not None else None
    if policies is not None:
        policies = check_policies(policies, "policies")
    if indices is not None:
        indices = check_indices(indices, "indices")
    if hide is not None:
        if isinstance(hide, str) or not all(isinstance(h, str) for h in hide):
            raise TypeError(f"hide must be a collection of names (str), got {hide!r}")
        hide = set(hide)
    if fn is None:
        return functools.partial(latex, names=extra, policies=policies, hide=hide, indices=indices)
    if isinstance(fn, LatexFunction):
        fn = fn.__wrapped__
    innermost = inspect.unwrap(fn) if callable(fn) else fn
    if not inspect.isfunction(innermost):
        raise TypeError(f"latex expects a function defined with def, got {type(fn).__name__}")
    if innermost.__name__ == "<lambda>":
        raise ValueError("latex expects a function defined with def, got a lambda")
    return LatexFunction(fn, extra, policies=policies, hide=hide, indices=indices)


# Chapters import only `latex`; `latex.register_names(theta=...)` saves them an import.
latex.register_names = register_names
latex.register_policy = register_policy
latex.register_indices = register_indices
