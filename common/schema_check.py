"""A small JSON Schema (2020-12) validator for the keywords our schemas use.

Why not jsonschema at run time: importing it costs every long-running process about 4.4 MB
(referencing, rpds, the specification store) and the bridge must stay under 30 MB on a GX.
This module covers exactly the keywords in ``schemas/*.json``; compiling a schema that uses any
other keyword raises, so a schema edit can never be silently half-checked. The tests cross-check
every verdict and error location against jsonschema (tests/test_schema_check.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Tuple, Union

PathPart = Union[str, int]

CHECKED = {
    "type",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "pattern",
    "minLength",
    "maxLength",
    "maxItems",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "oneOf",
}
ANNOTATIONS = {"$schema", "$id", "title", "description", "default", "examples"}


class UnsupportedSchema(ValueError):
    """The schema uses a keyword this validator does not check."""


@dataclass
class SchemaError:
    """One violation, shaped like jsonschema's ValidationError where our callers read it."""

    validator: str
    message: str
    instance: Any
    schema: Dict[str, Any]
    path: Tuple[PathPart, ...] = ()
    context: List[SchemaError] = field(default_factory=list)

    @property
    def absolute_path(self) -> Tuple[PathPart, ...]:
        return self.path


def check_supported(schema: Any, where: str = "#") -> None:
    """Raise UnsupportedSchema if any (sub)schema uses a keyword outside CHECKED/annotations."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise UnsupportedSchema(f"{where}: a schema must be an object or a boolean")
    for key, value in schema.items():
        if key in ANNOTATIONS or key.startswith("x-"):
            continue
        if key not in CHECKED:
            raise UnsupportedSchema(f"{where}: keyword {key!r} is not supported")
        if key == "properties":
            for name, sub in value.items():
                check_supported(sub, f"{where}/properties/{name}")
        elif key in ("items", "additionalProperties"):
            check_supported(value, f"{where}/{key}")
        elif key == "oneOf":
            for i, sub in enumerate(value):
                check_supported(sub, f"{where}/oneOf/{i}")
        elif key == "pattern":
            re.compile(value)


_TYPE_NAMES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    type(None): "null",
}


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    raise UnsupportedSchema(f"unknown type {name!r}")


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: true/false are not 1/0 (as jsonschema decides it)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


# A quoted value is cut to this many characters: an error message about a 10 MB string must
# stay one short line (the message is logged, published on MQTT and sent to a browser).
QUOTE_MAX_CHARS = 200


def short(value: Any, limit: int = QUOTE_MAX_CHARS) -> str:
    """``repr(value)`` cut to at most ``limit`` characters (+ "…"), without building the whole
    repr of a huge value first."""
    if isinstance(value, str):
        text = repr(value[: limit + 1])
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 700:
        return f"<an integer of about {int(value.bit_length() * 0.30103)} digits>"
    elif isinstance(value, (dict, list)):
        text = _short_container(value, limit)
    else:
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _short_container(value: Any, limit: int) -> str:
    """Bounded repr of a list or dict: stops once ``limit`` characters are produced."""
    is_dict = isinstance(value, dict)
    parts: List[str] = []
    size = 0
    items = value.items() if is_dict else ((None, v) for v in value)
    for key, item in items:
        if size > limit:
            parts.append("…")
            break
        part = short(item, limit - size)
        if is_dict:
            part = f"{short(key, 60)}: {part}"
        parts.append(part)
        size += len(part) + 2
    inner = ", ".join(parts)
    return "{" + inner + "}" if is_dict else "[" + inner + "]"


_patterns: Dict[str, re.Pattern[str]] = {}


def ecma_pattern(pattern: str) -> str:
    """``pattern`` with each ``$`` anchor (outside a character class, not escaped) made ``\\Z``.

    JSON Schema patterns are ECMA-262 regular expressions, where ``$`` matches only at the end of
    the text. In Python ``$`` also matches before a final newline, so ``^..:..$`` would accept
    "07:30\\n" (a deadline or a topic prefix with a newline in it).
    """
    out: List[str] = []
    escaped = in_class = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "$":
            out.append(r"\Z")
            continue
        out.append(ch)
    return "".join(out)


def _search(pattern: str, text: str) -> bool:
    compiled = _patterns.get(pattern)
    if compiled is None:
        compiled = _patterns[pattern] = re.compile(ecma_pattern(pattern))
    return compiled.search(text) is not None


def iter_errors(
    schema: Any, instance: Any, path: Tuple[PathPart, ...] = ()
) -> Iterator[SchemaError]:
    """Yield every violation of ``schema`` by ``instance`` (paths relative to the root)."""
    if schema is True:
        return
    if schema is False:
        yield SchemaError(
            "false", f"False schema does not allow {short(instance)}", instance, {}, path
        )
        return

    def error(keyword: str, message: str) -> SchemaError:
        return SchemaError(keyword, message, instance, schema, path)

    kind = schema.get("type")
    if kind is not None:
        kinds = [kind] if isinstance(kind, str) else kind
        if not any(_is_type(instance, k) for k in kinds):
            shown = ", ".join(repr(k) for k in kinds)
            yield error("type", f"{short(instance)} is not of type {shown}")
    if "enum" in schema and not any(_equal(instance, v) for v in schema["enum"]):
        yield error("enum", f"{short(instance)} is not one of {schema['enum']!r}")
    if _is_type(instance, "number"):
        if "minimum" in schema and instance < schema["minimum"]:
            yield error(
                "minimum", f"{short(instance)} is less than the minimum of {schema['minimum']}"
            )
        if "maximum" in schema and instance > schema["maximum"]:
            yield error(
                "maximum", f"{short(instance)} is greater than the maximum of {schema['maximum']}"
            )
        if "exclusiveMinimum" in schema and instance <= schema["exclusiveMinimum"]:
            yield error(
                "exclusiveMinimum",
                f"{short(instance)} is less than or equal to the minimum of {schema['exclusiveMinimum']}",
            )
    if isinstance(instance, str):
        if "minLength" in schema and len(instance) < schema["minLength"]:
            yield error("minLength", f"{short(instance)} is too short")
        if "maxLength" in schema and len(instance) > schema["maxLength"]:
            yield error(
                "maxLength",
                f"{short(instance)} is too long ({len(instance)} characters;"
                f" at most {schema['maxLength']})",
            )
        if "pattern" in schema and not _search(schema["pattern"], instance):
            yield error("pattern", f"{short(instance)} does not match {schema['pattern']!r}")
    if isinstance(instance, list):
        if "maxItems" in schema and len(instance) > schema["maxItems"]:
            yield error("maxItems", f"{short(instance)} is too long")
        if "items" in schema:
            for index, item in enumerate(instance):
                yield from iter_errors(schema["items"], item, (*path, index))
    if isinstance(instance, dict):
        yield from _object_errors(schema, instance, path, error)
    if "oneOf" in schema:
        yield from _one_of_errors(schema, instance, path, error)


def _object_errors(
    schema: Dict[str, Any], instance: Dict[str, Any], path: Tuple[PathPart, ...], error: Any
) -> Iterator[SchemaError]:
    properties = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in instance:
            yield error("required", f"{name!r} is a required property")
    for name, value in instance.items():
        if name in properties:
            yield from iter_errors(properties[name], value, (*path, name))
    extra_schema = schema.get("additionalProperties", True)
    extras = [name for name in instance if name not in properties]
    if not extras:
        return
    if extra_schema is False:
        shown = ", ".join(short(name, 60) for name in sorted(extras)[:20])
        if len(extras) > 20:
            shown += f" and {len(extras) - 20} more"
        verb = "was" if len(extras) == 1 else "were"
        yield error(
            "additionalProperties",
            f"Additional properties are not allowed ({shown} {verb} unexpected)",
        )
    elif extra_schema is not True:
        for name in extras:
            yield from iter_errors(extra_schema, instance[name], (*path, name))


def _one_of_errors(
    schema: Dict[str, Any], instance: Any, path: Tuple[PathPart, ...], error: Any
) -> Iterator[SchemaError]:
    context: List[SchemaError] = []
    matched = 0
    for option in schema["oneOf"]:
        problems = list(iter_errors(option, instance, path))
        if problems:
            context.extend(problems)
        else:
            matched += 1
    if matched == 0:
        err = error("oneOf", f"{short(instance)} is not valid under any of the given schemas")
        err.context = context
        yield err
    elif matched > 1:
        yield error("oneOf", f"{short(instance)} is valid under each of {schema['oneOf']!r}")


def is_valid(schema: Any, instance: Any) -> bool:
    return next(iter_errors(schema, instance), None) is None


def depth_exceeds(value: Any, limit: int) -> bool:
    """True when lists/dicts nest deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack: List[Tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
