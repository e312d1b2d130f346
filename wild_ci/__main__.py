"""`python -m wild_ci` is the same as the `wild-ci` command."""

import sys

from .entry import main

sys.exit(main())
