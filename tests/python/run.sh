#!/usr/bin/env bash
# Runs the Python kernel tests (conformance, robustness, notebooks) with the
# Debian Python that has jupyter_client, jupyter_kernel_test, nbconvert and pytest.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${LLMLAB_TEST_PYTHON:-/usr/bin/python3}"
if ! "$PYTHON" -c "import jupyter_kernel_test, jupyter_client, nbconvert, pytest" 2>/dev/null; then
  echo "tests/python: $PYTHON lacks jupyter_kernel_test / jupyter_client / nbconvert / pytest" >&2
  echo "  sudo apt install python3-jupyter-kernel-test python3-jupyter-client python3-nbconvert python3-nbclient python3-pytest" >&2
  exit 1
fi
export PYTHONDONTWRITEBYTECODE=1
exec "$PYTHON" -m pytest -p no:cacheprovider -q -rs "$@"
