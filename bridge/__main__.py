import sys

from bridge.main import main

sys.exit(main())
