#!/usr/bin/env bash
# The test command: set up, start Kafka and Redis, lint, type-check and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
echo "==> starting Kafka and Redis (python -m devstack start)"
.venv/bin/python -m devstack start
echo "==> ruff and mypy"
.venv/bin/ruff check .
.venv/bin/mypy engine agents schemas models devstack benchmarks
echo "==> pytest"
set +e
.venv/bin/python -m pytest "$@"
code=$?
set -e
echo "==> test.sh finished in $(( $(date +%s) - start )) s (pytest exit $code)"
if [[ "${KEEP_SERVICES:-1}" == "0" ]]; then .venv/bin/python -m devstack stop; fi
exit $code
