"""Exceptions with one-line, user-facing messages. The CLI prints them and exits 2.

Every lutsr error is a ``ValueError`` (bad input: a file, an option, an array), so code that
catches ``ValueError`` around a library call keeps working; an argument of the wrong *type*
(not an array, ``threads="2"``) raises :class:`InputTypeError`, also a ``TypeError``.
"""


class LutsrError(ValueError):
    """Base class: ``str(err)`` is a complete one-line message for the user."""


class InputTypeError(LutsrError, TypeError):
    """An argument of the wrong type (not a numpy array, a non-integer thread count)."""


class ImageError(LutsrError):
    """An image could not be read, is unsupported, or could not be written."""


class LutFormatError(LutsrError):
    """A LUT file is malformed, of another version, or fails validation."""


class CheckpointError(LutsrError):
    """A training checkpoint or run directory is missing or invalid."""
