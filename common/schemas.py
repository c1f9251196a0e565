"""Load the JSON Schemas once and validate payloads against them, with readable reasons."""

from __future__ import annotations

import functools
import json
import math
from typing import Any, Dict, Iterator, List, Tuple

from common.schema_check import SchemaError, check_supported, iter_errors
from schemas import SCHEMA_DIR


class PayloadError(ValueError):
    """A payload that is not valid JSON or does not match its schema; str() is the reason."""


@functools.cache
def load_schema(name: str) -> Dict[str, Any]:
    """The parsed schema, refused at load if it uses a keyword common.schema_check cannot check."""
    with open(SCHEMA_DIR / f"{name}.schema.json", encoding="utf-8") as fh:
        schema: Dict[str, Any] = json.load(fh)
    check_supported(schema, f"{name}.schema.json#")
    return schema


def schema_errors(name: str, value: Any) -> Iterator[SchemaError]:
    """Every violation of schema ``name`` by ``value``."""
    return iter_errors(load_schema(name), value)


def _reject_constant(token: str) -> float:
    raise PayloadError(f"{token} is not a number in JSON")


def parse_json(raw: bytes | str) -> Any:
    """Strict JSON: UTF-8 only, no NaN/Infinity (Python's json would accept them)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadError(f"payload is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except PayloadError:
        raise
    except (json.JSONDecodeError, RecursionError) as exc:
        raise PayloadError(f"payload is not JSON: {exc}") from None


def path_of(error: SchemaError) -> str:
    """Dotted key path of a validation error ("controls.max_retries", "schedule.items.0.start")."""
    return ".".join(str(p) for p in error.absolute_path)


def errors_of(name: str, value: Any) -> List[Tuple[str, str]]:
    """Every problem as (key path, message), sorted by path; empty when valid."""
    problems = []
    for err in schema_errors(name, value):
        problems.append((path_of(err), _message(err)))
    return sorted(set(problems))


def _message(err: SchemaError) -> str:
    if err.validator == "additionalProperties":
        return err.message.replace("Additional properties are not allowed", "unknown key")
    if err.validator in ("oneOf", "anyOf") and err.context:
        return f"{err.instance!r} is not valid: " + "; or ".join(
            sorted({e.message for e in err.context})
        )
    return err.message


def validate(name: str, value: Any) -> Any:
    """Return ``value`` if it matches schema ``name``; else raise PayloadError with every reason."""
    _reject_non_finite(value)
    problems = errors_of(name, value)
    if problems:
        raise PayloadError("; ".join(f"{p}: {m}" if p else m for p, m in problems))
    return value


def _reject_non_finite(value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise PayloadError(f"{value} is not a finite number")
    if isinstance(value, dict):
        for item in value.values():
            _reject_non_finite(item)
    elif isinstance(value, list):
        for item in value:
            _reject_non_finite(item)


def parse_and_validate(name: str, raw: bytes | str) -> Any:
    """Parse strict JSON and validate it against schema ``name``."""
    return validate(name, parse_json(raw))
