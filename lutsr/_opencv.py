"""The one place lutsr imports OpenCV, so that its own pixel limit is set first.

OpenCV reads ``OPENCV_IO_MAX_IMAGE_PIXELS`` once, when ``cv2`` is imported, and then refuses
larger images inside the header reader of every codec, before any pixel is decoded. lutsr sets
it from its own limit (``--max-pixels``, default 2**30) when ``cv2`` is not imported yet and the
user has not set it; a value the user set is never changed.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

__all__ = ["DEFAULT_MAX_PIXELS", "ENV", "preset_pixel_limit", "opencv_pixel_limit", "cv2_module"]

#: Largest input accepted by default (pixels), like OpenCV's own limit: 2**30.
DEFAULT_MAX_PIXELS = 1 << 30
ENV = "OPENCV_IO_MAX_IMAGE_PIXELS"


def preset_pixel_limit(max_pixels: int = DEFAULT_MAX_PIXELS) -> bool:
    """Set ``OPENCV_IO_MAX_IMAGE_PIXELS`` to ``max_pixels`` if ``cv2`` is not imported and the user did not set it.

    Returns:
        True if the variable was set here.
    """
    if "cv2" in sys.modules or os.environ.get(ENV):
        return False
    os.environ[ENV] = str(int(max_pixels))
    return True


def opencv_pixel_limit() -> int | None:
    """OpenCV's pixel limit as this process set it (``None`` if unreadable)."""
    try:
        return int(os.environ.get(ENV, DEFAULT_MAX_PIXELS))
    except ValueError:
        return None


def cv2_module() -> ModuleType:
    """``cv2``, imported after :func:`preset_pixel_limit` (with the default limit unless one was set)."""
    preset_pixel_limit()
    import cv2

    return cv2
