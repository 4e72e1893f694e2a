"""`python -m agents ...`: the same command line as the `engine` console script."""

import sys

from agents.cli.main import main

if __name__ == "__main__":  # a spawned search process imports this module as __mp_main__: it must not run
    sys.exit(main())
