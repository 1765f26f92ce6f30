"""``python -m acubench`` (and ``torchrun … -m acubench align …``): the command line."""

import sys

from acubench.cli import main

if __name__ == "__main__":
    sys.exit(main())
