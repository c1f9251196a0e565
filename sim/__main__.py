"""``python -m sim charger …`` (the Alfen simulator) or ``python -m sim world …`` (charger + site)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from sim.charger import add_charger_args, run_charger


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim")
    sub = parser.add_subparsers(dest="what", required=True)
    add_charger_args(sub.add_parser("charger", help="simulated Alfen charger (Modbus TCP)"))
    try:
        from sim.world import add_world_args, run_world
    except ImportError:
        run_world = None  # type: ignore[assignment]
    else:
        add_world_args(sub.add_parser("world", help="charger + Victron site on MQTT"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)-7s sim %(name)s: %(message)s"
    )
    logging.getLogger("pymodbus").setLevel(logging.ERROR)
    try:
        if args.what == "charger":
            asyncio.run(run_charger(args))
        elif run_world is not None:
            asyncio.run(run_world(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
