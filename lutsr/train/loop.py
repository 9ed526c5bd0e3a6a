"""Training loop for LUT networks (imports torch; not used by the upscale path).

A run directory holds ``config.json`` (the full configuration, JSON) and
``checkpoints/`` with ``last.pt`` and periodic ``iter_NNNNNNN.pt``. A checkpoint is a
plain dict of tensors and numbers (``state_dict`` of model, optimiser and scheduler,
the iteration, and the RNG states), saved with ``torch.save`` and loaded with
``weights_only=True``: no pickled modules, no code on load.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from lutsr.datasets import load_eval_pairs
from lutsr.errors import CheckpointError
from lutsr.metrics import y_psnr
from lutsr.runtime.reference import rescale_reference
from lutsr.train.data import PatchSampler, load_training_channels
from lutsr.train.networks import build_model

__all__ = ["TrainConfig", "train", "load_checkpoint", "network_upscale"]

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored as ``config.json``)."""

    arch: str = "eclut"
    scale: int = 4
    data: str = ""
    val: str | None = None
    features: int = 64
    body: str = "mlp"  # lutsr.train.bodies
    iterations: int = 2000
    batch_size: int = 16
    patch_size: int = 48  # LR patch side
    lr: float = 1e-3
    lr_min_ratio: float = 0.01
    seed: int = 0
    checkpoint_every: int = 500
    val_every: int = 500
    log_every: int = 50
    quantize: bool = True
    task: dict | None = None  # lutsr.tasks.Task.to_json(): denoise / deblock at scale 1
    extra: dict = field(default_factory=dict)
    arch_params: dict = field(default_factory=dict)  # a table-space arch's parameters (lutsr.net.archs)
    init: str | None = None  # a table-space arch's starting tables: an exported LUT file of the same arch
    smooth: float = 0.0  # a table-space arch: weight of the tables' curvature penalty (TableNetwork.roughness)

    def model_config(self) -> dict:
        return {"arch": self.arch, "scale": self.scale, "features": self.features, "body": self.body,
                "arch_params": dict(self.arch_params)}


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise CheckpointError("--device cuda requested but CUDA is not available")
    return torch.device(name)


