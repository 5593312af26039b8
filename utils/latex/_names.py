"""How identifiers are typeset: the one table of name mappings and the naming rules.

`NAMES` maps an identifier (or one `_`-separated part of one) to LaTeX. The rules
of `render_name`, in order:

1. the whole name, or the name without a trailing `_` (`lambda_`), is in the table;
2. `log_<rest>` is `\\log` followed by `<rest>` (`log_pi` -> `\\log \\pi`);
3. `<base>_<parts>` and `<base><digits>`, where `<base>` is a symbol (one letter, a
   Greek letter name or a table entry): `hat`/`tilde`/`bar` parts before or right
   after the base become accents, the other parts a subscript
   (`theta_init` -> `\\theta_{\\mathrm{init}}`, `nabla_hat` -> `\\hat{\\nabla}`,
   `x1` -> `x_{1}`, `pi_theta` -> `\\pi_{\\theta}`);
4. anything else is one word: `\\mathit{batch{\\_}size}` for a value and
   `\\operatorname{estimate{\\_}gradient}` for a function (`\\mathrm{KL}` for an
   all-capitals value); the underscore is braced, so that it is not spaced as an operator.

Two more rules run before rule 3: `grad_<F>` with `<F>` a capital or a `log_` name is
the gradient of `<F>` (`grad_J` -> `\\nabla J`, also a called `grad_f`, while `grad_theta` stays
`\\nabla_{\\theta}`), and a value function, visitation or objective indexed by a
policy (`V_pi`, `Q_pi_k`, `d_pi`) carries the policy as a superscript (`V^{\\pi}`).
Unicode Greek identifiers (`η_θ`) go through the same table as spelled-out ones.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

def _unicode_greek() -> dict[str, str]:
    """`θ` -> `\\theta`, for every Greek letter the table spells out (and the variants)."""
    import unicodedata

    table = {}
    for name in _GREEK:
        if name.startswith("var"):
            continue
        case = "CAPITAL" if name[0].isupper() else "SMALL"
        letter = {"lambda": "LAMDA"}.get(name.lower(), name.upper())
        try:
            table[unicodedata.lookup(f"GREEK {case} LETTER {letter}")] = "\\" + name
        except KeyError:
            continue
    table["ε"] = r"\varepsilon"
    table.update({"ϑ": r"\vartheta", "ϕ": r"\phi", "φ": r"\varphi", "ϖ": r"\varpi", "ϱ": r"\varrho", "ς": r"\varsigma"})
    return table


_GREEK = (
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa "
    "lambda mu nu xi pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi "
    "psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega"
).split()

#: The book-wide table of name mappings; extend it with `register_names`.
NAMES: dict[str, str] = {
    **{name: "\\" + name for name in _GREEK},
    # The book's epsilon (PPO's clip range) is the curly one.
    "epsilon": r"\varepsilon",
    **{char: command for char, command in _unicode_greek().items()},
    "omicron": "o",
    "lam": r"\lambda",
    "eps": r"\varepsilon",
    # `log_prob_old` is the log-probability of an action under the old policy.
    "prob": r"\pi",
    "nabla": r"\nabla",
    "grad": r"\nabla",
    "inf": r"\infty",
    "infinity": r"\infty",
    "_": r"\cdot",  # an unused value, as in `for s, a, _ in trajectories`
}

# Symbols that are indexed by a policy: `V_pi` is V^pi, not V with subscript pi.
_POLICY_INDEXED = {"V", "Q", "A", "J", "d", "rho", "eta"}
_POLICY_NAMES = {"pi", "pik", "pi_k", "mu"}

_ACCENTS = {"hat": r"\hat", "tilde": r"\tilde", "bar": r"\bar"}
# A Python identifier, or a dotted attribute path (`mdp.n_actions`) for per-call names.
_IDENTIFIER = re.compile(r"[^\W\d]\w*(\.[^\W\d]\w*)*\Z")
_SYMBOL_WITH_DIGITS = re.compile(r"([A-Za-z]+?)([0-9]+)\Z")
_TEX_SPECIALS = {
    "_": r"\_", "%": r"\%", "#": r"\#", "&": r"\&", "$": r"\$", "{": r"\{", "}": r"\}",
    "^": r"\wedge", "~": r"\sim", "\\": r"\backslash",
}


def check_names(names: Mapping[str, str], argument: str = "names") -> dict[str, str]:
    """Return `names` as a dict after checking it maps identifiers to LaTeX strings."""
    if not isinstance(names, Mapping):
        raise TypeError(f"{argument} must be a mapping of identifiers to LaTeX strings, "
                        f"got {type(names).__name__}")
    for key, value in names.items():
        if not isinstance(key, str) or not _IDENTIFIER.match(key):
            raise ValueError(f"{argument}: {key!r} is not a Python identifier or dotted attribute path")
        if not isinstance(value, str) or not value.strip():
            raise TypeError(f"{argument}[{key!r}] must be a non-empty LaTeX string, got {value!r}")
    return dict(names)


#: Callables that are policies, with the position of their parameter argument:
#: `pi(theta, s, a)` and `pi(theta)(s, a)` read pi_theta(a | s). See `register_policy`.
POLICIES: dict[str, int] = {}


def check_policies(policies: Mapping[str, int], argument: str = "policies") -> dict[str, int]:
    if not isinstance(policies, Mapping):
        raise TypeError(f"{argument} must map callable names to the position of their parameter, "
                        f"got {type(policies).__name__}")
    for key, value in policies.items():
        if not isinstance(key, str) or not _IDENTIFIER.match(key) or "." in key:
            raise ValueError(f"{argument}: {key!r} is not a Python identifier")
        if type(value) is not int or value < 0:
            raise ValueError(f"{argument}[{key!r}] must be a non-negative int (the parameter's position), got {value!r}")
    return dict(policies)


def register_policy(name: str, parameter: int = 0) -> None:
    """Declare, for every function rendered afterwards, that the callable `name` is a policy
    whose argument number `parameter` is its parameter: `pi(theta, s, a)`, `pi(theta)(s, a)`
    and `log_pi(theta, s, a)` then read pi_theta(a | s) and log pi_theta(a | s), `pi(theta, s)`
    reads pi_theta(. | s)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError(f"`name` must be the name (a Python identifier) of the policy callable, got {name!r}")
    if isinstance(parameter, bool) or not isinstance(parameter, int) or parameter < 0:
        raise ValueError(f"`parameter` must be a non-negative int (the parameter's position), got {parameter!r}")
    POLICIES.update(check_policies({name: parameter}, "register_policy"))


