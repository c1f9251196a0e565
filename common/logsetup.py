"""Logging to the console and a rotating file, as the ``logging`` config section says."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, Dict

from common.config_fields import config_value


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "ts": record.created,
                "level": record.levelname,
                "logger": record.name,
                "msg": record.getMessage(),
            }
        )


def log_file_for(path: str, process: str) -> str:
    """One file per process: ``/var/log/alfen_driver.log`` → ``/var/log/alfen_driver.bridge.log``.

    The seed ran one process; here four share the config, and four RotatingFileHandlers on one
    file would rotate it under each other and lose lines.
    """
    head, dot, ext = path.rpartition(".")
    if not dot or "/" in ext:
        return f"{path}.{process}"
    return f"{head}.{process}.{ext}"


def setup_logging(cfg: Dict[str, Any], process: str) -> None:
    """Configure the root logger once per process; ``process`` tags every line."""

    def conf(key: str) -> Any:
        return config_value(cfg, f"logging.{key}")

    level = getattr(logging, str(conf("level")).upper(), logging.INFO)
    if conf("json_format"):
        fmt: logging.Formatter = _JsonFormatter()
    elif conf("format") == "simple":
        fmt = logging.Formatter(f"%(levelname)s {process}: %(message)s")
    else:
        fmt = logging.Formatter(f"%(asctime)s %(levelname)-7s {process} %(name)s: %(message)s")
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(level)
    if conf("console_output"):
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(fmt)
        root.addHandler(console)
    path = log_file_for(conf("file"), process) if conf("file") else None
    if path:
        # imported only when a log file is configured: logging.handlers pulls in pickle,
        # socket and queue (0.7 MB), and on a GX multilog usually keeps the logs instead
        from logging.handlers import RotatingFileHandler

        try:
            handler = RotatingFileHandler(
                path,
                maxBytes=int(float(conf("max_file_size_mb")) * 1024 * 1024),
                backupCount=int(conf("backup_count")),
            )
            handler.setFormatter(fmt)
            root.addHandler(handler)
        except OSError as exc:
            logging.getLogger(__name__).warning(
                "cannot open log file %s (%s); console only", path, exc
            )
    # pymodbus logs every failed connect at ERROR; modbus_link translates and logs those once
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    logging.getLogger("waitress").setLevel(max(level, logging.WARNING))
