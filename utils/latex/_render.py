"""The `ast` visitor that turns a function definition into algorithm rows.

`AlgorithmRenderer` has one `visit_<Statement>` method per statement it supports,
each returning numbered rows, and one `expr_<Expression>` method per expression,
each returning a `Tex` (LaTeX plus its precedence, used to place parentheses).
Library calls (`jnp.log`, `jax.grad`, `len`, ...) are typeset by the handlers in
`CALLS`, keyed by the called name's last component.
"""
from __future__ import annotations

import ast
import builtins
import inspect
import re
import textwrap
from typing import Callable, NamedTuple

from utils.latex._names import POLICIES, NameRenderer, escape_text, greek_words, title_name


class LatexRenderError(ValueError):
    """A construct the renderer does not typeset; the message names it and its line."""

    def __init__(self, construct: str, filename: str, lineno: int, hint: str = ""):
        self.construct, self.filename, self.lineno = construct, filename, lineno
        super().__init__(
            f"utils.latex cannot typeset {construct} ({filename}, line {lineno})"
            + (f": {hint}" if hint else "")
        )


# Precedence levels, loosest first (Python's operator precedence).
LAMBDA, IFEXP, OR, AND, NOT, COMPARE, BITOR, BITXOR, BITAND, SHIFT, ARITH, TERM, \
    UNARY, FRAC, POWER, ATOM = range(16)
# A sum, maximum or average binds like `+`: `\sum x + y` reads (Σx) + y, and a product
# after it gets parentheses, `(\sum x) \cdot y`, since `\sum x \cdot y` reads Σ(x·y).
BIG_OPERATOR = ARITH


class Tex(NamedTuple):
    """A typeset expression and the precedence of its outermost operator."""
    text: str
    level: int = ATOM


def paren(tex: Tex, minimum: int) -> str:
    """`tex` wrapped in parentheses unless it binds at least as tightly as `minimum`."""
    if tex.level >= minimum:
        return tex.text
    if any(big in tex.text for big in (r"\frac", r"\sum", r"\begin", r"\left")):
        return rf"\left({tex.text}\right)"
    return f"({tex.text})"


_BINARY = {
    ast.Add: ("+", ARITH), ast.Sub: ("-", ARITH), ast.Mult: (r"\cdot", TERM),
    ast.MatMult: (r"\,", TERM), ast.Mod: (r"\bmod", TERM),
    ast.BitOr: (r"\lor", BITOR), ast.BitXor: (r"\oplus", BITXOR),
    ast.BitAnd: (r"\land", BITAND), ast.LShift: (r"\ll", SHIFT), ast.RShift: (r"\gg", SHIFT),
}
_COMPARE = {
    ast.Eq: "=", ast.NotEq: r"\ne", ast.Lt: "<", ast.LtE: r"\le", ast.Gt: ">",
    ast.GtE: r"\ge", ast.Is: "=", ast.IsNot: r"\ne", ast.In: r"\in", ast.NotIn: r"\notin",
}
_UNARY = {ast.USub: "-", ast.UAdd: "+", ast.Not: r"\lnot ", ast.Invert: r"\lnot "}
# Names of the statements and expressions that are refused, for the error message.
_CONSTRUCTS = {
    "Try": "a try statement", "TryStar": "a try statement", "With": "a with statement",
    "AsyncWith": "an async with statement", "Raise": "a raise statement",
    "Import": "an import statement", "ImportFrom": "an import statement",
    "Global": "a global statement", "Nonlocal": "a nonlocal statement",
    "Delete": "a del statement", "Match": "a match statement",
    "ClassDef": "a class definition", "AsyncFunctionDef": "an async function",
    "AsyncFor": "an async for loop", "JoinedStr": "an f-string",
    "NamedExpr": "an assignment expression (:=)", "Await": "await", "Yield": "yield",
    "YieldFrom": "yield from", "Starred": "a starred expression",
}
# Attribute roots that are modules, when the function's globals cannot tell.
_MODULE_ALIASES = {"jax", "jnp", "np", "numpy", "lax", "math", "optax", "random", "scipy"}
_SCIENTIFIC = re.compile(r"(-?[0-9.]+)e([+-]?)0*([0-9]+)\Z")
#: A trailing comment that hides a line of plumbing from the reader (`key, sub = split(key)  # latex: hide`).
HIDE_MARKER = "# latex: hide"
#: Width of a caption or Input line, in characters shown, before it wraps: 60 italic
#: characters fill the 688 px column of the book at 1280 px, beside the line numbers.
CAPTION_WIDTH = 60
# Index letters for the axes of an array whose indices were not declared.
_DEFAULT_INDICES = ("i", "j", "k", "l")


def _visible_width(tex: str) -> int:
    """Roughly how many characters `tex` shows: a font command's argument counts by its
    letters, any other command (a Greek letter, `\\_`) as one."""
    tex = re.sub(r"\\(?:mathrm|mathit|operatorname|text|textbf|textit)\b", "", tex)
    tex = re.sub(r"\\[A-Za-z]+|\\.", "x", tex)
    return len(re.sub(r"[{}_^ ]", "", tex))


