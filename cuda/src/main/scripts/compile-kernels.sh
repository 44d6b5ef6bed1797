#!/usr/bin/env bash
# Compiles the kernels (src/main/cuda/*.cu) during the Maven build, when nvcc is on PATH:
#   1. PTX for compute_80 into <ptx dir>/<name>.ptx (packaged; the driver JIT-compiles it for the
#      GPU at hand, sm_80 and newer);
#   2. a check: SASS for sm_80 and sm_90 with every warning an error (nvcc and ptxas), so code that
#      only breaks in the real backend compiler (register spills, local memory use) fails the build.
# Without nvcc it logs that the backend will compile the same sources with NVRTC at run time.
# Usage: compile-kernels.sh <cuda source dir> <ptx output dir> <check output dir>
set -euo pipefail
src=$1 ptx_dir=$2 check_dir=$3

if ! command -v nvcc >/dev/null; then
  echo "[ppsd-cuda] nvcc not on PATH: no PTX packaged, kernels will be compiled at run time with NVRTC"
  exit 0
fi
mkdir -p "$ptx_dir" "$check_dir"
common=(-O3 -std=c++17 -Werror all-warnings -I"$src")

newer_than() {  # newer_than <target> <file...>: true when the target is missing or older than a file
  local target=$1; shift
  [[ ! -e $target ]] && return 0
  for f in "$@"; do [[ $f -nt $target ]] && return 0; done
  return 1
}

built=0
for cu in "$src"/*.cu; do
  name=$(basename "$cu" .cu)
  ptx=$ptx_dir/$name.ptx
  if newer_than "$ptx" "$cu" "$src"/*.cuh "$0"; then
    nvcc -ptx -arch=compute_80 "${common[@]}" -o "$ptx" "$cu"
    built=$((built + 1))
  fi
  for sm in 80 90; do
    cubin=$check_dir/$name.sm_$sm.cubin
    if newer_than "$cubin" "$cu" "$src"/*.cuh "$0"; then
      nvcc -cubin -arch=sm_$sm "${common[@]}" -Xptxas -Werror,-warn-spills,-warn-lmem-usage -o "$cubin" "$cu"
    fi
  done
done
echo "[ppsd-cuda] kernels: $built PTX module(s) rebuilt with $(nvcc --version | tail -1 | sed 's/Build //'); sm_80/sm_90 SASS check passed"
