"""The LUTs shipped with the package (``luts/``, installed as ``lutsr.luts``) and how a LUT argument resolves."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from lutsr.errors import LutFormatError
from lutsr.lut.file import Lut, load_lut

__all__ = ["SHIPPED_FAMILIES", "SHIPPED_SCALES", "DEFAULT_FAMILY", "default_lut_path", "default_lut",
           "resolve_lut"]

#: Families of LUTs shipped in ``luts/`` as ``{family}_x{scale}.lut``; the first is the default:
#: ``srlut-s`` (SR-LUT's 2x2 structure, tables fitted by lutsr: the best shipped LUT within 5x
#: OpenCV bicubic's time), ``eclut`` (lutsr's trained ECLUT), ``eclut-sdy`` (lutsr's fitted
#: composite, slower), ``shiftnet`` (lutsr's own LUT network, trained in table space: the
#: sharpest and smallest, the slowest).
SHIPPED_FAMILIES: tuple[str, ...] = ("srlut-s", "eclut", "eclut-sdy", "shiftnet")
#: The scales each family is shipped at.
SHIPPED_SCALES: dict[str, tuple[int, ...]] = {"srlut-s": (2, 3, 4), "eclut": (2, 3, 4), "eclut-sdy": (2, 3, 4),
                                              "shiftnet": (2, 3, 4)}
DEFAULT_FAMILY: str = SHIPPED_FAMILIES[0]

_LOADED: dict[tuple[int, str], Lut] = {}


def default_lut_path(scale: int = 4, family: str = DEFAULT_FAMILY) -> Path:
    """Path of the shipped LUT of ``family`` (default: :data:`DEFAULT_FAMILY`) for ``scale``.

    Raises:
        LutFormatError: no such family, or none shipped at that scale.
    """
    if family not in SHIPPED_FAMILIES:
        raise LutFormatError(f"no shipped LUT family {family!r}; expected one of {', '.join(SHIPPED_FAMILIES)}")
    p = Path(str(files("lutsr.luts") / f"{family}_x{scale}.lut"))
    if not p.is_file():
        raise LutFormatError(f"no {family} LUT is shipped for scale {scale} ({p.name}); pass --lut FILE")
    return p


def default_lut(scale: int = 4, family: str = DEFAULT_FAMILY) -> Lut:
    """The shipped LUT of ``family`` for ``scale`` (loaded once per process).

    ``"srlut-s"`` (default) is the best within 5x OpenCV bicubic's time, as fast as ECLUT;
    ``"eclut"`` is lutsr's trained ECLUT; ``"eclut-sdy"`` (lutsr's fitted composite) is
    sharper and about 5x slower; see ``docs/results.md``.
    """
    key = (int(scale), family)
    if key not in _LOADED:
        _LOADED[key] = load_lut(default_lut_path(scale, family))
    return _LOADED[key]


def resolve_lut(lut: Lut | str | os.PathLike | None, scale: int = 4) -> Lut:
    """A ``Lut`` as given, loaded from a path, a shipped family by name (``"srlut-s"``,
    ``"eclut"``, ``"eclut-sdy"``, ``"shiftnet"``) at ``scale``, or the shipped default for ``scale`` when ``None``."""
    if isinstance(lut, Lut):
        return lut
    if lut is None:
        return default_lut(scale)
    p = Path(lut)
    if not p.exists() and str(lut) in SHIPPED_FAMILIES:
        return default_lut(scale, str(lut))
    return load_lut(p)
