"""Small explicit-vector building blocks for the Numba kernels (LLVM IR via ``numba.extending.intrinsic``).

Numba does not vectorize the runtime's short, offset row additions on its own, so these
helpers emit LLVM vector instructions directly. LLVM lowers them for whatever CPU the
kernel is compiled on (AVX2, SSE, NEON ...); nothing here is x86-specific. Each helper
states its exact NumPy meaning; ``tests/runtime/test_simd.py`` checks them against it.

All offsets are element offsets into 1-D C-contiguous arrays; there are no bounds checks
(the callers size their buffers so every access is inside, including the ``width - p``
lanes read past a table row: tables carry ``width`` elements of padding at the end).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from lutsr.spec import rotate_cells

__all__ = ["prefetch", "patch4_add", "emit_u8", "vertices_block_add", "windows_block_add", "verts4_run", "row_add", "pixel_passes", "pixel_gathers", "lane_gather", "lane_lookup", "round_div_f32", "subpixel_rotate_add", "pixel_passes2", "round_shift"]


def _i64(builder, v):
    return builder.sext(v, ir.IntType(64)) if v.type.width < 64 else v


def _literals(*ts) -> bool:
    return all(isinstance(t, types.IntegerLiteral) for t in ts)


def _row_vector(builder, tarr, tbits, width, p, rev, tofs):
    """Load ``width`` lanes at ``tofs``; keep the first ``p`` (reversed when ``rev``), zero the rest."""
    tvec = ir.VectorType(ir.IntType(tbits), width)
    tptr = builder.gep(tarr.data, [tofs])
    tv = builder.load(builder.bitcast(tptr, tvec.as_pointer()), align=tbits // 8)
    mask = [(p - 1 - i if rev else i) if i < p else width for i in range(width)]
    return builder.shuffle_vector(tv, ir.Constant(tvec, None), ir.Constant(ir.VectorType(ir.IntType(32), width), mask))


def _splat(builder, x, vt):
    """The scalar ``x`` in every lane of the vector type ``vt``."""
    vec = builder.insert_element(ir.Constant(vt, None), x, ir.IntType(32)(0))
    return builder.shuffle_vector(vec, ir.Constant(vt, None), ir.Constant(ir.VectorType(ir.IntType(32), vt.count), [0] * vt.count))


def _widen(builder, v, vt):
    """``v`` sign-extended (or truncated: only ever compiled, never run) to the lanes of ``vt``."""
    if vt.element.width > v.type.element.width:
        return builder.sext(v, vt)
    if vt.element.width < v.type.element.width:
        return builder.trunc(v, vt)
    return v


def _load_biased(builder, sarr, sbits, sofs, bias, V):
    """``V`` lanes of ``sarr`` (int16 or int32) at ``sofs``, as int32, plus the scalar ``bias``."""
    i32 = ir.IntType(32)
    vi = ir.VectorType(i32, V)
    sp = builder.bitcast(builder.gep(sarr.data, [_i64(builder, sofs)]), ir.VectorType(ir.IntType(sbits), V).as_pointer())
    a = _widen(builder, builder.load(sp, align=sbits // 8), vi)
    return builder.add(a, _splat(builder, builder.trunc(_i64(builder, bias), i32), vi))


def _add_into(builder, warr, wbits, wofs, tv):
    width = tv.type.count
    wvec = ir.VectorType(ir.IntType(wbits), width)
    if wbits > tv.type.element.width:
        tv = builder.sext(tv, wvec)
    wp = builder.bitcast(builder.gep(warr.data, [wofs]), wvec.as_pointer())
    builder.store(builder.add(builder.load(wp, align=wbits // 8), tv), wp, align=wbits // 8)


@intrinsic
def prefetch(typingctx, arr, idx):
    """Hint the CPU to fetch the cache line holding ``arr.flat[idx]`` (1-D ``arr``). No effect on results."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [_i64(builder, args[1])])
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])  # read, keep in all levels, data cache
        return context.get_dummy_value()

    return sig, codegen


