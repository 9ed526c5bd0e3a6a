"""Everything that needs PyTorch: the LUT networks (``networks``), the training loop and checkpoints
(``loop``), training patches (``data``), export to LUT files (``export``) and checkpoint accounting
(``accounting``). Importing this package does not import torch; its modules do.

Nothing outside ``lutsr.train`` imports from it except the CLI's ``train``, ``export`` and ``info``
commands (``tests/test_layout.py`` checks both rules).
"""
