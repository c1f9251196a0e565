"""One supervisor for every demo process: start, combined log, restart with back-off, stop.

Each child runs in its own session (a terminal's Ctrl-C reaches only the supervisor, which then
stops the children in reverse start order, so the bridge can still publish ``offline`` while the
broker is up). On Linux each child also gets ``PR_SET_PDEATHSIG``: if the supervisor itself is
killed with SIGKILL, the kernel sends the children SIGTERM, and nothing is left running.

All ``Popen`` calls happen on the thread that runs ``tick`` (the main thread): the death signal
is tied to the thread that forked the child.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Dict, List, Optional

from common.inbound import printable

BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 30.0  # a child that ran this long starts again from the short back-off
STOP_TIMEOUT_S = 8.0
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


@dataclass
class ProcSpec:
    name: str
    argv: List[str]
    env: Dict[str, str] = field(default_factory=dict)


@dataclass
class Child:
    spec: ProcSpec
    proc: Optional[subprocess.Popen] = None  # type: ignore[type-arg]
    started_at: float = 0.0
    restart_at: Optional[float] = None
    backoff_s: float = BACKOFF_START_S
    starts: int = 0
    last_line: str = ""
    pids: List[int] = field(default_factory=list)  # every pid this child ever had

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Supervisor:
    def __init__(
        self,
        cwd: Path,
        out: IO[str],
        log_file: Optional[Path] = None,
        on_change: Optional[Callable[[], None]] = None,
    ) -> None:
        self.cwd = cwd
        self.out = out
        self.log_fh: Optional[IO[str]] = open(log_file, "a", encoding="utf-8") if log_file else None
        self.children: List[Child] = []
        self.stopping = False
        self.on_change = on_change
        self._lock = threading.Lock()
        self._width = 8
        self._readers: List[threading.Thread] = []

    # ---- output ------------------------------------------------------------------------
    def say(self, name: str, line: str) -> None:
        # what children log and the demo prints may carry text from a shared broker
        text = f"{time.strftime('%H:%M:%S')} {name:<{self._width}}| {printable(line.rstrip())}"
        with self._lock:
            print(text, file=self.out, flush=True)
            if self.log_fh is not None:
                self.log_fh.write(text + "\n")
                self.log_fh.flush()

    def _pump(self, child: Child, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip()
            if line:
                child.last_line = line
                self.say(child.spec.name, line)
        stream.close()

    # ---- lifecycle ---------------------------------------------------------------------
    def add(self, spec: ProcSpec) -> Child:
        child = Child(spec)
        self.children.append(child)
        self._width = max(self._width, len(spec.name) + 1)
        return child

    def start(self, child: Child) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **child.spec.env}
        try:
            proc = subprocess.Popen(
                child.spec.argv,
                cwd=str(self.cwd),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        except OSError as exc:
            self.say("demo", f"cannot start {child.spec.name}: {exc}")
            self._schedule_restart(child, time.monotonic())
            return
        child.proc, child.started_at, child.restart_at = proc, time.monotonic(), None
        child.starts += 1
        child.pids.append(proc.pid)
        assert proc.stdout is not None
        reader = threading.Thread(target=self._pump, args=(child, proc.stdout), daemon=True)
        reader.start()
        self._readers.append(reader)
        again = f" (restart {child.starts - 1})" if child.starts > 1 else ""
        self.say("demo", f"started {child.spec.name}, pid {proc.pid}{again}")
        if self.on_change:
            self.on_change()

    def start_all(self) -> None:
        for child in self.children:
            if child.proc is None:
                self.start(child)

    def tick(self) -> None:
        """Notice exits, restart what is due; call about once a second from the main thread."""
        if self.stopping:
            return
        now = time.monotonic()
        for child in self.children:
            if child.proc is not None and child.proc.poll() is not None:
                self._died(child, now)
            elif child.proc is None and child.restart_at is not None and now >= child.restart_at:
                self.start(child)

    def _died(self, child: Child, now: float) -> None:
        assert child.proc is not None
        rc, ran_s = child.proc.returncode, now - child.started_at
        child.proc = None
        how = f"signal {-rc}" if rc < 0 else f"code {rc}"
        if ran_s >= STABLE_AFTER_S:
            child.backoff_s = BACKOFF_START_S
        last = f"; its last line: {child.last_line!r}" if child.last_line else ""
        self.say(
            "demo",
            f"{child.spec.name} DIED ({how}) after {ran_s:.1f} s{last}; "
            f"restarting in {child.backoff_s:.0f} s",
        )
        self._schedule_restart(child, now)

    def _schedule_restart(self, child: Child, now: float) -> None:
        child.restart_at = now + child.backoff_s
        child.backoff_s = min(child.backoff_s * 2, BACKOFF_MAX_S)

    def stop_all(self, timeout_s: float = STOP_TIMEOUT_S) -> Dict[str, Optional[int]]:
        """SIGTERM in reverse start order (each waited for), SIGKILL what is left."""
        self.stopping = True
        codes: Dict[str, Optional[int]] = {}
        for child in reversed(self.children):
            proc = child.proc
            if proc is None:
                codes[child.spec.name] = None
                continue
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    self.say("demo", f"{child.spec.name} ignored SIGTERM; killing it")
                    proc.kill()
                    proc.wait(5)
            codes[child.spec.name] = proc.returncode
            self.say("demo", f"stopped {child.spec.name} (exit {proc.returncode})")
        for reader in self._readers:
            reader.join(2)
        if self.log_fh is not None:
            self.log_fh.close()
            self.log_fh = None
        return codes

    def pids(self) -> Dict[str, Optional[int]]:
        return {c.spec.name: (c.proc.pid if c.alive and c.proc else None) for c in self.children}

    def all_pids(self) -> Dict[str, List[int]]:
        return {c.spec.name: list(c.pids) for c in self.children}