class AlgorithmRenderer:
    """Renders one function definition (`ast.FunctionDef`) as algorithm rows."""

    def __init__(self, fn: Callable, names: dict[str, str] | None = None,
                 policies: dict[str, int] | None = None, hide: set[str] | None = None,
                 indices: dict[str, tuple[str, ...]] | None = None):
        self.fn = fn
        names = dict(names or {})
        # Dotted keys (`mdp.n_actions`) name attribute paths; the others are identifiers.
        self.attributes = {key: value for key, value in names.items() if "." in key}
        names = {key: value for key, value in names.items() if "." not in key}
        self.policies = {**POLICIES, **(policies or {})}
        self.hidden = set(hide or ())
        self.indices = dict(indices or {})
        self.filename = inspect.getsourcefile(fn) or "<unknown>"
        self.first_line = fn.__code__.co_firstlineno
        self.names = NameRenderer(names)
        self.scope = {**vars(builtins), **fn.__globals__}
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
            if _cell_is_set(cell):
                self.scope[name] = cell.cell_contents
        self.called: set[str] = set()  # names typeset as functions
        self.local: set[str] = set()  # names bound in the function, never library calls

    # ---- the whole function ---------------------------------------------------------

    def render(self) -> tuple[str, str | None, list[tuple[bool, str]]]:
        """Return (title, caption, rows); each row is (numbered, LaTeX of the line)."""
        try:
            source = textwrap.dedent(inspect.getsource(self.fn))
        except (OSError, TypeError) as error:
            raise ValueError(
                f"utils.latex needs the source code of {self.fn.__qualname__}: {error}") from None
        tree = ast.parse(source)
        definition = tree.body[0]
        if not isinstance(definition, ast.FunctionDef):
            raise self.error(definition, _CONSTRUCTS.get(type(definition).__name__, "this definition"))
        self.source_lines = source.splitlines()
        self.called, self.local = _function_names(definition)
        body, caption = _split_docstring(definition.body)
        title = rf"\textbf{{Algorithm: }} {title_name(definition.name)}"
        header = self.caption(caption) if caption else []
        header += self.framing(definition, body)
        return title, header, self.block(body, 0)

    # ---- the box's header: caption, input and output ----------------------------------

    def caption(self, docstring: str) -> list[str]:
        """The docstring's first paragraph, wrapped: `$...$` is mathematics, a backticked span
        that parses as Python is typeset as code is, spelled-out Greek letters become symbols."""
        text = " ".join(docstring.strip().split("\n\n")[0].split())
        tokens = []  # (latex, width in source characters, is_math, follows a space)
        space = False
        for piece in re.split(r"(\$[^$]+\$|`[^`]+`|\s+)", text):
            if not piece:
                continue
            if piece.isspace():
                space = True
                continue
            if piece.startswith("$") and piece.endswith("$") and len(piece) > 2:
                tokens.append((piece[1:-1], max(1, len(piece) // 2), True, space))
            elif piece.startswith("`") and piece.endswith("`") and len(piece) > 2:
                tokens.append((self.code_span(piece[1:-1]), len(piece) - 2, True, space))
            else:
                for index, (is_math, part) in enumerate(greek_words(piece)):
                    tokens.append((part, 1 if is_math else len(part), is_math, space and index == 0))
            space = False
        lines, line, width = [], [], 0
        for token in tokens:
            if line and token[3] and width + token[1] > CAPTION_WIDTH:
                lines.append(line)
                line, width = [], 0
            line.append(token)
            width += token[1] + token[3]
        if line:
            lines.append(line)
        return [_caption_line(line) for line in lines]

    def code_span(self, code: str) -> str:
        """A backticked span: typeset as Python when it parses, else as upright text."""
        try:
            tree = ast.parse(code, mode="eval")
        except SyntaxError:
            return escape_text(code, r"\mathrm")
        try:
            return self.expr(tree.body).text
        except LatexRenderError:
            return escape_text(code, r"\mathrm")

    def framing(self, definition: ast.FunctionDef, body: list[ast.stmt]) -> list[str]:
        """`Input:` from the signature (defaults shown as "(default ...)"), `Output:` from
        the final `return`."""
        rows = []
        # A long signature wraps like the caption, so that the box stays as narrow as its text.
        lines, width = [], 0
        for text, size in self.inputs(definition):
            if lines and width + size > CAPTION_WIDTH:
                lines[-1] += ","
                lines.append(r"\quad " + text)
                width = 0
            elif lines:
                lines[-1] += ", " + text
            else:
                lines.append(r"\textbf{Input: } " + text)
            width += size + 2
        rows += lines
        if body and isinstance(body[-1], ast.Return) and body[-1].value is not None:
            value = body[-1].value
            items = value.elts if isinstance(value, ast.Tuple) and value.elts else [value]
            # Only what is named is an output; a returned formula is read on its `return` line.
            if not all(isinstance(item, (ast.Name, ast.Attribute, ast.Subscript)) or
                       (isinstance(item, ast.Call) and self.policy_call(item) is not None) for item in items):
                return rows
            rows.append(r"\textbf{Output: } " + ", ".join(self.expr(item).text for item in items))
        return rows

    def inputs(self, definition: ast.FunctionDef) -> list[tuple[str, int]]:
        """Each shown parameter as (LaTeX, width in source characters)."""
        args = definition.args
        positional = args.posonlyargs + args.args
        defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        pairs = list(zip(positional, defaults)) + list(zip(args.kwonlyargs, args.kw_defaults))
        shown = []
        for arg, default in pairs:
            if arg.arg in self.hidden:
                continue
            text = self.name(arg.arg)
            if default is not None:
                text += rf"\ (\text{{default }} {self.expr(default).text})"
            shown.append((text, _visible_width(text)))
        return shown

    def error(self, node: ast.AST, construct: str, hint: str = "") -> LatexRenderError:
        return LatexRenderError(construct, self.filename, self.first_line + node.lineno - 1, hint)

    def signature(self, definition: ast.FunctionDef) -> str:
        args = definition.args
        positional = args.posonlyargs + args.args
        defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        pieces = [self.parameter(arg, default) for arg, default in zip(positional, defaults)
                  if arg.arg not in self.hidden]
        if args.vararg:
            pieces.append(r"\ldots " + self.name(args.vararg.arg))
        pieces += [self.parameter(arg, default)
                   for arg, default in zip(args.kwonlyargs, args.kw_defaults)]
        if args.kwarg:
            pieces.append(r"\ldots " + self.name(args.kwarg.arg))
        return rf"{self.names.render(definition.name, function=True)}({', '.join(pieces)})"

    def parameter(self, arg: ast.arg, default: ast.expr | None) -> str:
        if default is None:
            return self.name(arg.arg)
        return f"{self.name(arg.arg)} = {self.expr(default).text}"

    def name(self, identifier: str) -> str:
        return self.names.render(identifier, function=identifier in self.called)

    # ---- statements -----------------------------------------------------------------

    def block(self, statements: list[ast.stmt], depth: int) -> list[tuple[bool, str]]:
        rows = []
        for statement in statements:
            if self.is_hidden(statement):
                continue
            visit = getattr(self, "visit_" + type(statement).__name__, None)
            if visit is None:
                raise self.error(statement, _CONSTRUCTS.get(type(statement).__name__,
                                                             f"a {type(statement).__name__} statement"))
            rows += visit(statement, depth)
        return rows

    def is_hidden(self, statement: ast.stmt) -> bool:
        """Plumbing the reader does not see: a line marked `# latex: hide`, or an assignment
        whose every target is a hidden name (`key, subkey = split(key)` with `hide={"key",
        "subkey"}`)."""
        lines = self.source_lines[statement.lineno - 1:(statement.end_lineno or statement.lineno)]
        if any(line.rstrip().endswith(HIDE_MARKER) for line in lines):
            return True
        if isinstance(statement, ast.Assign) and self.hidden:
            names = [n for target in statement.targets for n in ast.walk(target) if isinstance(n, ast.Name)]
            return bool(names) and all(n.id in self.hidden for n in names)
        return False

    @staticmethod
    def line(depth: int, text: str, numbered: bool = True) -> tuple[bool, str]:
        return numbered, r"\quad " * depth + text

    def visit_FunctionDef(self, node: ast.FunctionDef, depth: int):
        if node.decorator_list:
            raise self.error(node.decorator_list[0], "a decorator on a nested function",
                             "apply it after the definition instead")
        body, docstring = _split_docstring(node.body)
        rows = [self.line(depth, rf"\textbf{{function }} {self.signature(node)}")]
        if docstring:
            rows.append(self.comment(depth + 1, _first_paragraph(docstring)))
        return rows + self.block(body, depth + 1)

    def comment(self, depth: int, text: str) -> tuple[bool, str]:
        return self.line(depth, r"\triangleright\ " + escape_text(text, r"\textit"), numbered=False)

    def visit_Return(self, node: ast.Return, depth: int):
        if node.value is None:
            return [self.line(depth, r"\textbf{return}")]
        if isinstance(node.value, ast.Tuple) and node.value.elts:
            value = ", ".join(self.expr(item).text for item in node.value.elts)
        else:
            value = self.expr(node.value).text
        return [self.line(depth, rf"\textbf{{return }} {_signed(value)}")]

    def visit_Assign(self, node: ast.Assign, depth: int):
        update = _indexed_update(node)
        if update is not None:
            # `x = x.at[i].set(v)` is the update x_i <- v; `.add(v)` is x_i <- x_i + v.
            element, method, value = update
            left = self.expr(element).text
            right = self.expr(value)
            if method == "add":
                text = f"{left} + {paren(right, ARITH + 1)}"
            elif method == "multiply":
                text = f"{left} \\cdot {paren(right, TERM + 1)}"
            else:
                text = right.text
            return [self.line(depth, rf"{left} \gets {text}")]
        targets = [self.expr(target).text for target in node.targets]
        return [self.line(depth, r" \gets ".join(targets + [self.expr(node.value).text]))]

    def visit_AugAssign(self, node: ast.AugAssign, depth: int):
        # `x += y` reads as `x <- x + y`: build that expression so precedence is right.
        value = ast.BinOp(left=node.target, op=node.op, right=node.value)
        ast.copy_location(value, node)
        return [self.line(depth, rf"{self.expr(node.target).text} \gets {self.expr(value).text}")]

    def visit_AnnAssign(self, node: ast.AnnAssign, depth: int):
        if node.value is None:
            raise self.error(node, "a bare annotation", "give the variable a value")
        return [self.line(depth, rf"{self.expr(node.target).text} \gets {self.expr(node.value).text}")]

    def visit_For(self, node: ast.For, depth: int):
        if node.orelse:
            raise self.error(node.orelse[0], "the else clause of a for loop")
        bounds = self.range_bounds(node.iter)
        if isinstance(node.target, ast.Name) and node.target.id == "_" and bounds and bounds[0] == "0":
            # `for _ in range(n)` counts nothing: it repeats.
            count = self.expr(node.iter.args[-1]).text
            header = rf"\textbf{{repeat }} {count} \textbf{{ times}}"
        else:
            header = rf"\textbf{{for }} {self.iteration(node.target, node.iter)} \textbf{{ do}}"
        return [self.line(depth, header)] + self.block(node.body, depth + 1)

    def visit_While(self, node: ast.While, depth: int):
        if node.orelse:
            raise self.error(node.orelse[0], "the else clause of a while loop")
        if isinstance(node.test, ast.Constant) and node.test.value is True:
            return [self.line(depth, r"\textbf{loop}")] + self.block(node.body, depth + 1)
        header = rf"\textbf{{while }} {_signed(self.expr(node.test).text)} \textbf{{ do}}"
        return [self.line(depth, header)] + self.block(node.body, depth + 1)

    def visit_If(self, node: ast.If, depth: int, keyword: str = "if"):
        test = _signed(self.expr(node.test).text)
        rows = [self.line(depth, rf"\textbf{{{keyword} }} {test} \textbf{{ then}}")]
        rows += self.block(node.body, depth + 1)
        if len(node.orelse) == 1 and isinstance(node.orelse[0], ast.If):
            rows += self.visit_If(node.orelse[0], depth, keyword="else if")
        elif node.orelse:
            rows.append(self.line(depth, r"\textbf{else}"))
            rows += self.block(node.orelse, depth + 1)
        return rows

    def visit_Expr(self, node: ast.Expr, depth: int):
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return [self.comment(depth, node.value.value)]
        return [self.line(depth, self.expr(node.value).text)]

    def visit_Assert(self, node: ast.Assert, depth: int):
        text = rf"\textbf{{assert }} {_signed(self.expr(node.test).text)}"
        if node.msg is not None:
            text += r"\quad \triangleright\ " + self.expr(node.msg).text
        return [self.line(depth, text)]

    def visit_Pass(self, node: ast.Pass, depth: int):
        return [self.line(depth, r"\textbf{pass}")]

    def visit_Break(self, node: ast.Break, depth: int):
        return [self.line(depth, r"\textbf{break}")]

    def visit_Continue(self, node: ast.Continue, depth: int):
        return [self.line(depth, r"\textbf{continue}")]

    # ---- loops and comprehensions ---------------------------------------------------

    def iteration(self, target: ast.expr, iterable: ast.expr) -> str:
        """`k = 0, ..., n - 1` for `range(n)` (`n - 1, ..., 0` reversed, `a, a + s, ...` with a
        step), an index with its element named for `enumerate`, else `target \\in iterable`."""
        sequence = self.sequence(iterable)
        if sequence is not None:
            return rf"{self.expr(target).text} = {sequence}"
        if _is_call(iterable, "enumerate") and isinstance(target, ast.Tuple) and len(target.elts) == 2 \
                and 1 <= len(iterable.args) <= 2 and not iterable.keywords:
            index, element = target.elts
            items = self.expr(iterable.args[0])
            start = self.expr(iterable.args[1]).text if len(iterable.args) == 2 else "0"
            size = _delimited("|", items.text).text
            last = size if start == "1" else f"{size} - 1" if start == "0" else f"{start} + {size} - 1"
            i = self.expr(index).text
            element_of = f"{paren(items, ATOM)}_{{{i}}}" if start == "0" else f"{paren(items, ATOM)}_{{{i} - {start}}}"
            return rf"{i} = {start}, \ldots, {last},\ {self.expr(element).text} = {element_of}"
        return rf"{self.expr(target).text} \in {self.expr(iterable).text}"

    def sequence(self, node: ast.expr) -> str | None:
        """`0, \\ldots, n - 1` for `range(n)`, reversed for `reversed(range(n))`, `a, a + s, \\ldots`
        for a step; None for anything else."""
        if _is_call(node, "reversed") and len(node.args) == 1 and not node.keywords:
            bounds = self.range_bounds(node.args[0])
            return rf"{bounds[1]}, \ldots, {bounds[0]}" if bounds else None
        bounds = self.range_bounds(node)
        if bounds is not None:
            return rf"{bounds[0]}, \ldots, {bounds[1]}"
        if _is_call(node, "range") and len(node.args) == 3 and not node.keywords:
            start, stop, step = node.args
            values = [a.value if isinstance(a, ast.Constant) and type(a.value) is int else None for a in node.args]
            if None not in values and values[2] != 0:
                items = list(range(*values))
                if len(items) <= 3:
                    return ", ".join(map(str, items)) if items else r"\varnothing"
                return rf"{items[0]}, {items[1]}, \ldots, {items[-1]}"
            second = self.expr(ast.copy_location(ast.BinOp(left=start, op=ast.Add(), right=step), node)).text
            stop_text = self.expr(stop).text
            return rf"{self.expr(start).text}, {second}, \ldots\ (\text{{below }} {stop_text})"
        return None

    def range_bounds(self, node: ast.expr) -> tuple[str, str] | None:
        """First and last value of `range(stop)` or `range(start, stop)`, else None."""
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "range" and 1 <= len(node.args) <= 2 and not node.keywords):
            return None
        start = self.expr(node.args[0]).text if len(node.args) == 2 else "0"
        return start, self.minus_one(node.args[-1])

    def minus_one(self, node: ast.expr) -> str:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return str(node.value - 1)
        if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)
                and isinstance(node.right, ast.Constant) and node.right.value == 1):
            return self.expr(node.left).text
        difference = ast.BinOp(left=node, op=ast.Sub(), right=ast.Constant(1))
        return self.expr(ast.copy_location(difference, node)).text

    def samples(self, generator: ast.comprehension) -> str | None:
        """`n` samples for `for _ in range(n)` in a comprehension: nothing is counted."""
        if isinstance(generator.target, ast.Name) and generator.target.id == "_" and not generator.ifs \
                and _is_call(generator.iter, "range") and len(generator.iter.args) == 1:
            return rf"{self.expr(generator.iter.args[0]).text}\ \text{{samples}}"
        return None

    def generators(self, generators: list[ast.comprehension]) -> str:
        pieces = []
        for generator in generators:
            if generator.is_async:
                raise self.error(generator.target, "an async comprehension")
            samples = self.samples(generator)
            if samples is not None:
                pieces.append(samples)
                continue
            pieces.append(self.iteration(generator.target, generator.iter))
            pieces += [self.expr(condition).text for condition in generator.ifs]
        return r",\ ".join(pieces)

    def reduction(self, operator: str, node: ast.expr) -> str | None:
        """`\\sum_{x \\in X} f(x)` for `sum(f(x) for x in X)`, or None if not a comprehension.

        Each generator is its own operator (`\\sum_{\\tau \\in D} \\sum_{h=0}^{H-1}`), with
        limits for a `range` and its `if` conditions beside the iteration.
        """
        if not isinstance(node, (ast.GeneratorExp, ast.ListComp)):
            return None
        operators = []
        for generator in node.generators:
            samples = self.samples(generator)
            if samples is not None:
                operators.append(rf"{operator}_{{{samples}}}")
                continue
            if _is_call(generator.iter, "reversed") and len(generator.iter.args) == 1:
                generator = ast.comprehension(target=generator.target, iter=generator.iter.args[0],
                                              ifs=generator.ifs, is_async=0)  # order does not matter in a sum
            bounds = self.range_bounds(generator.iter) if not generator.ifs else None
            if bounds is not None:
                target = self.expr(generator.target).text
                operators.append(rf"{operator}_{{{target}={bounds[0]}}}^{{{bounds[1]}}}")
            else:
                operators.append(rf"{operator}_{{{self.generators([generator])}}}")
        return " ".join(operators) + " " + paren(self.expr(node.elt), TERM)

    # ---- expressions ----------------------------------------------------------------

    def expr(self, node: ast.expr) -> Tex:
        visit = getattr(self, "expr_" + type(node).__name__, None)
        if visit is None:
            raise self.error(node, _CONSTRUCTS.get(type(node).__name__,
                                                   f"a {type(node).__name__} expression"))
        return visit(node)

    def expr_Name(self, node: ast.Name) -> Tex:
        return Tex(self.name(node.id))

    def expr_Constant(self, node: ast.Constant) -> Tex:
        value = node.value
        if isinstance(value, bool) or value is None:
            return Tex(rf"\mathrm{{{value}}}")
        if isinstance(value, str):
            return Tex(escape_text(f"“{value}”"))
        if value is Ellipsis:
            return Tex(r"\ldots")
        if isinstance(value, complex):
            return Tex(f"{_number(value.imag)} i", TERM)
        text = _number(value)
        return Tex(text, TERM if r"\cdot" in text else POWER if "^" in text else ATOM)

    def expr_BinOp(self, node: ast.BinOp) -> Tex:
        left, right = self.expr(node.left), self.expr(node.right)
        if isinstance(node.op, ast.Div) and isinstance(node.left, ast.Call) \
                and left.text.startswith(r"\sum"):
            # An average: 1/N in front of the sum, not a sum squeezed into a numerator.
            return Tex(rf"\frac{{1}}{{{right.text}}} {left.text}", BIG_OPERATOR)
        if isinstance(node.op, ast.Div):
            return Tex(rf"\frac{{{left.text}}}{{{right.text}}}", FRAC)
        if isinstance(node.op, ast.FloorDiv):
            return Tex(rf"\left\lfloor \frac{{{left.text}}}{{{right.text}}} \right\rfloor")
        if isinstance(node.op, ast.Pow):
            return self.power(node, left, right)
        if isinstance(node.op, ast.MatMult) and self.is_vector(node.left):
            # `a @ b` of a vector on the left is the inner product (or a row vector times a matrix).
            return Tex(rf"{paren(left, POWER + 1)}^{{\top}} {paren(right, TERM + 1)}", TERM)
        operator, level = _BINARY[type(node.op)]
        associative = isinstance(node.op, (ast.Add, ast.Mult))
        left_text = paren(left, level)
        # `a - (-b)`, never `a - -b`: a signed right operand keeps its parentheses.
        signed = isinstance(node.right, ast.UnaryOp) and isinstance(node.right.op, (ast.USub, ast.UAdd))
        right_text = paren(right, ATOM if signed else level if associative else level + 1)
        if isinstance(node.op, ast.Mult) and right_text == right.text \
                and self.juxtapose(node.left, node.right):
            return Tex(f"{left_text} {right_text}", level)
        return Tex(f"{left_text} {operator} {right_text}", level)

    def is_vector(self, node: ast.expr) -> bool:
        """A one-symbol lower-case name (x, g, theta_k) reads as a column vector; a capital,
        or a word such as `data`, may be a matrix."""
        if not isinstance(node, ast.Name):
            return False
        text = self.expr(node).text
        head = re.sub(r"^\\(hat|tilde|bar)\{(.*)\}$", r"\2", text.split("_")[0])
        return text.startswith(r"\nabla") or bool(re.fullmatch(r"[a-z]|\\(alpha|beta|gamma|delta|varepsilon|epsilon|zeta|eta|theta|iota|kappa|"
                                 r"lambda|mu|nu|xi|pi|rho|sigma|tau|upsilon|phi|varphi|chi|psi|omega)", head))

    def juxtapose(self, left: ast.expr, right: ast.expr) -> bool:
        """Write `a * b` as `a b` when `a` (its last factor) is a number or a one-symbol name."""
        if isinstance(right, ast.Constant) or isinstance(right, ast.UnaryOp):
            return False
        while isinstance(left, ast.BinOp) and isinstance(left.op, (ast.Mult, ast.Pow)):
            left = left.right if isinstance(left.op, ast.Mult) else left.left
        if isinstance(left, ast.Constant):
            return isinstance(left.value, (int, float)) and not isinstance(left.value, bool)
        if isinstance(left, ast.Name):
            text = self.expr(left).text
            return not text.startswith((r"\mathit", r"\mathrm", r"\operatorname", r"\log"))
        return False

    def power(self, node: ast.BinOp, base: Tex, exponent: Tex) -> Tex:
        if isinstance(node.right, ast.Constant) and node.right.value == 0.5:
            return Tex(rf"\sqrt{{{base.text}}}")
        return Tex(rf"{paren(base, POWER + 1)}^{{{exponent.text}}}", POWER)

    def expr_UnaryOp(self, node: ast.UnaryOp) -> Tex:
        level = NOT if isinstance(node.op, ast.Not) else UNARY
        return Tex(_UNARY[type(node.op)] + paren(self.expr(node.operand), level), level)

    def expr_BoolOp(self, node: ast.BoolOp) -> Tex:
        operator, level = (r"\land", AND) if isinstance(node.op, ast.And) else (r"\lor", OR)
        return Tex(f" {operator} ".join(paren(self.expr(value), level + 1) for value in node.values), level)

    def expr_Compare(self, node: ast.Compare) -> Tex:
        pieces = [paren(self.expr(node.left), COMPARE + 1)]
        for operator, comparator in zip(node.ops, node.comparators):
            pieces += [_COMPARE[type(operator)], paren(self.expr(comparator), COMPARE + 1)]
        return Tex(" ".join(pieces), COMPARE)

    def expr_IfExp(self, node: ast.IfExp) -> Tex:
        return Tex(rf"\begin{{cases}} {self.expr(node.body).text} & \text{{if }} "
                   rf"{self.expr(node.test).text} \\ {self.expr(node.orelse).text} & "
                   r"\text{otherwise} \end{cases}")

    def expr_Lambda(self, node: ast.Lambda) -> Tex:
        names = [self.name(arg.arg) for arg in node.args.posonlyargs + node.args.args]
        if node.args.vararg or node.args.kwarg or node.args.kwonlyargs or node.args.defaults:
            raise self.error(node, "a lambda with defaults, * or ** parameters")
        arguments = names[0] if len(names) == 1 else f"({', '.join(names)})"
        return Tex(rf"{arguments} \mapsto {self.expr(node.body).text}", LAMBDA)

    def expr_Tuple(self, node: ast.Tuple) -> Tex:
        return Tex(f"({', '.join(self.expr(item).text for item in node.elts)})")

    def expr_List(self, node: ast.List) -> Tex:
        return Tex(f"[{', '.join(self.expr(item).text for item in node.elts)}]")

    def expr_Set(self, node: ast.Set) -> Tex:
        return Tex(rf"\{{{', '.join(self.expr(item).text for item in node.elts)}\}}")

    def expr_Dict(self, node: ast.Dict) -> Tex:
        if any(key is None for key in node.keys):
            raise self.error(node, "dictionary unpacking (**) in a dict display")
        items = [f"{self.expr(key).text}: {self.expr(value).text}"
                 for key, value in zip(node.keys, node.values)]
        return Tex(rf"\{{{', '.join(items)}\}}")

    def expr_ListComp(self, node: ast.ListComp) -> Tex:
        return Tex(rf"[{self.expr(node.elt).text} \mid {self.generators(node.generators)}]")

    def expr_GeneratorExp(self, node: ast.GeneratorExp) -> Tex:
        return Tex(rf"({self.expr(node.elt).text} \mid {self.generators(node.generators)})")

    def expr_SetComp(self, node: ast.SetComp) -> Tex:
        return Tex(rf"\{{{self.expr(node.elt).text} \mid {self.generators(node.generators)}\}}")

    def expr_DictComp(self, node: ast.DictComp) -> Tex:
        item = f"{self.expr(node.key).text}: {self.expr(node.value).text}"
        return Tex(rf"\{{{item} \mid {self.generators(node.generators)}\}}")

    def expr_Subscript(self, node: ast.Subscript) -> Tex:
        index = node.slice
        items = index.elts if isinstance(index, ast.Tuple) else [index]
        text = ",".join(self.expr(item).text for item in items)
        base = self.expr(node.value)
        # `V^{\pi}_{h}` is fine; a second subscript is not, so `\theta_{k}[i]` keeps brackets.
        simple = isinstance(node.value, (ast.Name, ast.Attribute)) and not re.search(r"_\{", base.text)
        if simple:
            return Tex(f"{base.text}_{{{text}}}")
        return Tex(f"{paren(base, ATOM)}[{text}]")

    def expr_Slice(self, node: ast.Slice) -> Tex:
        parts = [self.expr(part).text if part is not None else ""
                 for part in (node.lower, node.upper)]
        if node.step is not None:
            parts.append(self.expr(node.step).text)
        return Tex("{:}".join(parts))

    def expr_Attribute(self, node: ast.Attribute) -> Tex:
        dotted = _dotted(node)
        if dotted is not None and dotted in self.attributes:
            return Tex(self.attributes[dotted])
        if self.is_module(node.value):
            return Tex(self.names.render(node.attr))
        base = self.expr(node.value)
        if node.attr == "T":
            return Tex(rf"{paren(base, POWER + 1)}^{{\top}}", POWER)
        return Tex(f"{paren(base, ATOM)}.{self.names.render(node.attr)}")

    def is_module(self, node: ast.expr) -> bool:
        """Whether `node` (e.g. `jnp`, `jax.random`) names a module, so its path is dropped."""
        if isinstance(node, ast.Attribute):
            return self.is_module(node.value)
        if not isinstance(node, ast.Name):
            return False
        if node.id in self.scope:
            return inspect.ismodule(self.scope[node.id])
        return node.id in _MODULE_ALIASES

    def expr_Call(self, node: ast.Call) -> Tex:
        if any(isinstance(argument, ast.Starred) for argument in node.args):
            raise self.error(node, "a starred argument (*args) in a call")
        # A dtype is a storage detail, never part of the mathematics; hidden names are plumbing.
        keywords = [k for k in node.keywords if k.arg != "dtype" and not self.is_hidden_arg(k.value)]
        node = ast.copy_location(ast.Call(func=node.func, keywords=keywords,
                                          args=[a for a in node.args if not self.is_hidden_arg(a)]), node)
        function = node.func
        policy = self.policy_call(node)
        if policy is not None:
            return policy
        update = _at_update(node)
        if update is not None:
            element, method, value = update
            verb = {"set": r"\gets", "add": r"\mathrel{+}=", "multiply": r"\mathrel{\times}="}[method]
            return Tex(rf"\left({self.expr(element.value).text} \text{{ with }} "
                       rf"{self.expr(element).text} {verb} {self.expr(value).text}\right)")
        if isinstance(function, ast.Attribute) and not self.is_module(function.value) \
                and function.attr in METHODS and node.keywords:
            special = CALLS[function.attr](self, [function.value, *node.args], node.keywords)
            if special is not None:
                return special
        if isinstance(function, ast.Attribute) and function.attr == "astype" and len(node.args) <= 1 \
                and not self.is_module(function.value):
            return self.expr(function.value)
        library = (isinstance(function, ast.Name) and function.id not in self.local) or (
            isinstance(function, ast.Attribute) and self.is_module(function.value))
        last = function.id if isinstance(function, ast.Name) else getattr(function, "attr", None)
        if library and last in CALLS:
            special = CALLS[last](self, node.args, node.keywords)
            if special is not None:
                return special
        if isinstance(function, ast.Attribute) and not self.is_module(function.value) \
                and function.attr in METHODS and not node.keywords:
            special = CALLS[function.attr](self, [function.value, *node.args], [])
            if special is not None:
                return special
        if isinstance(function, ast.Call) and _is_grad(function, self):
            return self.gradient_call(function, node)
        if isinstance(function, ast.Name):
            callee = self.names.render(function.id, function=True)
        elif isinstance(function, ast.Attribute) and self.is_module(function.value):
            callee = self.names.render(function.attr, function=True)
        elif isinstance(function, ast.Attribute):
            method = self.names.render(function.attr, function=True)
            callee = f"{paren(self.expr(function.value), ATOM)}.{method}"
        else:
            callee = paren(self.expr(function), ATOM)
        return Tex(f"{callee}({self.arguments(node)})")

    def is_hidden_arg(self, node: ast.expr) -> bool:
        return isinstance(node, ast.Name) and node.id in self.hidden

    def policy_call(self, node: ast.Call) -> Tex | None:
        """`pi(theta, s, a)`, `pi(theta)(s, a)` -> pi_theta(a | s); `log_pi(...)` -> log pi_theta(a | s);
        `pi(theta, s)` -> pi_theta(. | s); `pi(theta)` -> pi_theta. Only for declared policies."""
        function, args = node.func, list(node.args)
        prefix = ""
        if isinstance(function, ast.Call) and isinstance(function.func, ast.Name) and not node.keywords \
                and function.func.id in self.policies and len(function.args) == 1 \
                and not function.keywords:
            name, parameter = function.func.id, function.args[0]
        elif isinstance(function, ast.Name) and not node.keywords:
            name = function.id
            if name not in self.policies and name.startswith("log_") and name[4:] in self.policies:
                name, prefix = name[4:], r"\log "
            if name not in self.policies:
                return None
            position = self.policies[name]
            if position >= len(args):
                return None
            parameter = args.pop(position)
        else:
            return None
        symbol = self.names.render(name)
        subscript = self.expr(parameter).text
        head = f"{symbol}_{{{subscript}}}"
        if not args:
            return Tex(prefix + head, UNARY if prefix else ATOM)
        given = ", ".join(self.expr(a).text for a in args[:-1]) if len(args) > 1 else None
        if len(args) == 1:
            inside = rf"\cdot \mid {self.expr(args[0]).text}"
        else:
            inside = rf"{self.expr(args[-1]).text} \mid {given}"
        return Tex(rf"{prefix}{head}({inside})", UNARY if prefix else ATOM)

    def arguments(self, node: ast.Call) -> str:
        pieces = [self.expr(argument).text for argument in node.args]
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.error(node, "a ** argument in a call")
            pieces.append(f"{self.names.render(keyword.arg)} = {self.expr(keyword.value).text}")
        return ", ".join(pieces)

    def gradient_call(self, grad: ast.Call, call: ast.Call) -> Tex:
        """`jax.grad(f)(x)` -> `\\nabla f(x)`; with several arguments, `\\nabla_{x} f(x, y)`."""
        argnums = [keyword.value for keyword in grad.keywords if keyword.arg == "argnums"]
        index = argnums[0] if argnums else (grad.args[1] if len(grad.args) > 1 else ast.Constant(0))
        indices = index.elts if isinstance(index, ast.Tuple) else [index]
        if not all(isinstance(i, ast.Constant) and isinstance(i.value, int) for i in indices) \
                or any(i.value >= len(call.args) for i in indices) or call.keywords:
            return Tex(f"{self.gradient(grad.args[0])}({self.arguments(call)})")
        subscript = ""
        if len(call.args) > 1 or argnums:
            subscript = "_{" + ", ".join(self.expr(call.args[i.value]).text for i in indices) + "}"
        policy = self.policy_call(ast.copy_location(ast.Call(func=grad.args[0], args=call.args, keywords=[]), call))
        if policy is not None:
            return Tex(rf"\nabla{subscript} {policy.text}")
        return Tex(rf"\nabla{subscript} {paren(self.expr(grad.args[0]), ATOM)}({self.arguments(call)})")

    def gradient(self, function: ast.expr) -> str:
        return rf"\nabla {paren(self.expr(function), ATOM)}"


