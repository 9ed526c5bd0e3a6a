"""Random LUT networks that use every op of ``lutsr.net.graph`` (for runtime-vs-reference tests)."""

from __future__ import annotations

import numpy as np

from lutsr.lut.frontier import NetBuilder
from lutsr.net.graph import Network


def random_network(rng: np.random.Generator, scale: int = 2, channels: int = 3) -> Network:
    """x -> ensemble(split, interpolated depthwise, remap, shift, direct 2-input, pointwise to s*s,
    pixel shuffle) -> float32 tail (divide, upsample, add, round) -> output, with random tables."""
    b = NetBuilder()
    body: list = []
    c = channels
    hi = b.op(body, "rshift", src="x", bits=2)  # -32..31
    lo = b.op(body, "mask", src="x", bits=2)  # 0..3
    # depthwise 3x3, steps 1/2/4/8 mixed, one input channel -> c outputs
    flat, terms, pos = [], [], 0
    for o in range(c):
        for i in range(9):
            step = int(rng.choice([1, 2, 4, 8]))
            n = 63 // step + 1 + (1 if 63 % step else 0)
            flat.append(rng.integers(-128, 128, n))
            terms.append([o, pos, 1, 0, -32, step, 0, i // 3 - 1, i % 3 - 1])
            pos += n
    d = b.lut(body, hi, np.concatenate(flat), terms, c, border="edge", divisor=9,
              rounding=str(rng.choice(["half_even", "half_up", "floor"])))
    h = b.op(body, "clamp", src=b.op(body, "add", a=d, b=hi), lo=-32, hi=31)
    h = b.op(body, "remap", src=h, lo=-32, table=b.table("rq", rng.integers(-32, 32, (c, 64))))
    # depthwise 3x3 (output o reads channel o at 9 taps; the gather kernel for 16 channels), residual, clamp
    flat, terms, pos = [], [], 0
    for o in range(c):
        for i in range(9):
            step = int(rng.choice([1, 2, 8]))
            n = 63 // step + 1 + (1 if 63 % step else 0)
            flat.append(rng.integers(-128, 128, n))
            terms.append([o, pos, 1, 0, -32, step, o, i // 3 - 1, i % 3 - 1])
            pos += n
    dw = b.lut(body, h, np.concatenate(flat), terms, c, border="reflect", divisor=9)
    h = b.op(body, "clamp", src=b.op(body, "add", a=dw, b=h), lo=-32, hi=31)
    h = b.op(body, "shift", src=h, offsets=b.table("off", rng.integers(-2, 3, (c, 2)).astype(np.int32)),
             border=str(rng.choice(["edge", "reflect"])))
    # direct 2-input over (h + 32) >> 3 (8 levels) and lo (4 levels; stored as 8)
    q = b.op(body, "rshift", src=b.op(body, "add_const", src=h, value=32), bits=3)
    lq = b.op(body, "add", a=b.op(body, "mask", src=q, bits=0), b=lo)  # 0..3, broadcast to c channels
    both = q
    terms = [[o, 0, c, o, 0, 1, o, 0, 0, o, 1, 1] for o in range(c)]
    t = rng.integers(-128, 128, (64, c))
    e2 = b.lut(body, both, t, terms, c, k=2, index="direct", levels=8, border="reflect", divisor=2)
    e3 = b.lut(body, lq, rng.integers(-20, 20, 4 * c), [[o, 4 * o, 1, 0, 0, 1, o, 0, 1] for o in range(c)], c,
               index="linear", divisor=1)
    g = b.op(body, "clamp", src=b.op(body, "add", a=b.op(body, "add", a=e2, b=e3), b=h), lo=-32, hi=31)
    # pointwise to s*s outputs
    s2 = scale * scale
    flat, terms, pos = [], [], 0
    for o in range(s2):
        for ch in range(c):
            step = int(rng.choice([1, 4]))
            n = 63 // step + 1 + (1 if 63 % step else 0)
            flat.append(rng.integers(-128, 128, n))
            terms.append([o, pos, 1, 0, -32, step, ch, 0, 0])
            pos += n
    p = b.lut(body, g, np.concatenate(flat), terms, s2, divisor=c)
    y = b.op(body, "clamp", src=b.op(body, "add", a=p, b=b.op(body, "add_const", src=hi, value=0)), lo=-128, hi=127)
    y = b.op(body, "pixel_shuffle", src=y, scale=scale)
    x = b.op(None, "add_const", src="x", value=-128)
    e = b.op(None, "ensemble", src=x, body=body, body_out=y, rotations=[0, 1, 2, 3], clamp=[-128, 127])
    e = b.op(None, "clamp", src=b.op(None, "add_const", src=e, value=128), lo=0, hi=255)
    f = b.op(None, "fdiv", src=e, value=255.0)
    up = b.op(None, "upsample", src=b.op(None, "fdiv", src="x", value=510.0), scale=scale)
    f = b.op(None, "fclamp", src=b.op(None, "fadd", a=b.op(None, "fmul", src=f, value=0.5), b=up), lo=0.0, hi=1.0)
    r = b.op(None, "round", src=b.op(None, "fmul", src=f, value=255.0))
    fl = b.op(None, "floor", src=b.op(None, "fmul", src=f, value=255.0))
    out = b.op(None, "clamp", src=b.op(None, "add", a=b.op(None, "rshift", src=r, bits=1),
                                        b=b.op(None, "rshift", src=fl, bits=1)), lo=0, hi=255)
    b.op(None, "output", src=out, out="_")
    return b.network(scale)