def _checkpoint_path(run_dir: Path) -> Path:
    return run_dir / "checkpoints" / "last.pt"


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[dict, dict]:
    """Load ``(config, checkpoint)`` from a run directory or a ``.pt`` file (no code executed).

    ``config`` is the run's ``config.json``; the checkpoint holds ``model`` (state_dict) etc.
    """
    p = Path(path)
    if p.is_dir():
        ckpt_path = _checkpoint_path(p)
        cfg_path = p / "config.json"
    else:
        ckpt_path = p
        cfg_path = p.parent.parent / "config.json" if p.parent.name == "checkpoints" else p.parent / "config.json"
    if not ckpt_path.is_file():
        raise CheckpointError(f"{ckpt_path}: no checkpoint found")
    try:
        ckpt = torch.load(ckpt_path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for bad files
        raise CheckpointError(f"{ckpt_path}: not a valid lutsr checkpoint ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise CheckpointError(f"{ckpt_path}: not a lutsr checkpoint (no model state)")
    if "config" in ckpt:
        config = json.loads(ckpt["config"])
    elif cfg_path.is_file():
        config = json.loads(cfg_path.read_text())
    else:
        raise CheckpointError(f"{ckpt_path}: no config.json beside it")
    return config, ckpt


def network_upscale(model: torch.nn.Module, image: np.ndarray, quantize: bool = True, device=None) -> np.ndarray:
    """The network's own rotation-ensembled output on a uint8 image, rounded to uint8.

    With ``quantize=True`` the cells are rounded as the table stores them and the integer
    accumulator is rescaled exactly like the runtime (so a correct LUT reproduces this bit
    for bit). With ``quantize=False`` it is the float network, rounded once at the end with
    the method's rounding rule.
    """
    if hasattr(model, "upscale"):  # a table-space architecture: its own exact output
        return model.upscale(image)
    device = device or next(model.parameters()).device
    stage = model.stage
    img = np.asarray(image)
    chans = img[..., None] if img.ndim == 2 else img
    x = torch.from_numpy(np.ascontiguousarray(chans.transpose(2, 0, 1))).float().div(255.0)[:, None].to(device)
    with torch.no_grad():
        acc = model.accumulate(x, quantize=quantize).double().cpu().numpy()[:, 0]
    if quantize:
        out = rescale_reference(np.rint(acc).astype(np.int64), 1, stage.divisor, stage.bias, stage.rounding)
    else:
        y = acc / stage.divisor + stage.bias
        y = np.floor(y + 0.5) if stage.rounding == "half_up" else np.round(y)
        out = np.clip(y, 0, 255).astype(np.uint8)
    out = out.transpose(1, 2, 0)
    return out[..., 0] if img.ndim == 2 else out


def validate(model: torch.nn.Module, pairs: list[tuple[str, np.ndarray, np.ndarray]], scale: int,
             task=None) -> float:
    """Mean Y-PSNR of the network (quantized, rounded) over ``(name, lr, hr)`` pairs; with a
    ``task``, PSNR over every channel and the whole image (the restoration protocol)."""
    from lutsr.metrics import psnr

    model.eval()
    if task is not None:
        vals = [psnr(network_upscale(model, lr), hr) for _, lr, hr in pairs]
    else:
        vals = [y_psnr(network_upscale(model, lr), hr, scale) for _, lr, hr in pairs]
    model.train()
    return float(np.mean(vals)) if vals else float("nan")


def _save(run_dir: Path, cfg: TrainConfig, model, opt, sched, it: int, sampler: PatchSampler, periodic: bool) -> None:
    ckpt = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "iteration": it,
        "config": json.dumps(asdict(cfg)),
        "numpy_rng": json.dumps(sampler.rng.bit_generator.state),
        "torch_rng": torch.get_rng_state(),
    }
    d = run_dir / "checkpoints"
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / "last.pt.tmp"
    torch.save(ckpt, tmp)
    tmp.replace(d / "last.pt")
    if periodic:
        torch.save(ckpt, d / f"iter_{it:07d}.pt")


def _lr_lambda(cfg: TrainConfig):
    def f(it: int) -> float:
        t = min(it / max(cfg.iterations, 1), 1.0)
        return cfg.lr_min_ratio + (1 - cfg.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * t))

    return f


def _metrics_jsonl(path: Path, progress=None):
    """A progress callback that appends every record (training log lines, validations) to ``path``
    as one JSON object per line, with the wall time, then calls ``progress``. Appends on resume."""

    def record(info: dict) -> None:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({**info, "time": time.time()}) + "\n")
        if progress:
            progress(info)

    return record