def _is_grad(node: ast.Call, renderer: AlgorithmRenderer) -> bool:
    """Whether `node` is `jax.grad(f, ...)` (or `grad(f)`) with only `argnums` as keyword."""
    function = node.func
    named = (isinstance(function, ast.Name) and function.id == "grad") or (
        isinstance(function, ast.Attribute) and function.attr == "grad"
        and renderer.is_module(function.value))
    return named and 1 <= len(node.args) <= 2 and all(k.arg == "argnums" for k in node.keywords)


# ---- library calls ------------------------------------------------------------------
# Each handler gets (renderer, positional argument nodes, keywords) and returns a Tex,
# or None to fall back to the generic `\operatorname{name}(arguments)`. A handler
# only accepts the exact arguments it typesets, so that no argument is ever dropped.

def _unary(fn):
    """Wrap a one-argument handler `fn(renderer, node)`."""
    def handler(renderer, args, keywords):
        return fn(renderer, args[0]) if len(args) == 1 and not keywords else None
    return handler


def _binary(fn):
    def handler(renderer, args, keywords):
        return fn(renderer, args[0], args[1]) if len(args) == 2 and not keywords else None
    return handler


def _operator(command: str, parentheses: bool = False):
    """`\\log x`, `\\log(x + y)`: parentheses unless the argument is a single term
    (or always, with `parentheses`, as in `\\exp(x)`)."""
    def typeset(renderer, node):
        argument = renderer.expr(node)
        single = isinstance(node, (ast.Name, ast.Call, ast.Subscript, ast.Attribute, ast.Constant))
        if not parentheses and (single or argument.level == FRAC):
            return Tex(f"{command} {argument.text}", UNARY)
        return Tex(rf"{command}{paren(Tex(argument.text, ARITH), ATOM)}", UNARY)
    return _unary(typeset)


