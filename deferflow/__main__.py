"""``python -m deferflow``: the same command line as the ``deferflow`` console script."""
import sys

from deferflow.tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
