#!/usr/bin/env bash
# Fit the shipped restoration LUTs with `lutsr fit` (least squares, no torch):
#   luts/denoise_s{10,15,25,35,50}.lut Gaussian denoising, sigma in 0..255 steps (gray and colour: one
#                                  table per channel, fitted on the R, G and B channels)
#   luts/deblock_q{10,20,30,40}.lut JPEG deblocking at OpenCV/libjpeg quality Q (one channel)
#   luts/denoise-fast_s{10,15,25,35,50}.lut the fast denoisers (lutsr denoise --fast): srlut-v, two-pixel
#                                  direct lookups at interval 0, one stage
# Method sdy2: two S/D/Y stages (receptive field 9x9), the second fitted on the first's output.
# Training pairs are made on the fly (lutsr.tasks: seeded Gaussian noise; cv2 JPEG at Q) from
# every 10th image of ../shared/data/train (29 of T91 + BSD200, all three channels).
# Measured on the project's 2-core CPU: about 8 minutes per table.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=../shared/data
EVERY=${EVERY:-10}
ITER=${ITER:-8}
for s in ${SIGMAS-25 15 50 10}; do
    lutsr fit --method sdy2 --task denoise --sigma "$s" --data "$SHARED/train" --every "$EVERY" --no-flip \
        --iterations "$ITER" --overwrite -o "luts/denoise_s$s.lut"
done
for q in ${QUALITIES-10 20 30 40}; do
    lutsr fit --method sdy2 --task deblock --quality "$q" --data "$SHARED/train" --every "$EVERY" --no-flip \
        --iterations "$ITER" --overwrite -o "luts/deblock_q$q.lut"
done
for s in ${FAST_SIGMAS-25 15 50 10}; do
    lutsr fit --method srlut-v --interval 0 --task denoise --sigma "$s" --data "$SHARED/train" --every "$EVERY" \
        --no-flip --iterations "$ITER" --overwrite -o "luts/denoise-fast_s$s.lut"
done