def register_names(mapping: Mapping[str, str] | None = None, /, **names: str) -> None:
    """Add name mappings for every function rendered afterwards in this process.

    `register_names(J=r"\\mathcal{J}")` or `register_names({"J": r"\\mathcal{J}"})`.
    A mapping applies to a whole identifier and to each `_`-separated part of one.
    """
    NAMES.update(check_names(dict(mapping or {}), "mapping"))
    NAMES.update(check_names(names, "names"))


def escape_text(text: str, command: str = r"\text") -> str:
    """Typeset plain `text` in math mode, as `command{...}` runs between escaped specials.

    MathJax shows backslashes inside `\\text{}` literally (without its textmacros
    package), so special characters are set in math mode between the text runs.
    """
    pieces, run = [], []
    for char in " ".join(text.split()):
        if char in _TEX_SPECIALS:
            if run:
                pieces.append(f"{command}{{{''.join(run)}}}")
                run = []
            pieces.append(_TEX_SPECIALS[char])
        else:
            run.append(char)
    if run:
        pieces.append(f"{command}{{{''.join(run)}}}")
    return "".join(pieces)


def _escape_word(word: str) -> str:
    # Braced, `{\_}` is an ordinary symbol: MathJax does not space it like an operator.
    return word.replace("_", r"{\_}")


def title_name(name: str) -> str:
    """An algorithm's name as one upright word: `policy_evaluation` -> `\\mathrm{policy{\\_}evaluation}`,
    never a symbol with subscripts made from its underscores."""
    return rf"\mathrm{{{_escape_word(name)}}}"


