#!/usr/bin/env bash
# Run the Modbus-facing tests against the lowest pymodbus we claim (3.8.6, the last line for
# Python 3.9: per-device server datastore, slave= keyword), in a second venv.
set -euo pipefail
LOW=${PYMODBUS_LOW:-3.8.6}
V=.venv-pymodbus-low
if [ ! -x "$V/bin/python" ] || ! "$V/bin/python" -c "import pymodbus,sys; sys.exit(pymodbus.__version__ != '$LOW')" 2>/dev/null; then
  /usr/bin/python3 -m venv --system-site-packages "$V"
  "$V/bin/pip" install -q --upgrade pip
  "$V/bin/pip" install -q -e '.[dev]'
  # pyproject asks for >= 3.10 on Python >= 3.10; force the Python 3.9 line here on purpose
  "$V/bin/pip" install -q --no-deps "pymodbus==$LOW"
fi
echo "pymodbus $("$V/bin/python" -c 'import pymodbus; print(pymodbus.__version__)')"
# The protocol-facing cases only: the timing cases (lease, outages, reboots) test our own logic,
# which is the same on every pymodbus, and run once in the main suite.
"$V/bin/python" -m pytest -q -m modbus tests \
  -k "not (refresh_keeps or falls_back or outage or hanging or reboot or broker_restart or killed or sigterm)"
