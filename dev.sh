#!/usr/bin/env bash
# One entry point for people and CI. Creates .venv (or $VENV) and installs the project when
# missing, then runs what was asked:
#   ./dev.sh validate [pytest args]   stage validation of the bundled corpus (default stage 0.1)
#   ./dev.sh test [pytest args]       the test suite
#   ./dev.sh lint                     ruff and mypy
# PYTHON picks the interpreter (default python3); VENV the environment (default .venv).
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
  if [ ! -f "$VENV/.installed" ] || [ pyproject.toml -nt "$VENV/.installed" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e '.[dev]'
    touch "$VENV/.installed"
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
