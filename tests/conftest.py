"""Shared fixtures: a real mosquitto per test module and a scratch directory."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.helpers import Broker, Probe, mosquitto_path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the ``("summary", line)`` properties tests leave (the fuzz count), also when the
    tests ran in xdist workers whose own output is not shown."""
    for reports in terminalreporter.stats.values():
        for report in reports:
            for key, value in getattr(report, "user_properties", ()):
                if key == "summary":
                    terminalreporter.write_line(str(value))


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    if not mosquitto_path():
        pytest.skip("mosquitto not installed (make test installs it)")
    b = Broker().start()
    yield b
    b.stop()


@pytest.fixture
def probe(broker: Broker) -> Iterator[Probe]:
    p = Probe(broker.port)
    yield p
    p.close()
