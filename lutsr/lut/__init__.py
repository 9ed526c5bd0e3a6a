"""LUT files: the format (``file``), the shipped tables (``shipped``), published tables (``importer``)
and re-sampling at a coarser interval (``coarsen``). No torch, no Numba."""

from lutsr.lut.file import MAGIC, Lut, load_lut, make_header, save_lut
from lutsr.lut.shipped import SHIPPED_FAMILIES, default_lut, default_lut_path, resolve_lut

__all__ = ["Lut", "load_lut", "save_lut", "make_header", "MAGIC", "SHIPPED_FAMILIES", "default_lut",
           "default_lut_path", "resolve_lut"]
