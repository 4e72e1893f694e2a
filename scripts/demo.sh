#!/usr/bin/env bash
# The demo command: set up, start Kafka and Redis, run a worker and watch a synthetic fleet stream live.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/engine demo "$@"
