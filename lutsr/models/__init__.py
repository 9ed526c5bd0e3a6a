"""Trainable networks. Importing a concrete model imports torch; this package does not."""

from __future__ import annotations

#: Methods that ``lutsr train`` can train (single-stage methods).
ARCHS = ("eclut", "srlut-s", "srlut-f", "srlut-v")


def build_model(config: dict):
    """Build a network from its JSON config (``{"arch": "eclut", "scale": 4, "features": 64}``)."""
    arch = config.get("arch")
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; expected one of {', '.join(ARCHS)}")
    from lutsr.models.lutnet import LUTNet

    return LUTNet(arch, scale=int(config["scale"]), features=int(config.get("features", 64)))
