#!/usr/bin/env bash
# Quickstart, part 2: set up (venv, apt tools incl. mingw-w64 for PE fixtures, chromium for the HTML test) and run the whole test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k profile
# The tests run in parallel workers (pytest-xdist, one per core, at most 4; whole test files per worker, the
# real Nuitka builds shared between workers: tests/conftest.py shared_once). HARDNUT_TEST_WORKERS=0: serial.
set -euo pipefail
export HARDNUT_WITH_MINGW=1
export HARDNUT_WITH_BROWSER=1
source "$(dirname "$0")/_setup.sh"
cd "$REPO"
workers="${HARDNUT_TEST_WORKERS:-auto}"
if [ "$workers" = 0 ]; then
  exec python -m pytest "$@"
fi
exec python -m pytest -n "$workers" --maxprocesses 4 --dist loadfile "$@"
