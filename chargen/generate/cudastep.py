"""Generation on a CUDA GPU: `StepModel`'s arithmetic in torch, each step one replayed CUDA graph.

At batch 1 a big model's step is a few matrix-vector products over all its weights: memory-bound,
and a GPU reads memory ~100x faster than a CPU. But a step is also a dozen small kernels, and launching
them one by one from Python costs more than running them, so the step is captured once as a CUDA graph
and replayed: one launch per character. For a small model the CPU's NumPy step is faster still (no
transfer, no synchronisation), so `fastest_step_model` times both and keeps the faster.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from chargen.config import ModelConfig
from chargen.generate.sample import MIN_WEIGHTS_FOR_GPU, StepModel

TIMED_STEPS = 20  # steps each path is timed on before the faster is chosen


@dataclass
class GraphState:
    """One batch of sequences on the GPU: their state, the ids they read next and the captured step."""

    ids: torch.Tensor  # (B,) int64
    tensors: list[torch.Tensor]  # StepModel's state layout, each (B, H)
    logits: torch.Tensor  # (B, V), written by each replay
    host_ids: torch.Tensor  # pinned host copies: page-locked memory moves without a staging copy
    host_logits: torch.Tensor
    graph: torch.cuda.CUDAGraph | None = None


class CudaStepModel:
    """A trained CharRNN run one character at a time on a CUDA device, for B sequences at once.

    Same contract as StepModel: `init_state(B)` gives a state, `step(ids, state)` consumes ids (B,) and
    returns the next logits (B, V) as a NumPy array. The state lives on the GPU, so it is opaque here.
    """

    def __init__(self, cpu: StepModel, device: torch.device | str = "cuda") -> None:
        """The GPU copy of `cpu`, whose matrices are already reordered and stacked for a step."""
        self.device = torch.device(device)
        self.config, self.cell, self.layers, self.hidden_size = cpu.config, cpu.cell, cpu.layers, cpu.hidden_size

        def on_gpu(a):
            return None if a is None else torch.from_numpy(np.ascontiguousarray(a)).to(self.device)

        self.table = on_gpu(cpu.table)
        self.w_hh = [on_gpu(a) for a in cpu.w_hh]
        if self.cell == "gru":
            self.w_ih, self.b_ih, self.b_hh = ([on_gpu(a) for a in arrays] for arrays in (cpu.w_ih, cpu.b_ih, cpu.b_hh))
        else:
            self.w_cat, self.b_cat = [on_gpu(a) for a in cpu.w_cat], [on_gpu(a) for a in cpu.b_cat]
        self.head_w, self.head_b = on_gpu(cpu.head_w), on_gpu(cpu.head_b)
        self.init_state(1)  # starts cuBLAS and the graph machinery now rather than before the first character

    def init_state(self, batch_size: int) -> GraphState:
        n = 2 * self.layers if self.cell == "lstm" else self.layers
        zeros = lambda *shape: torch.zeros(*shape, device=self.device)  # noqa: E731
        vocab = self.head_b.numel()
        state = GraphState(torch.zeros(batch_size, dtype=torch.long, device=self.device),
                           [zeros(batch_size, self.hidden_size) for _ in range(n)], zeros(batch_size, vocab),
                           torch.zeros(batch_size, dtype=torch.long).pin_memory(), torch.zeros(batch_size, vocab).pin_memory())
        # Capture on a side stream after a warm-up there (cuBLAS picks its kernels), as torch requires.
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            self._compute(state)
        torch.cuda.current_stream(self.device).wait_stream(side)
        state.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(state.graph):
            self._compute(state)
        for t in state.tensors:  # the warm-up and the capture ran the step: start from zeros
            t.zero_()
        return state

    @torch.no_grad()
    def _compute(self, state: GraphState) -> None:
        """One step in place: state.tensors advance by state.ids, state.logits hold what comes next."""
        H, L = self.hidden_size, self.layers
        x = None
        for k in range(L):
            h = state.tensors[k]
            if self.cell == "gru":
                gi = self.table[state.ids] if k == 0 else x @ self.w_ih[k] + self.b_ih[k]
                gh = h @ self.w_hh[k] + self.b_hh[k]
                rz = torch.sigmoid(gi[:, : 2 * H] + gh[:, : 2 * H])
                n = torch.tanh(gi[:, 2 * H :] + rz[:, :H] * gh[:, 2 * H :])
                h.copy_(n + rz[:, H:] * (h - n))
            else:
                if k == 0:
                    gates = self.table[state.ids] + h @ self.w_hh[0]
                else:
                    gates = torch.cat([x, h], dim=1) @ self.w_cat[k] + self.b_cat[k]
                if self.cell == "lstm":  # gates reordered i, f, o, g (StepModel)
                    c = state.tensors[L + k]
                    ifo = torch.sigmoid(gates[:, : 3 * H])
                    c.mul_(ifo[:, H : 2 * H]).add_(ifo[:, :H] * torch.tanh(gates[:, 3 * H :]))
                    h.copy_(ifo[:, 2 * H :] * torch.tanh(c))
                elif self.cell == "rnn-tanh":
                    h.copy_(torch.tanh(gates))
                else:
                    h.copy_(torch.relu(gates))
            x = h
        torch.addmm(self.head_b, x, self.head_w, out=state.logits)

    def step(self, ids: np.ndarray, state: GraphState) -> np.ndarray:
        state.host_ids.numpy()[:] = ids
        state.ids.copy_(state.host_ids, non_blocking=True)
        state.graph.replay()
        state.host_logits.copy_(state.logits, non_blocking=True)
        torch.cuda.current_stream(self.device).synchronize()
        return state.host_logits.numpy().copy()  # the next step overwrites the pinned buffer


def seconds_per_step(model, steps: int = TIMED_STEPS) -> float:
    state = model.init_state(1)
    ids = np.zeros(1, dtype=np.int64)
    model.step(ids, state)  # warm
    start = time.perf_counter()
    for _ in range(steps):
        model.step(ids, state)
    return (time.perf_counter() - start) / steps


def fastest_step_model(config: ModelConfig, weights: dict, device: str = "auto"):
    """The step model that generates fastest here: StepModel (NumPy, CPU) or, for a big model on a
    machine with a CUDA GPU, CudaStepModel, whichever a few timed steps at batch 1 say is faster.
    `device` "cpu" or "cuda[:N]" chooses instead of timing."""
    cpu = StepModel(config, weights)
    if device == "cpu":
        return cpu
    if device.startswith("cuda"):
        return CudaStepModel(cpu, device)
    if not torch.cuda.is_available() or config.matmul_params() < MIN_WEIGHTS_FOR_GPU:
        return cpu
    gpu = CudaStepModel(cpu)
    return gpu if seconds_per_step(gpu) < seconds_per_step(cpu) else cpu
