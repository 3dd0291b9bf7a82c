"""Dynamic evaluation (Krause et al., 2018): a copy of the model goes on learning from the text it reads.

Each segment of SEGMENT characters is first scored, then learned from with one gradient step, the state
carried on; so every character is predicted by a model that has read all the text before it and nothing
after. The step is Krause's RMS-normalised one: a weight moves by lr * g / rms, rms being the root mean
square of that weight's gradient over segments of a reference text (the training text's end for
`eval --dynamic`, the text itself for `--adapt`; so one learning rate suits every layer), and is pulled back towards its trained value by decay * (trained - now), scaled by its rms over
the model's mean rms (what the text moves little stays near home). `tune` chooses the learning rate and
decay on the training text's end, never on the text scored. The copy is the caller's: nothing here
writes a checkpoint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from chargen.config import ModelConfig
from chargen.errors import ChargenError
from chargen.model.charrnn import CharRNN, State, detach_state

SEGMENT = 50  # characters a gradient step learns from
RMS_CHARS = 5_000  # of reference text the gradients' RMS is taken over (100 segments)
TUNE_CHARS = 10_000  # of the training text's end the learning rate and decay are chosen on
LEARNING_RATES = (1e-4, 3e-4, 1e-3)
DECAYS = (0.0, 1e-3, 1e-2)
# No weight's RMS is taken below this share of its tensor's mean (of the weights that moved at all): one that
# the reference text barely moved would otherwise take huge steps on the first text that moves it.
RMS_FLOOR = 0.1


@dataclass(frozen=True)
class Adaptation:
    """How a copy learns as it reads: the step's learning rate and the pull back to the trained weights."""

    lr: float
    decay: float


@dataclass(frozen=True)
class Reading:
    """What reading a text with a learning copy gave: the summed loss, characters predicted, seconds taken."""

    nats: float
    chars: int
    seconds: float

    @property
    def loss(self) -> float:
        return self.nats / self.chars


def _segments(ids: np.ndarray, device: torch.device):
    """(inputs, targets) of each consecutive segment of a text, (1, t) each."""
    ids = torch.as_tensor(np.asarray(ids, dtype=np.int64))
    for start in range(0, len(ids) - 1, SEGMENT):
        piece = ids[start : start + SEGMENT + 1].to(device)
        yield piece[None, :-1], piece[None, 1:]


def _trained_copy(config: ModelConfig, weights: dict[str, torch.Tensor], device: torch.device) -> CharRNN:
    model = CharRNN.trained(config, weights).to(device)
    model.eval()  # no dropout: the copy predicts as the model is evaluated
    return model


def gradient_rms(config: ModelConfig, weights: dict[str, torch.Tensor], ids: np.ndarray,
                 device: torch.device) -> dict[str, torch.Tensor]:
    """The RMS of every weight's gradient over the segments of `ids` (the trained weights, the state carried)."""
    model = _trained_copy(config, weights, device)
    squares = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
    state, count = None, 0
    with torch.backends.cudnn.flags(enabled=False):  # cuDNN's RNN backward refuses a model in eval mode
        for x, y in _segments(ids, device):
            model.zero_grad(set_to_none=False)
            logits, state = model(x, state)
            F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).backward()
            state = detach_state(state)
            for name, p in model.named_parameters():
                squares[name] += p.grad.square()
            count += 1
    rms = {}
    for name, total in squares.items():
        value = (total / max(count, 1)).sqrt()
        moved = value[value > 0]
        rms[name] = value.clamp(min=RMS_FLOOR * float(moved.mean()) if moved.numel() else 1e-8)
    return rms


class LearningCopy:
    """A copy of a trained model that learns from the text it reads (`read`), and its weights after."""

    def __init__(self, config: ModelConfig, weights: dict[str, torch.Tensor], rms: dict[str, torch.Tensor],
                 how: Adaptation, device: torch.device) -> None:
        self.config, self.how, self.device = config, how, device
        self.model = _trained_copy(config, weights, device)
        self.home = {name: p.detach().clone() for name, p in self.model.named_parameters()}
        self.rms = {name: r.to(device) for name, r in rms.items()}
        mean = torch.cat([r.flatten() for r in self.rms.values()]).mean()
        # Krause's scaling of the decay, capped so that no weight overshoots its trained value in a step.
        cap = 1.0 / how.decay if how.decay > 0 else 1.0
        self.pull = {name: (r / mean).clamp(max=cap) for name, r in self.rms.items()}
        self.state: State | None = None

    def read(self, ids: np.ndarray) -> Reading:
        """Score `ids` segment by segment, each before learning from it; the state goes on from the last read."""
        model, how = self.model, self.how
        nats, chars, started = 0.0, 0, time.perf_counter()
        with torch.backends.cudnn.flags(enabled=False):
            for x, y in _segments(ids, self.device):
                model.zero_grad(set_to_none=False)
                logits, state = model(x, self.state)
                summed = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum")
                (summed / y.numel()).backward()
                self.state = detach_state(state)
                nats, chars = nats + summed.item(), chars + y.numel()
                if how.lr > 0:
                    with torch.no_grad():
                        for name, p in model.named_parameters():
                            p -= how.lr * p.grad / self.rms[name]
                            if how.decay > 0:
                                p += how.decay * self.pull[name] * (self.home[name] - p)
        if not np.isfinite(nats):
            raise ChargenError(f"dynamic evaluation diverged at learning rate {how.lr:g}; the model is unchanged")
        return Reading(nats, chars, time.perf_counter() - started)

    def forget_context(self) -> None:
        self.state = None

    def weights(self) -> dict[str, torch.Tensor]:
        """The copy's weights as it stands, on the CPU: a model of the same shape as the trained one."""
        return {name: t.detach().cpu().clone() for name, t in self.model.state_dict().items()}


