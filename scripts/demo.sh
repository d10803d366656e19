#!/usr/bin/env bash
# Quickstart, part 1: set up, build sample_apps/hello with its release profile, verify it, run it.
set -euo pipefail
source "$(dirname "$0")/_setup.sh"
cd "$REPO/sample_apps/hello"
hardnut doctor
echo
echo "== hardnut build (release profile, hardened, verified) =="
hardnut build -p hardnut.toml
echo
echo "== hardnut verify (what CI would run on the artifact) =="
hardnut verify dist/hello.dist -p hardnut.toml --manifest dist/hello.hardnut.json
echo
echo "== run it =="
./dist/hello.dist/hello nut --lang de
