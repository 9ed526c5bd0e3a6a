"""The ``lutsr`` command line. The only module that prints.

Every command turns bad input into a one-line ``error: ...`` on stderr and exit status 2,
never a traceback and never a partial output file.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import sys
import time
from pathlib import Path

import click

from lutsr._version import __version__
from lutsr.batch import check_budget as _check_budget, default_memory_budget, estimate_memory, process_file  # noqa: F401
from lutsr.batch import _head as _file_head
from lutsr.batch import process_files, run_pixels
from lutsr.batch import upscale_one as _upscale_one  # noqa: F401
from lutsr.errors import LutsrError
from lutsr.net.archs import TABLE_ARCHS
from lutsr.spec import NETWORK_FAMILIES, fittable_methods, importable_methods, trainable_methods

log = logging.getLogger("lutsr")

EXIT_BAD_INPUT = 2


class _StderrHandler(logging.Handler):
    """Log records to the *current* stderr through click (works under test runners too)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            err = sys.stderr
            click.echo(self.format(record), file=getattr(err, "_real", err))  # --quiet lets records through
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def _setup_logging(verbose: int) -> None:
    level = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO}.get(verbose, logging.DEBUG)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("lutsr")
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _StderrHandler)] + [handler]
    root.setLevel(level)


class _Terminated(BaseException):
    """Raised in the main thread on SIGTERM so temporary files are cleaned like on Ctrl-C."""


