# The engine worker image used by docker-compose.yml.
FROM python:3.11-slim-bookworm
ARG LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY engine engine
COPY agents agents
COPY schemas schemas
COPY models/__init__.py models/tiny_granite.py models/
COPY devstack devstack
# --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS and would reuse a build for other flags.
RUN CMAKE_ARGS="$LLAMA_CMAKE_ARGS" pip install --no-cache-dir -c constraints.txt .
CMD ["engine", "worker"]
