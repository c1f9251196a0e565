"""Encode and decode Alfen register words.

The charger is big-endian in bytes *and* words (Alfen "Implementation of Modbus Slave TCP/IP for
NG9xx", v2.3, §1.2). Unavailable registers read as NaN (floats) or all-ones (integers); both decode
to ``None`` so that nothing downstream mistakes "unknown" for 0.
"""

from __future__ import annotations

import math
import struct
from typing import List, Sequence, Union

from bridge.registers import Register, RegType

Value = Union[float, int, str, None]

_STRUCT = {
    RegType.UINT16: ">H",
    RegType.INT16: ">h",
    RegType.UINT32: ">I",
    RegType.UINT64: ">Q",
    RegType.FLOAT32: ">f",
    RegType.FLOAT64: ">d",
}
_ALL_ONES = {RegType.UINT16: 0xFFFF, RegType.UINT32: 0xFFFFFFFF, RegType.UINT64: 0xFFFFFFFFFFFFFFFF}


def words_to_bytes(words: Sequence[int]) -> bytes:
    """Pack 16-bit register words into big-endian bytes."""
    return b"".join(struct.pack(">H", w & 0xFFFF) for w in words)


def bytes_to_words(data: bytes) -> List[int]:
    """Split big-endian bytes into 16-bit register words (len(data) must be even)."""
    if len(data) % 2:
        raise ValueError("register data must have an even number of bytes")
    return [struct.unpack(">H", data[i : i + 2])[0] for i in range(0, len(data), 2)]


def decode(reg: Register, words: Sequence[int]) -> Value:
    """Decode the words of one register; NaN and all-ones become None (unknown)."""
    if len(words) != reg.count:
        raise ValueError(f"{reg.name}: expected {reg.count} words, got {len(words)}")
    data = words_to_bytes(words)
    if reg.type is RegType.STRING:
        text = data.split(b"\x00", 1)[0].decode("ascii", errors="replace").strip()
        return text
    (value,) = struct.unpack(_STRUCT[reg.type], data)
    if reg.type in (RegType.FLOAT32, RegType.FLOAT64):
        return None if math.isnan(value) else float(value)
    if reg.type in _ALL_ONES and value == _ALL_ONES[reg.type]:
        return None
    return int(value)


def encode(reg: Register, value: Value) -> List[int]:
    """Encode a value into the register's words; None encodes as "unavailable" (NaN/all-ones)."""
    if reg.type is RegType.STRING:
        raw = ("" if value is None else str(value)).encode("ascii", errors="replace")
        raw = raw[: reg.count * 2 - 1]  # always NUL-terminated
        return bytes_to_words(raw.ljust(reg.count * 2, b"\x00"))
    fmt = _STRUCT[reg.type]
    if value is None:
        if reg.type in (RegType.FLOAT32, RegType.FLOAT64):
            return bytes_to_words(struct.pack(fmt, math.nan))
        return bytes_to_words(struct.pack(fmt, _ALL_ONES.get(reg.type, 0)))
    if reg.type in (RegType.FLOAT32, RegType.FLOAT64):
        return bytes_to_words(struct.pack(fmt, float(value)))
    return bytes_to_words(struct.pack(fmt, int(value)))


def decode_block(regs: Sequence[Register], start: int, words: Sequence[int]) -> dict[str, Value]:
    """Decode every register of ``regs`` found inside a block read starting at ``start``."""
    out: dict[str, Value] = {}
    for reg in regs:
        offset = reg.address - start
        if offset < 0 or offset + reg.count > len(words):
            continue
        out[reg.name] = decode(reg, words[offset : offset + reg.count])
    return out
