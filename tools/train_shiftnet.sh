#!/usr/bin/env bash
# Train and export lutsr's own ShiftLUT-class network (shiftnet, lutsr.net.archs) in table space:
# the tables are the parameters, the forward pass is the runtime's integer arithmetic, so the
# exported LUT computes exactly what validation measured. Needs ../shared/data and torch.
# luts/shiftnet_x4.lut: `tools/train_shiftnet.sh 4 10000` on the project's 2-core CPU machine (AMD
# EPYC, no GPU): stacks 1, step 2, input residual (34.6 KiB of int8 tables), 10000 iterations of
# 16 x 32x32 LR patches at ~3.7 it/s, 2728 s (45 min) with 2 threads; then
# `cp runs/shiftnet_x4/shiftnet_x4.lut luts/`. luts/shiftnet_x2.lut, shiftnet_x3.lut: `tools/train_shiftnet.sh 2
# 7000` and `... 3 7000` on the same machine (2.5 it/s that day, 44 and 46 min). On a GPU machine add --device cuda (the linear
# lookups then run as torch ops; not timed: no GPU was lent).
# Two scales at once on 2 cores: `THREADS=1 tools/train_shiftnet.sh 2 & THREADS=1 tools/train_shiftnet.sh 3`
# (x2, 16 x 32x32: 1.76 it/s each side by side, 3.5 it/s together, against 2.6 it/s for one 2-thread run).
# Usage: [THREADS=N] tools/train_shiftnet.sh [SCALE [ITERATIONS]]
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=../shared/data
SCALE=${1:-4}
ITERS=${2:-12000}
THREADS=${THREADS:-2}
RUN="runs/shiftnet_x$SCALE"
lutsr train --arch shiftnet --stacks 1 --step 2 --input-residual 1 --scale "$SCALE" --data "$SHARED/train" \
    --val "$SHARED/bench/Set5/HR" --out "$RUN" --iterations "$ITERS" --batch-size 16 --patch-size 32 \
    --lr 2.0 --seed 0 --checkpoint-every 1000 --val-every 1000 --log-every 100 --device auto --threads "$THREADS"
lutsr export "$RUN" -o "$RUN/shiftnet_x$SCALE.lut"
lutsr eval --lut "$RUN/shiftnet_x$SCALE.lut" --data "$SHARED/bench/Set5" --data "$SHARED/bench/Set14" \
    --data "$SHARED/bench/B100"
