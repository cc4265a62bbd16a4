#!/usr/bin/env bash
# One entry point for people and CI. Creates .venv (or $VENV) and installs the project when
# missing, then runs what was asked:
#   ./dev.sh validate [pytest args]   stage validation of the bundled corpus (default stage 0.1)
#   ./dev.sh test [pytest args]       the test suite
#   ./dev.sh lint                     ruff, mypy and the import contracts
# PYTHON picks the interpreter (default python3); VENV the environment (default .venv).
# The install runs only when the environment is new or pyproject.toml's content changed since
# the last one (its digest is kept in $VENV/.installed), and says so.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV" || {
      echo "dev.sh: cannot create $VENV with $PYTHON (on Debian: apt-get install python3-venv)" >&2
      exit 2
    }
  fi
  local digest
  digest=$("$VENV/bin/python" -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')
  if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$digest" ]; then
    local started=$SECONDS
    echo "dev.sh: installing veritas-ipc[dev] into $VENV (new environment or pyproject.toml changed; a minute or two)..." >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e '.[dev]'
    echo "$digest" > "$VENV/.installed"
    echo "dev.sh: installed in $((SECONDS - started)) s" >&2
  fi
  # Every audit child imports veritas: where PYTHONDONTWRITEBYTECODE is set, an editable
  # install would compile it from source in every child (pip compiles a wheel's at install).
  "$VENV/bin/python" -m compileall -q veritas >/dev/null
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  validate) setup; exec "$VENV/bin/python" -m pytest harness/ --stage 0.1 -n 2 "$@" ;;
  test) setup; exec "$VENV/bin/python" -m pytest -n 2 "$@" ;;
  lint) setup; "$VENV/bin/ruff" check . && "$VENV/bin/ruff" format --check . && "$VENV/bin/mypy" && "$VENV/bin/lint-imports" ;;
  *) echo "usage: ./dev.sh validate|test|lint [args]" >&2; exit 2 ;;
esac
