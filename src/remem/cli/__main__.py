"""``python -m remem.cli``: the same as the ``remem`` command."""

import sys

from . import main

sys.exit(main())