def _axis_reduction(renderer, command: str, array: ast.expr, keywords) -> Tex | None:
    """`Q.max(axis=1)` -> `\\max_{a} Q_{s,a}`: the reduced axis is a bound index. Index names
    come from `indices` (per call) or `register_indices`, else i, j, k, l."""
    axis = [k.value for k in keywords if k.arg == "axis"]
    if any(k.arg not in ("axis", "keepdims") for k in keywords) or len(axis) != 1:
        return None
    axis = axis[0]
    if isinstance(axis, ast.UnaryOp) and isinstance(axis.op, ast.USub) and isinstance(axis.operand, ast.Constant):
        axis = ast.Constant(-axis.operand.value)
    if not (isinstance(axis, ast.Constant) and type(axis.value) is int):
        return None
    name = _dotted(array)
    declared = renderer.indices.get(name) or INDICES.get(name)
    k = axis.value
    if declared:
        indices = list(declared)
    elif isinstance(array, ast.Name) and renderer.is_vector(array):
        indices = ["i"]  # a one-symbol lower-case name is a vector
    else:
        indices = list(_DEFAULT_INDICES[:max(2, k + 1)])
    if k < 0:
        k += len(indices)
    if not 0 <= k < len(indices):
        return None
    base = renderer.expr(array)
    subscript = ",".join(indices)
    if isinstance(array, (ast.Name, ast.Attribute)) and not re.search(r"_\{", base.text):
        element = f"{base.text}_{{{subscript}}}"
    else:
        element = f"{paren(base, ATOM)}_{{{subscript}}}"
    return Tex(f"{command}_{{{indices[k]}}} {element}", BIG_OPERATOR)


