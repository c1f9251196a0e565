"""The run-time validator (common/schema_check.py) must judge exactly as jsonschema does.

jsonschema stays the reference: every schema in schemas/ is checked as a valid 2020-12 schema,
and for instances generated from each schema (near-valid values, boundaries, wrong types, unknown
keys) both validators must agree on validity, on where each error is and on which keyword fails.

One difference is deliberate, and the only one allowed: ``pattern``. JSON Schema patterns are
ECMA-262 regular expressions, in which ``$`` matches at the end of the text only; jsonschema runs
them with Python's ``re.search``, in which ``$`` also matches before a final newline, so it
accepts the deadline "07:30\n". Ours follows ECMA-262. The corpus includes pattern-matching
strings with a newline appended, and the comparison allows exactly those extra ``pattern``
errors: a string that ends in a newline and that Python's ``$`` would let through.
"""

from __future__ import annotations

import math
import re
from typing import Any, Dict, List, Optional, Set, Tuple

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common import schema_check
from common.schemas import errors_of, load_schema
from schemas import SCHEMA_DIR
from tests.helpers import ROOT

SCHEMA_NAMES = sorted(p.name.split(".")[0] for p in SCHEMA_DIR.glob("*.schema.json"))
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=8),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(0, 3), max_size=2),
)


def _numbers(node: Dict[str, Any]) -> st.SearchStrategy[Any]:
    edges: List[Any] = []
    for key in ("minimum", "maximum", "exclusiveMinimum"):
        if key in node:
            v = node[key]
            edges += [v, v - 1, v + 1, v - 0.5, v + 0.5, float(v)]
    lo = node.get("minimum", node.get("exclusiveMinimum", -1000))
    hi = node.get("maximum", lo + 1000)
    inside = st.floats(lo, hi, allow_nan=False) | st.integers(math.ceil(lo), math.floor(hi))
    return st.sampled_from(edges) | inside if edges else inside


