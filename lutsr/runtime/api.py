"""The public entry point :func:`upscale`: input checks, pixel formats (gray, RGB, RGBA, 16-bit) and
banding of large images, around ``compile_lut`` + ``run``.
"""

from __future__ import annotations

import os

import numba
import numpy as np

from lutsr.errors import InputTypeError, LutsrError
from lutsr.lut.file import Lut
from lutsr.lut.shipped import resolve_lut
from lutsr.runtime.compile import CompiledLut, compile_lut
from lutsr.runtime.run import run

__all__ = ["upscale", "upscale_bytes", "BAND_SAMPLES", "fork_unsafe_layer"]

# ---------------------------------------------------------------- fork safety (issue 15 section 5)
# Numba's "omp" threading layer on Linux is GNU OpenMP, which cannot run in a process forked from
# one whose OpenMP threads have started: Numba then prints "Terminating: fork() called from a
# process already using GNU OpenMP, this is unsafe." and kills the child with SIGTERM at its first
# parallel kernel, and a multiprocessing "fork" pool waits for that task for ever. The layer starts
# at the first parallel kernel run (not at import or compile). A child forked after that gets a
# one-line LutsrError from ``upscale`` instead, naming the way out.
_FORKED_FROM: str | None = None


def fork_unsafe_layer() -> str | None:
    """The name of Numba's threading layer if it has started in this process and cannot be used
    in a forked child (GNU OpenMP), else ``None`` (not started yet, TBB, workqueue, other OpenMP)."""
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run: a child starts its own layer
        return None
    if layer != "omp":
        return None
    try:
        from numba.np.ufunc import omppool

        vendor = getattr(omppool, "openmp_vendor", "GNU")
    except ImportError:  # pragma: no cover - depends on the Numba build
        vendor = "GNU"
    return "omp (GNU OpenMP)" if vendor == "GNU" else None


def _after_fork_in_child() -> None:
    global _FORKED_FROM
    _FORKED_FROM = _FORKED_FROM or fork_unsafe_layer()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _check_not_forked() -> None:
    if _FORKED_FROM:
        raise LutsrError(
            f"this process was forked from one that had already run lutsr's parallel kernels on Numba's "
            f"{_FORKED_FROM} threading layer, which cannot run after fork(); start worker processes with "
            "multiprocessing.get_context('spawn') (or 'forkserver'), or create the pool before the first "
            "lutsr.upscale (see README, 'Processes')")

def _check_image(image) -> np.ndarray:
    """Refuse what ``upscale`` cannot take, with a message naming expected vs. got and what to pass."""
    if not isinstance(image, np.ndarray):
        raise InputTypeError(f"expected a numpy array (H, W) or (H, W, C) of uint8 or uint16, got "
                         f"{type(image).__name__}; pass np.asarray(image) (e.g. a PIL image) or a cv2.imread result")
    if image.dtype == np.bool_:
        raise LutsrError("expected a uint8 or uint16 image, got dtype bool; pass "
                         "mask.astype(np.uint8) * 255 to upscale a binary mask")
    if image.dtype.kind == "f":
        raise LutsrError(f"expected a uint8 or uint16 image, got dtype {image.dtype}; for values in 0..1 pass "
                         "np.clip(np.rint(x * 255), 0, 255).astype(np.uint8) (or * 65535 and uint16)")
    if image.dtype not in (np.uint8, np.uint16):
        raise LutsrError(f"expected a uint8 or uint16 image, got dtype {image.dtype}; convert it with "
                         "np.clip(x, 0, 255).astype(np.uint8) (or 0..65535 and uint16)")
    if image.ndim not in (2, 3):
        raise LutsrError(f"expected an (H, W) or (H, W, C) image, got shape {image.shape}; "
                         "pass one image at a time (loop over a batch)")
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        raise LutsrError(f"expected 1 (gray), 3 (RGB) or 4 (RGBA) channels, got {image.shape[2]} "
                         f"(shape {image.shape}); pass channels-last images and upscale other channel "
                         "counts one channel or one 3-channel group at a time")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise LutsrError(f"image has no pixels (shape {image.shape})")
    return image