def _reduction(command: str, mean: bool = False):
    def with_axis(renderer, args, keywords):
        if len(args) == 1 and keywords:
            return _axis_reduction(renderer, r"\operatorname{mean}" if mean else command, args[0], keywords)
        return typeset_one(renderer, args, keywords)

    def typeset(renderer, node):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("array", "asarray") and len(node.args) == 1 and not node.keywords:
            node = node.args[0]
        if mean:
            return _mean(renderer, node)
        reduced = renderer.reduction(command, node)
        if reduced is not None:
            return Tex(reduced, BIG_OPERATOR)
        return Tex(f"{command} {paren(renderer.expr(node), POWER)}", BIG_OPERATOR)
    typeset_one = _unary(typeset)
    return with_axis


def _mean(renderer, node):
    """`\\frac{1}{|X|} \\sum_{x \\in X} f(x)` for a comprehension, `\\overline{x}` for a name."""
    if isinstance(node, (ast.GeneratorExp, ast.ListComp)) and len(node.generators) == 1 \
            and not node.generators[0].ifs:
        generator = node.generators[0]
        bounds = renderer.range_bounds(generator.iter)
        count = None
        if bounds and len(generator.iter.args) == 1:
            count = renderer.expr(generator.iter.args[0]).text
        elif isinstance(generator.iter, (ast.Name, ast.Attribute, ast.Subscript)):
            count = _delimited("|", renderer.expr(generator.iter).text).text
        if count is not None:
            return Tex(rf"\frac{{1}}{{{count}}} " + renderer.reduction(r"\sum", node), BIG_OPERATOR)
    if isinstance(node, (ast.Name, ast.Subscript, ast.Attribute)):
        return Tex(rf"\overline{{{renderer.expr(node).text}}}")
    argument = renderer.expr(node).text
    if not isinstance(node, ast.GeneratorExp):  # a generator expression has its own parentheses
        argument = f"({argument})"
    return Tex(rf"\operatorname{{mean}}{argument}")


