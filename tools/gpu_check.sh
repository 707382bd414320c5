#!/usr/bin/env bash
# The GPU session's one call: build histeq on the device machine, run the GPU tests on the real GPU, then the
# GPU benchmark; everything it prints also lands in $OUT (or ./gpu-check when OUT is unset).
#
#   bash tools/gpu_check.sh [WHEELS]
#
# WHEELS: a folder of wheels to install first without the network (kornia, cuCIM: the peers of
# benchmarks/gpu.py, which skips a peer that is not installed).
set -euo pipefail
out="${OUT:-gpu-check}"
mkdir -p "$out"
exec > >(tee "$out/gpu_check.log") 2>&1

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
lscpu | grep -m1 "Model name"
if [ -n "${1:-}" ] && [ -d "$1" ]; then
    python -m pip install --no-index --no-deps "$1"/*.whl
fi
python -m pip install --no-build-isolation --no-deps . 2>&1 | tail -3
python -c "import histeq, torch, triton; print('histeq', histeq.__version__, 'torch', torch.__version__, 'triton', triton.__version__)"
python -m pytest -q -p no:cacheprovider tests/gpu/test_gpu.py tests/gpu/test_gpu_kernels.py 2>&1 | tail -15
python benchmarks/gpu.py | tee "$out/gpu_benchmark.md"
