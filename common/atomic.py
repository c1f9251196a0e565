"""Write files so that a crash at any instant leaves either the old or the new content."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

log = logging.getLogger(__name__)


def write_atomic(path: str | os.PathLike[str], data: bytes | str, mode: int = 0o600) -> None:
    """Write to a temp file in the same directory, fsync, rename over ``path``, fsync the dir."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=str(target.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dir_fd = os.open(str(target.parent), os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # some filesystems refuse fsync on a directory; the rename already happened
        pass


def write_json_atomic(path: str | os.PathLike[str], value: Any, mode: int = 0o600) -> None:
    write_atomic(path, json.dumps(value, indent=1, sort_keys=True), mode)


def read_json_or_quarantine(path: str | os.PathLike[str]) -> Optional[Any]:
    """Load JSON state; a corrupt file is moved aside (``.corrupt-<time>``) with a warning."""
    target = Path(path)
    try:
        raw = target.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        aside = target.with_name(f"{target.name}.corrupt-{int(time.time())}")
        try:
            os.replace(target, aside)
        except OSError:
            aside = target
        log.warning(
            "state file %s is corrupt (%s); moved to %s, starting fresh", target, exc, aside
        )
        return None
