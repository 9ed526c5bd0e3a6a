"""Turn published LUTs (``.npy`` arrays of SR-LUT and MuLUT; folders of ShiftLUT, TinyLUT, HKLUT via
``lutsr.lut.frontier``) into self-describing lutsr LUT files.

The user names the method; lutsr checks every array's shape and dtype against what the
method, scale and interval imply, and refuses mismatches with a message naming the file,
what it holds and what was expected. Arrays are loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path

import numpy as np

from lutsr.errors import LutFormatError
from lutsr.lut.file import Lut, load_lut, make_header, network_lut, save_lut
from lutsr.lut.frontier import import_hklut, import_shiftlut, import_tinylut
from lutsr.lut.lerf import import_lerf
from lutsr.lut.npy import load_npy
from lutsr.spec import NETWORK_FAMILIES, get_method, levels_for_interval

__all__ = ["import_tables", "import_network", "import_to_file", "load_npy"]

log = logging.getLogger(__name__)


def _order_files(names: list[str], files: list[Path]) -> list[Path]:
    """Match files to table names by suffix (``..._s1_s.npy`` -> ``s1_s``) when unambiguous, else keep order."""
    if len(names) == 1:
        return files
    matched = {}
    for n in names:
        hits = [f for f in files if f.stem.lower().endswith(n)]
        if len(hits) != 1:
            return files
        matched[n] = hits[0]
    if len(set(matched.values())) != len(names):
        return files
    return [matched[n] for n in names]


def import_tables(method: str, files: list[str | Path], scale: int | None = None, interval: int | None = None
                  ) -> tuple[dict, list[np.ndarray]]:
    """Check published arrays against ``method`` and return ``(header, tables)`` ready for ``save_lut``.

    Args:
        method: lutsr method name (``srlut-s``, ``srlut-f``, ``srlut-v``, ``mulut-sdy-x2``, ``eclut``).
        files: one ``.npy`` per table, in ``method.table_names()`` order or named with those
            suffixes (MuLUT's ``LUT_ft_x4_4bit_int8_s1_s.npy`` ...).
        scale: expected scale (inferred from the last table's cell count when ``None``).
        interval: expected interval (inferred from the row count when ``None``).
    """
    try:
        m = get_method(method)
    except ValueError as e:
        raise LutFormatError(str(e)) from None
    names = m.table_names()
    paths = [Path(f) for f in files]
    if len(paths) != len(names):
        raise LutFormatError(f"{method} needs {len(names)} table files ({', '.join(names)}), got {len(paths)}")
    paths = _order_files(names, paths)
    arrays = [load_npy(p) for p in paths]
    for p, a, name in zip(paths, arrays, names):
        if a.dtype != np.dtype(m.table_dtype):
            raise LutFormatError(f"{p}: dtype {a.dtype}, expected {m.table_dtype} for {method} table {name}")
    first_unit = m.stages[0].units[0]
    if interval is None:
        rows = arrays[0].shape[0] if arrays[0].ndim else 0
        levels = round(rows ** (1.0 / first_unit.kernel.n_inputs)) if rows > 0 else 0
        cand = [i for i in range(9) if levels_for_interval(i)[1] == levels and levels ** first_unit.kernel.n_inputs == rows]
        if not cand:
            n = first_unit.kernel.n_inputs
            raise LutFormatError(f"{paths[0]}: {rows} rows, expected L**{n} rows for {method} table {names[0]} "
                                 f"(L = 257, 129, 65, 33, 17, 9, 5, 3 or 2 for interval 0..8; "
                                 f"{17 ** n} at interval 4)")
        interval = cand[0]
    if scale is None:
        last_stage = m.stages[-1]
        last = arrays[-1]
        cells = int(np.prod(last.shape[1:])) if last.ndim >= 2 else 0
        per = last_stage.units[-1].maps
        s = math.isqrt(max(cells // per, 0))
        if s < 2 or s * s * per != cells:
            raise LutFormatError(f"{paths[-1]}: {cells} values per row do not correspond to any scale for {method}")
        scale = s
    shapes = m.table_shapes(scale, interval)
    tables = []
    for p, a, name, (rows, cells) in zip(paths, arrays, names, shapes):
        if a.ndim < 2 or a.shape[0] != rows or int(np.prod(a.shape[1:])) != cells:
            raise LutFormatError(f"{p}: shape {list(a.shape)}, expected ({rows}, {cells}) values for {method} "
                                 f"x{scale} interval {interval} table {name}")
        tables.append(np.ascontiguousarray(a.reshape(rows, cells)))
    source = {"imported_from": [p.name for p in paths],
              "sha256": [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]}
    return make_header(m.name, scale, interval, source=source), tables


#: family (``spec.NETWORK_FAMILIES``) -> importer of the published folder (``lutsr import --method NAME``)
NETWORK_IMPORTERS = {"shiftlut": import_shiftlut, "tinylut": import_tinylut, "hklut": import_hklut, "lerf": import_lerf}


def task_from_name(name: str):
    """The restoration task a published folder's name says: ``...sigma=15...`` (denoising at 15) or
    ``...qf=10...`` (JPEG deblocking at quality 10), as ShiftLUT names its x1 folders; else ``None``."""
    import re

    from lutsr.tasks import Task

    m = re.search(r"sigma[=_]?(\d+)", name, re.IGNORECASE)
    if m:
        return Task.denoise(int(m.group(1)))
    m = re.search(r"(?:qf|quality)[=_]?(\d+)", name, re.IGNORECASE)
    if m:
        return Task.deblock(int(m.group(1)))
    return None


def import_network(family: str, folder: str | Path, scale: int | None = None, task=None) -> Lut:
    """Convert a published LUT-network folder (``spec.NETWORK_FAMILIES``) into an in-memory :class:`Lut`.

    ``task`` (a :class:`lutsr.tasks.Task`) marks a scale-1 network as a denoiser or deblocker; by
    default it is read from the folder's name (:func:`task_from_name`).
    """
    folder = Path(folder)
    if family not in NETWORK_IMPORTERS:
        raise LutFormatError(f"unknown LUT network family {family!r}; expected one of {', '.join(NETWORK_IMPORTERS)}")
    net = NETWORK_IMPORTERS[family](folder)
    if scale is not None and scale != net.scale:
        raise LutFormatError(f"{folder}: the tables are x{net.scale}, not x{scale}")
    files = sorted(f for f in folder.rglob("*") if f.is_file() and f.suffix in (".npy", ".npz", ".json"))
    source = {"imported_from": folder.name,
              "files": {str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}}
    if task is not None and net.scale != 1:
        raise LutFormatError(f"{folder}: a {task} LUT keeps the size, but these tables are x{net.scale}")
    if task is None and net.scale == 1:
        task = task_from_name(folder.resolve().name)
    return network_lut(family, net, source, task=task)


def import_to_file(method: str, files: list[str | Path], out: str | Path, scale: int | None = None,
                   interval: int | None = None, compress: bool = True, task=None) -> Lut:
    """``import_tables`` (or ``import_network`` for a LUT-network family and one folder) + ``save_lut``;
    returns the loaded result. ``task``: see :func:`import_network` (networks only)."""
    if method in NETWORK_FAMILIES:
        if len(files) != 1:
            raise LutFormatError(f"{method} tables are one folder (as published); got {len(files)} paths")
        if interval is not None:
            raise LutFormatError(f"{method} has no single interval: each of its tables has its own step")
        lut = import_network(method, files[0], scale, task=task)
        save_lut(out, lut.header, lut.tables, compress=compress)
        return load_lut(out)
    if task is not None:
        raise LutFormatError(f"{method} tables upscale; --task goes with same-size LUT networks (e.g. ShiftLUT's x1 sets)")
    header, tables = import_tables(method, files, scale, interval)
    save_lut(out, header, tables, compress=compress)
    return load_lut(out)
