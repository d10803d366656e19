"""Entry point of the benchmark app: hardnut's command line."""
import sys

from hardnut.cli import main

if __name__ == "__main__":
    sys.exit(main())