_GREEK_WORD = re.compile(r"\b(" + "|".join(sorted(_GREEK, key=len, reverse=True)) + r")\b")


def greek_words(text: str) -> list[tuple[bool, str]]:
    """Split prose into (is_math, piece): spelled-out Greek letters (`theta`, `delta`) become
    their symbols, so that a caption never reads "theta"."""
    pieces, last = [], 0
    for match in _GREEK_WORD.finditer(text):
        if match.start() > last:
            pieces.append((False, text[last:match.start()]))
        pieces.append((True, NAMES.get(match.group(1), "\\" + match.group(1))))
        last = match.end()
    if last < len(text):
        pieces.append((False, text[last:]))
    return pieces


class NameRenderer:
    """Typesets identifiers with the book-wide table plus per-function `extra` names."""

    def __init__(self, extra: Mapping[str, str] | None = None):
        self.table = {**NAMES, **(extra or {})}

    def symbol(self, part: str) -> str | None:
        """LaTeX for `part` if it reads as one mathematical symbol, else None."""
        if part in self.table:
            return self.table[part]
        if len(part) == 1 and part.isalpha() and part.isascii():
            return part
        return None

    def subscript_part(self, part: str) -> str:
        symbol = self.symbol(part)
        if symbol is not None:
            return symbol
        if part.isdigit() or re.fullmatch(r"[A-Za-z][0-9]+", part):
            return part
        return rf"\mathrm{{{_escape_word(part)}}}"

    def render(self, name: str, function: bool = False) -> str:
        """LaTeX for identifier `name`; `function` says it is called somewhere."""
        if name in self.table:
            return self.table[name]
        stripped = name.rstrip("_")
        if stripped and stripped != name and stripped in self.table:
            return self.table[stripped]
        parts = stripped.split("_") if stripped else []
        if len(parts) > 1 and parts[0] == "log" and all(parts[1:]):
            return r"\log " + self.render("_".join(parts[1:]), function)
        if len(parts) > 1 and parts[0] in ("grad", "nabla") and all(parts[1:]) \
                and (parts[1][0].isupper() or parts[1] == "log" or (function and parts[1] not in _GREEK)):
            # `grad_J` is the gradient of J; `grad_theta` (below) is the gradient in theta.
            return r"\nabla " + self.render("_".join(parts[1:]), function)
        if len(parts) > 1 and parts[0] in _POLICY_INDEXED and parts[1] in ("pi", "pik") and all(parts):
            policy = self.render("_".join(parts[1:]))
            return rf"{self.table.get(parts[0], parts[0])}^{{{policy}}}"
        composed = self._compose(parts) if parts and all(parts) else None
        if composed is not None:
            return composed
        if function:
            return rf"\operatorname{{{_escape_word(name)}}}"
        if len(name) > 1 and name.isupper():
            return rf"\mathrm{{{_escape_word(name)}}}"
        return rf"\mathit{{{_escape_word(name)}}}"

    def _compose(self, parts: list[str]) -> str | None:
        """Symbol with accents and subscripts (rule 3), or None if `parts` is a word."""
        accents = []
        while parts and parts[0] in _ACCENTS and len(parts) > 1:
            accents.append(_ACCENTS[parts.pop(0)])
        base, *rest = parts
        symbol = self.symbol(base)
        subscript = []
        if symbol is None:
            match = _SYMBOL_WITH_DIGITS.match(base)
            if match is None or self.symbol(match.group(1)) is None:
                return None
            symbol, subscript = self.symbol(match.group(1)), [match.group(2)]
        while rest and rest[0] in _ACCENTS:
            accents.append(_ACCENTS[rest.pop(0)])
        subscript += [self.subscript_part(part) for part in rest]
        for accent in reversed(accents):
            symbol = f"{accent}{{{symbol}}}"
        if subscript:
            symbol = f"{symbol}_{{{','.join(subscript)}}}"
        return symbol
