#!/usr/bin/env bash
# pip install into the project venv without pip's or setuptools' chatter on the terminal (so
# `make demo` opens on the demo's summary): everything goes to a log, shown only on failure.
# Usage: pip-quiet.sh VENV_PYTHON PIP_INSTALL_ARGS...
set -euo pipefail
PY=$1
shift
LOG="$(dirname "$(dirname "$PY")")/pip-install.log"
if ! { "$PY" -m pip install --upgrade pip && "$PY" -m pip install "$@"; } >"$LOG" 2>&1; then
  cat "$LOG" >&2
  echo "pip install $* failed (log: $LOG)" >&2
  exit 1
fi
