#!/usr/bin/env bash
# Run the Modbus-facing tests against the lowest pymodbus we claim (3.10: per-device server
# datastore, device_id= keyword), in a second venv that shares everything else.
set -euo pipefail
LOW=${PYMODBUS_LOW:-3.10.0}
V=.venv-pymodbus-low
if [ ! -x "$V/bin/python" ] || ! "$V/bin/python" -c "import pymodbus,sys; sys.exit(pymodbus.__version__ != '$LOW')" 2>/dev/null; then
  /usr/bin/python3 -m venv --system-site-packages "$V"
  "$V/bin/pip" install -q --upgrade pip
  "$V/bin/pip" install -q -e '.[dev]' "pymodbus==$LOW"
fi
echo "pymodbus $("$V/bin/python" -c 'import pymodbus; print(pymodbus.__version__)')"
"$V/bin/python" -m pytest -q -m modbus tests
