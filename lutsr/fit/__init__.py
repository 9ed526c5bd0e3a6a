"""``lutsr fit``: solve a single-stage method's tables by sparse linear least squares (no torch).

- ``operator``: the linear map (forward / adjoint Numba kernels and their NumPy references).
- ``solver``: priors, preconditioned conjugate gradients, quantization, resumable state.
- ``data``: the streamed training pairs.

How and why: ``docs/fit.md``.
"""

from lutsr.fit.data import TrainingSet
from lutsr.fit.operator import LinearLut, adjoint_reference, forward_reference
from lutsr.fit.solver import FitConfig, FitResult, cg_solve, fit, fit_cascade, prior_table, quantize, train_psnr

__all__ = ["LinearLut", "TrainingSet", "FitConfig", "FitResult", "fit", "fit_cascade", "prior_table", "quantize",
           "forward_reference", "adjoint_reference", "cg_solve", "train_psnr"]
