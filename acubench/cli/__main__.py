import sys

from acubench.cli import main

sys.exit(main())