def near(node: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values that are often valid for ``node`` and often wrong in one interesting way."""
    if not isinstance(node, dict) or depth > 6:
        return JUNK
    options: List[st.SearchStrategy[Any]] = [JUNK]
    if "enum" in node:
        options.append(st.sampled_from(node["enum"]))
    if "oneOf" in node:
        options += [near(o, depth + 1) for o in node["oneOf"]]
    kinds = node.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    for kind in kinds:
        if kind in ("number", "integer"):
            options.append(_numbers(node))
        elif kind == "string":
            options.append(st.text(max_size=10) | st.just(""))
            if "pattern" in node:
                matching = st.from_regex(node["pattern"], fullmatch=True)
                options += [matching, matching.map(lambda text: text + "\n")]
        elif kind == "boolean":
            options.append(st.booleans())
        elif kind == "null":
            options.append(st.none())
        elif kind == "array":
            options.append(st.lists(near(node.get("items", {}), depth + 1), max_size=5))
        elif kind == "object":
            options.append(_objects(node, depth))
    return st.one_of(options)


def _objects(node: Dict[str, Any], depth: int) -> st.SearchStrategy[Dict[str, Any]]:
    props = node.get("properties", {})
    optional = {name: near(sub, depth + 1) for name, sub in props.items()}
    extra = node.get("additionalProperties", True)
    extra_values = near(extra, depth + 1) if isinstance(extra, dict) else JUNK
    return st.fixed_dictionaries(
        {}, optional=dict(optional, zz_unknown=extra_values, **{"0": extra_values})
    )


def _leaves(node: Any, value: Any, path: Tuple[Any, ...] = ()) -> List[Tuple[Tuple[Any, ...], Any]]:
    """(path, schema) of every place in a valid ``value`` that a mutation may replace."""
    node = node if isinstance(node, dict) else {}
    found: List[Tuple[Tuple[Any, ...], Any]] = [(path, node)]
    if isinstance(value, dict):
        props = node.get("properties", {})
        for k, v in value.items():
            found += _leaves(props.get(k, node.get("additionalProperties", {})), v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _leaves(node.get("items", {}), v, (*path, i))
    return found


def _replaced(value: Any, path: Tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(value[path[0]], path[1:], new)
    return copy


def mutated(node: Any, value: Any) -> st.SearchStrategy[Any]:
    """A valid ``value`` with one part replaced by a near() value for that part."""
    return st.sampled_from(_leaves(node, value)).flatmap(
        lambda leaf: near(leaf[1]).map(lambda new: _replaced(value, leaf[0], new))
    )


def corpus(name: str, schema: Dict[str, Any]) -> st.SearchStrategy[Any]:
    """Generated instances plus mutations of known-valid ones (the schema's examples)."""
    valid = list(schema.get("examples", []))
    if name == "config":
        valid.append(yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8")))
    return st.one_of(near(schema), st.sampled_from(valid), *(mutated(schema, v) for v in valid))


def newline_only(err: schema_check.SchemaError) -> bool:
    """A pattern error that exists only because ``$`` ends the text (ECMA-262), where Python's
    ``re.search``, as jsonschema runs it, lets ``$`` match before a final newline."""
    text, pattern = err.instance, err.schema.get("pattern", "")
    return (
        err.validator == "pattern"
        and isinstance(text, str)
        and text.endswith("\n")
        and re.search(pattern, text) is not None
    )


def verdicts(
    schema: Dict[str, Any], value: Any, seen: Optional[Dict[str, int]] = None
) -> Tuple[Set[Tuple[str, str]], Set[Tuple[str, str]]]:
    """(our errors, jsonschema's) as (path, keyword); ours without the newline-only ones."""
    ours = set()
    for e in schema_check.iter_errors(schema, value):
        if newline_only(e):
            if seen is not None:
                seen["newline"] += 1
            continue
        ours.add((".".join(map(str, e.path)), e.validator))
    cls = jsonschema.validators.validator_for(schema)
    theirs = {
        (".".join(map(str, e.absolute_path)), str(e.validator))
        for e in cls(schema).iter_errors(value)
    }
    return ours, theirs


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_schema_is_valid_2020_12_and_fully_supported(name: str) -> None:
    schema = load_schema(name)  # raises UnsupportedSchema on an unchecked keyword
    jsonschema.validators.validator_for(schema).check_schema(schema)
    assert schema["$schema"].endswith("2020-12/schema")


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_agrees_with_jsonschema_on_generated_instances(name: str) -> None:
    schema = load_schema(name)
    seen = {"valid": 0, "invalid": 0, "newline": 0}

    @settings(
        max_examples=200,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(corpus(name, schema))
    def agree(value: Any) -> None:
        ours, theirs = verdicts(schema, value, seen)
        assert ours == theirs, (value, ours, theirs)
        seen["valid" if not ours else "invalid"] += 1

    agree()
    # the corpus must exercise both sides, or agreement proves little
    assert seen["invalid"] > 0 and seen["valid"] > 0, seen


def _valid_examples(name: str) -> List[Any]:
    valid = list(load_schema(name).get("examples", []))
    if name == "config":
        valid.append(yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8")))
    return valid


def test_a_final_newline_is_the_only_difference() -> None:
    """Every string with a pattern in every valid example, with a newline appended: we refuse
    it (pattern), jsonschema does not, and nothing else differs."""
    tried = 0
    for name in SCHEMA_NAMES:
        schema = load_schema(name)
        for value in _valid_examples(name):
            for path, node in _leaves(schema, value):
                text = _at(value, path)
                if "pattern" not in node or not isinstance(text, str):
                    continue
                bad = _replaced(value, path, text + "\n")
                seen = {"newline": 0}
                ours, theirs = verdicts(schema, bad, seen)
                assert ours == theirs, (name, path, ours, theirs)
                if seen["newline"]:  # (a pattern such as [^#+]* takes the newline itself)
                    assert not schema_check.is_valid(schema, bad)
                    tried += 1
    assert tried >= 3, tried  # the deadline and a schedule window's start and end


def _at(value: Any, path: Tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


@pytest.mark.parametrize(
    ("schema", "value", "valid"),
    [
        ({"enum": [1]}, True, False),
        ({"enum": [True]}, 1, False),
        ({"enum": [0]}, 0.0, True),
        ({"type": "integer"}, 3.0, True),
        ({"type": "integer"}, 3.5, False),
        ({"type": "integer"}, True, False),
        ({"type": "number"}, False, False),
        ({"type": ["number", "null"]}, None, True),
        ({"exclusiveMinimum": 0}, 0, False),
        ({"exclusiveMinimum": 0}, 1e-9, True),
        ({"pattern": "^[0-9]{2}:[0-9]{2}$"}, "07:30", True),
        ({"pattern": "[0-9]"}, "ab1", True),  # search, not match
        ({"minLength": 1}, "", False),
        ({"maxItems": 1}, [1, 2], False),
        ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 2, False),  # matches both
        ({"oneOf": [{"type": "integer"}, {"type": "string"}]}, "x", True),
        ({"additionalProperties": {"type": "integer"}}, {"a": "x"}, False),
        ({"properties": {"a": {"type": "string"}}, "additionalProperties": False}, {"b": 1}, False),
        ({"required": ["a"]}, {}, False),
        ({"required": ["a"]}, [], True),  # required applies to objects only
    ],
)
def test_edge_cases_match_jsonschema(schema: Dict[str, Any], value: Any, valid: bool) -> None:
    assert schema_check.is_valid(schema, value) is valid
    assert jsonschema.Draft202012Validator(schema).is_valid(value) is valid
    ours, theirs = verdicts(schema, value)
    assert ours == theirs


def test_an_unchecked_keyword_is_refused_not_ignored() -> None:
    with pytest.raises(schema_check.UnsupportedSchema, match="'const'"):
        schema_check.check_supported({"properties": {"a": {"const": 1}}})
    with pytest.raises(schema_check.UnsupportedSchema, match="'anyOf'"):
        schema_check.check_supported({"items": {"anyOf": [{}]}})


def test_messages_name_the_key_and_the_reason() -> None:
    problems = dict(errors_of("cmd_current", {"amps": 99999, "extra": 1}))
    assert "unknown key" in problems[""] and "'extra'" in problems[""]
    assert "greater than the maximum" in problems["amps"]


@pytest.mark.parametrize(
    ("pattern", "text", "ours", "python"),
    [
        ("^([01]?[0-9]|2[0-3]):[0-5][0-9]$", "07:30\n", False, True),
        ("^([01]?[0-9]|2[0-3]):[0-5][0-9]$", "07:30", True, True),
        ("^a$", "a\n\n", False, False),
        ("^a[$]$", "a$", True, True),  # a $ in a class is a character
        ("^a\\$$", "a$", True, True),  # so is an escaped one
        ("^https?://[^\\s]+$", "http://x\n", False, True),
    ],
)
def test_dollar_ends_the_text_as_in_ecma_262(
    pattern: str, text: str, ours: bool, python: bool
) -> None:
    """$ is the end of the text (ECMA-262, what JSON Schema specifies). jsonschema uses Python's
    re.search, where $ also matches before a final newline: the parity test allows exactly that."""
    assert schema_check.is_valid({"pattern": pattern}, text) is ours
    assert jsonschema.Draft202012Validator({"pattern": pattern}).is_valid(text) is python


def test_a_deadline_with_a_newline_is_refused() -> None:
    from common.schemas import PayloadError, validate

    with pytest.raises(PayloadError, match="does not match"):
        validate("set_deadline", {"energy_kwh": 20, "by": "07:30\n"})
    assert validate("set_deadline", {"energy_kwh": 20, "by": "07:30"})


def test_messages_quote_at_most_200_characters() -> None:
    huge = "x" * 10_000_000
    for schema, value in [
        ({"type": "integer"}, huge),
        ({"type": "integer"}, [huge] * 3),
        ({"type": "string"}, {"k" * 1000: huge}),
        ({"maxLength": 3}, huge),
        ({"type": "string"}, 10**5000),
        ({"oneOf": [{"type": "integer"}, {"type": "boolean"}]}, huge),
    ]:
        (err,) = schema_check.iter_errors(schema, value)
        assert len(err.message) < 300, err.message[:400]
    assert schema_check.short("y" * 500).endswith("…") and len(schema_check.short("y" * 500)) == 201