def _extremum(command: str):
    def handler(renderer, args, keywords):
        if len(args) == 1 and keywords:
            return _axis_reduction(renderer, command, args[0], keywords)
        if keywords or not args:
            return None
        if len(args) == 1:
            reduced = renderer.reduction(command, args[0])
            return Tex(reduced or f"{command} {paren(renderer.expr(args[0]), POWER)}", BIG_OPERATOR)
        return Tex(f"{command}({', '.join(renderer.expr(arg).text for arg in args)})")
    return handler


def _delimited(bar: str, text: str) -> Tex:
    """`|x|`, or `\\left| ... \\right|` around a fraction or a sum, which are taller."""
    if any(big in text for big in (r"\frac", r"\sum", r"\begin")):
        return Tex(rf"\left{bar}{text}\right{bar}")
    return Tex(f"{bar}{text}{bar}")


def _product(renderer, a, b, left: str, right: str = "") -> Tex:
    """`a` + `left` + `b` + `right`, as a product: `A^{-1} b`, `x \\cdot y`, `a \\, b^{\\top}`."""
    left_level = POWER + 1 if left.startswith("^") else TERM
    right_level = POWER + 1 if right else TERM + 1
    return Tex(paren(renderer.expr(a), left_level) + left + paren(renderer.expr(b), right_level) + right, TERM)


