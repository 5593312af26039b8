"""The chapters' import line works from any working directory and stays light."""
from __future__ import annotations

import subprocess
import sys
import types

from conftest import ROOT

IMPORT_LINE = "from utils import plt, Array, Float, Callable, jax, jnp, latex, gym"


def run_python(code: str, cwd) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_import_line_from_an_unrelated_directory(tmp_path):
    out = run_python(
        IMPORT_LINE + "\nimport utils, gymnasium, jaxtyping, matplotlib.pyplot\n"
        "assert gym is gymnasium and Array is jaxtyping.Array and Float is jaxtyping.Float\n"
        "assert plt is matplotlib.pyplot and callable(latex) and jnp.ones(2).sum() == 2\n"
        "print(utils.__file__)",
        cwd=tmp_path,
    )
    assert out.strip() == str(ROOT / "utils" / "__init__.py")


def test_import_trains_nothing_and_writes_nothing(tmp_path):
    out = run_python(
        "import sys, utils\n"
        "heavy = sorted(m for m in sys.modules if m.startswith('utils.') and m.split('.')[1] in "
        "{'reinforce', 'trpo', 'npg', 'ppo', 'rollouts', 'estimators'})\n"
        "print(heavy)",
        cwd=tmp_path,
    )
    assert out.strip() == "[]"
    assert list(tmp_path.iterdir()) == []


def test_house_style_is_applied():
    from utils import plt

    assert plt.rcParams["axes.spines.top"] is False
    assert plt.rcParams["axes.grid"] is True


def test_algorithm_modules_do_not_load_matplotlib(tmp_path):
    out = run_python("import sys, utils.reinforce\nprint('matplotlib' in sys.modules)", cwd=tmp_path)
    assert out.strip() == "False"


def test_latex_stays_the_renderer_after_its_submodule_is_imported(tmp_path):
    out = run_python(
        "import utils.latex\nfrom utils.latex import register_names\nfrom utils import latex\n"
        "print(callable(latex) and latex.__module__ == 'utils.latex')",
        cwd=tmp_path,
    )
    assert out.strip() == "True"


def test_old_jax_draws_what_new_jax_draws_from_a_key(monkeypatch):
    """Under jax < 0.5, importing utils switches on the partitionable threefry that newer jax
    uses by default (the chapters' fixed keys then draw the same numbers); newer jax, and a
    setting already on, are left alone."""
    import jax

    from utils import compat

    assert jax.config.jax_threefry_partitionable  # after `import utils`, under any supported jax
    # These bits are the ones jax >= 0.5 draws from key 0 (and jax 0.4.30 with the switch on);
    # jax 0.4.30 with it off draws others.
    assert jax.random.key_data(jax.random.split(jax.random.key(0))).tolist() == [
        [1797259609, 2579123966], [928981903, 3453687069]]
    class Config:  # a jax.config that records updates
        def __init__(self, on):
            self.jax_threefry_partitionable, self.updates = on, []

        def update(self, name, value):
            self.updates.append((name, value))

    def fake_jax(version, on):
        fake = types.SimpleNamespace(__version__=version, config=Config(on))
        monkeypatch.setattr(compat, "jax", fake)
        return fake.config

    config = fake_jax("0.4.30", False)
    assert compat.use_partitionable_threefry() and config.updates == [("jax_threefry_partitionable", True)]
    config = fake_jax("0.5.0", False)  # 0.5 and later: the default, or the user's own choice
    assert not compat.use_partitionable_threefry() and config.updates == []
    config = fake_jax("0.4.30", True)  # already on
    assert not compat.use_partitionable_threefry() and config.updates == []
