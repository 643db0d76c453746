#!/usr/bin/env bash
# One short GPU window → every engine figure: `liveavatar bench` for the paper and lite presets with the
# PyTorch CUDA variants (eager fp32, fp16/bf16 channels-last, CUDA graphs, torch.compile max-autotune when
# it compiles in time), ONNX Runtime and TensorRT where installed; JSON reports and logs go to OUT_DIR.
#
#   tools/gpu_bench.sh OUT_DIR [--device cpu] [--presets "paper lite"] [--frames N] [--compile-timeout S]
#
# Works from a plain checkout (no pip install, no network): tools/run_from_checkout.py maps engines/ to
# liveavatar.engines. Random weights (speed only). Each step has its own time limit, so one slow or
# failing step never costs the others; budget about 2 minutes on an H100/H200 in all.
# `--device cpu --presets tiny` is the quick check that the script runs (tests/test_engines_tools.py).
set -u

if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
  sed -n '2,11p' "$0" >&2
  exit 2
fi
OUT=$1
shift
DEVICE=cuda
PRESETS="paper lite"
FRAMES=200
MAX_SECONDS=8
COMPILE_TIMEOUT=60
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --presets) PRESETS=$2; shift 2 ;;
    --frames) FRAMES=$2; shift 2 ;;
    --compile-timeout) COMPILE_TIMEOUT=$2; shift 2 ;;
    *) echo "gpu_bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
RUN=("$PYTHON" "$ROOT/tools/run_from_checkout.py")
mkdir -p "$OUT"
START=$(date +%s)

{
  echo "started $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 || true
  "$PYTHON" -c 'import sys, torch, numpy; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "numpy", numpy.__version__)' 2>&1
  "$PYTHON" -c 'import onnxruntime as o; print("onnxruntime", o.__version__, o.get_available_providers())' 2>&1 || true
  "$PYTHON" -c 'import tensorrt as t; print("tensorrt", t.__version__)' 2>&1 || true
} > "$OUT/environment.txt"

ENGINES="torch,torch-cl,torch-fp16,torch-bf16,onnxruntime"
if [ "$DEVICE" = cuda ]; then
  ENGINES="$ENGINES,torch-fp16-graph,torch-bf16-graph,onnxruntime-cuda,tensorrt"
fi

status=0
bench() {  # name limit_seconds bench-args...
  local name=$1 limit=$2
  shift 2
  local t0=$(date +%s)
  timeout --kill-after=10 "$limit" "${RUN[@]}" bench --device "$DEVICE" --frames "$FRAMES" --max-seconds "$MAX_SECONDS" \
    --json --out "$OUT/$name.json" "$@" > /dev/null 2> "$OUT/$name.log"
  local rc=$?
  echo "$name: exit $rc after $(( $(date +%s) - t0 )) s" | tee -a "$OUT/steps.txt"
  [ $rc -eq 0 ] || status=1
}

for preset in $PRESETS; do
  bench "bench-$preset" 120 --preset "$preset" --engines "$ENGINES"
done
# torch.compile last: max-autotune may compile for minutes; whatever finishes in time is kept.
for preset in $PRESETS; do
  bench "bench-$preset-compile" "$COMPILE_TIMEOUT" --preset "$preset" --engines torch,torch-compile
done
echo "total $(( $(date +%s) - START )) s" | tee -a "$OUT/steps.txt"
exit $status