@dataclass(frozen=True)
class Tuned:
    """The adaptation chosen on the training text's end, the gradients' RMS it was chosen with, and the grid."""

    how: Adaptation
    rms: dict[str, torch.Tensor]
    grid: list[dict]  # {"lr", "decay", "loss"} for every point tried (lr 0: the model as trained; loss None: diverged)
    chars: int  # characters of training text each point read


def tune(config: ModelConfig, weights: dict[str, torch.Tensor], train_ids: np.ndarray, device: torch.device) -> Tuned:
    """The learning rate and decay (of LEARNING_RATES x DECAYS) that predict the training text's last
    TUNE_CHARS best when learning as they read, the RMS taken over the RMS_CHARS before them."""
    if len(train_ids) < 4 * SEGMENT + 2:
        raise ChargenError(f"the model's training text has {len(train_ids):,} characters, too few to choose the "
                           "dynamic evaluation's learning rate on (it needs a few hundred)")
    tune_chars = min(TUNE_CHARS, len(train_ids) // 2)
    tail, before = train_ids[-tune_chars - 1:], train_ids[: len(train_ids) - tune_chars - 1]
    rms = gradient_rms(config, weights, before[-RMS_CHARS - 1:], device)
    grid = []
    for how in [Adaptation(0.0, 0.0)] + [Adaptation(lr, d) for lr in LEARNING_RATES for d in DECAYS]:
        try:
            loss = LearningCopy(config, weights, rms, how, device).read(tail).loss
        except ChargenError:  # a rate that diverges is simply not chosen
            loss = None
        grid.append({"lr": how.lr, "decay": how.decay, "loss": loss})
    # The model as trained is a candidate too: where learning as it reads does not help, it is not done.
    best = min((point for point in grid if point["loss"] is not None), key=lambda point: point["loss"])
    return Tuned(Adaptation(best["lr"], best["decay"]), rms, grid, len(tail) - 1)


# What `chargen sample --adapt` and the REPL's :adapt use: no training text is at hand to tune on there.
ADAPTATION = Adaptation(lr=3e-4, decay=0.0)
MIN_ADAPT_CHARS = 20_000  # a short text is read again until about this many characters were learned from
MAX_ADAPT_PASSES = 10
MAX_ADAPT_CHARS = 100_000  # of a longer text, its end: its most recent manner, in seconds rather than minutes


@dataclass(frozen=True)
class Adapted:
    """A copy of a model adapted to a text: its weights, and how well the model predicted the text before."""

    weights: dict[str, torch.Tensor]
    trained: Reading  # the model as trained, reading the text
    learning: Reading  # the copy reading it the first time, learning as it went (dynamic evaluation)
    passes: int


def adapt(config: ModelConfig, weights: dict[str, torch.Tensor], ids: np.ndarray, device: torch.device,
          how: Adaptation = ADAPTATION) -> Adapted:
    """A copy of the model adapted to the text `ids` (its last MAX_ADAPT_CHARS): read and learned from once,
    and again from a fresh state while fewer than MIN_ADAPT_CHARS were read (at most MAX_ADAPT_PASSES);
    the RMS taken on the text."""
    ids = ids[-MAX_ADAPT_CHARS:]
    rms = gradient_rms(config, weights, ids[: RMS_CHARS + 1], device)
    trained = LearningCopy(config, weights, rms, Adaptation(0.0, 0.0), device).read(ids)
    copy = LearningCopy(config, weights, rms, how, device)
    learning = copy.read(ids)
    passes = min(MAX_ADAPT_PASSES, -(-MIN_ADAPT_CHARS // max(len(ids) - 1, 1)))
    for _ in range(passes - 1):
        copy.forget_context()
        copy.read(ids)
    return Adapted(copy.weights(), trained, learning, passes)
