"""Every user-settable option, as dataclasses with their defaults: the model, training and sampling.

This module imports neither torch nor numpy, so `chargen --help` can show the defaults instantly.
A flag, its config field and its checkpoint key share one name (`--hidden-size` / `hidden_size`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chargen.errors import ChargenError

CELLS = ("lstm", "gru", "rnn-tanh", "rnn-relu")
# How the recurrent weights start. torch: PyTorch's own (uniform in +-1/sqrt(H)), which learned fastest for
# every cell (bench/init.py); orthogonal: orthogonal recurrent matrices (Saxe et al. 2014); identity: the
# IRNN's identity recurrence and tiny input weights (Le et al. 2015), plain RNNs only; forget-1: zero
# biases but the LSTM forget gate's at 1 (Gers et al. 2000), chargen 0.1's LSTM initialisation.
INITS = ("torch", "orthogonal", "identity", "forget-1")
PRECISIONS = ("fp32", "tf32", "bf16")  # bf16: autocast of the forward pass; weights, optimizer and evaluation stay fp32;
# tf32: fp32 numbers through an NVIDIA GPU's TF32 matrix units (10-bit mantissa products)


def flag(name: str) -> str:
    """The command-line flag of a config field: hidden_size -> --hidden-size."""
    return "--" + name.replace("_", "-")


@dataclass
class ModelConfig:
    vocab_size: int  # V: distinct characters
    cell: str = "lstm"  # lstm | gru | rnn-tanh | rnn-relu
    layers: int = 2  # L: stacked recurrent layers
    hidden_size: int = 256  # H: width of each recurrent layer
    embed_dim: int = 64  # E: learned character embedding; 0 feeds one-hot vectors as in char-rnn
    dropout: float = 0.0  # between recurrent layers and before the output layer
    init: str = "torch"  # how the recurrent weights start: one of INITS
    # Regularisation in training only (chargen.model.regularisation; AWD-LSTM, Merity et al. 2018):
    weight_drop: float = 0.0  # DropConnect on the hidden-to-hidden matrices, one mask per window
    input_dropout: float = 0.0  # dropout on the inputs (the embedding or one-hot vectors)
    locked_dropout: bool = False  # every dropout mask held over a window's time steps, not drawn per character

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ChargenError(f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        if self.init not in INITS:
            raise ChargenError(f"unknown --init {self.init!r}; choose one of {', '.join(INITS)}")
        if self.init == "identity" and not self.cell.startswith("rnn-"):
            raise ChargenError(f"--init identity is for plain RNNs (rnn-tanh, rnn-relu), not {self.cell}")
        if self.init == "forget-1" and self.cell != "lstm":
            raise ChargenError(f"--init forget-1 is for LSTMs (it sets their forget gate), not {self.cell}")
        for name in ("vocab_size", "layers", "hidden_size"):
            if getattr(self, name) < 1:
                raise ChargenError(f"{flag(name)} must be at least 1, not {getattr(self, name)}")
        if self.embed_dim < 0:
            raise ChargenError(f"--embed-dim must be 0 (one-hot) or more, not {self.embed_dim}")
        for name in ("dropout", "weight_drop", "input_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ChargenError(f"{flag(name)} must be in [0, 1), not {getattr(self, name)}")

    @classmethod
    def saved(cls, options: dict) -> ModelConfig:
        """The config a checkpoint holds; those of chargen 0.1 name no init, and had LSTMs start with the
        forget gate at 1 and ReLU RNNs with the identity."""
        legacy = {"lstm": "forget-1", "rnn-relu": "identity"}.get(options.get("cell", "lstm"), "torch")
        return cls(**{"init": legacy, **options})

    @property
    def input_size(self) -> int:
        return self.embed_dim or self.vocab_size

    @property
    def gates(self) -> int:
        """Gate blocks per layer: each is an (H, input) and an (H, H) matrix."""
        return {"lstm": 4, "gru": 3}.get(self.cell, 1)

    def recurrent_params(self) -> int:
        """Weights of the recurrent layers' gates: what carries the context from character to character."""
        H, G = self.hidden_size, self.gates
        first = G * H * (self.input_size + H)
        upper = (self.layers - 1) * G * H * (H + H)
        return first + upper

    def matmul_params(self) -> int:
        """Weights that take part in a matrix multiply for every character (not the embedding lookup)."""
        return self.recurrent_params() + self.hidden_size * self.vocab_size

    def train_flops_per_char(self) -> int:
        """Forward (2 FLOPs per weight) plus backward (4): the usual 6 FLOPs per weight per character."""
        return 6 * self.matmul_params()


