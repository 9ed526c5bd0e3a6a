"""Small explicit-vector building blocks for the Numba kernels (LLVM IR via ``numba.extending.intrinsic``).

Numba does not vectorize the runtime's short, offset row additions on its own, so these
helpers emit LLVM vector instructions directly. LLVM lowers them for whatever CPU the
kernel is compiled on (AVX2, SSE, NEON ...); nothing here is x86-specific. Each helper
states its exact NumPy meaning; ``tests/test_simd.py`` checks them against it.

All offsets are element offsets into 1-D C-contiguous arrays; there are no bounds checks
(the callers size their buffers so every access is inside, including the ``width - p``
lanes read past a table row: tables carry ``width`` elements of padding at the end).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["prefetch", "row_add", "patch_add", "emit_u8"]


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
def row_add(typingctx, win, wofs, tab, tofs, width, p, rev):
    """``win[wofs + i] += r[i]`` for ``i < width``, where ``r = tab[tofs : tofs + p]`` (reversed if
    ``rev``) followed by ``width - p`` zeros. ``width``, ``p``, ``rev`` must be literal ints;
    ``win``'s integer type is at least as wide as ``tab``'s (values are sign-extended)."""
    if not _literals(width, p, rev):
        return None
    V, P, R = width.literal_value, p.literal_value, rev.literal_value
    sig = types.void(win, wofs, tab, tofs, width, p, rev)

    def codegen(context, builder, signature, args):
        wty, _, tty = signature.args[:3]
        warr = context.make_array(wty)(context, builder, args[0])
        tarr = context.make_array(tty)(context, builder, args[2])
        tv = _row_vector(builder, tarr, tty.dtype.bitwidth, V, P, R, _i64(builder, args[3]))
        _add_into(builder, warr, wty.dtype.bitwidth, _i64(builder, args[1]), tv)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic(prefer_literal=True)
def patch_add(typingctx, win, wofs, stride, tab, tofs, p, width, rev):
    """Add a ``p x p`` patch stored row-major at ``tab[tofs:]`` into ``win``, row ``pr`` at
    ``wofs + pr*stride``: ``row_add(win, wofs + pr*stride, tab, tofs + sr*p, width, p, rev)`` with
    ``sr = p-1-pr`` when ``rev`` (the patch rotated by 180 degrees) else ``pr``."""
    if not _literals(p, width, rev):
        return None
    V, P, R = width.literal_value, p.literal_value, rev.literal_value
    sig = types.void(win, wofs, stride, tab, tofs, p, width, rev)

    def codegen(context, builder, signature, args):
        wty, _, _, tty = signature.args[:4]
        warr = context.make_array(wty)(context, builder, args[0])
        tarr = context.make_array(tty)(context, builder, args[3])
        i64 = ir.IntType(64)
        wofs, stride, tofs = _i64(builder, args[1]), _i64(builder, args[2]), _i64(builder, args[4])
        for pr in range(P):
            sr = P - 1 - pr if R else pr
            tv = _row_vector(builder, tarr, tty.dtype.bitwidth, V, P, R, builder.add(tofs, i64(sr * P)))
            _add_into(builder, warr, wty.dtype.bitwidth, builder.add(wofs, builder.mul(stride, i64(pr))), tv)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic(prefer_literal=True)
def emit_u8(typingctx, out, oofs, win, wofs, cstride, nc, half, shift):
    """16 pixels of ``nc`` interleaved channels: for ``i < 16``, ``c < nc``:
    ``out.flat[oofs + i*nc + c] = clip((win[wofs + c*cstride + i] + half) >> shift, 0, 255)``
    (arithmetic shift, in ``win``'s integer type). ``nc`` must be a literal int (1..4)."""
    if not isinstance(nc, types.IntegerLiteral):
        return None
    NC, L = nc.literal_value, 16
    sig = types.void(out, oofs, win, wofs, cstride, nc, half, shift)

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

        vh, vs = splat(args[6]), splat(args[7])
        zero, top = ir.Constant(vt, [0] * L), ir.Constant(vt, [255] * L)
        chans = []
        for c in range(NC):
            ptr = builder.gep(warr.data, [builder.add(wofs, builder.mul(cstride, i64(c)))])
            v = builder.load(builder.bitcast(ptr, vt.as_pointer()), align=wbits // 8)
            v = builder.ashr(builder.add(v, vh), vs)
            v = builder.select(builder.icmp_signed("<", v, zero), zero, v)
            v = builder.select(builder.icmp_signed(">", v, top), top, v)
            chans.append(builder.trunc(v, ir.VectorType(ir.IntType(8), L)))
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
