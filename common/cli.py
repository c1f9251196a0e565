"""The prologue every process shares: ``--config FILE``, validation, logging.

An invalid config prints one line per problem on stderr and the process exits 2 (a supervisor
that restarts it cannot fix the file), the same way in the bridge, the controller, the shim and
the UI.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Dict, List, Optional, Tuple

from common.config import ConfigError, read_config
from common.logsetup import setup_logging
from common.threads import exit_when_a_thread_dies


def start(
    prog: str,
    description: Optional[str],
    process: str,
    argv: Optional[List[str]] = None,
    default_config: Optional[str] = None,
) -> Tuple[Optional[Dict[str, Any]], str]:
    """(validated config with logging set up, config path); config None = exit with code 2."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    if default_config:
        parser.add_argument("--config", "-c", default=default_config, help="YAML config file")
    else:
        parser.add_argument("--config", "-c", required=True, help="YAML config file")
    path: str = parser.parse_args(argv).config
    try:
        cfg, notes = read_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None, path
    setup_logging(cfg, process)
    exit_when_a_thread_dies()
    for note in notes:  # old keys of the seed's file: said once, at start
        logging.getLogger("config").warning("%s: %s", path, note)
    return cfg, path
