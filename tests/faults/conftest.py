"""Markers of the fault suite (``-m faults`` selects it)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: fault injection against the whole stack")
