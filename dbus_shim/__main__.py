"""``python -m dbus_shim --config FILE``."""

import sys

from dbus_shim.main import main

sys.exit(main())
