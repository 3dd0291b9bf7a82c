"""Devices and their arithmetic (chargen.model.device): a precision the hardware lacks is refused with the fix."""

import pytest
import torch

from chargen.errors import ChargenError
from chargen.model import device


def test_tf32_without_an_nvidia_gpu_is_refused_with_the_fix():
    with pytest.raises(ChargenError, match="--precision tf32 needs the TF32 matrix units of an NVIDIA GPU .* use --precision fp32"):
        device.check_precision("tf32", torch.device("cpu"))
