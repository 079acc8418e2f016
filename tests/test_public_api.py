"""The package's public names: an explicit ``__all__`` that covers every ``cu.<name>`` the notebooks and
benchmarks use, so a refactoring of course_utils cannot silently break them."""
import re
from pathlib import Path

import course_utils as cu

ROOT = Path(__file__).resolve().parent.parent
USERS = sorted(ROOT.glob("notebooks/*.ipynb")) + sorted(ROOT.glob("benchmarks/*.py"))
SUBMODULES = {"data"}  # cu.data.allow_unverified() in benchmarks/cifar10_speed.py


def test_all_is_explicit_and_importable():
    assert len(cu.__all__) == len(set(cu.__all__)), "no name twice"
    missing = [name for name in cu.__all__ if not hasattr(cu, name)]
    assert missing == [], f"__all__ lists names the package does not define: {missing}"
    namespace = {}
    exec("from course_utils import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(cu.__all__)


def test_every_name_the_notebooks_and_benchmarks_use_is_public():
    used = {}
    for path in USERS:
        for name in re.findall(r"(?<![\w.])cu\.([A-Za-z_]\w*)", path.read_text()):
            used.setdefault(name, path.name)
    assert len(used) > 30, "the notebooks use many helpers; did the pattern stop matching?"
    unknown = {name: where for name, where in used.items() if name not in cu.__all__ and name not in SUBMODULES}
    assert unknown == {}, f"used but not in course_utils.__all__ (name: first file): {unknown}"