def train(cfg: TrainConfig, run_dir: str | Path, device: str = "auto", resume: bool = False, progress=None,
          threads: int | None = None) -> Path:
    """Train a network; return the path of the final checkpoint.

    Args:
        cfg: the run configuration. With ``resume=True`` it is replaced by the run's own
            ``config.json`` except for ``iterations`` (which may be extended).
        run_dir: output folder (created).
        device: ``auto``, ``cpu`` or ``cuda``.
        resume: continue from ``run_dir/checkpoints/last.pt`` exactly where it stopped.
        progress: optional callable ``progress(dict)`` called on each log step.
        threads: CPU threads for torch and for the Numba lookup kernels (default: their own). Numba's
            first: starting Numba's OpenMP threading layer (its first parallel kernel, or this
            call) resets the process's OpenMP thread count, torch's included, to every core.
    """
    if threads:
        import numba

        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
        torch.set_num_threads(int(threads))
    run_dir = Path(run_dir)
    dev = pick_device(device)
    start_it = 0
    ckpt = None
    if resume:
        saved_cfg, ckpt = load_checkpoint(run_dir, map_location=dev)
        iterations = cfg.iterations
        cfg = TrainConfig(**{k: v for k, v in saved_cfg.items() if k in TrainConfig.__dataclass_fields__})
        if iterations and iterations > cfg.iterations:
            log.info("%s: iterations extended %d -> %d (the schedule stretches)", run_dir, cfg.iterations, iterations)
            cfg.iterations = iterations
        elif iterations and iterations < cfg.iterations:
            log.info("%s: keeping the saved %d iterations (%d asked for is fewer)", run_dir, cfg.iterations,
                     iterations)
        start_it = int(ckpt["iteration"])
        log.info("resuming %s at iteration %d", run_dir, start_it)

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model_config()).to(dev)
    if hasattr(model, "params"):  # a table-space arch: record every parameter, defaults included
        cfg.arch_params = dict(model.params)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    channels = load_training_channels(cfg.data, min_side=(cfg.patch_size + 2 * PatchSampler.MARGIN) * cfg.scale)
    task = None
    if cfg.task is not None:
        from lutsr.tasks import Task

        task = Task.from_json(cfg.task)
    sampler = PatchSampler(channels, cfg.scale, cfg.patch_size, seed=cfg.seed, task=task)
    if cfg.smooth and not hasattr(model, "roughness"):
        raise CheckpointError(f"--smooth goes with a table-space arch, not {cfg.arch}")
    if cfg.init and ckpt is None:  # a table-space arch's starting tables (a resumed run has its own)
        from lutsr.lut.file import load_lut

        if not hasattr(model, "warm_start"):
            raise CheckpointError(f"--init goes with a table-space arch, not {cfg.arch}")
        lut = load_lut(cfg.init)
        if lut.header.get("format_version") != 2:
            raise CheckpointError(f"--init {cfg.init}: not a LUT network file (format 2)")
        model.warm_start(lut.network)
        log.info("tables from %s", cfg.init)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        sampler.rng.bit_generator.state = json.loads(ckpt["numpy_rng"])
        torch.set_rng_state(ckpt["torch_rng"].cpu())
    if task is not None:
        from lutsr.datasets import restore_eval_pairs

        val_pairs = restore_eval_pairs(cfg.val, task) if cfg.val else []
    else:
        val_pairs = load_eval_pairs(cfg.val, cfg.scale) if cfg.val else []
    # written only once the data is known to be usable: a failed start leaves no run behind
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    model.train()
    t0 = time.perf_counter()
    progress = _metrics_jsonl(run_dir / "metrics.jsonl", progress)  # issue 15: metrics in the run folder
    loss_avg = None
    it = start_it
    for it in range(start_it + 1, cfg.iterations + 1):
        lr_np, hr_np = sampler.batch(cfg.batch_size)
        lr_t = torch.from_numpy(lr_np).to(dev)[:, None]
        hr_t = torch.from_numpy(hr_np).to(dev)[:, None]
        out = model(lr_t, quantize=cfg.quantize)
        mse = torch.mean((out - hr_t) ** 2)
        loss = mse + cfg.smooth * model.roughness() if cfg.smooth else mse
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        lv = float(mse.detach())  # the logged loss and PSNR are the data term's
        loss_avg = lv if loss_avg is None else 0.95 * loss_avg + 0.05 * lv
        if it % cfg.log_every == 0 or it == cfg.iterations:
            el = time.perf_counter() - t0
            rate = (it - start_it) / max(el, 1e-9)
            eta = (cfg.iterations - it) / max(rate, 1e-9)
            info = {"iteration": it, "iterations": cfg.iterations, "loss": loss_avg,
                    "psnr_train": -10 * math.log10(max(loss_avg, 1e-12)), "rate": rate, "eta_s": eta,
                    "lr": sched.get_last_lr()[0]}
            log.info("it %d/%d loss %.6f (%.2f dB) %.2f it/s ETA %.0fs", it, cfg.iterations, loss_avg,
                     info["psnr_train"], rate, eta)
            if progress:
                progress(info)
        if val_pairs and (it % cfg.val_every == 0 or it == cfg.iterations):
            v = validate(model, val_pairs, cfg.scale, task)
            log.info("it %d validation %s %.3f dB", it, "PSNR" if task else "Y-PSNR", v)
            if progress:
                progress({"iteration": it, "val_psnr": v})
        if it % cfg.checkpoint_every == 0 or it == cfg.iterations:
            _save(run_dir, cfg, model, opt, sched, it, sampler, periodic=True)
    if ckpt is not None and it == start_it:
        _save(run_dir, cfg, model, opt, sched, it, sampler, periodic=False)
    log.info("training done in %.1fs", time.perf_counter() - t0)
    return _checkpoint_path(run_dir)
