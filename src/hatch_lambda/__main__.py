"""`python -m hatch_lambda`: the `hatch-lambda` console script."""

from __future__ import annotations

import sys

from hatch_lambda.cli import main

if __name__ == "__main__":
    sys.exit(main())
