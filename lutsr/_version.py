"""The package version, in one place (``lutsr.__version__``, LUT headers, ``lutsr --version``)."""

__version__ = "0.2.0"
