"""The controller's Venus input: portal discovery, keepalive schedule, values, staleness."""

from __future__ import annotations

import json

import pytest

from control.venus import SUPPRESS_REPUBLISH, VenusInput, VenusSettings, parse_value

P = "c0619ab0a1fe"


def v(x: object) -> bytes:
    return json.dumps({"value": x}).encode()


def feed(vi: VenusInput, now: float, **values: object) -> None:
    for path, value in values.items():
        vi.on_message(f"N/{P}/system/0/{path.replace('_', '/')}", v(value), now)


def test_portal_from_serial_then_subscribes_and_asks_full_publish() -> None:
    vi = VenusInput(VenusSettings())
    assert vi.subscriptions() == ["N/+/system/0/Serial"]
    assert vi.keepalive_due(0.0) is None  # nothing to keep alive before the portal is known
    new = vi.on_message(f"N/{P}/system/0/Serial", v(P), 1.0)
    assert f"N/{P}/system/0/Ac/Grid/L1/Power" in new
    assert f"N/{P}/settings/0/Settings/CGwacs/BatteryLife/MinimumSocLimit" in new
    assert not any(t.startswith(("W/", "R/")) or "#" in t for t in new)
    assert vi.keepalive_due(1.0) == (f"R/{P}/keepalive", "")
    # a second Serial (another GX on the broker) does not switch the portal
    assert vi.on_message("N/other/system/0/Serial", v("other"), 2.0) == []
    assert vi.portal == P


def test_keepalive_full_at_start_then_suppressed_on_timer_and_full_after_reconnect() -> None:
    vi = VenusInput(VenusSettings(portal_id=P, keepalive_s=25))
    assert vi.keepalive_due(0.0) == (f"R/{P}/keepalive", "")
    vi.keepalive_sent(0.0)
    assert vi.keepalive_due(24.9) is None
    assert vi.keepalive_due(25.0) == (f"R/{P}/keepalive", SUPPRESS_REPUBLISH)
    assert json.loads(SUPPRESS_REPUBLISH) == {"keepalive-options": ["suppress-republish"]}
    vi.keepalive_sent(25.0)
    vi.on_connected()
    assert vi.keepalive_due(26.0) == (f"R/{P}/keepalive", "")


@pytest.mark.parametrize(
    "payload, expected",
    [
        (b'{"value": 12.5}', (True, 12.5)),
        (b'{"value": 3}', (True, 3.0)),
        (b'{"value": null}', (True, None)),
        (b"", (True, None)),  # service left the bus
        (b'{"max": 100, "min": 0, "value": 10}', (True, 10.0)),  # settings carry extra keys
        (b"12.5", (False, None)),
        (b'{"val": 1}', (False, None)),
        (b"\xff", (False, None)),
        (b'{"value": "12"}', (False, None)),
        (b'{"value": true}', (True, None)),
    ],
)
def test_parse_value(payload: bytes, expected: tuple) -> None:
    assert parse_value(payload) == expected


def test_site_view_sums_pv_and_reads_every_path() -> None:
    vi = VenusInput(VenusSettings(portal_id=P, stale_after_s=15))
    feed(
        vi,
        100.0,
        **{
            "Ac_Grid_L1_Power": -1500,
            "Ac_Grid_L2_Power": 20,
            "Ac_Grid_L3_Power": None,
            "Dc_Pv_Power": 1000,
            "Ac_PvOnGrid_L1_Power": 500,
            "Ac_PvOnGrid_L2_Power": 500,
            "Ac_PvOnGrid_L3_Power": None,
            "Ac_PvOnOutput_L1_Power": 250,
            "Ac_Consumption_L1_Power": 400,
            "Ac_Consumption_L2_Power": 100,
            "Ac_Consumption_L3_Power": 0,
            "Dc_Battery_Soc": 87.5,
            "Dc_Battery_Power": -300,
        },
    )
    vi.on_message(f"N/{P}/settings/0/Settings/CGwacs/BatteryLife/MinimumSocLimit", v(20), 100.0)
    s = vi.site(101.0)
    assert s.fresh
    assert s.grid_power_w == (-1500.0, 20.0, None)
    assert s.pv_power_w == 2250.0
    assert s.consumption_w == (400.0, 100.0, 0.0)
    assert (s.battery_soc, s.battery_power_w, s.ess_min_soc) == (87.5, -300.0, 20.0)


def test_no_pv_known_is_none_not_zero() -> None:
    vi = VenusInput(VenusSettings(portal_id=P))
    feed(vi, 0.0, Ac_Grid_L1_Power=100)
    assert vi.site(1.0).pv_power_w is None


def test_stale_grid_is_unknown_while_steady_values_live_on_the_heartbeat() -> None:
    vi = VenusInput(VenusSettings(portal_id=P, stale_after_s=15))
    feed(vi, 0.0, Ac_Grid_L1_Power=-2000, Dc_Battery_Soc=90)
    for t in range(3, 30, 3):  # flashmq's heartbeat keeps the feed alive
        vi.on_message(f"N/{P}/heartbeat", v(t), float(t))
    s = vi.site(27.0)
    assert s.grid_power_w[0] is None and not s.fresh  # grid must itself be recent
    assert s.battery_soc == 90.0  # a steady SOC is still known while the feed is alive
    feed(vi, 28.0, Ac_Grid_L1_Power=-1900)
    assert vi.site(29.0).fresh


def test_everything_unknown_when_the_feed_stops() -> None:
    vi = VenusInput(VenusSettings(portal_id=P, stale_after_s=15))
    feed(vi, 0.0, Ac_Grid_L1_Power=-2000, Dc_Battery_Soc=90)
    s = vi.site(16.0)
    assert not s.fresh and s.battery_soc is None and s.grid_power_w == (None, None, None)


def test_other_portals_and_unknown_payloads_are_ignored() -> None:
    vi = VenusInput(VenusSettings(portal_id=P))
    vi.on_message("N/other/system/0/Ac/Grid/L1/Power", v(-5000), 0.0)
    assert vi.site(1.0).grid_power_w[0] is None
    feed(vi, 0.0, Ac_Grid_L1_Power=-100)
    vi.on_message(f"N/{P}/system/0/Ac/Grid/L1/Power", b"garbage", 1.0)
    assert vi.site(1.0).grid_power_w[0] == -100.0
    vi.on_message(f"N/{P}/system/0/Ac/Grid/L1/Power", b"", 2.0)  # service gone
    assert vi.site(2.0).grid_power_w[0] is None
