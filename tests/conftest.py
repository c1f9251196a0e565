"""Shared fixtures: a real mosquitto per test module and a scratch directory."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.helpers import Broker, Probe, mosquitto_path


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
