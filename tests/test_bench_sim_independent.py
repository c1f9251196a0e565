"""The benches and the simulator run without the test suite: nothing in bench/ or sim/ imports
``tests`` (what they share with the tests lives in sim/ and tests/ re-exports it)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, List, Tuple

from tests.helpers import ROOT

PACKAGES = ("bench", "sim")


def imported_modules(tree: ast.AST) -> Iterator[Tuple[int, str]]:
    """(line, module) for every import statement and every ``importlib.import_module("…")`` or
    ``__import__("…")`` call with a literal name, at any depth (function-level imports too)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in ("import_module", "__import__") and isinstance(first, ast.Constant):
                if isinstance(first.value, str):
                    yield node.lineno, first.value


def imports_of_tests(root: Path) -> List[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for line, module in sorted(imported_modules(tree)):
                if module == "tests" or module.startswith("tests."):
                    found.append(f"{path.relative_to(root)}:{line} imports {module}")
    return found


def test_bench_and_sim_import_nothing_from_tests() -> None:
    assert imports_of_tests(ROOT) == []


def test_the_check_sees_every_kind_of_import(tmp_path: Path) -> None:
    (tmp_path / "bench").mkdir()
    (tmp_path / "sim" / "sub").mkdir(parents=True)
    (tmp_path / "bench" / "a.py").write_text("import tests.helpers\nimport testsuite\n")
    (tmp_path / "bench" / "b.py").write_text(
        "def run():\n    from tests.helpers import Proc\n    from tests_extra import x\n"
    )
    (tmp_path / "sim" / "sub" / "c.py").write_text(
        "import importlib\nimportlib.import_module('tests.dbus_support')\nfrom tests import x\n"
    )
    assert imports_of_tests(tmp_path) == [
        "bench/a.py:1 imports tests.helpers",
        "bench/b.py:2 imports tests.helpers",
        "sim/sub/c.py:2 imports tests.dbus_support",
        "sim/sub/c.py:3 imports tests",
    ]
