"""``python -m hmcodec.cli`` (as ``torchrun -m hmcodec.cli train ...`` launches it)."""

import sys

from hmcodec.cli import main

sys.exit(main())