def _check_threads(threads) -> int:
    if isinstance(threads, (bool, np.bool_)) or not isinstance(threads, (int, np.integer)):
        raise InputTypeError(f"threads must be a whole number >= 1 or None, got {threads!r} "
                         f"({type(threads).__name__})")
    if threads < 1:
        raise LutsrError(f"threads must be >= 1 or None, got {threads}")
    return int(threads)


class _OnReference:
    """A compiled LUT whose lookups run on the NumPy reference (``engine="reference"``): same
    pixels, no Numba kernel is called (so none compiles). Plans (scale, halo, banding) as ``comp``."""

    def __init__(self, comp) -> None:
        self.scale, self.halo, self.lut = comp.scale, comp.halo, comp.lut

    @property
    def streams(self) -> bool:
        return False  # bands of BAND_SAMPLES keep the reference's temporaries bounded too


def _upscale8(img: np.ndarray, c: CompiledLut, **size) -> np.ndarray:
    """uint8 (H, W, C) -> uint8 (H*s, W*s, C) through the LUT, channel by channel (``size``: the
    ``scale`` / ``out_shape`` of a network that resamples)."""
    if isinstance(c, _OnReference):
        if size:
            from lutsr.net.reference import run_network

            return np.stack([run_network(c.lut.network, img[..., k], **size) for k in range(img.shape[2])], axis=-1)
        from lutsr.runtime.reference import upscale_reference

        return upscale_reference(np.ascontiguousarray(img), c.lut)
    if size:
        from lutsr.runtime.netrun import run_net

        return run_net(c, np.ascontiguousarray(img), **size)
    return run(c, np.ascontiguousarray(img))


