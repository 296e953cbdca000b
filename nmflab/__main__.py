"""``python -m nmflab`` is the ``nmflab`` command."""

import sys

from .cli import main

sys.exit(main())
