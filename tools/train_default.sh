#!/usr/bin/env bash
# Train and export the shipped default LUT (luts/eclut_x4.lut): ECLUT x4, interval 0.
# Needs ../shared/data (T91 + BSD200 for training, Set5 for validation) and torch.
# On the project's 2-core CPU machine this took about 40 minutes (5000 iterations).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=../shared/data
lutsr train --arch eclut --scale 4 --data "$SHARED/train" --val "$SHARED/bench/Set5/HR" \
    --out runs/eclut_x4_default --iterations 5000 --batch-size 32 --patch-size 24 --lr 1e-3 --seed 0 \
    --checkpoint-every 500 --val-every 500 --log-every 100 --device auto
lutsr export runs/eclut_x4_default --interval 0 -o luts/eclut_x4.lut
lutsr eval --lut luts/eclut_x4.lut --data "$SHARED/bench/Set5" --lr-dir "$SHARED/bench/Set5/LR_bicubic/X4"
