"""``python -m abstractad``: the same as the ``abstractad`` command."""

import sys

from ._cli import main

sys.exit(main())
