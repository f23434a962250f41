"""`python -m escrow.custodian`: the same tool as the `escrow-custodian` command."""

import sys

from escrow.custodian.cli import main

if __name__ == "__main__":
    sys.exit(main())
