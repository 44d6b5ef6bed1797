#!/usr/bin/env bash
# The GPU check of issue #14, for a session lent a GPU (the device tool): builds the backend's
# decode kernels for the GPU at hand, then runs kernel_check.py on a Llama-3-8B-shaped layer twice:
# with sm_90 cubins, and with compute_80 PTX JIT-compiled by the driver (what the jar ships).
# Every result is checked against float64 first; timings are CUDA-event medians. Writes the logs
# and kernel_check.json files under $OUT (or /tmp/ppsd-gpu-check). About 3 minutes on an H200.
#   device run: bash cuda/gpu-check/run.sh        (timeout_s 480 leaves room for a second try)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
src=../src/main/cuda
out=${OUT:-/tmp/ppsd-gpu-check}
kernels=/tmp/ppsd-kernels
mkdir -p "$out" "$kernels/sm90" "$kernels/ptx80"
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,memory.total,memory.used --format=csv | tee "$out/nvidia-smi.txt"
for m in matmul qkv attention tensor; do
  nvcc -cubin -arch=sm_90 -O3 -std=c++17 -I"$src" -Xptxas -v -o "$kernels/sm90/$m.cubin" "$src/$m.cu" 2>> "$out/ptxas.txt"
  nvcc -ptx -arch=compute_80 -O3 -std=c++17 -I"$src" -o "$kernels/ptx80/$m.ptx" "$src/$m.cu"
done
export PYTHONUNBUFFERED=1
status=0
python3 kernel_check.py --modules "$kernels/sm90" --out "$out/sm90" 2>&1 | tee "$out/sm90.txt" || status=1
python3 kernel_check.py --modules "$kernels/ptx80" --reps 20 --out "$out/ptx80" 2>&1 | tee "$out/ptx80.txt" || status=1
exit $status
