"""Hypothesis against every operation in /api/openapi.json (Flask test client): never a 5xx.

Bodies are drawn three ways: arbitrary JSON, objects shaped like the documented request schema
(right keys, wild values), and raw bytes. Query strings and content types vary too. The number
of inputs sent is counted and checked, so a silently shrunken run is noticed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ui_support import SECRET_VALUES, feed_online, make_app
from ui.openapi import openapi_document

EXAMPLES_PER_OPERATION = 120
SKIP = {("/api/events", "get")}  # an endless stream; covered in test_ui_api.py

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["auto", "MANUAL", "scheduled", "0", "", "NaN", "********"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _shaped(schema: Dict[str, Any]) -> Any:
    keys = list(schema.get("properties", {})) or ["modbus", "controls", "web", "tibber"]
    return st.dictionaries(st.sampled_from(keys), json_values, max_size=len(keys) + 1)


def _bodies(op: Dict[str, Any]) -> Any:
    content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = content.get("schema", {})
    return st.one_of(
        json_values.map(lambda v: json.dumps(v).encode()),
        _shaped(schema).map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=64),
        st.sampled_from([b"", b"{", b'{"mode": NaN}', b'{"amps": 1e999}', b"\xff", b"[]" * 3]),
    )


def _operations() -> List[Any]:
    doc = openapi_document()
    return [
        (path, method, op)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if (path, method) not in SKIP
    ]


OPERATIONS = _operations()
COUNT = {"inputs": 0}


@pytest.mark.parametrize(
    ("path", "method", "op"), OPERATIONS, ids=[f"{m} {p}" for p, m, _ in OPERATIONS]
)
def test_no_server_errors(tmp_path: Path, path: str, method: str, op: Dict[str, Any]) -> None:
    app, ctx, _pub = make_app(tmp_path)
    feed_online(ctx.cache)
    client = app.test_client()
    sent = {"n": 0}

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(
        body=_bodies(op),
        query=st.dictionaries(st.sampled_from(["since", "x"]), st.text(max_size=12), max_size=2),
        ctype=st.sampled_from(
            ["application/json", "text/plain", "", "application/x-www-form-urlencoded"]
        ),
    )
    def run(body: bytes, query: Dict[str, str], ctype: str) -> None:
        sent["n"] += 1
        resp = client.open(
            path,
            method=method.upper(),
            data=body if method in ("post", "put") else None,
            query_string=query,
            content_type=ctype or None,
        )
        assert resp.status_code < 500, (path, body, resp.get_data(as_text=True))
        text = resp.get_data(as_text=True)
        if resp.mimetype == "application/json":
            json.loads(text, parse_constant=lambda t: pytest.fail(f"{t} in {path}"))
        for secret in SECRET_VALUES:
            assert secret not in text

    run()
    COUNT["inputs"] += sent["n"]
    assert sent["n"] >= EXAMPLES_PER_OPERATION // 2, sent
    print(f"{method.upper()} {path}: {sent['n']} inputs (total so far {COUNT['inputs']})")