def _handle_sigterm() -> None:
    """Make SIGTERM (timeout, docker stop, systemd) unwind like SIGINT: temp files removed."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def _raise(signum, frame):
        raise _Terminated()

    try:
        signal.signal(signal.SIGTERM, _raise)
    except (ValueError, OSError):  # not the main thread of the interpreter
        pass


def _friendly(fn):
    """Turn expected failures into one line on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _handle_sigterm()
        try:
            return fn(*args, **kwargs)
        except MemoryError:
            click.echo("error: out of memory (try a smaller image, or a machine with more memory)", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except LutsrError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except ImportError as e:
            click.echo(f"error: {e.name or e} is not installed ({e}); install the training extra: pip install 'lutsr[train]'", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except OSError as e:
            name = f"{e.filename}: " if getattr(e, "filename", None) else ""
            click.echo(f"error: {name}{e.strerror or e}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except _Terminated:
            click.echo("terminated", err=True)
            sys.exit(143)

    return wrapper


# ---------------------------------------------------------------- -q / -v anywhere (issue 15 section 3)
_GLOBAL_FLAGS = {"-q": "-q", "--quiet": "-q", "-v": "-v", "--verbose": "-v"}


class _ErrorsOnly:
    """A stderr stand-in for ``--quiet``: passes ``error: ...`` / ``failed: ...`` / ``interrupted``
    lines, drops progress bars, summaries and notices; never a terminal (no progress redraw)."""

    def __init__(self, real):
        self._real = real

    def write(self, s: str) -> int:
        if s.lstrip("\r").startswith(("error:", "failed:", "interrupted")):
            self._real.write(s)
        return len(s)

    def flush(self) -> None:
        self._real.flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name):
        return getattr(self._real, name)


class _LutsrGroup(click.Group):
    """``-q``/``-v`` are accepted before or after the subcommand (``lutsr upscale -q a b``):
    written after it, they are moved in front of it before parsing (up to a ``--``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        moved, rest, i = [], [], 0
        cmd_seen = False
        while i < len(args):
            a = args[i]
            if a == "--":
                rest += args[i:]
                break
            if cmd_seen and a in _GLOBAL_FLAGS:
                moved.append(_GLOBAL_FLAGS[a])
            else:
                if not a.startswith("-") and a in self.commands:
                    cmd_seen = True
                rest.append(a)
            i += 1
        return super().parse_args(ctx, moved + rest)

    def invoke(self, ctx: click.Context):
        if not ctx.params.get("quiet"):
            return super().invoke(ctx)
        real = sys.stderr
        sys.stderr = _ErrorsOnly(real)
        try:
            return super().invoke(ctx)
        finally:
            sys.stderr = real


@click.group(cls=_LutsrGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lutsr")
@click.option("-q", "--quiet", is_flag=True, help="Errors only (no progress, no summary); before or after the command.")
@click.option("-v", "--verbose", is_flag=True, help="Debug output; before or after the command.")
@click.pass_context
def main(ctx: click.Context, quiet: bool, verbose: bool) -> None:
    """lutsr: lookup-table super-resolution (train, export, upscale)."""
    ctx.obj = {"quiet": quiet, "verbose": verbose}
    _setup_logging(-2 if quiet else (1 if verbose else 0))


#: seconds each kernel takes to compile on the 2-core development machine (tools/bench_cold_start.py)
_COMPILE_SECONDS = {"expand_patch_kernel": 11, "expand_corners": 2, "block_vec_kernel": 15, "block_stage_kernel": 10,
                    "block_kernel": 6, "expand_kernel": 6, "rescale_kernel": 1}


def _compile_estimate(cold: list[str]) -> int:
    return max(1, round(sum(_COMPILE_SECONDS.get(k, 2) for k in cold)))


#: a cold first run of an image with at most this many samples (W*H*channels, from the header) runs
#: on the NumPy reference (about 15 us a sample: 4 s at most) while the kernels compile in the background
REFERENCE_SAMPLES = 1 << 18


def _cold(lut):
    """``(compiled LUT, names of its kernels not in the on-disk cache)``, or ``(None, [])`` if unknown."""
    from lutsr.runtime.compile import compile_lut
    from lutsr.runtime.run import cold_kernels

    try:
        if hasattr(lut, "luts"):  # an AutoLut: its tables share one method, so one set of kernels
            lut = lut.luts[0]
        comp = compile_lut(lut)
        return comp, cold_kernels(comp)
    except Exception:  # noqa: BLE001 - a notice must never break a run
        return None, []


def _first_run_engine(lut, src: Path) -> str:
    """``"reference"`` when this LUT's kernels are not compiled yet and ``src`` is small: the image
    then runs on the NumPy reference (the same pixels) and ``lutsr warmup`` compiles the kernels
    in a background process for the next run; ``"kernels"`` otherwise (with the compile notice).
    ``LUTSR_FIRST_RUN=compile`` always compiles in the foreground (``reference``: never starts the
    background compile)."""
    from lutsr.imageio import declared_size

    comp, cold = _cold(lut)
    if not cold:
        return "kernels"
    mode = os.environ.get("LUTSR_FIRST_RUN", "auto")
    head = _file_head(src)
    size = declared_size(head) if head else None
    name = lut.luts[0] if hasattr(lut, "luts") else lut
    if mode == "compile" or size is None or size[0] * size[1] * 3 > REFERENCE_SAMPLES:  # 3: up to RGB
        _compile_notice(name, cold)
        return "kernels"
    started = mode != "reference" and _warmup_in_background(name)
    click.echo(f"the kernels for {name} are not compiled yet: this image runs on the NumPy reference (the same "
               f"pixels, slower)" + (f"; they compile in the background for the next run (once, about "
                                     f"{_compile_estimate(cold)} s)" if started else ""), err=True)
    return "reference"


def _warmup_in_background(lut) -> bool:
    """Start ``lutsr warmup -n LUT`` as a detached process (at most one every 10 minutes per cache
    folder); False if it cannot (no writable cache folder, no LUT file)."""
    import subprocess

    from lutsr.runtime.kernels.jit import CACHE_DIR

    if getattr(lut, "path", None) is None:
        return False
    stamp = CACHE_DIR / "background-warmup"
    try:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        if stamp.exists() and time.time() - stamp.stat().st_mtime < 600:
            return True  # one is running (or has just run)
        proc = subprocess.Popen([sys.executable, "-m", "lutsr", "-q", "warmup", "-n", str(lut.path)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, close_fds=True)
        stamp.write_text(str(proc.pid))  # only once one has started
    except OSError:
        return False
    return True


def _compile_notice(lut, cold: list[str] | None = None) -> None:
    """One line, once, before a run whose kernels are not in the on-disk cache yet (they compile first);
    ``cold``: the kernels, when the caller already knows them."""
    if cold is None:
        _, cold = _cold(lut)
    if hasattr(lut, "luts"):
        lut = lut.luts[0]
    if cold:
        est = _compile_estimate(cold)
        click.echo(f"compiling kernels for {lut} (once, about {est} s; 'lutsr warmup' does it ahead of time)",
                   err=True)


def _parse_size(text: str) -> tuple[int, int]:
    """``"1920x1080"`` -> ``(1920, 1080)``; a one-line error otherwise."""
    parts = text.lower().replace("*", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts) or min(int(p) for p in parts) < 1:
        raise LutsrError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 1920x1080")
    return int(parts[0]), int(parts[1])


def _upscale_stream(src: Path | None, dst: Path | None, ext: str, lut, threads, max_pixels: int,
                    budget: int | None, outscale: float | None, size: tuple[int, int] | None,
                    overwrite: bool = False, notes: list | None = None, options=None) -> tuple[tuple, tuple]:
    """``-`` as IN or OUT: read one encoded image from stdin (``src`` None) and/or write the encoded
    result to stdout (``dst`` None, format ``ext``), with the file path's decoding, metadata and
    checks. Only the image goes to stdout. Returns the input and output (width, height)."""
    from lutsr.imageio import declared_size, decode_image, encode_image, load_image, save_image

    if src is None:
        data = click.get_binary_stream("stdin").read()
        name = "<stdin>"
        dims = declared_size(data[: 1 << 20])
        if budget is not None and dims is not None and dims[0] * dims[1] <= max_pixels:
            need = estimate_memory(dims[0], dims[1], lut.scale or math.ceil(outscale or 8))
            if need > budget:
                raise LutsrError(f"{name}: {dims[0]}x{dims[1]} needs about {need / 2**30:.1f} GiB, over the memory "
                                 f"budget of {budget / 2**30:.1f} GiB (--max-memory to change it)")
        img = decode_image(data, name=name, max_pixels=max_pixels)
        head = data[: 1 << 20]
        del data
    else:
        _check_budget(src, lut.scale or math.ceil(outscale or 8), budget, max_pixels)
        name = str(src)
        img = load_image(src, max_pixels=max_pixels)
        head = _file_head(src) if hasattr(lut, "pick") else None
    try:
        out = run_pixels(lut, img.pixels, head, threads, outscale, size, notes)
    except LutsrError as e:
        raise LutsrError(f"{name}: {e}") from None
    in_size, out_size = img.pixels.shape[1::-1], out.shape[1::-1]
    del img.pixels
    if dst is not None:
        save_image(dst, out, img.metadata, inplace=True, overwrite=overwrite, options=options)
    else:
        blob = encode_image(out, ext, img.metadata, name="<stdout>", inplace=True, options=options)
        stream = click.get_binary_stream("stdout")
        stream.write(blob)
        stream.flush()
    return in_size, out_size


def _declared(src: Path | None, lut) -> str:
    """`` (WxH -> W'xH')`` from the header of ``src`` (nothing decoded), or ``""`` if unknown."""
    from lutsr.imageio import declared_size

    if src is None or lut.scale is None:
        return ""
    try:
        with open(src, "rb") as f:
            size = declared_size(f.read(1 << 20))
    except OSError:
        return ""
    if size is None:
        return ""
    w, h = size
    return f" ({w}x{h} -> {w * lut.scale}x{h * lut.scale})"


def _shown(x) -> str:
    """A name or message for one output line: control characters (newlines) escaped,
    bytes that are not UTF-8 shown as ``\\xNN``."""
    text = str(x)
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def _clean_stale_temps(folders) -> None:
    """Remove temporary files left in ``folders`` by a killed run (``.NAME.XXXX.lutsr-part``)."""
    from lutsr.imageio import is_temp_name

    for d in folders:
        if not d.is_dir():
            continue
        for q in d.iterdir():
            if is_temp_name(q.name) and q.is_file():
                log.info("removing %s (left by an interrupted run)", q)
                q.unlink(missing_ok=True)


def _check_output(output: Path, inputs, overwrite: bool) -> None:
    """The rules of every command that writes: never over an input, --overwrite to replace a file."""
    if not output.parent.resolve().is_dir():
        raise LutsrError(f"{output}: output folder {output.parent} does not exist")
    if output.exists():
        target = output.resolve()
        for src in inputs:
            if Path(src).exists() and Path(src).resolve() == target:
                raise LutsrError(f"{output}: refusing to write over an input")
        if output.is_dir():
            raise LutsrError(f"{output}: is a folder")
        if not overwrite:
            raise LutsrError(f"{output}: already exists; use --overwrite to replace it")


def _normalize_ext(ext: str | None) -> str | None:
    from lutsr.imageio import IMAGE_EXTENSIONS

    if ext is None:
        return None
    e = ext.lower() if ext.startswith(".") else f".{ext.lower()}"
    if e not in IMAGE_EXTENSIONS:
        raise LutsrError(f"--ext {ext!r} is not supported; use one of {', '.join(IMAGE_EXTENSIONS)}")
    return e


def _in_out(arg1: Path | None, arg2: Path | None, in_opt: Path | None, out_opt: Path | None) -> tuple[Path, Path]:
    """IN and OUT from the positional arguments and ``-i`` / ``-o``: the arguments fill whichever
    of the two the options leave open, in order; one line when one is given twice or missing."""
    args = [a for a in (arg1, arg2) if a is not None]
    if in_opt is not None and out_opt is not None and args:
        raise LutsrError("IN and OUT given both as arguments and with -i/-o; use one form")
    if in_opt is not None and len(args) > 1:
        raise LutsrError("IN given both as an argument and with -i/--input; use one form")
    if out_opt is not None and len(args) > 1:
        raise LutsrError("OUT given both as an argument and with -o/--output; use one form")
    src = in_opt if in_opt is not None else (args.pop(0) if args else None)
    dst = out_opt if out_opt is not None else (args.pop(0) if args else None)
    if src is None:
        raise LutsrError("missing IN: give it as the first argument or with -i/--input")
    if dst is None:
        raise LutsrError("missing OUT: give it as the second argument or with -o/--output")
    return src, dst


def _image_options(lut_help: str):
    """The options every image command shares (upscale, denoise, deblock): IN/OUT, LUT, folders,
    output rules, limits, --dry-run, --json, --dask."""
    opts = [
        click.argument("input_path", metavar="IN", type=click.Path(path_type=Path), required=False),
        click.argument("output_path", metavar="OUT", type=click.Path(path_type=Path), required=False),
        click.option("-n", "--lut", "lut_path", type=click.Path(path_type=Path), default=None, help=lut_help),
        click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
                     help="Folders: files in flight at once (default: twice the cores, at most 4): other files decode "
                          "and encode while one runs the lookups. Outputs are the same bytes for any -j."),
        click.option("-t", "--threads", type=click.IntRange(min=1), default=None,
                     help="Threads of the lookup kernels (default: all cores)."),
        click.option("--out-quality", "out_quality", type=click.IntRange(1, 100), default=None,
                     help="Output quality 1..100 for JPEG, WebP, AVIF and JPEG XL (default: OpenCV's, 95 for JPEG)."),
        click.option("--png-compression", type=click.IntRange(0, 9), default=None,
                     help="PNG zlib level 0..9 (default 1: fast; 9: smallest). Pixels are the same at every level."),
        click.option("-r", "--recursive", is_flag=True, help="Folders: include sub-folders (the tree is kept)."),
        click.option("--suffix", default="", help="Folders: text added to each output name, e.g. _x4."),
        click.option("-f", "--ext", default=None,
                     help="Output format (png, jpg, webp, tif, bmp); default: OUT's or the input's."),
        click.option("--skip-existing", is_flag=True,
                     help="Leave existing outputs alone (and do not count them as errors)."),
        click.option("--overwrite", is_flag=True, help="Replace existing outputs (never an input)."),
        click.option("--max-pixels", type=click.IntRange(min=1), default=None,
                     help="Refuse inputs with more pixels than this (default 2**30)."),
        click.option("--max-memory", type=click.FloatRange(min=0.001), default=None,
                     help="Memory budget per image in GiB, estimated from the header before decoding "
                          "(default: 80%% of the machine's memory)."),
        click.option("-i", "--input", "input_opt", type=click.Path(path_type=Path), default=None,
                     help="IN as an option (instead of the first argument)."),
        click.option("-o", "--output", "output_opt", type=click.Path(path_type=Path), default=None,
                     help="OUT as an option (instead of the second argument)."),
        click.option("--dry-run", is_flag=True, help="List what would be written or skipped, and why; write nothing."),
        click.option("--json", "as_json", is_flag=True,
                     help="At the end, one JSON object on stdout: inputs, outputs, skipped, failed (with reasons), "
                          "seconds."),
        click.option("--dask", "dask", default=None, metavar="local:N|tcp://HOST:PORT",
                     help="Folders: one task per file on a Dask cluster (pip install 'lutsr[dask]'); IN and OUT must "
                          "be at the same paths on every worker; -t is then Numba threads per task (default 1)."),
    ]

    def apply(fn):
        for o in reversed(opts):
            fn = o(fn)
        return fn
    return apply


_quality_alias = click.option(
    "--quality", "quality_alias", type=click.IntRange(1, 100), default=None,
    help="Same as --out-quality (deblock's --quality is the input's JPEG quality, so there it is --out-quality only).")


def _merge_quality(kw: dict) -> dict:
    alias = kw.pop("quality_alias", None)
    if alias is not None and kw.get("out_quality") not in (None, alias):
        raise LutsrError(f"--quality {alias} and --out-quality {kw['out_quality']} disagree; give one")
    kw["out_quality"] = kw.get("out_quality") or alias
    return kw


_IMAGE_DOC_TAIL = """
    IN and OUT are given as arguments or as -i/--input and -o/--output (upscaler CLIs' form);
    '-' as IN reads one image from stdin, '-' as OUT writes it to stdout (--ext, default PNG).

    The output format follows OUT's extension (or --ext). Nothing is overwritten without
    --overwrite, an input is never written over, and outputs appear atomically (temporary
    file, then rename). Exit status: 0 success, 1 some files of a folder failed, 2 bad input.
    --dry-run checks the options, lists each planned output on stdout and writes nothing
    (exit 0, or 2 on bad input). --json: a summary object on stdout at the end (the plan, with
    --dry-run; messages stay on stderr).
"""


@main.command()
@_image_options("(-n: model, as upscaler CLIs name it) LUT file, or a shipped family: srlut-s (the default: "
                "as fast as eclut and sharper), eclut, eclut-sdy (sharper, about 5x slower), or shiftnet "
                "(lutsr's LUT network: the sharpest and smallest, the slowest).")
@click.option("-s", "--scale", type=click.IntRange(1, 8), default=None,
              help="Scale of the shipped LUT to use (default 4); with a LUT file it must match the file.")
@click.option("--outscale", type=click.FloatRange(1, 8), default=None,
              help="Any output scale (e.g. 2.5) with a LUT that resamples (LeRF); others take only their own.")
@click.option("--size", "out_size", default=None, metavar="WxH",
              help="Output size instead of a scale (LeRF LUTs; one image).")
@_quality_alias
@_friendly
def upscale(scale: int | None = None, outscale: float | None = None, out_size: str | None = None, **kw) -> None:
    """Upscale image IN to OUT, or every image in folder IN into folder OUT.
    """
    _images_command("upscale", None, scale=scale, outscale=outscale, out_size=out_size, **_merge_quality(kw))


upscale.help = (upscale.help or "") + _IMAGE_DOC_TAIL


def _level(text: str | None, name: str):
    """``--sigma`` / ``--quality``: an integer, ``auto``, or ``None``."""
    if text is None or text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise LutsrError(f"--{name} {text!r}: expected an integer or 'auto'") from None


@main.command()
@_image_options("Denoising LUT file (default: the shipped table nearest to --sigma).")
@click.option("--sigma", default=None, metavar="S|auto",
              help="Noise sigma in 0..255 steps; the nearest shipped table (10, 15, 25, 35, 50) is used. 'auto' (the "
                   "default without --lut) estimates it per image and says which table it chose.")
@click.option("--fast", is_flag=True,
              help="The shipped fast tables (two-pixel direct lookups: many times faster, less sharp).")
@click.option("--colour", "colour", type=click.Choice(["opponent", "rgb"]), default="opponent", show_default=True,
              help="Colour images with the shipped tables: on opponent colour channels (each with the table of its "
                   "own noise level), or on R, G, B.")
@_quality_alias
@_friendly
def denoise(sigma: str | None = None, fast: bool = False, colour: str = "opponent", **kw) -> None:
    """Remove Gaussian noise from image IN into OUT, or from every image in folder IN.

    Each colour channel runs the same table; the shipped tables are lutsr's sdy2 cascades
    (docs/restore.md).
    """
    _images_command("denoise", _level(sigma, "sigma"), fast=fast, colour=colour, **_merge_quality(kw))


denoise.help = (denoise.help or "") + _IMAGE_DOC_TAIL


@main.command()
@_image_options("Deblocking LUT file (default: the shipped table nearest to --quality).")
@click.option("--quality", default=None, metavar="Q|auto",
              help="JPEG quality 1..100 the input was saved at; the nearest shipped table (10, 20, 30, 40) is used. "
                   "'auto' (the default without --lut) reads it from each JPEG file's quantisation tables.")
@_friendly
def deblock(quality: str | None = None, **kw) -> None:
    """Remove JPEG blocking and ringing from image IN into OUT, or from every image in folder IN.

    Each channel runs the same table (trained on gray JPEGs); --quality auto reads the quality
    from the file, so IN must then be the JPEG as saved.
    """
    _images_command("deblock", _level(quality, "quality"), **kw)


deblock.help = (deblock.help or "") + _IMAGE_DOC_TAIL


_VERBS = {"upscale": ("upscaling", "upscaled"), "denoise": ("denoising", "denoised"),
          "deblock": ("deblocking", "deblocked")}


def _images_command(kind: str, level, input_path: Path | None, output_path: Path | None, lut_path: Path | None,
                    jobs: int | None, threads: int | None, recursive: bool, suffix: str, ext: str | None,
                    skip_existing: bool,
                    overwrite: bool, max_pixels: int | None, max_memory: float | None,
                    input_opt: Path | None = None, output_opt: Path | None = None, dry_run: bool = False,
                    as_json: bool = False, dask: str | None = None, scale: int | None = None,
                    outscale: float | None = None, out_size: str | None = None, fast: bool = False,
                    colour: str = "opponent", out_quality: int | None = None,
                    png_compression: int | None = None) -> None:
    """The body of ``upscale``, ``denoise`` and ``deblock`` (``kind``; ``level``: sigma / quality)."""
    from lutsr._opencv import preset_pixel_limit

    input_path, output_path = _in_out(input_path, output_path, input_opt, output_opt)
    preset_pixel_limit(max_pixels or (1 << 30))  # before cv2 is imported: OpenCV then refuses in every header reader
    from lutsr.datasets import find_images
    from lutsr.imageio import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, EncodeOptions
    from lutsr.lut.shipped import resolve_lut

    max_pixels = max_pixels or DEFAULT_MAX_PIXELS
    options = EncodeOptions(out_quality, png_compression)
    budget = int(max_memory * 2**30) if max_memory else default_memory_budget()
    ext = _normalize_ext(ext)
    if "/" in suffix or "\\" in suffix or os.sep in suffix or "\0" in suffix:
        raise LutsrError(f"--suffix {suffix!r}: must not contain a path separator")
    if skip_existing and overwrite:
        raise LutsrError("--skip-existing and --overwrite exclude each other")
    stdin, stdout = str(input_path) == "-", str(output_path) == "-"
    if as_json and stdout:
        raise LutsrError("--json prints its summary on stdout: not with '-' as OUT")
    t_start = time.perf_counter()
    summary: dict = {"dry_run": dry_run, "inputs": [], "outputs": [], "skipped": [], "failed": []}

    def say(text: str) -> None:  # the --dry-run plan: stdout, or stderr when stdout holds the JSON
        click.echo(text, err=as_json)

    def emit() -> None:
        if as_json:
            import json

            summary["seconds"] = round(time.perf_counter() - t_start, 6)
            click.echo(json.dumps(summary))
    if not stdin and not input_path.exists():
        raise LutsrError(f"{input_path}: no such file or folder")
    if stdout and input_path.is_dir():
        raise LutsrError(f"{input_path}: is a folder; OUT '-' (stdout) takes one image")
    if kind == "upscale":
        lut = resolve_lut(lut_path, scale=scale or 4)
    else:
        from lutsr.restore import task_lut

        lut = task_lut(kind, level, lut_path, fast, colour)
    size = _parse_size(out_size) if out_size else None
    if lut.scale is None and scale is not None:
        outscale = outscale or float(scale)  # an any-scale LUT takes --scale N as --outscale N
    elif scale is not None and lut.scale != scale:
        raise LutsrError(f"{lut_path}: is a x{lut.scale} LUT, but --scale {scale} was asked for")
    if lut.scale is None and outscale is None and size is None:
        raise LutsrError(f"{lut_path}: a {lut.header['method']} LUT resamples to any size: give --outscale "
                         "(e.g. 2.5), --scale or --size WxH")
    if size is not None and input_path.is_dir():
        raise LutsrError("--size is for one image; use --outscale for a folder")

    if stdout and not stdin and not input_path.is_file():
        raise LutsrError(f"{input_path}: not a file; OUT '-' (stdout) takes one image")
    if input_path.is_file() or stdin:
        dst = None
        if not stdout:
            dst = output_path
            stem, in_ext = ("stdin", ".png") if stdin else (input_path.stem, input_path.suffix.lower())
            if dst.is_dir():
                dst = dst / f"{stem}{suffix}{ext or in_ext}"
            elif (ext or stdin) and not dst.suffix:
                dst = dst.with_suffix(ext or ".png")
            if dst.suffix.lower() not in IMAGE_EXTENSIONS:
                raise LutsrError(f"{dst}: unsupported output extension {dst.suffix or '(none)'!r}; "
                                 f"use one of {', '.join(IMAGE_EXTENSIONS)}")
            if not stdin and dst.exists() and dst.resolve() == input_path.resolve():
                raise LutsrError(f"{dst}: refusing to overwrite the input image")
            if not dst.parent.resolve().is_dir():
                raise LutsrError(f"{dst}: output folder {dst.parent} does not exist")
            summary["inputs"].append("-" if stdin else str(input_path))
            if dst.exists():
                if skip_existing:
                    summary["skipped"].append({"input": summary["inputs"][0], "output": str(dst), "reason": "exists"})
                    if dry_run:
                        say(f"would skip {_shown(dst)} (exists)")
                        return emit()
                    click.echo(f"skipped {dst} (exists)", err=True)
                    return emit()
                if not overwrite:
                    raise LutsrError(f"{dst}: already exists; use --overwrite to replace it")
        if dry_run:
            what = "replace" if dst is not None and dst.exists() else "write"
            say(f"would {what} {_shown(dst) if dst is not None else 'stdout'} from "
                f"{'stdin' if stdin else _shown(input_path)}{_declared(None if stdin else input_path, lut)}")
            summary["outputs"].append(str(dst))
            return emit()
        engine = "kernels"
        if stdin or stdout:
            _compile_notice(lut)
        else:
            engine = _first_run_engine(lut, input_path)
        t0 = time.perf_counter()
        notes: list[str] = []
        try:
            if stdin or stdout:
                (w, h), (ow, oh) = _upscale_stream(None if stdin else input_path, dst, ext or ".png", lut, threads,
                                                   max_pixels, budget, outscale, size, overwrite=overwrite,
                                                   notes=notes, options=options)
                input_path = "<stdin>" if stdin else input_path
                dst = dst or f"<stdout> ({(ext or '.png').lstrip('.')})"
            else:
                (w, h), (ow, oh) = _upscale_one(input_path, dst, lut, threads, max_pixels, budget, outscale, size,
                                                overwrite=overwrite, notes=notes, options=options, engine=engine)
        except (LutsrError, OSError) as e:
            if summary["inputs"]:
                summary["failed"].append({"input": summary["inputs"][0], "reason": str(e).splitlines()[0]})
                emit()
            raise
        summary["outputs"].append(str(dst))
        used = f"{lut}" if not notes else f"the shipped {notes[-1]}"
        used += " (on the NumPy reference)" if engine == "reference" else ""
        click.echo(f"{input_path} ({w}x{h}) -> {dst} ({ow}x{oh}) with {used} in {time.perf_counter() - t0:.2f}s",
                   err=True)
        return emit()

    # folder mode
    files = find_images(input_path, recursive=recursive)
    out_root = output_path.resolve()
    if recursive and out_root != input_path.resolve() and out_root.is_relative_to(input_path.resolve()):
        files = [f for f in files if not f.resolve().is_relative_to(out_root)]  # OUT inside IN: outputs are not inputs
    if not files:
        raise LutsrError(f"{input_path}: no images found{'' if recursive else ' (use --recursive for sub-folders)'}")
    if output_path.exists() and not output_path.is_dir():
        raise LutsrError(f"{output_path}: exists and is not a folder")
    if not output_path.parent.resolve().is_dir():
        raise LutsrError(f"{output_path}: parent folder {output_path.parent} does not exist")
    inputs = {f.resolve() for f in files}
    plan = []
    planned: dict[Path, Path] = {}
    for f in files:
        rel = f.relative_to(input_path)
        dst = output_path / rel.parent / f"{f.stem}{suffix}{ext or f.suffix.lower()}"
        if dst.resolve() in inputs:
            raise LutsrError(f"{dst}: would write over an input image; choose another OUT, --suffix or --ext")
        key = dst.resolve()
        if key in planned:
            raise LutsrError(f"{_shown(planned[key])} and {_shown(f)} would both be written to {_shown(dst)}; "
                             "use --ext or --suffix, or separate folders")
        planned[key] = f
        plan.append((f, dst))
    summary["inputs"] = [str(f) for f, _ in plan]
    if dry_run:
        for src, dst in plan:
            if dst.exists() and skip_existing:
                say(f"would skip {_shown(dst)} (exists)")
                summary["skipped"].append({"input": str(src), "output": str(dst), "reason": "exists"})
            elif dst.exists() and not overwrite:
                say(f"would fail {_shown(src)}: {_shown(dst)} already exists (use --overwrite or --skip-existing)")
                summary["failed"].append({"input": str(src), "reason": f"{dst}: already exists; use --overwrite "
                                                                       "to replace it"})
            else:
                say(f"would {'replace' if dst.exists() else 'write'} {_shown(dst)} from {_shown(src)}"
                    f"{_declared(src, lut)}")
                summary["outputs"].append(str(dst))
        return emit()
    _clean_stale_temps({d.parent for _, d in plan})
    if not dask:
        _compile_notice(lut)
    done = skipped = 0
    failures: list[str] = []
    t0 = time.perf_counter()
    opts = {"max_pixels": max_pixels, "outscale": outscale, "overwrite": overwrite, "skip_existing": skip_existing,
            "options": options}
    with contextlib.ExitStack() as stack:
        if dask:
            from lutsr.distributed import client_for, map_files

            client = stack.enter_context(client_for(dask))
            t0 = time.perf_counter()  # the summary's time leaves out starting a LocalCluster
            results = map_files(client, plan, lut, threads=threads or 1,
                                budget=int(max_memory * 2**30) if max_memory else -1, **opts)
        else:
            from lutsr.batch import default_jobs

            jobs = min(jobs or default_jobs(), len(plan))
            # files in flight share the memory budget
            results = process_files(plan, lut, jobs=jobs, threads=threads, budget=budget // jobs, **opts)
        with click.progressbar(results, length=len(plan), label=f"{_VERBS[kind][0]} {len(plan)} images", file=sys.stderr,
                               show_pos=True, item_show_func=lambda it: it[1].src.name if it else "") as bar:
            outcomes = sorted(bar, key=lambda t: t[0])  # Dask: completion order; reported in input order
    chosen: dict[str, int] = {}
    for _, r in outcomes:
        if r.status == "written":
            done += 1
            summary["outputs"].append(str(r.dst))
            if r.note:
                table = r.note.split(" LUT")[0]
                chosen[table] = chosen.get(table, 0) + 1
                summary.setdefault("tables", {})[str(r.dst)] = r.note
        elif r.status == "skipped":
            skipped += 1
            summary["skipped"].append({"input": str(r.src), "output": str(r.dst), "reason": "exists"})
        else:
            failures.append(r.message)
            summary["failed"].append({"input": str(r.src), "reason": r.message.splitlines()[0]})
    for msg in failures:
        click.echo(f"failed: {_shown(msg)}", err=True)
    tables = f" ({', '.join(f'{k}: {v}' for k, v in sorted(chosen.items()))})" if chosen else ""
    click.echo(f"{done} {_VERBS[kind][1]}{tables}, {skipped} skipped, {len(failures)} failed, in {time.perf_counter() - t0:.1f}s "
               f"-> {output_path}", err=True)
    emit()
    if failures:
        sys.exit(1)


@main.command()
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace DEST if it exists.")
@_friendly
def sample(dest: Path, overwrite: bool) -> None:
    """Write the bundled sample image (a small PNG) to DEST."""
    from importlib.resources import files

    from lutsr.imageio import atomic_write_bytes

    data = (files("lutsr") / "samples" / "sample.png").read_bytes()
    if dest.suffix.lower() != ".png":
        raise LutsrError(f"{dest}: the sample is a PNG; name it *.png")
    if dest.exists() and not overwrite:
        raise LutsrError(f"{dest}: already exists; use --overwrite to replace it")
    atomic_write_bytes(dest, data, overwrite=overwrite)
    click.echo(f"wrote {dest}", err=True)


#: LUT-network families ``lutsr import`` converts from the authors' files
_IMPORTABLE_NETWORKS = tuple(n for n, f in NETWORK_FAMILIES.items() if f.importable)


@main.command()
@click.option("--arch", type=click.Choice(trainable_methods() + tuple(TABLE_ARCHS)), default="eclut",
              show_default=True, help="Method to train (its kernel shape, encoding and rules come from lutsr.spec), "
                                      "or a table-space LUT network (shiftnet: lutsr.net.archs; tables are the "
                                      "parameters, exported exactly).")
@click.option("--scale", type=click.Choice(["2", "3", "4"]), default="4", show_default=True)
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Folder of HR training images (searched recursively).")
@click.option("--val", "val_dir", type=click.Path(path_type=Path), default=None,
              help="Folder of HR validation images (e.g. Set5/HR).")
@click.option("--out", "run_dir", type=click.Path(path_type=Path), required=True, help="Run directory.")
@click.option("--iterations", type=click.IntRange(min=1), default=None,
              help="Training iterations (default 2000; with --resume: the run's saved value).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--patch-size", type=click.IntRange(min=4), default=24, show_default=True, help="LR patch side.")
@click.option("--lr", "learning_rate", type=float, default=1e-3, show_default=True, help="Adam learning rate (cosine decay).")
@click.option("--features", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--body", default="mlp", show_default=True, metavar="NAME",
              help="Per-unit network: mlp (SR-LUT/ECLUT), dense (RDN dense block), pa (FFA-Net pixel attention), "
                   "xunit (xUnit gating, 1x1). Blocks a LUT cannot hold (ca, cbam, soca, conv3x3) are refused "
                   "with the reason.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--val-every", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--log-every", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for torch.")
@click.option("--resume", is_flag=True, help="Continue the run in --out exactly where it stopped.")
@click.option("--task", "task_kind", type=click.Choice(["sr", "denoise", "deblock"]), default="sr", show_default=True,
              help="What the LUT learns: upscaling (sr, --scale), Gaussian denoising (--sigma) or JPEG deblocking "
                   "(--quality); a restoration task trains at scale 1 on pairs degraded on the fly (seeded).")
@click.option("--sigma", type=int, default=None, help="--task denoise: noise sigma in 0..255 steps, e.g. 25.")
@click.option("--quality", type=int, default=None, help="--task deblock: JPEG quality 1..100 (OpenCV), e.g. 10.")
@click.option("--stacks", type=click.IntRange(0, 7), default=None,
              help="shiftnet: depthwise/pointwise pairs after the first (default 1; ShiftLUT-S has 0, M 1, L 7).")
@click.option("--step", type=click.Choice(["1", "2", "4", "8"]), default=None,
              help="shiftnet: sampling step of its 1-D tables (default 2: 33 entries per table).")
@click.option("--input-residual", type=click.Choice(["0", "1"]), default=None,
              help="shiftnet: 1 (default) = its output is a correction added to the nearest-upsampled input "
                   "(exact nearest neighbour when untrained); 0 = ShiftLUT's residual on the 6-bit features "
                   "(x4 only; 0.18 dB lower on Set5 x4 in lutsr's runs).")
@click.option("--init", "init_path", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="shiftnet: start from the tables of this LUT file (an earlier export of the same --scale, "
                   "--stacks, --step and --input-residual) instead of zeros.")
@click.option("--smooth", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="shiftnet: weight of a curvature penalty on its 1-D tables (mean squared second difference, "
                   "table units) added to the MSE of [0, 1] images; e.g. 1e-5.")
@_friendly
def train(arch, scale, data_dir, val_dir, run_dir, iterations, batch_size, patch_size, learning_rate, features,
          body, seed, checkpoint_every, val_every, log_every, device, threads, resume, task_kind="sr", sigma=None,
          quality=None, stacks=None, step=None, init_path=None, smooth=0.0, input_residual=None) -> None:
    """Train a LUT network (needs torch: pip install 'lutsr[train]').

    With --task denoise --sigma S or --task deblock --quality Q the network keeps the size
    (scale 1); --val then holds clean images, degraded with the evaluation protocol, and the
    validation figure is PSNR over all channels. 'lutsr export' writes the task into the LUT.
    """
    from lutsr.train.loop import TrainConfig
    from lutsr.train.loop import train as run_train

    from lutsr.train.bodies import check_body

    check_body(body)  # before anything is read or written: one line naming the block and the reason
    arch_params = {k: int(v) for k, v in (("stacks", stacks), ("step", step), ("input_residual", input_residual))
                   if v is not None}
    if (arch_params or init_path or smooth) and arch not in TABLE_ARCHS:
        raise LutsrError(f"--stacks, --step, --init and --smooth go with a table-space arch "
                         f"({', '.join(TABLE_ARCHS)}), not {arch}")
    task = _task_from_options(task_kind, sigma, quality)
    if task is not None:
        scale = 1

    if not resume:
        if data_dir is None:
            raise LutsrError("--data is required (a folder of HR training images)")
        if (run_dir / "checkpoints" / "last.pt").exists():
            raise LutsrError(f"{run_dir}: already holds a run; use --resume to continue it or choose another --out")
    cfg = TrainConfig(arch=arch, scale=int(scale), data=str(data_dir) if data_dir else "",
                      val=str(val_dir) if val_dir else None, features=features, body=body,
                      iterations=iterations or (0 if resume else 2000),
                      batch_size=batch_size, patch_size=patch_size, lr=learning_rate, seed=seed,
                      checkpoint_every=checkpoint_every, val_every=val_every, log_every=log_every,
                      task=task.to_json() if task is not None else None, arch_params=arch_params,
                      init=str(init_path.resolve()) if init_path else None, smooth=float(smooth))
    t0 = time.perf_counter()
    ckpt = run_train(cfg, run_dir, device=device, resume=resume, threads=threads)
    click.echo(f"trained in {time.perf_counter() - t0:.0f}s; checkpoint: {ckpt}", err=True)


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--interval", type=click.IntRange(0, 8), default=None,
              help="Bits dropped per input: 0 = every value has its own row (ECLUT 257x257), 4 = 17 levels "
                   "with simplex interpolation. Default: the method's usual interval (ECLUT 0, SR-LUT S/F 4).")
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), required=True, help="LUT file to write.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--no-compress", is_flag=True, help="Store the table uncompressed.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file (never SOURCE).")
@_friendly
def export(source: Path, interval: int | None, output: Path, device: str, no_compress: bool,
           overwrite: bool) -> None:
    """Compile a run directory or checkpoint SOURCE into a LUT file.

    SOURCE may also be a LUT file: it is then re-sampled at the (coarser) --interval,
    e.g. `lutsr export eclut_x4.lut --interval 4 -o eclut_x4_i4.lut` (17x17 rows).
    """
    from lutsr.lut.file import MAGIC, load_lut, save_lut

    _check_output(output, [source], overwrite)
    t0 = time.perf_counter()
    if source.is_file() and source.read_bytes()[: len(MAGIC)] == MAGIC:
        # a LUT file: re-sample it at a coarser interval (no network needed, no torch)
        from lutsr.lut.coarsen import coarsen

        src = load_lut(source)
        small = coarsen(src, src.interval if interval is None else interval)
        save_lut(output, small.header, small.tables, compress=not no_compress)
        lut = load_lut(output)
    else:
        from lutsr.train.export import export_checkpoint

        lut = export_checkpoint(source, output, interval=interval, device=device, compress=not no_compress)
    click.echo(f"wrote {output}: {lut.header['method']} x{lut.scale} interval {lut.interval}, "
               f"tables {[t['shape'] for t in lut.header['tables']]}, "
               f"{output.stat().st_size} bytes, in {time.perf_counter() - t0:.1f}s", err=True)


@main.command("fit")
@click.option("--method", required=True, type=click.Choice(fittable_methods()),
              help="Method whose tables are solved for (eclut-sdy: lutsr's composite; sdy2: the two-stage "
                   "restoration cascade, fitted stage by stage).")
@click.option("--scale", type=click.IntRange(1, 8), default=None,
              help="Upscaling factor (default 4; a --task fit keeps the size: 1).")
@click.option("--task", "task_kind", type=click.Choice(["sr", "denoise", "deblock"]), default="sr", show_default=True,
              help="What the LUT learns: upscaling (sr), Gaussian denoising (--sigma) or JPEG deblocking (--quality).")
@click.option("--sigma", type=int, default=None, help="--task denoise: noise sigma in 0..255 steps, e.g. 25.")
@click.option("--quality", type=int, default=None, help="--task deblock: JPEG quality 1..100 (OpenCV), e.g. 10.")
@click.option("--every", type=click.IntRange(min=1), default=1, show_default=True,
              help="Use every N-th training image only (a quicker fit on a subset).")
@click.option("--data", "data", required=True, type=click.Path(path_type=Path),
              help="Folder of HR (clean) training images (searched recursively); every colour channel is a sample.")
@click.option("--val", type=click.Path(path_type=Path), default=None,
              help="Folder of HR validation images: Y-PSNR of the quantized LUT after every iteration "
                   "(a --task fit: PSNR of the degraded images restored).")
@click.option("--init", "init_path", type=click.Path(path_type=Path), default=None,
              help="LUT file used as prior and starting point (e.g. exported from a trained network; "
                   "an eclut LUT seeds eclut-sdy's 2x1 unit). Default: the --prior table.")
@click.option("--prior", type=click.Choice(["nearest", "linear"]), default="nearest", show_default=True,
              help="Prior without --init: nearest-neighbour blocks, or the least-squares plane through each "
                   "unit's inputs (smooth where the data is sparse; ECLUT's expand units stay nearest).")
@click.option("--interval", type=click.IntRange(0, 8), default=None,
              help="Bits dropped per input (default: the method's usual interval; ECLUT 0).")
@click.option("--iterations", type=click.IntRange(0, 10000), default=8, show_default=True,
              help="Conjugate-gradient iterations (one pass over the data each).")
@click.option("--ridge", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Weight of the prior, in full-weight observations per table cell.")
@click.option("--flip/--no-flip", default=True, show_default=True, help="Also use every image transposed.")
@click.option("--threads", type=click.IntRange(min=1), default=None)
@click.option("--cache-mb", type=click.IntRange(min=0), default=1024, show_default=True,
              help="Keep up to this much prepared training data in memory; the rest is re-read every pass.")
@click.option("--restart", is_flag=True, help="Ignore a saved state of an interrupted fit.")
@click.option("--dask", "dask", default=None, metavar="local:N|tcp://HOST:PORT",
              help="Run every pass on a Dask cluster (pip install 'lutsr[dask]'); bit-identical to a local fit.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), required=True, help="LUT file to write.")
@_friendly
def fit_cmd(method, scale, task_kind, sigma, quality, every, data, val, init_path, prior, interval, iterations,
            ridge, flip, threads, cache_mb, restart, dask, overwrite, output) -> None:
    """Solve for a LUT's tables directly by least squares on a CPU (no torch, no network).

    The output is linear in the table, so the best table for a training set is found by
    conjugate gradients; each iteration reads the data once. An interrupted fit resumes
    from OUTPUT.fitstate.npz (and, for a cascade, the finished OUTPUT.stageK.lut) when run
    again with the same options.

    \b
    Examples:
      lutsr fit --method eclut-sdy --scale 4 --interval 4 --data train/ --val Set5/HR -o sdy_x4.lut
      lutsr fit --method srlut-s --scale 4 --prior linear --iterations 4 --data train/ -o srlut-s_x4.lut
      lutsr fit --method eclut --scale 4 --interval 1 --init eclut_x4.lut --data train/ -o eclut_x4_fit.lut
      lutsr fit --method sdy2 --task denoise --sigma 25 --data train/ --val BSD68/ -o denoise_s25.lut
      lutsr fit --method sdy2 --task deblock --quality 10 --data train/ -o deblock_q10.lut
    """
    import numba

    from lutsr.fit import FitConfig, TrainingSet, fit_cascade
    from lutsr.lut.file import load_lut
    from lutsr.spec import get_method

    m = get_method(method)
    task = _task_from_options(task_kind, sigma, quality)
    if task is not None:
        if scale not in (None, 1):
            raise LutsrError(f"--task {task.kind} keeps the size: --scale must be 1 (or left out), got {scale}")
        scale = 1
    elif scale is None:
        scale = 4
    elif scale == 1:
        raise LutsrError("--scale 1 keeps the size: say what the LUT restores with --task denoise or --task deblock")
    if m.stage_method is not None and task is None:
        raise LutsrError(f"--method {method} is a same-size cascade: use it with --task denoise or --task deblock")
    if not output.parent.resolve().is_dir():
        raise LutsrError(f"{output}: output folder {output.parent} does not exist")
    if output.exists() and not overwrite:
        raise LutsrError(f"{output} exists (use --overwrite to replace it)")
    if not data.is_dir():
        raise LutsrError(f"{data}: not a folder")
    if val is not None and not val.is_dir():
        raise LutsrError(f"{val}: not a folder")
    if threads:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    init = load_lut(init_path) if init_path is not None else None
    if interval is None:
        interval = get_method(method).default_interval
    config = FitConfig(method=method, scale=scale, interval=interval, iterations=iterations, ridge=ridge, flip=flip,
                       init=str(init_path) if init_path else None, prior=prior, data=str(data),
                       task=task.to_json() if task else None)
    training = TrainingSet(data, scale, flip=flip, cache_bytes=cache_mb << 20, task=task, every=every)
    t0 = time.perf_counter()
    res = fit_cascade(config, training, output, val=val, init=init, resume=not restart, dask=dask)
    what = f"{task}" if task else f"x{scale}"
    last = res[-1]
    click.echo(f"wrote {output}: {method} {what} interval {interval}"
               f"{f', {len(res)} stages' if len(res) > 1 else ''}, {output.stat().st_size} bytes, "
               f"{sum(len(r.history) - 1 for r in res)} iterations in {time.perf_counter() - t0:.0f} s; "
               f"last stage's training PSNR {last.train_psnr_float:.3f} dB (float table) -> "
               f"{last.train_psnr_quantized:.3f} dB (stored), {100 * last.clipped:.3f}% of cells clipped", err=True)


def _task_from_options(kind: str, sigma: int | None, quality: int | None):
    """The ``Task`` of ``--task/--sigma/--quality`` (None for sr), with one-line errors for misuse."""
    from lutsr.tasks import Task

    if kind == "sr":
        if sigma is not None or quality is not None:
            raise LutsrError("--sigma and --quality go with --task denoise / --task deblock")
        return None
    if kind == "denoise":
        if quality is not None:
            raise LutsrError("--quality is for --task deblock; denoising takes --sigma")
        if sigma is None:
            raise LutsrError("--task denoise needs --sigma (noise sigma in 0..255 steps, e.g. 25)")
        return Task.denoise(sigma)
    if sigma is not None:
        raise LutsrError("--sigma is for --task denoise; deblocking takes --quality")
    if quality is None:
        raise LutsrError("--task deblock needs --quality (JPEG quality 1..100, e.g. 10)")
    return Task.deblock(quality)


@main.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--method", required=True, type=click.Choice(importable_methods() + _IMPORTABLE_NETWORKS),
              help="Method the tables belong to; shapes are checked against it. ShiftLUT, TinyLUT and HKLUT "
                   "take the published folder.")
@click.option("--scale", type=click.IntRange(1, 8), default=None, help="Expected scale (default: inferred).")
@click.option("--interval", type=click.IntRange(0, 8), default=None, help="Expected interval (default: inferred).")
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), required=True, help="LUT file to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file (never an input).")
@click.option("--task", "task_kind", type=click.Choice(["sr", "denoise", "deblock"]), default=None,
              help="Mark x1 tables as a denoiser (--sigma) or deblocker (--quality); default: read from the folder "
                   "name (sigma=15, qf=10), as ShiftLUT names its sets.")
@click.option("--sigma", type=int, default=None, help="--task denoise: the noise sigma the tables were trained for.")
@click.option("--quality", type=int, default=None, help="--task deblock: the JPEG quality the tables were trained for.")
@_friendly
def import_cmd(files: tuple[Path, ...], method: str, scale: int | None, interval: int | None, output: Path,
               overwrite: bool, task_kind: str | None = None, sigma: int | None = None,
               quality: int | None = None) -> None:
    """Convert published tables (SR-LUT and MuLUT .npy files; ShiftLUT, TinyLUT, HKLUT folders) into a lutsr LUT file.

    \b
    Examples:
      lutsr import --method srlut-s Model_S_x4_4bit_int8.npy -o srlut_s_x4.lut
      lutsr import --method mulut-sdy-x2 LUT_ft_x4_4bit_int8_s{1,2}_{s,d,y}.npy -o mulut_x4.lut
      lutsr import --method shiftlut ShiftLUT_sr_s0_int/ -o shiftlut_s_x4.lut
      lutsr import --method tinylut TinyLUT/ -o tinylut_s_x4.lut
      lutsr import --method shiftlut ShiftLUT_ultra_sigma=15_int/ -o shiftlut_dn15.lut   # a denoiser
    """
    from lutsr.lut.importer import import_to_file

    _check_output(output, files, overwrite)
    task = _task_from_options(task_kind or "sr", sigma, quality) if task_kind or sigma or quality else None
    lut = import_to_file(method, list(files), output, scale=scale, interval=interval, task=task)
    if lut.is_network:
        net = lut.network
        what = lut.task or ('any-scale' if lut.scale is None else f'x{lut.scale}')
        click.echo(f"wrote {output}: {lut.header['method']} {what} LUT network ({len(lut.tables)} arrays, "
                   f"{net.table_bytes()} table bytes, {net.lookups_per_pixel()} lookups per pixel), "
                   f"{output.stat().st_size} bytes", err=True)
        return
    shapes = ", ".join(f"{t['name']} {t['shape']}" for t in lut.header["tables"])
    click.echo(f"wrote {output}: {lut.header['method']} x{lut.scale} interval {lut.interval} ({shapes}), "
               f"{output.stat().st_size} bytes", err=True)


def _format_table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" if i < 3 else f"{{:>{w}}}" for i, w in enumerate(widths))
    out = [fmt.format(*header), fmt.format(*["-" * w for w in widths])]
    out += [fmt.format(*r) for r in rows]
    return "\n".join(out)


@main.command("eval")
@click.option("--lut", "lut_paths", multiple=True, type=click.Path(path_type=Path),
              help="LUT file (repeat for several; default: the shipped x4 LUT).")
@click.option("--data", "datasets", multiple=True, required=True, type=click.Path(path_type=Path),
              help="Benchmark folder of HR images, or one containing HR/ (repeat for several).")
@click.option("--scale", type=click.IntRange(2, 8), default=None, help="Only LUTs of this scale.")
@click.option("--lr-dir", type=click.Path(path_type=Path), default=None,
              help="Ready-made LR images (NAME, NAMExS, NAME_GT ...); default: MATLAB bicubic of the HR.")
@click.option("--lr-rounding", type=click.Choice(["double", "per_pass"]), default="double", show_default=True,
              help="MATLAB-bicubic variant for generated LR (see docs/results.md).")
@click.option("--no-bicubic", is_flag=True, help="Leave out the bicubic baseline row.")
@click.option("--per-image", is_flag=True, help="Also print a row per image.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write all scores as JSON ('-': stdout).")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), default=None, help="Write all scores as CSV ('-': stdout).")
@click.option("--save-dir", type=click.Path(path_type=Path), default=None,
              help="Write upscaled images and HR | bicubic | LUT comparison crops here.")
@click.option("--threads", type=click.IntRange(min=1), default=None)
@click.option("--gray-as-y", is_flag=True,
              help="Score one-channel images' gray values as Y (SR-LUT's paper). Default: BasicSR/MuLUT "
                   "(gray read as R=G=B, Y by BT.601).")
@click.option("--label", "labels", multiple=True,
              help="Row label for the LUT in the same position (repeat; default: file name, parent folder when two clash).")
@click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True,
              help="Timed runs per image after one untimed warm-up; the ms column is the best.")
@click.option("--task", "task_kind", type=click.Choice(["sr", "denoise", "deblock"]), default="sr", show_default=True,
              help="sr: upscaling (Y-PSNR). denoise / deblock: the DATA folders hold clean images, degraded by the "
                   "documented protocol (--sigma / --quality); PSNR over all channels, PSNR-B for deblocking.")
@click.option("--sigma", type=int, default=None, help="--task denoise: noise sigma (0..255 steps).")
@click.option("--quality", type=int, default=None, help="--task deblock: JPEG quality 1..100.")
@click.option("--opencv", is_flag=True, help="--task denoise: add OpenCV's non-local means (documented defaults).")
@_friendly
def eval_cmd(lut_paths, datasets, scale, lr_dir, lr_rounding, no_bicubic, per_image, json_path, csv_path, save_dir,
             threads, gray_as_y, labels, repeats, task_kind, sigma, quality, opencv) -> None:
    """Measure Y-PSNR / Y-SSIM of LUTs on benchmark folders (published-table conventions).

    With --task denoise / deblock: PSNR / SSIM (and PSNR-B) of same-size LUTs on clean
    images degraded as docs/restore.md describes (default LUT: the shipped table).

    Exit status: 0 all images evaluated, 1 some images failed (reported and skipped),
    2 bad arguments.
    """
    import csv
    import io
    import json

    from lutsr.evaluate import evaluate, evaluate_restore, summarize
    from lutsr.lut.shipped import resolve_lut

    task = _task_from_options(task_kind, sigma, quality)
    if task is None:
        if opencv:
            raise LutsrError("--opencv goes with --task denoise")
        luts = [resolve_lut(p) for p in lut_paths] if lut_paths else [resolve_lut(None)]
    else:
        from lutsr.restore import task_lut

        for name, bad in (("--scale", scale is not None), ("--lr-dir", lr_dir is not None),
                          ("--save-dir", save_dir is not None), ("--gray-as-y", gray_as_y)):
            if bad:
                raise LutsrError(f"{name} is for --task sr")
        luts = ([task_lut(task.kind, None, p) for p in lut_paths] if lut_paths
                else [task_lut(task.kind, task.level)])  # the shipped tables as lutsr denoise/deblock use them
    for d in datasets:
        if not d.is_dir():
            raise LutsrError(f"{d}: not a folder")
    interactive = sys.stderr.isatty()

    def progress(done, total, item):
        if interactive:
            click.echo(f"\r[{done}/{total}] {item[:60]:<60}", err=True, nl=done == total)
        elif done % 10 == 0 or done == total:
            log.info("[%d/%d] %s", done, total, item)

    if task is None:
        res = evaluate(luts, list(datasets), lr_dir=lr_dir, scale=scale, lr_rounding=lr_rounding,
                       baseline=not no_bicubic, save_dir=save_dir, threads=threads, progress=progress,
                       gray_as_y=gray_as_y, labels=list(labels) or None, repeats=repeats)
    else:
        res = evaluate_restore(luts, list(datasets), task, baseline=not no_bicubic, opencv=opencv, threads=threads,
                               progress=progress, labels=list(labels) or None, repeats=repeats)
    rows = []
    pb = task is not None and task.kind == "deblock"
    where = (lambda sc: f"x{sc}") if task is None else (lambda sc: task.name)
    if per_image:
        rows += [[s.dataset, where(s.scale), f"{s.method} / {s.image}", f"{s.psnr:.3f}", f"{s.ssim:.4f}"]
                 + ([f"{s.psnr_b:.3f}"] if pb else []) + [f"{s.seconds * 1000:.1f}"] for s in res.scores]
    rows += [[m["dataset"], where(m["scale"]), f"{m['method']} (mean of {m['images']})", f"{m['psnr']:.3f}",
              f"{m['ssim']:.4f}"] + ([f"{m['psnr_b']:.3f}"] if pb else []) + [f"{m['seconds'] * 1000:.1f}"]
             for m in summarize(res.scores)]
    head = (["dataset", "scale", "method", "Y-PSNR", "Y-SSIM", "ms"] if task is None else
            ["dataset", "task", "method", "PSNR", "SSIM"] + (["PSNR-B"] if pb else []) + ["ms"])
    click.echo(_format_table(rows, head))
    if json_path:
        text = json.dumps(res.to_json(), indent=1)
        click.echo(text) if str(json_path) == "-" else json_path.write_text(text)
    if csv_path:
        buf = io.StringIO()
        w = csv.writer(buf)
        prov = res.provenance or {}
        by_label = {x["label"]: x for x in prov.get("luts", [])}
        opts, mach = prov.get("options", {}), prov.get("machine", {})
        w.writerow(["dataset", "image", "method", "scale", "psnr", "ssim", "seconds", "lut_method", "lut_sha256",
                    "lr_source", "gray", "lutsr_version", "machine", "task", "psnr_b"])
        for s in res.scores:
            lut = by_label.get(s.method, {})
            w.writerow([s.dataset, s.image, s.method, s.scale, f"{s.psnr:.6f}", f"{s.ssim:.6f}", f"{s.seconds:.6f}",
                        lut.get("method", s.method if s.method in ("bicubic", "input", "opencv-nlm") else ""),
                        lut.get("sha256") or "", opts.get("lr_source", ""), opts.get("gray", ""),
                        prov.get("lutsr_version", ""), f"{mach.get('platform', '')} cpus={mach.get('cpus', '')}",
                        task.name if task else "sr", "" if s.psnr_b is None else f"{s.psnr_b:.6f}"])
        click.echo(buf.getvalue(), nl=False) if str(csv_path) == "-" else csv_path.write_text(buf.getvalue())
    for path, reason in res.failures:
        click.echo(f"failed: {reason}", err=True)
    if res.failures:
        click.echo(f"{len(res.failures)} image(s) failed", err=True)
        sys.exit(1)


@main.command("artefacts")
@click.option("--lut", "lut_paths", multiple=True, type=click.Path(path_type=Path),
              help="LUT file or shipped family (repeat; default: the shipped default x4 LUT).")
@click.option("--scale", type=click.IntRange(2, 8), default=None,
              help="Scale for a shipped family name (default 4); a LUT file has its own.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None,
              help="Write every figure (per angle) as JSON ('-': stdout).")
@_friendly
def artefacts_cmd(lut_paths: tuple[Path, ...], scale: int | None, json_path: Path | None) -> None:
    """Measure beading along edges and grain on flat areas (synthetic scenes; docs/results.md, "Artefacts").

    Along-edge error: RMS gray levels of what varies along straight antialiased edges and thin
    lines (0 for a shift-invariant upscaler; beads raise it). Grain: output standard deviation on
    flat areas with slight noise. MATLAB bicubic is the reference row at each scale.
    """
    import json

    from lutsr.artefacts import measure_artefacts
    from lutsr.evaluate import bicubic_upscale
    from lutsr.lut.shipped import resolve_lut
    from lutsr.runtime import upscale as run_upscale

    luts = [resolve_lut(p, scale or 4) for p in lut_paths] if lut_paths else [resolve_lut(None, scale or 4)]
    for lut in luts:
        if lut.scale is None or lut.scale < 2:
            raise LutsrError(f"{lut}: artefacts are measured for integer upscaling (x2..x8)")
    rows, full = [], {}
    for s in sorted({lut.scale for lut in luts}):
        cands = [(f"bicubic x{s}", s, lambda x, s=s: bicubic_upscale(x, s))]
        cands += [(str(lut), s, lambda x, lut=lut: run_upscale(x, lut)) for lut in luts if lut.scale == s]
        for label, sc, fn in cands:
            rep = measure_artefacts(fn, sc)
            sm = rep.summary()
            full[label] = rep.to_json()
            rows.append([label, f"{sm['edge_along_mean']:.2f}", f"{sm['edge_along_max']:.2f}",
                         f"{sm['line_along_mean']:.2f}", f"{sm['grain']:.2f}", f"{sm['added_grain']:.2f}",
                         f"{sm['zone_psnr']:.2f}"])
    head = ["upscaler", "edge error", "worst angle", "line error", "grain", "added grain", "zone PSNR"]
    out = _format_table(rows, head)
    if json_path:
        text = json.dumps(full, indent=1)
        if str(json_path) == "-":
            click.echo(text)
            return
        json_path.write_text(text)
    click.echo(out)


@main.command("warmup")
@click.option("-n", "--lut", "lut_paths", multiple=True, type=click.Path(path_type=Path),
              help="LUT file, shipped family, or denoise / deblock / denoise-fast (the shipped restoration "
                   "tables' kernels; repeat; default: the shipped default x4 LUT).")
@_friendly
def warmup(lut_paths: tuple[Path, ...]) -> None:
    """Compile the kernels a LUT needs into the on-disk cache now (for images, containers, CI).

    Runs each LUT once on tiny gray, RGB and RGBA images (8-bit and 16-bit), so that the first real
    upscale loads compiled kernels instead of compiling them.
    """
    import numpy as np

    from lutsr.lut.shipped import resolve_lut
    from lutsr.runtime import upscale as run_upscale
    from lutsr.runtime.compile import compile_lut
    from lutsr.runtime.run import cold_kernels

    restore = {"denoise": ("denoise", False), "deblock": ("deblock", False), "denoise-fast": ("denoise", True)}
    for p in lut_paths or (None,):
        if p is not None and not Path(p).exists() and str(p) in restore:
            from lutsr.restore import AutoLut

            lut = AutoLut(*restore[str(p)]).luts[0]  # its levels share one method: one set of kernels
        else:
            lut = resolve_lut(p)
        cold = cold_kernels(compile_lut(lut))
        t0 = time.perf_counter()
        kw = {"outscale": 2.0} if lut.scale is None else {}
        for shape in ((9, 8), (9, 8, 3), (9, 8, 4)):
            for dtype in (np.uint8, np.uint16):
                if kw and dtype == np.uint16:
                    continue  # any-scale networks take 8-bit images
                run_upscale(np.zeros(shape, dtype), lut, **kw)
        what = f"compiled {', '.join(cold)}" if cold else "already compiled (cache hit)"
        click.echo(f"{lut}: {what} in {time.perf_counter() - t0:.1f}s", err=True)


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@_friendly
def info(path: Path, as_json: bool) -> None:
    """Describe a LUT file, a shipped family (x4, e.g. srlut-s) or a training checkpoint / run
    directory: sizes, costs, receptive field."""
    import json

    from lutsr.info import lut_info, render
    from lutsr.lut.file import MAGIC, load_lut
    from lutsr.lut.shipped import SHIPPED_FAMILIES, default_lut_path

    if not path.exists() and str(path) in SHIPPED_FAMILIES:  # as upscale, artefacts and warmup take it
        path = default_lut_path(4, str(path))
    if path.is_file() and path.read_bytes()[: len(MAGIC)] == MAGIC:
        data = lut_info(load_lut(path))
    elif path.exists():
        from lutsr.train.accounting import checkpoint_info  # needs torch

        data = checkpoint_info(path)
    else:
        raise LutsrError(f"{path}: no such file or folder")
    click.echo(json.dumps(data, indent=1) if as_json else render(data))


if __name__ == "__main__":  # pragma: no cover
    main()
