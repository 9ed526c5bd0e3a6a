"""Exceptions with one-line, user-facing messages. The CLI prints them and exits 2."""


class LutsrError(Exception):
    """Base class: ``str(err)`` is a complete one-line message for the user."""


class ImageError(LutsrError):
    """An image could not be read, is unsupported, or could not be written."""


class LutFormatError(LutsrError):
    """A LUT file is malformed, of another version, or fails validation."""


class CheckpointError(LutsrError):
    """A training checkpoint or run directory is missing or invalid."""
