"""``python -m skweights.cli``: the ``skweights`` command."""

import sys

from skweights.cli import main

sys.exit(main())
