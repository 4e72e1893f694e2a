#!/usr/bin/env bash
# Sets up everything on a fresh Debian machine: system packages, .venv, a llama-cpp-python build for
# this CPU (cached), the project with pinned versions, and the tiny Granite test models. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/decision-engine"
LLAMA_VERSION=0.3.36
PYTHON="${PYTHON:-python3}"
say() { printf '\033[1;34m==> %s\033[0m\n' "$*"; }

# 1. System packages: Redis server, Java 17 and Maven (Kafka's jars come from Maven Central).
need=()
command -v redis-server >/dev/null || [[ -x /usr/bin/redis-server ]] || need+=(redis-server)
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++)
# Headless Chromium and its driver for the dispatch-page browser test (Selenium never downloads one).
command -v chromium >/dev/null || [[ -x /usr/bin/chromium ]] || need+=(chromium)
command -v chromedriver >/dev/null || [[ -x /usr/bin/chromedriver ]] || need+=(chromium-driver)
if ((${#need[@]})); then
  say "installing system packages: ${need[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# 2. Python virtual environment.
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python >= 3.11 needed (set PYTHON=...)"; exit 1; }
if [[ ! -x .venv/bin/python ]]; then
  say "creating .venv"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip wheel

# 3. llama-cpp-python: an sdist that compiles for minutes. pip's own wheel cache ignores CMAKE_ARGS, so
#    we keep our own cache keyed by version + flags and always build with --no-cache-dir.
CMAKE_FLAGS=$(bash scripts/llama_cmake_args.sh)
KEY=$(printf '%s %s' "$LLAMA_VERSION" "$CMAKE_FLAGS" | sha256sum | cut -c1-16)
WHEEL_DIR="$CACHE/wheels/llama-cpp-python-$LLAMA_VERSION-$KEY"
if ! ls "$WHEEL_DIR"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  say "building llama-cpp-python $LLAMA_VERSION with CMAKE_ARGS=\"$CMAKE_FLAGS\" (several minutes, once)"
  mkdir -p "$WHEEL_DIR.partial"
  CMAKE_ARGS="$CMAKE_FLAGS" .venv/bin/python -m pip wheel -q --no-cache-dir --no-deps \
    -w "$WHEEL_DIR.partial" "llama-cpp-python==$LLAMA_VERSION"
  echo "$CMAKE_FLAGS" > "$WHEEL_DIR.partial/CMAKE_ARGS"
  rm -rf "$WHEEL_DIR" && mv "$WHEEL_DIR.partial" "$WHEEL_DIR"
fi
installed_key=$(cat .venv/.llama-build-key 2>/dev/null || true)
if [[ "$installed_key" != "$KEY" ]]; then
  say "installing llama-cpp-python from $WHEEL_DIR"
  .venv/bin/python -m pip install -q --force-reinstall --no-deps "$WHEEL_DIR"/llama_cpp_python-*.whl
  echo "$KEY" > .venv/.llama-build-key
fi

# 4. The project and its pinned dependencies (constraints.txt is the lock).
say "installing the project (pinned by constraints.txt)"
.venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"

# 5. The tiny random-weight Granite models the tests and the demo run (seconds; skipped when present).
say "building the tiny Granite GGUF models"
.venv/bin/python -m models.tiny_granite --out-dir models/
say "setup done"
