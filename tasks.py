#!/usr/bin/env python3
"""Set up and run the book's jobs with nothing but Python 3.10+ and git.

    python3 tasks.py book       # set up, then build the book into _build/html
    python3 tasks.py test       # set up (and install Chromium), then run every test, then `floors` (what CI runs)
    python3 tasks.py floors     # the unit tests at the declared floors
    python3 tasks.py lock       # refresh requirements-lock.txt to the latest versions the ranges allow
    python3 tasks.py slides     # set up, build the book, then a reveal.js deck per section
    python3 tasks.py pdf        # set up (and install TeX Live), then the whole book as _build/latex/book.pdf
    python3 tasks.py sync       # rewrite chapters/*.ipynb from their MyST twins
    python3 tasks.py notebooks  # standard first cell and slide metadata in chapters/*.md, then sync
    python3 tasks.py assignments  # student notebooks of the exercises (no solutions) in _build/assignments

Set-up creates a virtual environment in `.venv` and installs
`requirements.txt` (which installs this repository's `utils` package in
editable mode) under the constraints of `requirements-lock.txt`, the
versions the book is built and tested with, and installs MathJax 3 and
reveal.js from the npm registry into `.cache/web` (the book and the slides
load them from local copies, so they work offline). Each step is skipped
when it is already done.

`floors` installs the package into a second environment, `.venv-floors`,
with every dependency exactly at the lower bound pyproject.toml declares
(a constraints file written to `.cache/floors-constraints.txt`), and runs
there the unit tests (not those that need the book build, Chromium or npm, nor
the chapters' claims, which train at the chapters' scale): it fails when a
declared floor does not work.
`lock` resolves requirements.txt afresh (the latest versions it allows),
writes them to `requirements-lock.txt` and reinstalls `.venv` to match.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".requirements.sha256"

# Front-end packages, pinned: MathJax for the book and the slides, reveal.js for the slides.
WEB = ROOT / ".cache" / "web"
WEB_PACKAGES = {"mathjax": "3.2.2", "reveal.js": "4.6.1"}
# Sphinx copies this folder into _build/html/_static (html_static_path in _config.yml).
STATIC = ROOT / ".cache" / "static"

# The versions the book is built and tested with (`python3 tasks.py lock` refreshes it).
LOCK = ROOT / "requirements-lock.txt"
# Releases the lock avoids although the ranges allow them (Colab's and a user's installs are not
# capped), each for a measured reason. `lock` resolves under these as constraints.
LOCK_CAPS = {
    # ml_dtypes 0.7.0's extension takes about 0.55 s to import, 0.6.0's 4 ms, and every
    # `import jax` imports it: half of benchmarks/ppo_cartpole.py's import time.
    "ml-dtypes<0.7": "0.7.0 imports in 0.55 s, 0.6.0 in 4 ms, and every import of jax pays it",
}
# A second environment with every dependency at its declared lower bound.
FLOORS_VENV = ROOT / ".venv-floors"
FLOORS_BIN = FLOORS_VENV / ("Scripts" if os.name == "nt" else "bin")
FLOORS_PYTHON = FLOORS_BIN / ("python.exe" if os.name == "nt" else "python")
FLOORS_STAMP = FLOORS_VENV / ".constraints.sha256"
FLOORS_CONSTRAINTS = ROOT / ".cache" / "floors-constraints.txt"
# What the floors job runs besides the library (at whatever versions fit the floors).
FLOORS_TOOLS = ["pytest", "pytest-xdist", "nbval", "ipykernel", "jupytext", "pyyaml"]
# Tests that need the book build (or its toolchain), Chromium, npm or a network, and so the main environment.
FLOORS_SKIPPED_TESTS = ["test_build.py", "test_browser.py", "test_slides.py", "test_slides_browser.py",
                        "test_bootstrap.py", "test_pdf.py", "test_execute_tool.py", "test_assignments.py"]
# The chapters' claims (tests/test_claims_*.py) pass at the floors too, but they train at the
# chapters' scale: they run in the main suite only, which keeps the two jobs within the suite's budget.
FLOORS_SKIPPED_TESTS += [path.name for path in sorted((ROOT / "tests").glob("test_claims_*.py"))]
# The sections the floors job executes (nbval on their .ipynb twins) besides the unit tests: the
# two that train on CartPole with the library's REINFORCE and PPO, and the language-model section
# (its exact checks and its fine-tuning). The main suite runs every section.
FLOORS_CHAPTERS = ["chapters/reinforce.ipynb", "chapters/ppo.ipynb", "chapters/lm.ipynb"]


@functools.lru_cache(maxsize=None)
def _book_cache_module():
    """utils/cache.py, loaded without importing jax (or the rest of utils)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("_book_cache", ROOT / "utils" / "cache.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def jaxlib_version(python: Path) -> str | None:
    """The jaxlib version installed for `python` (None when it has none, or does not exist yet)."""
    if not Path(python).exists():
        return None
    found = subprocess.run([str(python), "-c", "from importlib import metadata; print(metadata.version('jaxlib'))"],
                           capture_output=True, text=True)
    return found.stdout.strip() or None if found.returncode == 0 else None


def jax_env(python: Path = PYTHON) -> dict[str, str]:
    """What every process the tasks start (the book's kernels, pytest, nbval) runs JAX with:
    the persistent compilation cache in .cache/jax (what the book build compiled, nbval and a
    rebuild read back) and the book's XLA flags for the jaxlib that `python` runs
    (`utils.cache.book_env`: jaxlib 0.4.30, the floor, does not know every flag the lock's does)."""
    cache = _book_cache_module()
    env = cache.book_env(ROOT / ".cache" / "jax")
    if "XLA_FLAGS" in env:  # not the caller's own XLA_FLAGS: the book's, for `python`'s jaxlib
        env["XLA_FLAGS"] = cache.book_xla_flags(jaxlib_version(python))
    return env


def run(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    # The floors' processes run .venv-floors's jaxlib; every other JAX process the tasks start, .venv's.
    python = FLOORS_PYTHON if Path(args[0]) == FLOORS_PYTHON else PYTHON
    code = subprocess.call([str(a) for a in args], cwd=ROOT, env={**os.environ, **jax_env(python)})
    if code:
        sys.exit(code)


def setup(web_optional: bool = False) -> bool:
    """Set up .venv and the local web packages; returns whether those are there.

    With `web_optional`, a machine without npm still gets the virtual
    environment (the book then loads MathJax from its CDN)."""
    if sys.version_info < (3, 10):
        sys.exit(f"Python 3.10 or newer is needed, this is {sys.version.split()[0]}")
    lock = LOCK.read_bytes() if LOCK.exists() else b""
    wanted = hashlib.sha256(
        (ROOT / "requirements.txt").read_bytes() + (ROOT / "pyproject.toml").read_bytes() + lock
    ).hexdigest()
    if not (PYTHON.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted):
        if not PYTHON.exists():
            print(f"+ creating {VENV}", flush=True)
            venv.EnvBuilder(with_pip=True).create(VENV)
        run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        # The lock pins every package the ranges allow to the versions the book is
        # tested with, so that its numbers do not drift between machines.
        constraints = ["-c", LOCK.name] if LOCK.exists() else []
        run(PYTHON, "-m", "pip", "install", "--quiet", "-r", "requirements.txt", *constraints)
        STAMP.write_text(wanted)
    if web_optional and shutil.which("npm") is None and installed_web_version("mathjax") is None:
        return False
    setup_web()
    return True


def installed_web_version(name: str) -> str | None:
    manifest = WEB / "node_modules" / name / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.is_file() else None


def setup_web() -> None:
    """MathJax and reveal.js from the npm registry into .cache/web; MathJax into .cache/static."""
    if any(installed_web_version(name) != version for name, version in WEB_PACKAGES.items()):
        npm = shutil.which("npm")
        if npm is None:
            sys.exit("npm (Node.js) is needed to install MathJax and reveal.js: install Node.js and npm")
        WEB.mkdir(parents=True, exist_ok=True)
        specs = [f"{name}@{version}" for name, version in WEB_PACKAGES.items()]
        run(npm, "install", "--prefix", WEB, "--no-audit", "--no-fund", "--silent", "--no-save", *specs)
    mathjax = STATIC / "mathjax"
    version_file = mathjax / ".version"
    if not (version_file.is_file() and version_file.read_text() == WEB_PACKAGES["mathjax"]):
        shutil.rmtree(mathjax, ignore_errors=True)
        shutil.copytree(WEB / "node_modules" / "mathjax" / "es5", mathjax)
        version_file.write_text(WEB_PACKAGES["mathjax"])


def setup_browser() -> None:
    """Chromium for tests/test_browser.py: Debian's package, installed when it is missing."""
    if shutil.which("chromium"):
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        sys.exit("The browser test needs Chromium: install Debian's `chromium` package "
                 "(as root: apt-get update && apt-get install -y chromium)")
    os.environ["DEBIAN_FRONTEND"] = "noninteractive"
    run(apt, "update", "-qq")
    run(apt, "install", "-y", "-qq", "chromium")


# Debian's TeX Live for the PDF, without the recommended extras: XeLaTeX (the engine
# sphinx-jupyterbook-latex sets), the LaTeX packages Sphinx's and Jupyter Book's classes
# load, the FreeSerif fonts Sphinx sets for XeLaTeX, latexmk and make (which Jupyter Book
# runs), and poppler-utils' pdftotext, with which tests/test_pdf.py reads the PDF.
LATEX_PACKAGES = ["texlive-xetex", "texlive-latex-recommended", "texlive-latex-extra",
                  "texlive-fonts-recommended", "fonts-freefont-otf", "latexmk", "make", "poppler-utils"]
LATEX_COMMANDS = ["xelatex", "latexmk", "make", "pdftotext"]
PDF = ROOT / "_build" / "latex" / "book.pdf"


def setup_latex() -> None:
    """TeX Live for the PDF: Debian's packages, installed when one is missing."""
    if shutil.which("dpkg-query"):
        missing = [name for name in LATEX_PACKAGES if subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True
        ).stdout != "install ok installed"]
    else:  # not Debian: whatever TeX Live there is, as long as its commands are
        missing = LATEX_PACKAGES if not all(shutil.which(c) for c in LATEX_COMMANDS) else []
    if not missing:
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        sys.exit("The PDF needs TeX Live: install Debian's packages (as root: apt-get update && "
                 f"apt-get install -y --no-install-recommends {' '.join(missing)})")
    os.environ["DEBIAN_FRONTEND"] = "noninteractive"
    run(apt, "update", "-qq")
    run(apt, "install", "-y", "-qq", "--no-install-recommends", *missing)


def pdf() -> None:
    """The whole book as one PDF with Jupyter Book's LaTeX builder (warnings are errors),
    from the notebooks' cached outputs in _build/.jupyter_cache (the HTML build's); then
    the HTML, whose pages link to the PDF and which holds a copy (tools/book_pdf.py)."""
    setup()
    setup_latex()
    execute_notebooks()
    run(BIN / "jupyter-book", "build", ".", "--builder", "pdflatex", "-W", "-n", "--keep-going")
    # LaTeX's own unresolved references and missing glyphs, which Sphinx cannot see.
    log = PDF.with_suffix(".log").read_text(errors="replace")
    problems = [line for line in log.splitlines()
                if re.search(r"undefined references|Reference `.*' on page .* undefined|multiply defined|Missing character", line)]
    if problems:
        sys.exit(f"{PDF.with_suffix('.log')}:\n" + "\n".join(sorted(set(problems))))
    book()
    print(f"\nThe PDF is {PDF} (and {ROOT / '_build' / 'html' / PDF.name})")


MATHJAX_CDN = f"https://cdn.jsdelivr.net/npm/mathjax@{WEB_PACKAGES['mathjax']}/es5/tex-mml-chtml.js"


def execute_notebooks() -> None:
    """The notebooks whose code changed, one per core at a time, into the cache the build reads
    (tools/execute.py): Jupyter Book would run them one after another."""
    run(PYTHON, "tools/execute.py")


def book() -> None:
    config = []
    if not setup(web_optional=True):
        # No npm here: the same configuration, with MathJax from its CDN (the
        # pages then need a network to typeset; the tests use the local copy).
        print("+ npm not found: the book will load MathJax from " + MATHJAX_CDN, flush=True)
        (STATIC).mkdir(parents=True, exist_ok=True)
        cdn_config = ROOT / ".cache" / "_config.cdn.yml"
        text = (ROOT / "_config.yml").read_text()
        cdn_config.write_text(text.replace("mathjax_path: mathjax/tex-mml-chtml.js", f"mathjax_path: {MATHJAX_CDN}"))
        config = ["--config", cdn_config]
    execute_notebooks()
    run(BIN / "jupyter-book", "build", ".", "-W", "-n", "--keep-going", *config)
    print(f"\nThe book is in {ROOT / '_build' / 'html' / 'index.html'}")


def slides() -> None:
    index = ROOT / "_build" / "html" / "slides" / "index.html"
    linked = index.is_file()  # the pages link to the decks only once they exist (tools/slides_link.py)
    book()
    run(PYTHON, "tools/slides.py")
    if not linked:
        book()
    print(f"\nThe slides are in {index}")


def test() -> None:
    setup()
    setup_browser()
    setup_latex()
    # Two workers: the book build (which executes every chapter) runs beside the unit tests.
    run(PYTHON, "-m", "pytest", "-n", "2", "--dist", "loadfile", "--durations=25")
    floors()


def declared_dependencies() -> list[str]:
    """[project].dependencies of pyproject.toml."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: tomli, which pytest installs into .venv
        setup()
        code = ("import json, tomli; "
                "print(json.dumps(tomli.load(open('pyproject.toml', 'rb'))['project']['dependencies']))")
        return json.loads(subprocess.check_output([str(PYTHON), "-c", code], cwd=ROOT, text=True))
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def floor_constraints() -> str:
    """A pip constraints file pinning each dependency to its declared lower bound:
    `name==floor` for each `name>=floor` in pyproject.toml's dependencies."""
    lines = []
    for requirement in declared_dependencies():
        spec = requirement.split(";")[0]
        name = re.match(r"\s*([A-Za-z0-9._-]+)", spec).group(1)
        floors = re.findall(r">=\s*([^\s,]+)", spec[len(name):])
        if not floors:
            sys.exit(f"pyproject.toml: dependency {requirement!r} declares no lower bound (>=)")
        lines.append(f"{name}=={floors[0]}")
    return "# Generated by `python3 tasks.py floors` from pyproject.toml: every floor, exactly.\n" + "\n".join(lines) + "\n"


def floors() -> None:
    """The unit tests and the REINFORCE and PPO sections in .venv-floors,
    where every dependency is installed at its declared lower bound; fails when a floor is wrong."""
    constraints = floor_constraints()
    FLOORS_CONSTRAINTS.parent.mkdir(parents=True, exist_ok=True)
    FLOORS_CONSTRAINTS.write_text(constraints)
    wanted = hashlib.sha256(
        (constraints + " ".join(FLOORS_TOOLS)).encode() + (ROOT / "pyproject.toml").read_bytes()
    ).hexdigest()
    if not (FLOORS_PYTHON.exists() and FLOORS_STAMP.exists() and FLOORS_STAMP.read_text().strip() == wanted):
        # A fresh environment each time: nothing left over from other versions.
        shutil.rmtree(FLOORS_VENV, ignore_errors=True)
        print(f"+ creating {FLOORS_VENV} with\n{constraints}", flush=True)
        venv.EnvBuilder(with_pip=True).create(FLOORS_VENV)
        run(FLOORS_PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        run(FLOORS_PYTHON, "-m", "pip", "install", "--quiet", "-c", FLOORS_CONSTRAINTS,
            "-e", ".", *FLOORS_TOOLS)
        FLOORS_STAMP.write_text(wanted)
    ignored = [f"--ignore=tests/{name}" for name in FLOORS_SKIPPED_TESTS]
    # -k: the MathJax typesetting checks need Node.js and npm (the main run has them).
    run(FLOORS_PYTHON, "-m", "pytest", "-n", "2", "--dist", "loadfile", "-q", *ignored,
        "-k", "not mathjax", "tests", *FLOORS_CHAPTERS)


def lock() -> None:
    """Write requirements-lock.txt: the latest versions that satisfy requirements.txt
    today (pip's resolution, as if into an empty environment), then install them."""
    setup()
    report = ROOT / ".cache" / "lock-report.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    caps = ROOT / ".cache" / "lock-caps.txt"
    caps.write_text("".join(f"{spec}\n" for spec in LOCK_CAPS))
    run(PYTHON, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
        "--report", report, "-r", "requirements.txt", "-c", caps)
    write_lock(json.loads(report.read_text()))
    setup()


def write_lock(report: dict) -> None:
    """requirements-lock.txt from a `pip install --report`: every package pip would
    install, pinned, except this repository's own (installed editable) and, as
    in `pip freeze`, the installers (pip, setuptools, wheel)."""
    skipped = {"policy-gradient-book", "pip", "setuptools", "wheel"}
    pins = sorted(
        (canonical(item["metadata"]["name"]), item["metadata"]["version"])
        for item in report["install"]
        if canonical(item["metadata"]["name"]) not in skipped
    )
    LOCK.write_text(
        "# The versions the book is built and tested with: the latest that satisfied\n"
        "# requirements.txt when `python3 tasks.py lock` last ran (set-up installs\n"
        "# requirements.txt under these constraints). Do not edit: refresh with that task.\n"
        + "".join(f"# capped: {spec} ({reason}; tasks.LOCK_CAPS)\n" for spec, reason in LOCK_CAPS.items())
        + "".join(f"{name}=={version}\n" for name, version in pins)
    )
    print(f"+ wrote {LOCK.name} ({len(pins)} packages)", flush=True)


def canonical(name: str) -> str:
    """A distribution name as pip compares it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def chapter_notebooks() -> list[str]:
    """chapters/*.md that are notebooks (a kernelspec in the front matter; not the bibliography)."""
    found = []
    for path in sorted((ROOT / "chapters").glob("*.md")):
        text = path.read_text()
        if text.startswith("---") and "kernelspec:" in text.split("---", 2)[1]:
            found.append(str(path.relative_to(ROOT)))
    return found


def sync() -> None:
    setup()
    # A fresh conversion: the paired notebooks carry no outputs.
    run(BIN / "jupytext", "--to", "ipynb", *chapter_notebooks())


def assignments() -> None:
    """Student notebooks (solutions removed, skeletons and checks kept) in _build/assignments."""
    setup()
    run(PYTHON, "tools/assignments.py", *chapter_notebooks())


def notebooks() -> None:
    setup()
    run(PYTHON, "tools/notebooks.py", *chapter_notebooks())
    sync()


if __name__ == "__main__":
    jobs = {"book": book, "test": test, "slides": slides, "sync": sync, "notebooks": notebooks,
            "floors": floors, "lock": lock, "pdf": pdf, "assignments": assignments}
    if len(sys.argv) != 2 or sys.argv[1] not in jobs:
        sys.exit(__doc__)
    jobs[sys.argv[1]]()
