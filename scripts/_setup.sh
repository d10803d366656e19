# Sourced by demo.sh and test.sh: make a virtual environment with hardnut and the tools a build needs.
# Idempotent: a second run only checks. Set HARDNUT_VENV to use another location.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HARDNUT_VENV:-$REPO/.venv}"
PY="${PYTHON:-python3}"

need_apt=()
for tool in patchelf ccache gcc; do
  command -v "$tool" >/dev/null 2>&1 || need_apt+=("$tool")
done
# the secrets tests scan the system's libgnutls (its built-in self-test keys are known public keys)
if command -v dpkg >/dev/null 2>&1 && ! dpkg -s libgnutls30 >/dev/null 2>&1; then
  need_apt+=(libgnutls30)
fi
if [ "${HARDNUT_WITH_MINGW:-0}" = 1 ] && ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
  need_apt+=(mingw-w64)
fi
# headless Chromium for the HTML report's browser test (tests/test_html_browser.py)
if [ "${HARDNUT_WITH_BROWSER:-0}" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "setup: installing ${need_apt[*]} with apt-get" >&2
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install ${need_apt[*]} (no apt-get here)" >&2
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.hardnut-setup"
if [ ! -f "$stamp" ] || [ "$REPO/pyproject.toml" -nt "$stamp" ]; then
  echo "setup: installing hardnut and its build/test extras" >&2
  log="$(mktemp)"
  if ! { "$VENV/bin/python" -m pip install -q --disable-pip-version-check -U pip &&
         "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$REPO[build,fast,test]"; } >"$log" 2>&1; then
    grep -v "^WARNING: Location" "$log" | tail -30 >&2
    rm -f "$log"
    echo "setup: pip install failed" >&2
    exit 2
  fi
  rm -f "$log"
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
