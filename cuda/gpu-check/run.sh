#!/usr/bin/env bash
# The GPU check of issue #14, for a session lent a GPU (the device tool; no JDK, no network there).
# Needs the pack built here first: bash cuda/gpu-check/pack.sh  (cuda/gpu-check/pack/ppsd-check.tar.xz)
#   device run: run(command="bash cuda/gpu-check/run.sh", carry=["cuda/gpu-check/pack"], timeout_s=480)
# Phases, most valuable first, each writing under $OUT as it goes (a timeout keeps what finished):
#   1. agreement   the Java backend against the Java CPU backend on random models (DeviceCheck agreement)
#   2. model       a random LLaMA-2-7B-shaped BF16 model, 8 of its 32 layers (write_model.py, 3.5 GB)
#   3. decode      the Java backend's batch-1 decode at context 128 / 512 / 2048 (DeviceCheck decode)
#   4. peer        PyTorch/transformers on the same weights and prompts: eager, then compiled (peer.py)
#   5. table       one table of the above (table.py -> table.md)
#   6. kernels     the decode kernels one by one against float64 numpy, timed (kernel_check.py, sm_90)
# About 6 minutes on an H200 (a prediction: it has not run on one yet).
# On the emulated driver (GpuCheckScriptTest): --emulator LIB --pack DIR --shape tiny.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
out=${OUT:-/tmp/ppsd-gpu-check}
pack="" emulator="" shape=8b
while [ $# -gt 0 ]; do
  case "$1" in
    --pack) pack="$2"; shift 2 ;;
    --emulator) emulator="$2"; shift 2 ;;
    --shape) shape="$2"; shift 2 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python=python3
[ -n "$emulator" ] && python=/usr/bin/python3   # Debian's, with numpy and torch (not a pyenv shim)
if [ -z "$pack" ]; then
  [ -f pack/ppsd-check.tar.xz ] || { echo "run.sh: no pack/ppsd-check.tar.xz: run cuda/gpu-check/pack.sh first and carry cuda/gpu-check/pack" >&2; exit 2; }
  mkdir -p /tmp/ppsd-pack && tar -xJf pack/ppsd-check.tar.xz -C /tmp/ppsd-pack
  pack=/tmp/ppsd-pack/ppsd-check
fi
if [ -n "$emulator" ]; then
  export LD_LIBRARY_PATH="$(dirname "$emulator"):/usr/local/cuda-13.0/lib64:${LD_LIBRARY_PATH:-}"
else
  nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,memory.total,memory.used --format=csv | tee "$out/nvidia-smi.txt"
  # JavaCPP's cudart binding links libcudart.so.13: the toolkit's, or the one PyTorch's wheels bring.
  cudart=$(ls /usr/local/cuda/lib64/libcudart.so.13 /usr/local/cuda-13*/lib64/libcudart.so.13 2>/dev/null | head -1 || true)
  [ -n "$cudart" ] || cudart=$(find /usr/local /opt -name libcudart.so.13 2>/dev/null | head -1 || true)
  [ -n "$cudart" ] && export LD_LIBRARY_PATH="$(dirname "$cudart"):${LD_LIBRARY_PATH:-}"
  echo "libcudart.so.13: ${cudart:-not found}" | tee -a "$out/nvidia-smi.txt"
  command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
fi
java() {
  "$pack/jre/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
    -Dlogback.configurationFile="$here/logback.xml" -Dorg.bytedeco.javacpp.cachedir=/tmp/ppsd-javacpp -cp "$pack/lib/*" \
    io.ppsd.cuda.check.DeviceCheck "$@"
}
if [ "$shape" = tiny ]; then model_args=(--shape tiny); contexts=16,40; tokens=6; else model_args=(--shape llama2-7b --layers 8); contexts=128,512,2048; tokens=64; fi
status=0
phase() { echo "== $1 ($(date -u +%H:%M:%S))" | tee -a "$out/phases.txt"; }

phase agreement
java agreement --dir /tmp/ppsd-agreement 2>&1 | tee "$out/agreement.txt" || status=1

phase model
rm -rf /tmp/ppsd-check-model
$python write_model.py "${model_args[@]}" --out /tmp/ppsd-check-model 2>&1 | tee "$out/model.txt" || status=1

phase decode
java decode --model /tmp/ppsd-check-model --contexts $contexts --tokens $tokens --out "$out/java_decode.json" 2>&1 | tee "$out/decode.txt" || status=1

phase peer
$python peer.py --model /tmp/ppsd-check-model --contexts $contexts --tokens $tokens --budget-s 150 --out "$out/peer.json" 2>&1 | tee "$out/peer.txt" || status=1

phase table
$python table.py "$out" || status=1

phase kernels
if [ -n "$emulator" ]; then
  $python kernel_check.py --lib "$emulator" --modules ../target/classes/io/ppsd/cuda --shape tiny --out "$out" 2>&1 | tee "$out/kernels.txt" || status=1
else
  src=../src/main/cuda kernels=/tmp/ppsd-kernels
  mkdir -p "$kernels/sm90"
  for m in matmul qkv attention tensor; do
    nvcc -cubin -arch=sm_90 -O3 -std=c++17 -I"$src" -Xptxas -v -o "$kernels/sm90/$m.cubin" "$src/$m.cu" 2>> "$out/ptxas.txt"
  done
  $python kernel_check.py --modules "$kernels/sm90" --out "$out" 2>&1 | tee "$out/kernels.txt" || status=1
fi
phase "done, status $status"
exit $status