def _constant(value: str):
    """`jnp.zeros_like(x)` -> `0`: the shape argument is not part of the mathematics."""
    return _unary(lambda renderer, node: Tex(value))


def _range(renderer, node_args, keywords):
    call = ast.Call(func=ast.Name(id="range"), args=node_args, keywords=keywords)
    bounds = renderer.range_bounds(call)
    return Tex(rf"\{{{bounds[0]}, \ldots, {bounds[1]}\}}") if bounds else None


def _gradient(renderer, args, keywords):
    return Tex(renderer.gradient(args[0])) if len(args) == 1 and not keywords else None


def _float(renderer, node):
    """`float("inf")` is infinity; `float(x)` is just x."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        value = node.value.strip().lower()
        if value in ("inf", "+inf", "infinity"):
            return Tex(r"\infty")
        if value in ("-inf", "-infinity"):
            return Tex(r"-\infty", UNARY)
        return None
    return renderer.expr(node)


CALLS: dict[str, Callable] = {
    "zeros_like": _constant("0"), "ones_like": _constant("1"),
    "zeros": _constant("0"), "ones": _constant("1"),
    "log": _operator(r"\log"), "exp": _operator(r"\exp", parentheses=True), "sin": _operator(r"\sin"),
    "cos": _operator(r"\cos"), "tan": _operator(r"\tan"), "tanh": _operator(r"\tanh"),
    "sqrt": _unary(lambda r, x: Tex(rf"\sqrt{{{r.expr(x).text}}}")),
    "square": _unary(lambda r, x: Tex(rf"{paren(r.expr(x), POWER + 1)}^{{2}}", POWER)),
    "abs": _unary(lambda r, x: _delimited("|", r.expr(x).text)),
    "len": _unary(lambda r, x: _delimited("|", r.expr(x).text)),
    "norm": _unary(lambda r, x: _delimited(r"\|", r.expr(x).text)),
    "sum": _reduction(r"\sum"), "mean": _reduction("", mean=True),
    "max": _extremum(r"\max"), "min": _extremum(r"\min"),
    "maximum": _extremum(r"\max"), "minimum": _extremum(r"\min"),
    "argmax": _extremum(r"\arg\max"), "argmin": _extremum(r"\arg\min"),
    "array": _unary(lambda r, x: r.expr(x)), "asarray": _unary(lambda r, x: r.expr(x)),
    "transpose": _unary(lambda r, x: Tex(rf"{paren(r.expr(x), POWER + 1)}^{{\top}}", POWER)),
    "inv": _unary(lambda r, x: Tex(rf"{paren(r.expr(x), POWER + 1)}^{{-1}}", POWER)),
    "solve": _binary(lambda r, a, b: _product(r, a, b, left="^{-1} ")),
    "dot": _binary(lambda r, a, b: _product(r, a, b, left=r" \cdot ")),
    "matmul": _binary(lambda r, a, b: _product(r, a, b, left=r" \, ")),
    "outer": _binary(lambda r, a, b: _product(r, a, b, left=r" \, ", right=r"^{\top}")),
    "range": _range,
    "full": _binary(lambda r, shape, value: r.expr(value)),
    "full_like": _binary(lambda r, like, value: r.expr(value)),
    "eye": _constant("I"), "identity": _constant("I"),
    "arange": _unary(lambda r, n: Tex(rf"(0, \ldots, {r.minus_one(n)})")),
    "float": _unary(_float),
    # Random draws: the key and the shape are plumbing, the distribution is the mathematics.
    "normal": lambda r, args, keywords: Tex(r"\mathcal{N}(0, I)") if 1 <= len(args) <= 2 and not keywords else None,
    "uniform": lambda r, args, keywords: Tex(r"\mathcal{U}(0, 1)") if 1 <= len(args) <= 2 and not keywords else None,
    "stop_gradient": _unary(lambda r, x: Tex(rf"\operatorname{{sg}}\left({r.expr(x).text}\right)")),
    "jit": _unary(lambda r, f: r.expr(f)),  # compilation does not change the mathematics
    "grad": _gradient,
}
# Methods that read as the library call of the same name: `x.sum()` is `\sum x`.
METHODS = {"sum", "mean", "max", "min", "argmax", "argmin", "transpose"}


#: Declared index names of arrays (`register_indices(Q=("s", "a"))`), for reductions over an axis.
INDICES: dict[str, tuple[str, ...]] = {}


def register_indices(**arrays) -> None:
    """Declare the index names of arrays for every function rendered afterwards:
    `register_indices(Q=("s", "a"))` makes `Q.max(axis=1)` read `\\max_{a} Q_{s,a}`."""
    INDICES.update(check_indices(arrays, "register_indices"))


def check_indices(arrays, argument: str = "indices") -> dict[str, tuple[str, ...]]:
    if not hasattr(arrays, "items"):
        raise TypeError(f"{argument} must map array names to tuples of index names, got {type(arrays).__name__}")
    checked = {}
    for name, indices in arrays.items():
        if isinstance(indices, str):
            indices = tuple(indices.split())
        if not isinstance(indices, (tuple, list)):
            raise TypeError(f"{argument}[{name!r}] must be a tuple of index names (LaTeX), got {indices!r}")
        if not isinstance(name, str) or not indices or not all(isinstance(i, str) and i for i in indices):
            raise ValueError(f"{argument}[{name!r}] must be a non-empty tuple of index names (LaTeX), got {indices!r}")
        checked[name] = tuple(indices)
    return checked


# ---- helpers ------------------------------------------------------------------------

def _is_call(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name


def _dotted(node: ast.expr) -> str | None:
    """`mdp.n_actions` for an attribute path of names, `x` for a name, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _at_update(node: ast.expr):
    """`x.at[i].set(v)` -> (the element `x[i]`, "set", v), else None (also `.add`, `.multiply`)."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("set", "add", "multiply") and len(node.args) == 1 and not node.keywords):
        return None
    indexed = node.func.value
    if not (isinstance(indexed, ast.Subscript) and isinstance(indexed.value, ast.Attribute)
            and indexed.value.attr == "at"):
        return None
    plain = ast.copy_location(ast.Subscript(value=indexed.value.value, slice=indexed.slice, ctx=ast.Load()), indexed)
    return plain, node.func.attr, node.args[0]


def _indexed_update(node: ast.Assign):
    """For `x = x.at[i].set(v)`: (`x[i]`, "set", v); None otherwise."""
    if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
        return None
    update = _at_update(node.value)
    if update is None or not (isinstance(update[0].value, ast.Name) and update[0].value.id == node.targets[0].id):
        return None
    return update


def _function_names(definition: ast.FunctionDef) -> tuple[set[str], set[str]]:
    """Names used as functions (called, defined, or differentiated) and names bound locally."""
    called, local = set(), set()
    for node in ast.walk(definition):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            called.add(node.func.id)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "grad" and node.args and isinstance(node.args[0], ast.Name):
            called.add(node.args[0].id)
        if isinstance(node, ast.FunctionDef) and node is not definition:
            called.add(node.name)
            local.add(node.name)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            local.add(node.id)
        if isinstance(node, ast.arg):
            local.add(node.arg)
    return called, local


def _caption_line(tokens) -> str:
    """One caption line: runs of words in `\\textit`, mathematics between them, spaces kept."""
    pieces, words = [], ""
    for tex, _, is_math, space in tokens:
        if is_math:
            if words:
                pieces.append(escape_text(words, r"\textit"))
                words = ""
            pieces.append((r"\ " if space and pieces else "") + (tex if tex.startswith("{") else "{" + tex + "}"))
        else:
            if not words and space and pieces:
                pieces.append(r"\ ")
            words += (" " if space and words else "") + tex
    if words:
        pieces.append(escape_text(words, r"\textit"))
    return "".join(pieces)


def _signed(text: str) -> str:
    """Braces around an expression after a keyword if it starts with a sign, so that
    TeX sets `-` as a sign (`return -x`), not as a binary minus after the keyword."""
    return f"{{{text}}}" if text.startswith(("-", "+")) else text


def _split_docstring(body: list[ast.stmt]) -> tuple[list[ast.stmt], str | None]:
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
            and isinstance(first.value.value, str):
        return body[1:], inspect.cleandoc(first.value.value)
    return body, None


def _first_paragraph(text: str) -> str:
    """The first paragraph on one line, without the backticks that mark code."""
    return " ".join(text.strip().split("\n\n")[0].replace("`", "").split())


def _cell_is_set(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def _number(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # `0.0` is the number 0
    text = repr(value)
    if isinstance(value, float) and 0 < abs(value) < 1e-3:
        # Small numbers as powers of ten: 1e-4 is 10^{-4}, not 0.0001.
        mantissa, exponent = f"{value:e}".split("e")
        text = f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"
    match = _SCIENTIFIC.match(text)
    if match is None:
        return text
    mantissa, sign, exponent = match.groups()
    power = rf"10^{{{'-' if sign == '-' else ''}{exponent}}}"
    if mantissa in ("1", "1.0"):
        return power
    return rf"{mantissa} \cdot {power}"
