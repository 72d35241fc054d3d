#!/usr/bin/env bash
# Installs the pinned Python tools of the API contract checks (scripts/api-contract.sh)
# into a venv under target/, from PyPI. Idempotent: a second run with the same pins does
# nothing. Prints the venv's bin directory on stdout.
#   scripts/python-tools.sh            # create or reuse target/python-tools
#   PYTHON=python3.12 scripts/python-tools.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${PYTHON_TOOLS_VENV:-target/python-tools}

# The pins: bump them here, and only here.
PINS=(
  "openapi-spec-validator==0.7.2"
  "openapi-python-client==0.26.2"
  "schemathesis==4.32.5"
  "httpx==0.28.1"
)

stamp="$VENV/.pins"
wanted=$(printf '%s\n' "${PINS[@]}")
if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
  echo "$PWD/$VENV/bin"
  exit 0
fi

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is needed")'
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}" >&2
printf '%s\n' "$wanted" >"$stamp"
echo "$PWD/$VENV/bin"
