"""Change a few keys of the user's YAML file and keep the rest of it as the user wrote it.

ruamel.yaml's round-trip mode keeps comments, key order, quoting and blank lines; we set only
the keys that changed (new keys go at the end of their section) and keep the file's own
indentation. ruamel.yaml 0.19 is pure Python (its C parts are an optional extra), so it installs
on a GX without a compiler; it is imported here only, when a config is saved.
"""

from __future__ import annotations

import io
import re
from typing import Any, Iterable, Tuple

KeyPath = Tuple[str, ...]


def _yaml(text: str) -> Any:
    """A round-trip ruamel YAML object set to the indentation ``text`` uses."""
    from ruamel.yaml import YAML
    from ruamel.yaml.util import load_yaml_guess_indent

    yaml = YAML(typ="rt", pure=True)
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line the user wrote on one line
    mapping = _mapping_indent(text)
    _data, seq_indent, offset = load_yaml_guess_indent(text) if text.strip() else (None, 2, 0)
    seq_indent = seq_indent or mapping
    yaml.indent(mapping=mapping, sequence=max(seq_indent, (offset or 0) + 2), offset=offset or 0)
    # null stays "null" (ruamel would write an empty value)
    yaml.representer.add_representer(
        type(None), lambda rep, _v: rep.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return yaml


def _mapping_indent(text: str) -> int:
    """The smallest indentation of a nested key in ``text`` (2 if there is none)."""
    found = [
        len(m.group(1)) for m in re.finditer(r"^( +)[^\s#-][^:\n]*:", text, flags=re.MULTILINE)
    ]
    return min(found) if found else 2


def _plain_to_rt(value: Any) -> Any:
    """ruamel's own containers (they keep the given order); every string double-quoted, so
    that PyYAML, which the processes read with (YAML 1.1), cannot take "12:00" for the number
    720 or "no" for false."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(value, dict):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = _plain_to_rt(v)
        return out
    if isinstance(value, list):
        return CommentedSeq(_plain_to_rt(v) for v in value)
    if isinstance(value, str):
        return DoubleQuotedScalarString(value)
    return value


def _append_key(node: Any, key: str, value: Any) -> None:
    """Add ``key`` at the end of a mapping, before the blank lines that close it (ruamel hangs
    them, with any comment lines, on the last key: they would end up above the new key)."""
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    last = next(reversed(node), None) if len(node) else None
    token = None
    if last is not None and not isinstance(node[last], (dict, list)):
        slots = node.ca.items.get(last)
        token = slots[2] if slots and len(slots) > 2 else None
    node[key] = value
    if token is None or not isinstance(token.value, str):
        return
    body = token.value.rstrip("\n")
    tail = token.value[len(body) :]
    if len(tail) < 2:
        return
    # a blank line closes the section: move it below the new key (its last line)
    if body:
        token.value = body + "\n"
    else:
        del node.ca.items[last]
    _hang(node, key, CommentToken(tail, CommentMark(0), None))


def _hang(node: Any, key: Any, token: Any) -> None:
    """Put ``token`` after the last line of ``node[key]`` (a scalar, a mapping or a list)."""
    value = node[key]
    if isinstance(value, dict) and len(value):
        _hang(value, next(reversed(value)), token)
    elif isinstance(value, list) and len(value):
        if isinstance(value[-1], (dict, list)):
            _hang(value, len(value) - 1, token)
        else:
            seq: Any = value
            seq.ca.items[len(value) - 1] = [token, None, None, None]
    elif isinstance(node, dict):
        mapping: Any = node
        mapping.ca.items[key] = [None, None, token, None]


def edit(text: str, changes: Iterable[Tuple[KeyPath, Any]], removals: Iterable[KeyPath]) -> str:
    """``text`` with each (key path, value) set and each key path in ``removals`` deleted."""
    from ruamel.yaml.comments import CommentedMap

    yaml = _yaml(text)
    doc = yaml.load(text) if text.strip() else None
    if not isinstance(doc, CommentedMap):
        doc = CommentedMap()
    for path, value in changes:
        node = doc
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                _set(node, key, {})
            node = node[key]
        _set(node, path[-1], value)
    for path in removals:
        parent: Any = doc
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and path[-1] in parent:
            del parent[path[-1]]
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def _set(node: Any, key: Any, value: Any) -> None:
    """Set ``node[key]``; a mapping or a list of the same length is changed in place, item by
    item, so comments on what stays are kept."""
    old = node[key] if _has(node, key) else None
    if isinstance(old, dict) and isinstance(value, dict):
        for k in [k for k in old if k not in value]:
            del old[k]
        for k, v in value.items():
            if not (_has(old, k) and _same(old[k], v)):
                _set(old, k, v)
    elif isinstance(old, list) and isinstance(value, list) and len(old) == len(value):
        for i, v in enumerate(value):
            if not _same(old[i], v):
                _set(old, i, v)
    elif isinstance(node, list) or _has(node, key):
        node[key] = _plain_to_rt(value)
    else:
        _append_key(node, key, _plain_to_rt(value))


def _has(node: Any, key: Any) -> bool:
    return key in node if isinstance(node, dict) else 0 <= key < len(node)


def _same(a: Any, b: Any) -> bool:
    """Equal as YAML values (a quoted "12:00" in the file equals the text 12:00)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)
