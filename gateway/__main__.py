"""`python -m gateway` is the same as the `saraban-gateway` command."""

import sys

from gateway.cli import main

sys.exit(main())
