"""Where training runs (cpu, cuda, mps) and which arithmetic the hardware really has there."""

from __future__ import annotations

import torch

from chargen.errors import ChargenError


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto` is cuda, then mps, then cpu; under torchrun each process of a machine takes its own GPU."""
    if name == "auto":
        if torch.cuda.is_available():
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
        if device.index is None:
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
    return device


def usable_precisions(device: torch.device) -> list[str]:
    """fp32, and bf16 where the hardware has bf16 arithmetic."""
    if device.type == "cuda":
        has_bf16 = torch.cuda.is_bf16_supported()
    elif device.type == "cpu":
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
        where = "this CPU (bf16 needs AVX-512 BF16 or AMX)" if device.type == "cpu" else str(device)
        raise ChargenError(f"--precision {precision} needs bf16 arithmetic, which {where} lacks; "
                           "use --precision fp32")