def _upscale16(img: np.ndarray, c: CompiledLut) -> np.ndarray:
    """uint16 (H, W, C): the LUT on the nearest 8-bit level, bicubic on the remainder.

    ``v = 257*hi + r`` with ``hi = round(v / 257)`` and ``|r| <= 128``. The output is
    ``257 * LUT(hi) + bicubic(r)``: the LUT supplies the detail, the remainder (the bits an
    8-bit table cannot see) is carried smoothly, so 16-bit gradients do not band.
    """
    from lutsr._opencv import cv2_module

    cv2 = cv2_module()

    s = c.scale
    v = img.astype(np.int32)
    hi = ((v + 128) // 257).astype(np.uint8)
    rem = (v - 257 * hi.astype(np.int32)).astype(np.float32)
    base = _upscale8(hi, c).astype(np.int32) * 257
    up = cv2.resize(rem, (img.shape[1] * s, img.shape[0] * s), interpolation=cv2.INTER_CUBIC)
    up = up.reshape(base.shape)
    return np.clip(base + np.rint(up).astype(np.int32), 0, 65535).astype(np.uint16)


def _upscale_any(img: np.ndarray, c: CompiledLut, **size) -> np.ndarray:
    if img.dtype == np.uint16:
        if size:
            raise LutsrError("16-bit images do not go through networks that resample (LeRF) yet; pass "
                             "(img >> 8).astype(np.uint8) or use an integer-scale LUT")
        return _upscale16(img, c)
    return _upscale8(img, c, **size)


def _upscale_rgba(img: np.ndarray, c: CompiledLut, **size) -> np.ndarray:
    """RGBA: premultiply, upscale colour and alpha with the LUT, un-premultiply.

    Transparent pixels' colour (often black) then cannot bleed into visible edges: colour is
    weighted by its own alpha before the LUT mixes neighbours, and divided by the upscaled
    alpha afterwards. Fully transparent output pixels get colour 0.
    """
    top = 65535 if img.dtype == np.uint16 else 255
    a = img[..., 3:].astype(np.int64)
    prem = ((img[..., :3].astype(np.int64) * a + top // 2) // top).astype(img.dtype)
    up = _upscale_any(np.concatenate([prem, img[..., 3:]], axis=2), c, **size).astype(np.int64)
    ua = up[..., 3:]
    rgb = np.where(ua > 0, (up[..., :3] * top + ua // 2) // np.maximum(ua, 1), 0)
    return np.concatenate([np.clip(rgb, 0, top), ua], axis=2).astype(img.dtype)


BAND_SAMPLES = 1 << 22


def _upscale_banded(src: np.ndarray, comp: CompiledLut, band_samples: int) -> np.ndarray:
    """Process ``src`` in bands of LR rows with halos; bit-identical to whole-image processing."""
    h, w, c = src.shape
    s = comp.scale
    rows = max(1, band_samples // max(1, w * c))
    if rows >= h:
        return _upscale_rgba(src, comp) if c == 4 else _upscale_any(src, comp)
    halo = comp.halo
    out = np.empty((h * s, w * s, c), dtype=src.dtype)
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        a, b = max(0, y0 - halo), min(h, y1 + halo)
        part = src[a:b]
        up = _upscale_rgba(part, comp) if c == 4 else _upscale_any(part, comp)
        out[y0 * s : y1 * s] = up[(y0 - a) * s : (y1 - a) * s]
    return out


def _resample_size(lut: Lut, outscale, size, shape) -> dict:
    """``{}`` for an integer-scale LUT (after checking ``outscale`` / ``size`` agree with it), or the
    ``scale`` / ``out_shape`` keywords of a network that resamples to any size (LeRF)."""
    h, w = shape
    if lut.scale is not None:
        s = lut.scale
        if outscale is not None and float(outscale) != s:
            raise LutsrError(f"{lut.header['method']} x{s} upscales by exactly {s}; --outscale {outscale:g} needs a "
                             "LUT that resamples to any size (LeRF: lutsr import --method lerf)")
        if size is not None and tuple(size) != (w * s, h * s):
            raise LutsrError(f"{lut.header['method']} x{s} makes {w * s}x{h * s} from this {w}x{h} image; --size "
                             f"{size[0]}x{size[1]} needs a LUT that resamples to any size (LeRF)")
        return {}
    if outscale is None and size is None:
        raise LutsrError(f"{lut.header['method']} resamples to any size: give outscale (e.g. 2.5) or size (W, H)")
    if outscale is not None and size is not None:
        raise LutsrError("give outscale or size, not both")
    if size is not None:
        return {"out_shape": (int(size[1]), int(size[0]))}
    return {"scale": float(outscale)}


def upscale(image: np.ndarray, lut: Lut | str | os.PathLike | None = None, threads: int | None = None,
            band_samples: int | None = None, outscale: float | None = None,
            size: tuple[int, int] | None = None, engine: str = "kernels") -> np.ndarray:
    """Upscale an image with a LUT.

    Args:
        image: ``(H, W)`` gray or ``(H, W, C)`` with C in 1, 3 (RGB), 4 (RGBA); uint8
            (0..255) or uint16 (0..65535). Channel order: channels last, RGB(A) as
            ``lutsr.imageio.read_image`` / ``load_image`` return them -- not OpenCV's BGR(A) from
            ``cv2.imread`` (convert with ``cv2.cvtColor(img, cv2.COLOR_BGR2RGB)`` or
            ``COLOR_BGRA2RGBA``). Every method lutsr runs today passes each channel through the
            LUT on its own, so for 3 channels the order does not change the result (BGR in gives
            the same pixels in BGR out); it matters for 4 channels (alpha must be last), for
            ``lutsr.metrics`` (Y from RGB), and for any future method that mixes channels.
            Every colour channel goes through the LUT. RGBA:
            colour is premultiplied by alpha, alpha is upscaled with the LUT too, then colour
            is un-premultiplied (no dark fringes). uint16: the LUT runs on the nearest 8-bit
            level and the remainder is added back bicubically (no banding); see docs/runtime.md.
        lut: a loaded :class:`~lutsr.lut.file.Lut`, a path to a LUT file, a shipped family
            name (``"srlut-s"``, ``"eclut"``, ``"eclut-sdy"``: x4), or ``None`` for the shipped default x4 LUT.
        threads: worker threads for the kernels, an int >= 1 (default: Numba's default, all cores).
        band_samples: input samples per band of rows (default: ``BAND_SAMPLES``, or the whole
            image for a one-pass LUT on 8-bit gray/RGB). The output does not depend on it.
        outscale: any scale >= 1 (a float) for a LUT that resamples (LeRF); the output is
            ``ceil(outscale * H) x ceil(outscale * W)``. For other LUTs it must equal their scale.
        size: ``(W, H)`` output size instead of ``outscale`` (LeRF only, or the LUT's own size).
        engine: ``"kernels"`` (the Numba runtime) or ``"reference"``: the slow NumPy reference
            (``lutsr.runtime.reference``), the same pixels bit for bit, with nothing to compile;
            ``lutsr upscale`` uses it for a small image while the kernels are not compiled yet.

    Large images are processed in bands of rows (``BAND_SAMPLES`` input samples each) with
    the halo the method's receptive field needs, so temporaries stay bounded; the output
    is bit-identical to processing the whole image at once. 8-bit gray/RGB images through a
    one-pass LUT (ECLUT, SR-LUT) need no bands: those kernels only hold a few rows at a time.

    Returns:
        ``(H*s, W*s)`` or ``(H*s, W*s, C)`` of the input's dtype, where s is the LUT's scale.

    Raises:
        LutsrError: the image or the LUT is invalid (message says expected vs. got).
    """
    if engine not in ("kernels", "reference"):
        raise LutsrError(f"engine {engine!r}: expected 'kernels' or 'reference'")
    if engine == "kernels":
        _check_not_forked()
    img = _check_image(image)
    if threads is not None:
        threads = _check_threads(threads)
    lut = resolve_lut(lut)
    resample = _resample_size(lut, outscale, size, img.shape[:2])
    src = img if img.ndim == 3 else img[..., None]
    prev = None
    if threads is not None:
        prev = numba.get_num_threads()
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        comp = compile_lut(lut)
        if engine == "reference":
            comp = _OnReference(comp)
        if resample:  # any-scale networks run whole planes (their resampler maps rows unevenly)
            out = _upscale_rgba(src, comp, **resample) if src.shape[2] == 4 else _upscale_any(src, comp, **resample)
            return out[..., 0] if image.ndim == 2 else out
        streaming = src.dtype == np.uint8 and src.shape[2] != 4 and comp.streams
        if band_samples is None:
            band_samples = src.size if streaming else BAND_SAMPLES
        out = _upscale_banded(src, comp, int(band_samples))
    finally:
        if prev is not None:
            numba.set_num_threads(prev)
    return out[..., 0] if image.ndim == 2 else out




def upscale_bytes(data: bytes | bytearray | memoryview, lut: Lut | str | os.PathLike | None = None,
                  ext: str = ".png", threads: int | None = None, max_pixels: int | None = None,
                  outscale: float | None = None, size: tuple[int, int] | None = None) -> bytes:
    """Upscale an encoded image held in memory and return the encoded result (services, pipelines).

    Decoding and encoding are those of ``lutsr upscale`` on files (``lutsr.imageio.decode_image`` /
    ``encode_image``): 8/16-bit, gray/RGB/RGBA, EXIF orientation applied, EXIF (orientation reset
    to 1) and ICC profile carried to the output where the format allows.

    Args:
        data: the bytes of a PNG, JPEG, WebP, TIFF or BMP image.
        lut: as :func:`upscale`.
        ext: output format by extension (``".png"``, ``"jpg"``, ``"webp"``, ...).
        threads, outscale, size: as :func:`upscale`.
        max_pixels: refuse inputs declaring more pixels (default: ``lutsr.imageio.DEFAULT_MAX_PIXELS``).

    Returns:
        The encoded upscaled image.

    Raises:
        LutsrError: undecodable or too large input, unknown format, invalid LUT (one line).
    """
    from lutsr.imageio import DEFAULT_MAX_PIXELS, decode_image, encode_image

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputTypeError(f"expected the bytes of an encoded image, got {type(data).__name__}; "
                             "for a decoded array use lutsr.upscale")
    img = decode_image(data, name="<bytes>", max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
    out = upscale(img.pixels, lut, threads=threads, outscale=outscale, size=size)
    return encode_image(out, ext, img.metadata, name="<bytes>", inplace=True)
