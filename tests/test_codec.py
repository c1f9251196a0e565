"""The register codec against byte strings seen on real Alfen chargers (evcc #18877 traces)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge import codec
from bridge.registers import BY_NAME, IDENTITY_BLOCKS, POLL_BLOCKS, REGISTERS, Device, RegType


def _hex(words: list) -> str:
    return codec.words_to_bytes(words).hex(" ").upper()


def test_float32_setpoint_16a_matches_the_wire() -> None:
    assert _hex(codec.encode(BY_NAME["setpoint"], 16.0)) == "41 80 00 00"
    assert codec.decode(BY_NAME["setpoint"], codec.bytes_to_words(bytes.fromhex("40E00000"))) == 7.0


def test_float64_lifetime_energy_matches_the_wire() -> None:
    words = codec.bytes_to_words(bytes.fromhex("41127B5800000000"))
    assert codec.decode(BY_NAME["energy_sum"], words) == 302806.0
    assert _hex(codec.encode(BY_NAME["energy_sum"], 302806.0)) == "41 12 7B 58 00 00 00 00"


def test_nan_and_all_ones_decode_as_unknown_never_zero() -> None:
    assert codec.decode(BY_NAME["voltage_l2"], [0x7FC0, 0x0000]) is None
    assert codec.decode(BY_NAME["energy_sum"], codec.encode(BY_NAME["energy_sum"], None)) is None
    assert codec.decode(BY_NAME["availability"], [0xFFFF]) is None
    assert codec.decode(BY_NAME["validity_remaining"], [0xFFFF, 0xFFFF]) is None


def test_strings_are_nul_terminated_two_chars_per_register() -> None:
    reg = BY_NAME["mode3_state"]
    words = codec.encode(reg, "C2")
    assert len(words) == reg.count and words[0] == 0x4332 and words[1:] == [0, 0, 0, 0]
    assert codec.decode(reg, words) == "C2"
    assert codec.decode(reg, codec.encode(reg, "TOOLONGFORTEN")) == "TOOLONGFO"  # 9 chars + NUL


def test_wrong_word_count_is_an_error() -> None:
    with pytest.raises(ValueError):
        codec.decode(BY_NAME["setpoint"], [0x4180])


@given(st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_float32_round_trip(value: float) -> None:
    reg = BY_NAME["setpoint"]
    assert codec.decode(reg, codec.encode(reg, value)) == value


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float64_round_trip(value: float) -> None:
    reg = BY_NAME["energy_sum"]
    assert codec.decode(reg, codec.encode(reg, value)) == value


def test_register_table_has_no_overlaps_and_widths_match_types() -> None:
    for device in Device:
        regs = sorted((r for r in REGISTERS if r.device is device), key=lambda r: r.address)
        for a, b in zip(regs, regs[1:]):
            assert a.end <= b.address, f"{a.name} overlaps {b.name}"
    assert all(r.count >= 1 for r in REGISTERS if r.type is RegType.STRING)
    # 1214 is "setpoint accounted for" (1212-1213 are the safe current float)
    assert BY_NAME["setpoint_accounted"].address == 1214 and BY_NAME["safe_current"].count == 2
    assert {r.name for r in REGISTERS if r.writable} == {"setpoint", "phases"}


def test_poll_needs_at_most_four_requests_and_each_fits_one_read() -> None:
    assert len(POLL_BLOCKS) <= 4
    assert all(b.count <= 125 for b in POLL_BLOCKS + IDENTITY_BLOCKS)
    covered = {r.name for b in POLL_BLOCKS for r in b.registers}
    assert covered == {r.name for r in REGISTERS if r.poll}
