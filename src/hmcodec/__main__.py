"""``python -m hmcodec``: the command line, for a checkout that is not pip-installed."""

import sys

from hmcodec.cli import main

sys.exit(main())