@intrinsic(prefer_literal=True)
def emit_u8(typingctx, out, oofs, win, wofs, cstride, nc, add, shift, even):
    """16 pixels of ``nc`` interleaved channels: for ``i < 16``, ``c < nc``, with
    ``v = win[wofs + c*cstride + i] + add``: ``out.flat[oofs + i*nc + c] = clip(v >> shift, 0, 255)``,
    or with ``even`` = 1, ``v / 2**shift`` rounded half to even. Arithmetic in ``win``'s integer
    type. ``nc`` (1..4) and ``even`` (0, 1) must be literal ints."""
    if not _literals(nc, even):
        return None
    NC, EVEN, L = nc.literal_value, even.literal_value, 16
    sig = types.void(out, oofs, win, wofs, cstride, nc, add, shift, even)

    def codegen(context, builder, signature, args):
        oty, _, wty = signature.args[:3]
        oarr = context.make_array(oty)(context, builder, args[0])
        warr = context.make_array(wty)(context, builder, args[2])
        wbits = wty.dtype.bitwidth
        it = ir.IntType(wbits)
        vt = ir.VectorType(it, L)
        i32, i64 = ir.IntType(32), ir.IntType(64)
        wofs, cstride = _i64(builder, args[3]), _i64(builder, args[4])

        def splat(v):
            v = _i64(builder, v)
            v = builder.trunc(v, it) if wbits < 64 else v
            vec = builder.insert_element(ir.Constant(vt, None), v, i32(0))
            return builder.shuffle_vector(vec, ir.Constant(vt, None), ir.Constant(ir.VectorType(i32, L), [0] * L))

        vadd, vs = splat(args[6]), splat(args[7])
        zero, one, top = ir.Constant(vt, [0] * L), ir.Constant(vt, [1] * L), ir.Constant(vt, [255] * L)
        chans = []
        for c in range(NC):
            ptr = builder.gep(warr.data, [builder.add(wofs, builder.mul(cstride, i64(c)))])
            v = builder.add(builder.load(builder.bitcast(ptr, vt.as_pointer()), align=wbits // 8), vadd)
            r = builder.ashr(v, vs)
            if EVEN:  # + 1 when the remainder is over half, or exactly half and r is odd
                d = builder.shl(one, vs)
                twice = builder.shl(builder.sub(v, builder.shl(r, vs)), one)
                up = builder.or_(builder.icmp_signed(">", twice, d),
                                 builder.and_(builder.icmp_signed("==", twice, d),
                                              builder.icmp_signed("==", builder.and_(r, one), one)))
                r = builder.add(r, builder.zext(up, vt))
            r = builder.select(builder.icmp_signed("<", r, zero), zero, r)
            r = builder.select(builder.icmp_signed(">", r, top), top, r)
            chans.append(builder.trunc(r, ir.VectorType(ir.IntType(8), L)))
        vecs = chans + [ir.Constant(ir.VectorType(ir.IntType(8), L), None)] * ((1 << (NC - 1).bit_length()) - NC)
        while len(vecs) > 1:  # concatenate: lane c*16 + i is channel c, pixel i
            n = vecs[0].type.count
            cat = ir.Constant(ir.VectorType(i32, 2 * n), list(range(2 * n)))
            vecs = [builder.shuffle_vector(vecs[i], vecs[i + 1], cat) for i in range(0, len(vecs), 2)]
        res = vecs[0]
        if NC > 1:  # interleave channels
            mask = ir.Constant(ir.VectorType(i32, L * NC), [c * L + i for i in range(L) for c in range(NC)])
            res = builder.shuffle_vector(res, ir.Constant(res.type, None), mask)
        optr = builder.gep(builder.bitcast(oarr.data, ir.IntType(8).as_pointer()), [_i64(builder, args[1])])
        builder.store(res, builder.bitcast(optr, res.type.as_pointer()), align=1)
        return context.get_dummy_value()

    return sig, codegen


def _ext(builder, v, signed: bool, vt):
    return builder.sext(v, vt) if signed else builder.zext(v, vt)


@intrinsic(prefer_literal=True)
def vertices_block_add(typingctx, dst, dofs, dstride, tab, rows, wts, s, k):
    """One rotation of one unit at one LR pixel, summed in registers and added into ``dst``:
    ``acc = sum(wts[j] * tab[rows[j]*s*s : +s*s] for j < len(rows))`` (int32 lanes), then
    ``block_add(dst, dofs, dstride, acc, s, k)``. ``tab`` int8/uint8 with at least 15 elements
    of padding after the last row; ``rows``, ``wts`` tuples of ints of equal length (the
    simplex vertices and weights); ``s`` (1..4) and ``k`` literal ints."""
    if not _literals(s, k) or not isinstance(rows, types.UniTuple) or not isinstance(wts, types.UniTuple):
        return None
    S, K, M = s.literal_value, k.literal_value, rows.count
    N = S * S
    V = 4 if N <= 4 else 16
    PERM = [int(v) for v in rotate_cells(np.arange(N)[None, :], K, False, S)[0]]
    sig = types.void(dst, dofs, dstride, tab, rows, wts, s, k)

    def codegen(context, builder, signature, args):
        dty, _, _, tty = signature.args[:4]
        darr = context.make_array(dty)(context, builder, args[0])
        tarr = context.make_array(tty)(context, builder, args[3])
        i32, i64 = ir.IntType(32), ir.IntType(64)
        et = ir.IntType(dty.dtype.bitwidth)
        avt = ir.VectorType(et, V)
        acc = ir.Constant(avt, [0] * V)
        for j in range(M):
            r = _i64(builder, builder.extract_value(args[4], j))
            w = builder.trunc(_i64(builder, builder.extract_value(args[5], j)), et)
            tv = _ext(builder, _row_vector(builder, tarr, tty.dtype.bitwidth, V, N, 0, builder.mul(r, i64(N))),
                      tty.dtype.signed, avt)
            wv = builder.shuffle_vector(builder.insert_element(ir.Constant(avt, None), w, i32(0)),
                                        ir.Constant(avt, None), ir.Constant(ir.VectorType(i32, V), [0] * V))
            acc = builder.add(acc, builder.mul(tv, wv))
        dofs, dstride = _i64(builder, args[1]), _i64(builder, args[2])
        rvt = ir.VectorType(et, S)
        for oy in range(S):
            row = builder.shuffle_vector(acc, ir.Constant(avt, None),
                                         ir.Constant(ir.VectorType(i32, S), PERM[oy * S : oy * S + S]))
            ptr = builder.bitcast(builder.gep(darr.data, [builder.add(dofs, builder.mul(dstride, i64(oy)))]),
                                  rvt.as_pointer())
            builder.store(builder.add(builder.load(ptr, align=4), row), ptr, align=4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def verts4_run(typingctx, R, Wt, rs, j, a0, a1, a2, a3, interval):
    """The simplex vertices and weights of 8 consecutive pixels of a 4-input lookup, in int32 lanes.

    For ``l < 8`` and ``x = j + l``, with ``v_i = a_i[x]`` (uint8 arrays), exactly
    ``kernels.block._verts4(v0, v1, v2, v3, interval, 2**interval, 256 // 2**interval + 1)``:
    vertex t's row goes to ``R.flat[t*rs + x]`` and its weight to ``Wt.flat[t*rs + x]``
    (``t < 5``; ``R``, ``Wt`` int32, C-contiguous). Each input's place in the descending, stable
    order of fractions is counted with 6 comparisons (no sort, no branch). ``interval`` 1..8.
    """
    sig = types.void(R, Wt, rs, j, a0, a1, a2, a3, interval)
    L = 8

    def codegen(context, builder, signature, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        vt = ir.VectorType(i32, L)
        bt = ir.VectorType(ir.IntType(8), L)
        rarr = context.make_array(signature.args[0])(context, builder, args[0])
        warr = context.make_array(signature.args[1])(context, builder, args[1])
        rs, j = _i64(builder, args[2]), _i64(builder, args[3])

        def splat(x):
            return builder.shuffle_vector(builder.insert_element(ir.Constant(vt, None), x, i32(0)),
                                          ir.Constant(vt, None), ir.Constant(ir.VectorType(i32, L), [0] * L))

        def const(c):
            return ir.Constant(vt, [c] * L)

        vals = []
        for k in range(4):
            arr = context.make_array(signature.args[4 + k])(context, builder, args[4 + k])
            ptr = builder.bitcast(builder.gep(arr.data, [j]), bt.as_pointer())
            vals.append(builder.zext(builder.load(ptr, align=1), vt))
        iv = builder.trunc(_i64(builder, args[8]), i32)
        sh = splat(iv)
        q = builder.shl(i32(1), iv)
        lv = splat(builder.add(builder.lshr(i32(256), iv), i32(1)))
        qm = splat(builder.sub(q, i32(1)))
        f = [builder.and_(v, qm) for v in vals]
        m = [builder.lshr(v, sh) for v in vals]
        s1 = builder.mul(lv, lv)
        s0 = builder.mul(s1, lv)
        strides = [s0, s1, lv, const(1)]
        base = builder.add(builder.add(builder.mul(m[0], s0), builder.mul(m[1], s1)),
                           builder.add(builder.mul(m[2], lv), m[3]))

        def ge(a, b):  # 1 where input a (index below b) comes first: its fraction is not smaller
            return builder.zext(builder.icmp_unsigned(">=", a, b), vt)

        c01, c02, c03 = ge(f[0], f[1]), ge(f[0], f[2]), ge(f[0], f[3])
        c12, c13, c23 = ge(f[1], f[2]), ge(f[1], f[3]), ge(f[2], f[3])
        add, sub = builder.add, builder.sub
        r = [sub(sub(sub(const(3), c01), c02), c03),
             sub(sub(add(c01, const(2)), c12), c13),
             sub(add(add(c02, c12), const(1)), c23),
             add(add(c03, c13), c23)]
        zero = const(0)
        fs = []
        for k in range(3):
            acc = zero
            for i in range(4):
                acc = add(acc, builder.select(builder.icmp_signed("==", r[i], const(k)), f[i], zero))
            fs.append(acc)
        fs.append(sub(sub(sub(add(add(f[0], f[1]), add(f[2], f[3])), fs[0]), fs[1]), fs[2]))
        rows = [base]
        for t in range(1, 4):
            acc = base
            for i in range(4):
                acc = add(acc, builder.select(builder.icmp_signed("<", r[i], const(t)), strides[i], zero))
            rows.append(acc)
        rows.append(add(add(add(add(base, s0), s1), lv), const(1)))
        wts = [sub(splat(q), fs[0]), sub(fs[0], fs[1]), sub(fs[1], fs[2]), sub(fs[2], fs[3]), fs[3]]
        for t in range(5):
            o = builder.add(builder.mul(rs, i64(t)), j)
            for arr, vec in ((rarr, rows[t]), (warr, wts[t])):
                ptr = builder.bitcast(builder.gep(arr.data, [o]), vt.as_pointer())
                builder.store(vec, ptr, align=4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic(prefer_literal=True)
def windows_block_add(typingctx, dst, dofs, dstride, tab, rows, wts, s, narrow):
    """One window of a unit whose four rotations read the same pixels (``compile.window_shifts``):
    ``acc = sum(wts[j] * tab[rows[j]*4*s*s : +4*s*s] for j < len(rows))`` (the packed rows of
    ``compile.pack_rotations``: rotation k's s x s block at lanes ``k*s*s ..``, cells in the
    original frame), then for each rotation k and block row oy < s:
    ``dst[dofs[k] + oy*dstride : +s] += acc[k*s*s + oy*s : +s]``. ``dofs`` a UniTuple of 4 ints;
    ``tab`` int8/uint8; ``dst`` int32. With ``narrow`` = 1 the products and ``acc`` are int16
    (the caller has proved ``max|tab| * sum(wts) <= 32767``), else int32. ``s`` (1..4) and
    ``narrow`` (0, 1) literal ints."""
    if not _literals(s, narrow) or not isinstance(rows, types.UniTuple) or not isinstance(wts, types.UniTuple):
        return None
    if not isinstance(dofs, types.UniTuple) or dofs.count != 4:
        return None
    S, M, NARROW = s.literal_value, rows.count, narrow.literal_value
    N = S * S
    PW = 4 * N
    sig = types.void(dst, dofs, dstride, tab, rows, wts, s, narrow)

    def codegen(context, builder, signature, args):
        dty, _, _, tty = signature.args[:4]
        darr = context.make_array(dty)(context, builder, args[0])
        tarr = context.make_array(tty)(context, builder, args[3])
        i32, i64 = ir.IntType(32), ir.IntType(64)
        tbits = tty.dtype.bitwidth
        lane = ir.IntType(16 if NARROW else dty.dtype.bitwidth)
        et = ir.IntType(dty.dtype.bitwidth)
        avt = ir.VectorType(lane, PW)
        tvec = ir.VectorType(ir.IntType(tbits), PW)
        acc = ir.Constant(avt, [0] * PW)
        for j in range(M):
            r = _i64(builder, builder.extract_value(args[4], j))
            w = builder.trunc(_i64(builder, builder.extract_value(args[5], j)), lane)
            ptr = builder.gep(tarr.data, [builder.mul(r, i64(PW))])
            tv = builder.load(builder.bitcast(ptr, tvec.as_pointer()), align=tbits // 8)
            tv = _ext(builder, tv, tty.dtype.signed, avt) if lane.width > tbits else tv
            wv = builder.shuffle_vector(builder.insert_element(ir.Constant(avt, None), w, i32(0)),
                                        ir.Constant(avt, None), ir.Constant(ir.VectorType(i32, PW), [0] * PW))
            acc = builder.add(acc, builder.mul(tv, wv))
        dstride = _i64(builder, args[2])
        rvt = ir.VectorType(et, S)
        for k in range(4):
            dofs = _i64(builder, builder.extract_value(args[1], k))
            for oy in range(S):
                row = builder.shuffle_vector(acc, ir.Constant(avt, None),
                                             ir.Constant(ir.VectorType(i32, S), [k * N + oy * S + i for i in range(S)]))
                if lane.width < et.width:
                    row = builder.sext(row, rvt)
                ptr = builder.bitcast(builder.gep(darr.data, [builder.add(dofs, builder.mul(dstride, i64(oy)))]),
                                      rvt.as_pointer())
                builder.store(builder.add(builder.load(ptr, align=4), row), ptr, align=4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic(prefer_literal=True)
def patch4_add(typingctx, win, wofs, stride, tab, t0, t1, t2, t3, p, width):
    """The four rotations of one ExpandConv pixel summed in registers, then added into ``win``:
    for ``pr < p``, window row ``wofs + pr*stride`` gets ``r0 + r1 + rev(r2) + rev(r3)``, where
    ``r0``/``r1`` are row ``pr`` of the p x p patches at ``tab[t0:]``/``tab[t1:]`` and ``r2``/``r3``
    are row ``p-1-pr`` of those at ``t2``/``t3``, reversed (patches rotated by 180 degrees); lanes
    ``>= p`` add zero. ``p``, ``width`` literal ints; ``win`` at least as wide as ``tab``."""
    if not _literals(p, width):
        return None
    V, P = width.literal_value, p.literal_value
    sig = types.void(win, wofs, stride, tab, t0, t1, t2, t3, p, width)

    def codegen(context, builder, signature, args):
        wty, _, _, tty = signature.args[:4]
        warr = context.make_array(wty)(context, builder, args[0])
        tarr = context.make_array(tty)(context, builder, args[3])
        tbits = tty.dtype.bitwidth
        i32, i64 = ir.IntType(32), ir.IntType(64)
        tvec = ir.VectorType(ir.IntType(tbits), V)
        wofs, stride = _i64(builder, args[1]), _i64(builder, args[2])
        offs = [_i64(builder, a) for a in args[4:8]]
        fwd = ir.Constant(ir.VectorType(i32, V), [i if i < P else V for i in range(V)])
        back = ir.Constant(ir.VectorType(i32, V), [P - 1 - i if i < P else V for i in range(V)])

        wvec = ir.VectorType(ir.IntType(wty.dtype.bitwidth), V)

        def load(o, row):  # sums are formed in the window's type, so they cannot overflow
            ptr = builder.gep(tarr.data, [builder.add(o, i64(row * P))])
            v = builder.load(builder.bitcast(ptr, tvec.as_pointer()), align=tbits // 8)
            return builder.sext(v, wvec) if wvec.element.width > tbits else v

        for pr in range(P):
            f = builder.add(load(offs[0], pr), load(offs[1], pr))
            b = builder.add(load(offs[2], P - 1 - pr), load(offs[3], P - 1 - pr))
            v = builder.add(builder.shuffle_vector(f, ir.Constant(wvec, None), fwd),
                            builder.shuffle_vector(b, ir.Constant(wvec, None), back))
            _add_into(builder, warr, wty.dtype.bitwidth, builder.add(wofs, builder.mul(stride, i64(pr))), v)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic(prefer_literal=True)
def row_add(typingctx, acc, aofs, tab, tofs, width):
    """``acc.flat[aofs + i] += tab.flat[tofs + i]`` for ``i < width`` (sign-extended to ``acc``'s type):
    one vector load, add and store. ``width`` must be a literal int; 1-D arrays."""
    if not _literals(width):
        return None
    V = width.literal_value
    sig = types.void(acc, aofs, tab, tofs, width)

    def codegen(context, builder, signature, args):
        aty, _, tty = signature.args[:3]
        aarr = context.make_array(aty)(context, builder, args[0])
        tarr = context.make_array(tty)(context, builder, args[2])
        tbits = tty.dtype.bitwidth
        tvec = ir.VectorType(ir.IntType(tbits), V)
        tptr = builder.gep(tarr.data, [_i64(builder, args[3])])
        tv = builder.load(builder.bitcast(tptr, tvec.as_pointer()), align=tbits // 8)
        _add_into(builder, aarr, aty.dtype.bitwidth, _i64(builder, args[1]), tv)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic(prefer_literal=True)
def pixel_passes(typingctx, acc, aofs, tab, src, sofs, pofs, toff, base, npass, width):
    """One pixel of a uniform-pass ``lut`` op with the accumulator in registers:

    for ``k < npass``: ``v = src[sofs + pofs[k]]``, ``e = toff[k] + (v - base[k]) * width``, and
    ``sum += tab[e : e + width]`` (sign-extended to ``acc``'s type: int32, or int16 lanes for int16
    rows whose sums the caller has proved fit); then ``acc[aofs : aofs + width] = sum``.
    ``width`` must be a literal int; 1-D arrays; ``pofs``, ``toff``, ``base`` int64.
    """
    if not _literals(width):
        return None
    V = width.literal_value
    sig = types.void(acc, aofs, tab, src, sofs, pofs, toff, base, npass, width)

    def codegen(context, builder, signature, args):
        aty, _, tty, sty, _, pty, oty, bty = signature.args[:8]
        aarr = context.make_array(aty)(context, builder, args[0])
        tarr = context.make_array(tty)(context, builder, args[2])
        sarr = context.make_array(sty)(context, builder, args[3])
        parr = context.make_array(pty)(context, builder, args[5])
        oarr = context.make_array(oty)(context, builder, args[6])
        barr = context.make_array(bty)(context, builder, args[7])
        i64 = ir.IntType(64)
        tbits, abits = tty.dtype.bitwidth, aty.dtype.bitwidth
        tvec, avec = ir.VectorType(ir.IntType(tbits), V), ir.VectorType(ir.IntType(abits), V)
        sofs, n = _i64(builder, args[4]), _i64(builder, args[8])
        total = cgutils.alloca_once_value(builder, ir.Constant(avec, [0] * V))
        with cgutils.for_range(builder, n) as loop:
            k = loop.index
            po = builder.load(builder.gep(parr.data, [k]))
            v = _i64(builder, builder.load(builder.gep(sarr.data, [builder.add(sofs, po)])))
            e = builder.add(builder.load(builder.gep(oarr.data, [k])),
                            builder.mul(builder.sub(v, builder.load(builder.gep(barr.data, [k]))), i64(V)))
            row = builder.load(builder.bitcast(builder.gep(tarr.data, [e]), tvec.as_pointer()), align=tbits // 8)
            row = _widen(builder, row, avec)  # never narrowed at run time: int16 sums take int16 rows
            builder.store(builder.add(builder.load(total), row), total)
        ap = builder.bitcast(builder.gep(aarr.data, [_i64(builder, args[1])]), avec.as_pointer())
        builder.store(builder.load(total), ap, align=abits // 8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic(prefer_literal=True)
def pixel_gathers(typingctx, acc, aofs, tab, src, sofs, pofs, toff, base, npass, width):
    """One pixel of a depthwise (gather) ``lut`` op with the accumulator in registers: lane ``o`` of
    pass ``k`` reads channel ``o`` of the pixel at ``sofs + pofs[k]`` (``v = src[sofs + pofs[k] + o]``)
    and adds ``tab[toff[k] + (v - base[k]) * width + o]``; then ``acc[aofs : aofs + width] = sum``.
    ``width`` must be a literal int; 1-D arrays; ``tab`` and ``src`` int32; ``pofs``, ``toff``, ``base`` int64.
    """
    if not _literals(width):
        return None
    V = width.literal_value
    sig = types.void(acc, aofs, tab, src, sofs, pofs, toff, base, npass, width)

    def codegen(context, builder, signature, args):
        aty, _, tty, sty, _, pty, oty, bty = signature.args[:8]
        aarr = context.make_array(aty)(context, builder, args[0])
        tarr = context.make_array(tty)(context, builder, args[2])
        sarr = context.make_array(sty)(context, builder, args[3])
        parr = context.make_array(pty)(context, builder, args[5])
        oarr = context.make_array(oty)(context, builder, args[6])
        barr = context.make_array(bty)(context, builder, args[7])
        i32, i64 = ir.IntType(32), ir.IntType(64)
        v32, v64 = ir.VectorType(i32, V), ir.VectorType(i64, V)
        sofs, n = _i64(builder, args[4]), _i64(builder, args[8])
        lanes = ir.Constant(v64, list(range(V)))

        def splat(x):
            vec = builder.insert_element(ir.Constant(v64, None), x, i32(0))
            return builder.shuffle_vector(vec, ir.Constant(v64, None), ir.Constant(ir.VectorType(i32, V), [0] * V))

        ptr_t = tarr.data.type
        vptr = ir.VectorType(ptr_t, V)
        gname = f"llvm.masked.gather.v{V}i32.v{V}p0"
        gfn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(v32, [vptr, i32, ir.VectorType(ir.IntType(1), V), v32]), gname)
        mask = ir.Constant(ir.VectorType(ir.IntType(1), V), [1] * V)
        tbase = builder.ptrtoint(tarr.data, i64)
        total = cgutils.alloca_once_value(builder, ir.Constant(v32, [0] * V))
        with cgutils.for_range(builder, n) as loop:
            k = loop.index
            po = builder.add(sofs, builder.load(builder.gep(parr.data, [k])))
            vp = builder.bitcast(builder.gep(sarr.data, [po]), v32.as_pointer())
            v = builder.sext(builder.load(vp, align=4), v64)
            idx = builder.add(builder.mul(builder.sub(v, splat(builder.load(builder.gep(barr.data, [k])))),
                                          ir.Constant(v64, [V] * V)),
                              builder.add(splat(builder.load(builder.gep(oarr.data, [k]))), lanes))
            addr = builder.add(splat(tbase), builder.mul(idx, ir.Constant(v64, [4] * V)))
            ptrs = builder.inttoptr(addr, vptr)
            g = builder.call(gfn, [ptrs, i32(4), mask, ir.Constant(v32, [0] * V)])
            builder.store(builder.add(builder.load(total), g), total)
        ap = builder.bitcast(builder.gep(aarr.data, [_i64(builder, args[1])]), v32.as_pointer())
        builder.store(builder.load(total), ap, align=4)
        return context.get_dummy_value()

    return sig, codegen


def _gather_fn(builder, V, eltype):
    vt = ir.VectorType(eltype, V)
    vptr = ir.VectorType(eltype.as_pointer(), V)
    bits = eltype.width
    name = f"llvm.masked.gather.v{V}i{bits}.v{V}p0"
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(
        vt, [vptr, ir.IntType(32), ir.VectorType(ir.IntType(1), V), vt]), name)
    return fn, vt, vptr


def _splat64(builder, x, V):
    return _splat(builder, x, ir.VectorType(ir.IntType(64), V))


@intrinsic(prefer_literal=True)
def lane_gather(typingctx, dst, dofs, src, sofs, offs, width):
    """``dst[dofs + i] = src[sofs + offs[i]]`` for ``i < width`` (one vector gather and store).
    ``width`` literal; 1-D ``dst``/``src`` of the same int dtype; ``offs`` int64."""
    if not _literals(width):
        return None
    V = width.literal_value
    sig = types.void(dst, dofs, src, sofs, offs, width)

    def codegen(context, builder, signature, args):
        dty, _, sty, _, oty = signature.args[:5]
        darr = context.make_array(dty)(context, builder, args[0])
        sarr = context.make_array(sty)(context, builder, args[2])
        oarr = context.make_array(oty)(context, builder, args[4])
        i64 = ir.IntType(64)
        el = ir.IntType(sty.dtype.bitwidth)
        fn, vt, vptr = _gather_fn(builder, V, el)
        v64 = ir.VectorType(i64, V)
        ov = builder.load(builder.bitcast(oarr.data, v64.as_pointer()), align=8)
        start = builder.add(builder.ptrtoint(sarr.data, i64), builder.mul(_i64(builder, args[3]), i64(el.width // 8)))
        addr = builder.add(_splat64(builder, start, V), builder.mul(ov, ir.Constant(v64, [el.width // 8] * V)))
        g = builder.call(fn, [builder.inttoptr(addr, vptr), ir.IntType(32)(el.width // 8),
                              ir.Constant(ir.VectorType(ir.IntType(1), V), [1] * V), ir.Constant(vt, [0] * V)])
        dp = builder.bitcast(builder.gep(darr.data, [_i64(builder, args[1])]), vt.as_pointer())
        builder.store(g, dp, align=el.width // 8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic(prefer_literal=True)
def lane_lookup(typingctx, dst, dofs, tab, toff, src, sofs, width):
    """``dst[dofs + i] = tab[toff[i] + src[sofs + i]]`` for ``i < width``: a per-lane table lookup
    (one vector load, one gather, one store). ``width`` literal; ``dst``, ``src`` and ``tab`` int32;
    ``toff`` int64."""
    if not _literals(width):
        return None
    V = width.literal_value
    sig = types.void(dst, dofs, tab, toff, src, sofs, width)

    def codegen(context, builder, signature, args):
        dty, _, tty, oty, sty = signature.args[:5]
        darr = context.make_array(dty)(context, builder, args[0])
        tarr = context.make_array(tty)(context, builder, args[2])
        oarr = context.make_array(oty)(context, builder, args[3])
        sarr = context.make_array(sty)(context, builder, args[4])
        i32, i64 = ir.IntType(32), ir.IntType(64)
        fn, vt, vptr = _gather_fn(builder, V, i32)
        v64 = ir.VectorType(i64, V)
        ov = builder.load(builder.bitcast(oarr.data, v64.as_pointer()), align=8)
        sp = builder.bitcast(builder.gep(sarr.data, [_i64(builder, args[5])]), vt.as_pointer())
        idx = builder.add(ov, builder.sext(builder.load(sp, align=4), v64))
        addr = builder.add(_splat64(builder, builder.ptrtoint(tarr.data, i64), V),
                           builder.mul(idx, ir.Constant(v64, [4] * V)))
        g = builder.call(fn, [builder.inttoptr(addr, vptr), i32(4), ir.Constant(ir.VectorType(ir.IntType(1), V), [1] * V),
                              ir.Constant(vt, [0] * V)])
        dp = builder.bitcast(builder.gep(darr.data, [_i64(builder, args[1])]), vt.as_pointer())
        builder.store(g, dp, align=4)
        return context.get_dummy_value()

    return sig, codegen




@intrinsic(prefer_literal=True)
def round_div_f32(typingctx, dst, dofs, src, sofs, bd, d, inv, mode, width):
    """``dst[dofs + i] = round((src[sofs + i] + bd) / d)`` for ``i < width``, exactly (int32 lanes).

    ``mode``: 0 half to even, 1 half up, 2 floor; ``inv`` = ``float32(1 / d)``; int32 ``dst``, int16
    or int32 ``src``;
    ``width`` literal. Exact when ``|src + bd| < 2**21`` (the caller checks): ``n =
    roundeven(float32(a) * inv)`` is then ``round_half_even(a / d)`` except at exact ties of an even
    ``d`` (the float error is below ``1/(4d)``, every non-tie quotient is ``1/(2d)`` or more from a
    half), and the exact remainder ``e = a - n*d`` settles the ties and the other modes: ``2e = d``
    or ``-d`` is a tie, ``e < 0`` means the floor is ``n - 1``.
    """
    if not _literals(width):
        return None
    V = width.literal_value
    sig = types.void(dst, dofs, src, sofs, bd, d, inv, mode, width)

    def codegen(context, builder, signature, args):
        darr = context.make_array(signature.args[0])(context, builder, args[0])
        sarr = context.make_array(signature.args[2])(context, builder, args[2])
        i32, f32 = ir.IntType(32), ir.FloatType()
        vi, vf = ir.VectorType(i32, V), ir.VectorType(f32, V)
        rne = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vf, [vf]), f"llvm.roundeven.v{V}f32")
        a = _load_biased(builder, sarr, signature.args[2].dtype.bitwidth, args[3], args[4], V)
        dv = _splat(builder, builder.trunc(_i64(builder, args[5]), i32), vi)
        inv = args[6] if args[6].type == f32 else builder.fptrunc(args[6], f32)
        n = builder.fptosi(builder.call(rne, [builder.fmul(builder.sitofp(a, vf), _splat(builder, inv, vf))]), vi)
        e = builder.sub(a, builder.mul(n, dv))
        e2 = builder.add(e, e)
        m = _i64(builder, args[7])
        one, zero = ir.Constant(vi, [1] * V), ir.Constant(vi, [0] * V)
        odd = builder.and_(n, one)
        hi = builder.zext(builder.icmp_signed("==", e2, dv), vi)  # a / d = n + 1/2
        lo = builder.zext(builder.icmp_signed("==", e2, builder.sub(zero, dv)), vi)  # a / d = n - 1/2
        neg = builder.zext(builder.icmp_signed("<", e, zero), vi)
        even_q = builder.sub(builder.add(n, builder.and_(hi, odd)), builder.and_(lo, odd))
        up_q = builder.add(n, hi)
        floor_q = builder.sub(n, neg)
        q = builder.select(builder.icmp_signed("==", m, ir.IntType(64)(0)), even_q,
                           builder.select(builder.icmp_signed("==", m, ir.IntType(64)(1)), up_q, floor_q))
        dp = builder.bitcast(builder.gep(darr.data, [_i64(builder, args[1])]), vi.as_pointer())
        builder.store(q, dp, align=4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic(prefer_literal=True)
def subpixel_rotate_add(typingctx, dst, dofs, src, sofs, lo, hi, first, r, s):
    """One LR pixel of ``s*s`` sub-pixel channels (PyTorch order ``i*s + j``) rotated back by
    ``np.rot90(., -r)``: ``dst[dofs + perm[i*s + j]] (+)= clip(src[sofs + i*s + j], lo, hi)``, with
    (i, j) going to (i, j), (j, s-1-i), (s-1-i, s-1-j), (s-1-j, i) for r = 0..3 (``first``: ``=``,
    else ``+=``). One vector load, clamp, shuffle, add and store; int32 arrays; ``r`` and ``s``
    literal."""
    if not _literals(r, s):
        return None
    R, S = r.literal_value % 4, s.literal_value
    V = S * S
    perm = [0] * V
    for i in range(S):
        for j in range(S):
            ti, tj = [(i, j), (j, S - 1 - i), (S - 1 - i, S - 1 - j), (S - 1 - j, i)][R]
            perm[ti * S + tj] = i * S + j  # the output lane takes this input lane
    sig = types.void(dst, dofs, src, sofs, lo, hi, first, r, s)

    def codegen(context, builder, signature, args):
        darr = context.make_array(signature.args[0])(context, builder, args[0])
        sarr = context.make_array(signature.args[2])(context, builder, args[2])
        i32 = ir.IntType(32)
        vi = ir.VectorType(i32, V)
        sp = builder.bitcast(builder.gep(sarr.data, [_i64(builder, args[3])]), vi.as_pointer())
        v = builder.load(sp, align=4)
        lo_v = _splat(builder, builder.trunc(_i64(builder, args[4]), i32), vi)
        hi_v = _splat(builder, builder.trunc(_i64(builder, args[5]), i32), vi)
        v = builder.select(builder.icmp_signed("<", v, lo_v), lo_v, v)
        v = builder.select(builder.icmp_signed(">", v, hi_v), hi_v, v)
        v = builder.shuffle_vector(v, ir.Constant(vi, None), ir.Constant(vi, perm))
        dp = builder.bitcast(builder.gep(darr.data, [_i64(builder, args[1])]), vi.as_pointer())
        with builder.if_else(builder.icmp_signed("!=", _i64(builder, args[6]), ir.IntType(64)(0))) as (then, otherwise):
            with then:
                builder.store(v, dp, align=4)
            with otherwise:
                builder.store(builder.add(builder.load(dp, align=4), v), dp, align=4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic(prefer_literal=True)
def pixel_passes2(typingctx, acc, aofs, tab, src, sofs, sstep, pofs, tb, npass, width):
    """Two pixels of a uniform-pass ``lut`` op (``pixel_passes`` for the pixels at ``sofs`` and
    ``sofs + sstep``, sums to ``acc[aofs:]`` and ``acc[aofs + width:]``), each pass's offsets loaded
    once for both: ``e = tb[k] + v * width`` with ``tb[k] = toff[k] - base[k] * width``.
    ``width`` must be a literal int; 1-D arrays; ``pofs``, ``tb`` int64."""
    if not _literals(width):
        return None
    V = width.literal_value
    sig = types.void(acc, aofs, tab, src, sofs, sstep, pofs, tb, npass, width)

    def codegen(context, builder, signature, args):
        aty, _, tty, sty, _, _, pty, oty = signature.args[:8]
        aarr = context.make_array(aty)(context, builder, args[0])
        tarr = context.make_array(tty)(context, builder, args[2])
        sarr = context.make_array(sty)(context, builder, args[3])
        parr = context.make_array(pty)(context, builder, args[6])
        oarr = context.make_array(oty)(context, builder, args[7])
        i64 = ir.IntType(64)
        tbits, abits = tty.dtype.bitwidth, aty.dtype.bitwidth
        tvec, avec = ir.VectorType(ir.IntType(tbits), V), ir.VectorType(ir.IntType(abits), V)
        sofs, sstep, n = _i64(builder, args[4]), _i64(builder, args[5]), _i64(builder, args[8])
        t0 = cgutils.alloca_once_value(builder, ir.Constant(avec, [0] * V))
        t1 = cgutils.alloca_once_value(builder, ir.Constant(avec, [0] * V))

        def row(e):
            return _widen(builder, builder.load(builder.bitcast(builder.gep(tarr.data, [e]), tvec.as_pointer()),
                                                align=tbits // 8), avec)

        with cgutils.for_range(builder, n) as loop:
            k = loop.index
            p = builder.add(sofs, builder.load(builder.gep(parr.data, [k])))
            tb = builder.load(builder.gep(oarr.data, [k]))
            va = _i64(builder, builder.load(builder.gep(sarr.data, [p])))
            vb = _i64(builder, builder.load(builder.gep(sarr.data, [builder.add(p, sstep)])))
            builder.store(builder.add(builder.load(t0), row(builder.add(tb, builder.mul(va, i64(V))))), t0)
            builder.store(builder.add(builder.load(t1), row(builder.add(tb, builder.mul(vb, i64(V))))), t1)
        a0 = _i64(builder, args[1])
        builder.store(builder.load(t0), builder.bitcast(builder.gep(aarr.data, [a0]), avec.as_pointer()), align=abits // 8)
        builder.store(builder.load(t1), builder.bitcast(builder.gep(aarr.data, [builder.add(a0, i64(V))]),
                                                       avec.as_pointer()), align=abits // 8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic(prefer_literal=True)
def round_shift(typingctx, dst, dofs, src, sofs, bd, k, mode, width):
    """``dst[dofs + i] = round((src[sofs + i] + bd) / 2**k)`` for ``i < width`` in int32 lanes (``k`` >= 0;
    ``mode`` 0 half to even, 1 half up, 2 floor): ``(a + h - 1 + ((a >> k) & 1)) >> k``, ``(a + h) >> k``
    or ``a >> k`` with ``h = 2**(k-1)`` (``h = 0`` for ``k = 0``), arithmetic shifts. Exact while
    ``|src + bd| + 2**k < 2**31``. int32 ``dst``, int16 or int32 ``src``; ``width`` literal."""
    if not _literals(width):
        return None
    V = width.literal_value
    sig = types.void(dst, dofs, src, sofs, bd, k, mode, width)

    def codegen(context, builder, signature, args):
        darr = context.make_array(signature.args[0])(context, builder, args[0])
        sarr = context.make_array(signature.args[2])(context, builder, args[2])
        i32 = ir.IntType(32)
        vi = ir.VectorType(i32, V)
        a = _load_biased(builder, sarr, signature.args[2].dtype.bitwidth, args[3], args[4], V)
        k32 = builder.trunc(_i64(builder, args[5]), i32)
        kv = _splat(builder, k32, vi)
        one = ir.Constant(vi, [1] * V)
        # h = 2**(k-1) for k >= 1, 0 for k = 0: (1 << k) >> 1
        hv = builder.lshr(builder.shl(one, kv), one)
        q_floor = builder.ashr(a, kv)
        q_up = builder.ashr(builder.add(a, hv), kv)
        nz = builder.zext(builder.icmp_signed("!=", hv, ir.Constant(vi, [0] * V)), vi)  # k >= 1
        q_even = builder.ashr(builder.add(builder.add(a, builder.sub(hv, nz)), builder.and_(builder.and_(q_floor, one), nz)),
                              kv)
        m = _i64(builder, args[6])
        q = builder.select(builder.icmp_signed("==", m, ir.IntType(64)(0)), q_even,
                           builder.select(builder.icmp_signed("==", m, ir.IntType(64)(1)), q_up, q_floor))
        dp = builder.bitcast(builder.gep(darr.data, [_i64(builder, args[1])]), vi.as_pointer())
        builder.store(q, dp, align=4)
        return context.get_dummy_value()

    return sig, codegen
