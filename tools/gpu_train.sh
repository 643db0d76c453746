#!/usr/bin/env bash
# Trains a preset (default lite) on one GPU for a fixed number of minutes and leaves in OUT_DIR:
#   PRESET.safetensors                  E, P, G (float16; what the package ships and avatars use)
#   PRESET_discriminator.safetensors    D (float16; needed only by `liveavatar finetune`)
#   samples.png                         the last sample grid: source | landmark image | target | generated
#   log.csv, run.json                   losses, throughput (steps/s), settings, losses used, device
# The full run (float32 checkpoint, resume state, every sample grid) stays in RUN_DIR (default
# OUT_DIR/run); set RUN_DIR elsewhere when only the files above should land in OUT_DIR.
#
# usage: tools/gpu_train.sh DATA_DIR OUT_DIR MINUTES [PRESET]
# Needs only python3 with torch, numpy, opencv, safetensors and tqdm: the repository goes on PYTHONPATH,
# nothing is installed and nothing is downloaded. The dataset (≤ ~40 MB) is decoded once onto the GPU.
# Overrides (environment): BATCH (32) K (8) LR_SCALE (2) DEVICE (cuda) AMP (auto) STEPS (no limit)
#   SAMPLE_EVERY (250) RESUME=1 (continue RUN_DIR instead of starting over), EXTRA (more train options,
#   e.g. EXTRA="--mch-weight 8").
# CPU check: DEVICE=cpu BATCH=2 K=2 tools/gpu_train.sh DATA_DIR /tmp/out 0.2 tiny
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 DATA_DIR OUT_DIR MINUTES [PRESET]" >&2
    exit 2
fi
DATA_DIR=$1
OUT_DIR=$2
MINUTES=$3
PRESET=${4:-lite}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN_DIR=${RUN_DIR:-$OUT_DIR/run}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}

# Batch 32 episodes × (K=8 shots + 1 target) at 256 px keeps an H100/H200 busy in bf16 while using a few
# GiB; a short run takes twice the paper's rates (LR_SCALE=2), the ratio G:D stays the paper's 1:4.
BATCH=${BATCH:-32}
K=${K:-8}
LR_SCALE=${LR_SCALE:-2}
DEVICE=${DEVICE:-cuda}
AMP=${AMP:-auto}
STEPS=${STEPS:-100000000}
SAMPLE_EVERY=${SAMPLE_EVERY:-250}
MODE=--force
[ "${RESUME:-0}" = 1 ] && MODE=--resume

mkdir -p "$OUT_DIR"
"$PY" - <<PYEOF
import torch, numpy, cv2
print("torch", torch.__version__, "numpy", numpy.__version__, "cv2", cv2.__version__)
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print("gpu", p.name, round(p.total_memory / 2**30, 1), "GiB")
PYEOF

status=0
"$PY" -m liveavatar.commands.train --preset "$PRESET" --data "$DATA_DIR" --out "$RUN_DIR" $MODE \
    --minutes "$MINUTES" --steps "$STEPS" --batch "$BATCH" --k "$K" --device "$DEVICE" --amp "$AMP" \
    --preload memory --loader-threads 16 --lr-scale "$LR_SCALE" --log-every 25 \
    --sample-every "$SAMPLE_EVERY" --checkpoint-every 1000 ${EXTRA:-} || status=$?
# Even a run that failed midway leaves its last checkpoint: export that rather than nothing.
if [ ! -f "$RUN_DIR/checkpoint.safetensors" ]; then
    echo "no checkpoint in $RUN_DIR (training exited with $status)" >&2
    exit $(( status ? status : 1 ))
fi

"$PY" - "$RUN_DIR" "$OUT_DIR" "$PRESET" <<'PYEOF'
import shutil, sys
from pathlib import Path
from liveavatar.training.shipping import split_checkpoint
run, out, preset = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
main, disc = split_checkpoint(run / "checkpoint.safetensors", out / f"{preset}.safetensors")
for name in ("log.csv", "run.json"):
    if (run / name).is_file():
        shutil.copy(run / name, out / name)
samples = sorted((run / "samples").glob("step_*.png"))
if samples:
    shutil.copy(samples[-1], out / "samples.png")
print("wrote", main, disc, "and samples.png, log.csv, run.json to", out)
PYEOF
exit $status