@dataclass
class TrainConfig:
    batch_size: int = 32  # B: contiguous streams trained side by side
    seq_len: int = 64  # T: characters per window; gradients flow back at most this far
    lr: float = 2e-3  # AdamW peak learning rate
    weight_decay: float = 0.0  # AdamW decoupled weight decay (matrices only)
    warmup_steps: int = 100  # linear warm-up, then cosine decay to min_lr_ratio * lr
    min_lr_ratio: float = 0.1  # where the cosine decay ends, as a fraction of lr
    grad_clip: float = 1.0  # global gradient-norm clip; 0 turns it off
    steps: int | None = None  # total optimizer steps of the run
    epochs: float | None = None  # or: passes over the training text (with minutes: whichever ends first)
    minutes: float | None = None  # or: a wall-clock budget, turned into steps by measuring speed
    eval_every: int = 500  # steps between evaluations (each also saves a checkpoint)
    val_fraction: float = 0.1  # the last fraction of the text, contiguous, is validation
    eval_chars: int = 0  # each evaluation reads about this many validation characters, spread over it; 0: all
    seed: int = 1337  # seeds weights, dropout and the data order
    device: str = "auto"  # auto: cuda, then mps, then cpu
    precision: str = "fp32"  # arithmetic of training: fp32, tf32 or bf16 (chargen.model.device)
    lines: bool = False  # line mode: each non-empty line is one item, trained from a fresh state

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ChargenError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")
        for name in ("batch_size", "seq_len", "eval_every"):
            if getattr(self, name) < 1:
                raise ChargenError(f"{flag(name)} must be at least 1, not {getattr(self, name)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ChargenError(f"--lr must be a positive number, not {self.lr}")
        for name in ("weight_decay", "grad_clip", "warmup_steps", "eval_chars"):
            if not getattr(self, name) >= 0:
                raise ChargenError(f"{flag(name)} must not be negative, not {getattr(self, name)}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ChargenError(f"--min-lr-ratio must be in [0, 1], not {self.min_lr_ratio}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ChargenError(f"--val-fraction must be in [0, 1), not {self.val_fraction}")
        lengths = [n for n in LENGTH_OPTIONS if getattr(self, n) is not None]
        if len(lengths) > 1 and set(lengths) != {"epochs", "minutes"}:  # a budget may end sooner, after passes
            raise ChargenError(f"give only one of --steps, --epochs and --minutes (or --minutes with --epochs, "
                               f"whichever ends first), not {' and '.join(map(flag, lengths))}")
        for name in lengths:
            if not getattr(self, name) > 0:
                raise ChargenError(f"{flag(name)} must be positive, not {getattr(self, name)}")


LENGTH_OPTIONS = ("steps", "epochs", "minutes")
DEFAULT_MINUTES = 5.0  # a run given no length trains this long


DEFAULT_TEMPERATURE = 1.0  # every command that samples: the model's own distribution, unsharpened


@dataclass(frozen=True)
class SamplingSettings:
    temperature: float = DEFAULT_TEMPERATURE  # 0 always picks the most likely character (greedy)
    top_k: int | None = None  # keep only the k most likely characters
    top_p: float | None = None  # keep the smallest set whose probability reaches p (nucleus)

    def __post_init__(self) -> None:
        check_temperature(self.temperature)
        check_top_k(self.top_k)
        check_top_p(self.top_p)


def check_temperature(value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise ChargenError(f"temperature must be a finite number >= 0 (0 is greedy), not {value}")
    return value


def check_top_k(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise ChargenError(f"top-k must be at least 1, not {value}")
    return value


def check_top_p(value: float | None) -> float | None:
    if value is not None and not (0.0 < value <= 1.0):
        raise ChargenError(f"top-p must be in (0, 1], not {value}")
    return value


def check_length(value: int) -> int:
    if value < 1:
        raise ChargenError(f"length must be at least 1, not {value}")
    return value


def unescape(text: str) -> str:
    """Backslash escapes typed on a command line ('\\n', '\\t', '\\u2603') become characters; others stay."""
    try:
        return text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError:  # a lone trailing backslash, say: take the text as typed
        return text
