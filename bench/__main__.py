"""``make bench``: speed and memory figures of every process (prints, asserts nothing).

``python -m bench [--seconds S] [--only bridge,ui,dbus_shim,control]``; the issue's targets are printed
next to each figure so a reader sees at once what is met.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, Dict, List

PARTS = {
    "bridge": ("bench.bridge", "≤ 4 requests/poll, ≤ 30 MB RSS, ≤ 10 ms CPU/poll, p99 ≤ 50 ms"),
    "dbus_shim": ("bench.dbus_shim", "≤ 25 MB RSS, ≤ 5 ms CPU/update"),
    "ui": ("bench.ui", "≤ 40 MB RSS, /api/status p99 ≤ 50 ms"),
    "control": ("bench.controller", "< 40 MB RSS, < 2 % of one core (20 ms CPU/tick)"),
}


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--seconds", type=float, default=300.0, help="bridge measurement window")
    parser.add_argument("--only", default=",".join(PARTS))
    parser.add_argument(
        "--root",
        help="run the processes under test in this chroot (scripts/bench-32bit.sh builds one)",
    )
    args = parser.parse_args(argv)
    if args.root:
        from sim.procs import Proc

        Proc.interpreter = ["chroot", args.root, "/opt/alfen-venv/bin/python"]
        print(f"processes under test: {args.root} ({_arch(args.root)})")
    for name in args.only.split(","):
        module, targets = PARTS[name]
        print(f"\n== {name}  (targets: {targets})", flush=True)
        run = importlib.import_module(module).run
        try:
            figures: Dict[str, Any] = run(args.seconds) if name == "bridge" else run()
        except Exception as exc:  # a benchmark that cannot run says why and the others go on
            print(f"   could not run: {exc!r}")
            continue
        for key, value in figures.items():
            print(f"   {key:<34} {value}")
    return 0


def _arch(root: str) -> str:
    import subprocess

    out = subprocess.run(
        ["chroot", root, "/opt/alfen-venv/bin/python", "-c",
         "import platform, struct; print(platform.python_version(), struct.calcsize('P') * 8, 'bit')"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return out.stdout.strip() or out.stderr.strip()


if __name__ == "__main__":
    sys.exit(main())
