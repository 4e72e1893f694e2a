#!/usr/bin/env bash
# Prints the CMAKE_ARGS for building llama-cpp-python on this CPU.
# GGML_NATIVE=OFF with explicit instruction sets: the default native build of llama-cpp-python 0.3.36
# segfaults on the first decode of quantized models on CPUs with AMX (llama.cpp issue 20824), and a
# build made for AVX-512 dies with "Illegal instruction" on CPUs without it. So: only what this CPU has.
# Override everything with LLAMA_CMAKE_ARGS (e.g. "-DGGML_CUDA=on" for a GPU build).
set -euo pipefail
if [[ -n "${LLAMA_CMAKE_ARGS:-}" ]]; then
  echo "$LLAMA_CMAKE_ARGS"
  exit 0
fi
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2 || true)
has() { [[ " $flags " == *" $1 "* ]]; }
args=(-DGGML_NATIVE=OFF)
has avx && args+=(-DGGML_AVX=ON)
has avx2 && args+=(-DGGML_AVX2=ON)
has fma && args+=(-DGGML_FMA=ON)
has f16c && args+=(-DGGML_F16C=ON)
has avx_vnni && args+=(-DGGML_AVX_VNNI=ON)
if has avx512f; then
  args+=(-DGGML_AVX512=ON)
  has avx512_vnni && args+=(-DGGML_AVX512_VNNI=ON)
  has avx512vbmi && args+=(-DGGML_AVX512_VBMI=ON)
  has avx512_bf16 && args+=(-DGGML_AVX512_BF16=ON)
fi
echo "${args[*]}"
