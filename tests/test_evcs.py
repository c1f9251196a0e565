"""common/evcs.py: the one definition of what every process shares about a charge point."""

from __future__ import annotations

import ast
import math
from typing import Any, List

import pytest

from common.evcs import MIN_CURRENT_A, finite_number
from tests.helpers import ROOT


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3.0), (2.5, 2.5), (-1, -1.0), (0, 0.0)]
    + [(v, None) for v in (None, "3", True, False, math.nan, math.inf, -math.inf, 10**400, [1])],
)
def test_finite_number_takes_only_real_finite_numbers(value: Any, expected: Any) -> None:
    got = finite_number(value)
    assert got == expected and (got is None or isinstance(got, float))


def test_the_6_a_minimum_is_defined_once() -> None:
    """No module outside common/evcs.py binds a *MIN* name to 6 A (control/runner.py, being
    rewritten, is left to its author)."""
    found: List[str] = []
    for package in ("common", "bridge", "dbus_shim", "ui", "control"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in ("common/evcs.py", "control/runner.py"):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(
                    node.value, ast.Constant
                ):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    names = [t.id for t in targets if isinstance(t, ast.Name)]
                    if node.value.value == MIN_CURRENT_A and any("MIN" in n for n in names):
                        found.append(f"{rel}:{node.lineno}: {names}")
    assert not found, "use common.evcs.MIN_CURRENT_A:\n" + "\n".join(found)
