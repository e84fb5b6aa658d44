"""`python -m gateway` is the same as the `saraban-gateway` command."""

import sys

from gateway.cli.main import main

if __name__ == "__main__":  # worker processes re-import this module: they must not run main()
    sys.exit(main())
