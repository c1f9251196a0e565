"""``python -m bridge.dbus_shim --config FILE``."""

import sys

from bridge.dbus_shim.main import main

sys.exit(main())
