"""Where training runs (cpu, cuda, mps) and which arithmetic the hardware really has there."""

from __future__ import annotations

import os

import torch

from chargen.errors import ChargenError

# cuDNN's recurrent kernels are deterministic only with a fixed cuBLAS workspace (torch.nn.LSTM's notes);
# cuBLAS reads this when it first starts, so it is set before anything here can start it.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto` is cuda, then mps, then cpu; under torchrun each process of a machine takes its own GPU, so
    `auto` is cuda only where there is a GPU for every process (NCCL refuses two processes on one GPU)."""
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    if name == "auto":
        if torch.cuda.is_available() and local_world <= torch.cuda.device_count():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ChargenError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ChargenError(f"--device {name} was asked for but no CUDA GPU is available; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ChargenError(f"--device {name}: this machine has {torch.cuda.device_count()} GPU(s), "
                               f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
        if local_world > torch.cuda.device_count():
            raise ChargenError(f"{local_world} processes on this machine need a GPU each, and it has "
                               f"{torch.cuda.device_count()}; use --nproc {torch.cuda.device_count()}, or --device cpu")
        if device.index is None:
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
    return device


def usable_precisions(device: torch.device) -> list[str]:
    """fp32, and where the hardware has them TF32 matrix units (NVIDIA Ampere and later) and bf16 arithmetic."""
    if device.type == "cuda":
        # Before Ampere, bf16 is emulated (slower than fp32) and there are no TF32 units.
        return ["fp32", "tf32", "bf16"] if torch.cuda.get_device_capability(device) >= (8, 0) else ["fp32"]
    if device.type == "cpu":
        try:  # AVX-512 BF16 or AMX: without them oneDNN has no bf16 LSTM at all
            has_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            has_bf16 = False
    else:
        has_bf16 = False
    return ["fp32", "bf16"] if has_bf16 else ["fp32"]


def has_precision(precision: str, device: torch.device) -> bool:
    return precision in usable_precisions(device)


def check_precision(precision: str, device: torch.device) -> None:
    if not has_precision(precision, device):
        if precision == "tf32":
            raise ChargenError(f"--precision tf32 needs the TF32 matrix units of an NVIDIA GPU (Ampere or later), "
                               f"which {device} lacks; use --precision fp32")
        where = "this CPU (bf16 needs AVX-512 BF16 or AMX)" if device.type == "cpu" else str(device)
        raise ChargenError(f"--precision {precision} needs bf16 arithmetic, which {where} lacks; "
                           "use --precision fp32")


def set_arithmetic(precision: str, device: torch.device) -> None:
    """Make torch's process-wide CUDA switches say what `precision` means.

    cuDNN computes "fp32" recurrences in TF32 unless told not to (torch's default), so fp32 here turns
    TF32 off for matrix products and cuDNN alike, and tf32 turns it on for both. bf16 is autocast (the
    forward pass; chargen.train.loss). cuDNN is asked for deterministic algorithms, so that a resumed run
    continues exactly as an uninterrupted one would.
    """
    if device.type != "cuda":
        return
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = precision == "tf32"
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def training_device(name: str, precision: str, local_rank: int = 0) -> torch.device:
    """The device a run trains on (`resolve_device`), checked for `precision` and set up for it."""
    device = resolve_device(name, local_rank)
    check_precision(precision, device)
    set_arithmetic(precision, device)
    return device
