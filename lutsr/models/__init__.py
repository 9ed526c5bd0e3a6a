"""Trainable networks. Importing a concrete model imports torch; this package does not."""

from __future__ import annotations

ARCHS = ("eclut",)


def build_model(config: dict):
    """Build a network from its JSON config (``{"arch": "eclut", "scale": 4, ...}``)."""
    arch = config.get("arch")
    if arch == "eclut":
        from lutsr.models.eclut import ECLUTNet

        return ECLUTNet(scale=int(config["scale"]), features=int(config.get("features", 64)))
    raise ValueError(f"unknown arch {arch!r}; expected one of {', '.join(ARCHS)}")
