"""Load the JSON Schemas once and validate payloads against them, with readable reasons."""

from __future__ import annotations

import functools
import json
import math
from typing import Any, Dict, Iterator, List, Tuple

from common.schema_check import SchemaError, check_supported, depth_exceeds, iter_errors, short
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


# Caps on untrusted JSON (MQTT payloads, HTTP bodies). The largest payload the processes
# exchange is control/state with a two-day price plan, about 30 KB; a command is under 100 B.
MAX_JSON_BYTES = 256 * 1024
MAX_COMMAND_BYTES = 4096
# A number literal longer than this is no measurement (float64 needs 24 characters); without the
# cap a 5,000-digit integer raises out of the parser (Python's int limit) or costs seconds.
MAX_NUMBER_CHARS = 40
# Nesting beyond this is refused: every recursive walk over a payload stays far from Python's
# recursion limit (the deepest schema nests 4 levels).
MAX_DEPTH = 32


def _reject_constant(token: str) -> float:
    raise PayloadError(f"{token} is not a number in JSON")


def _too_long(literal: str) -> PayloadError:
    return PayloadError(
        f"a number of {len(literal)} characters; at most {MAX_NUMBER_CHARS} are accepted"
    )


def _parse_int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _too_long(literal)
    return int(literal)


def _parse_float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _too_long(literal)
    value = float(literal)
    if not math.isfinite(value):
        raise PayloadError(f"{literal} is not a finite number")
    return value


def _lenient_float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _too_long(literal)
    return float(literal)


def _check_depth(value: Any) -> None:
    """Refuse nesting deeper than MAX_DEPTH, without recursion (that is what it guards)."""
    if depth_exceeds(value, MAX_DEPTH):
        raise PayloadError(f"nested deeper than {MAX_DEPTH} levels")


def parse_json(raw: bytes | str, max_bytes: int = MAX_JSON_BYTES, finite: bool = True) -> Any:
    """Strict JSON from an untrusted sender: UTF-8 only, no NaN/Infinity (Python's json would
    accept them), at most ``max_bytes``, number literals of at most MAX_NUMBER_CHARS, nesting of
    at most MAX_DEPTH. Anything else raises PayloadError with the reason, never another error.

    ``finite=False`` lets NaN and Infinity through as floats, for a reader that shows them as
    unknown rather than dropping a whole state over one value."""
    if len(raw) > max_bytes:
        raise PayloadError(f"payload of {len(raw)} bytes; at most {max_bytes} are accepted")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadError(f"payload is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        value = json.loads(
            raw,
            parse_constant=_reject_constant if finite else float,
            parse_int=_parse_int,
            parse_float=_parse_float if finite else _lenient_float,
        )
    except PayloadError:
        raise
    except RecursionError:
        raise PayloadError(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise PayloadError(f"payload is not JSON: {str(exc)[:200]}") from None
    _check_depth(value)
    return value


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
        return f"{short(err.instance)} is not valid: " + "; or ".join(
            sorted({e.message for e in err.context})
        )
    return err.message


def validate(name: str, value: Any) -> Any:
    """Return ``value`` if it matches schema ``name``; else raise PayloadError with every reason."""
    _check_depth(value)  # the schema walk recurses
    _reject_non_finite(value)
    _raise_problems(name, value)
    return value


def _raise_problems(name: str, value: Any) -> None:
    problems = errors_of(name, value)
    if problems:
        raise PayloadError("; ".join(f"{p}: {m}" if p else m for p, m in problems))


def _reject_non_finite(value: Any) -> None:
    """NaN and infinity are no JSON; a value built in Python may still carry them."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise PayloadError(f"{item} is not a finite number")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def parse_and_validate(name: str, raw: bytes | str, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Parse strict JSON and validate it against schema ``name`` (parse_json has already
    refused deep nesting and non-finite numbers: no second walk for them)."""
    value = parse_json(raw, max_bytes)
    _raise_problems(name, value)
    return value


def parse_command(name: str, raw: bytes | str) -> Any:
    """A command payload: small by nature, so capped at MAX_COMMAND_BYTES."""
    return parse_and_validate(name, raw, MAX_COMMAND_BYTES)
