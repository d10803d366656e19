#!/usr/bin/env bash
# Quickstart, part 2: set up (venv, apt tools incl. mingw-w64 for PE fixtures, chromium for the HTML test) and run the whole test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k profile
set -euo pipefail
export HARDNUT_WITH_MINGW=1
export HARDNUT_WITH_BROWSER=1
source "$(dirname "$0")/_setup.sh"
cd "$REPO"
exec python -m pytest "$@"
