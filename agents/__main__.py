"""`python -m agents ...`: the same command line as the `engine` console script."""

import sys

from agents.cli.main import main

sys.exit(main())
