#!/usr/bin/env bash
# Create the project venv the way a GX has it: the system python, system site-packages visible.
# Debian ships venv's pip bootstrap separately (python3-venv): install it when missing and we
# can (root or sudo), else say exactly what to run.
set -euo pipefail
PY=$1
VENV=$2
[ -x "$VENV/bin/python" ] && exit 0
if "$PY" -m venv --system-site-packages "$VENV" 2>/dev/null; then
  exit 0
fi
rm -rf "$VENV"
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "python venv support is missing: installing python3-venv"
  if $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null; then
    exec "$PY" -m venv --system-site-packages "$VENV"
  fi
fi
echo "cannot create a venv with $PY: install your distribution's venv package (Debian: apt-get install python3-venv)" >&2
exit 1
