"""The learning-rate schedule (chargen.train.schedule): a linear warm-up, then a cosine decay to a floor."""

import pytest

from chargen.config import TrainConfig
from chargen.train.schedule import learning_rate


def test_learning_rate_warms_up_then_decays_to_the_floor():
    cfg = TrainConfig(lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert learning_rate(0, 100, cfg) == pytest.approx(0.1)
    assert learning_rate(9, 100, cfg) == pytest.approx(1.0)
    assert learning_rate(55, 100, cfg) == pytest.approx(0.55)
    assert learning_rate(100, 100, cfg) == pytest.approx(0.1)
