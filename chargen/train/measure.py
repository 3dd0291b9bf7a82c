"""Timing this machine for the time-budget recipe: a few real training steps of a model, then the rules
of chargen.train.recipe applied to the speeds measured (`plan`, `plan_gpu`), or to those of this
machine's last plan for the same task while it measures within its spread (chargen.train.plans)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, replace

import torch

from chargen import __version__
from chargen.config import ModelConfig, TrainConfig
from chargen.errors import ChargenError
from chargen.model.charrnn import CharRNN
from chargen.model.device import set_arithmetic
from chargen.train.optim import make_optimizer
from chargen.train.plans import Measurements, machine, plan_key
from chargen.train.recipe import (BATCH, GPU_BATCHES, REFERENCE, Recipe, Task, at_streams, choose, pick_gpu_batch,
                                  pick_precision)
from chargen.train.step import TrainStep


def measure_speed(vocab_size: int, device: torch.device, precision: str, model: dict, batch: dict = BATCH,
                  steps: int = 6) -> float:
    """Characters per second of `steps` training steps of `model` (after one warm-up step): the loop's own
    TrainStep, so that the probe times what a run does (clipping and the host read included)."""
    torch.manual_seed(0)
    set_arithmetic(precision, device)
    net = CharRNN(ModelConfig(vocab_size=vocab_size, **model)).to(device)
    cfg = TrainConfig()
    step = TrainStep(net, make_optimizer(net, cfg), precision, cfg.grad_clip)
    B, T = batch["batch_size"], batch["seq_len"]
    x = torch.randint(0, vocab_size, (B, T), device=device)  # (B, T): input and target alike, as fast
    state = step(x, x, None, cfg.lr).state  # the warm-up; then the state is carried, as in a run
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        state = step(x, x, state, cfg.lr).state
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * B * T / (time.perf_counter() - start)


def measure_speeds(vocab_size: int, device: torch.device, precisions: list[str], model: dict,
                   batch: dict = BATCH) -> dict[str, float]:
    """{precision: chars/s} of `model` at `batch`, for those of `precisions` that run here.

    A precision that fails (no bf16 kernel for this cell on this device, say) is left out; if it was
    the only one asked for, that is the user's error to hear about.
    """
    speeds = {}
    for precision in precisions:
        try:
            speeds[precision] = measure_speed(vocab_size, device, precision, model, batch)
        except torch.cuda.OutOfMemoryError:
            raise ChargenError(f"{device} ran out of memory measuring the speed of a {model.get('cell', 'lstm')} "
                               f"{model.get('layers', 2)}x{model.get('hidden_size', 256)}; choose a smaller "
                               "--hidden-size or --layers") from None
        except RuntimeError as e:
            if len(precisions) == 1:
                raise ChargenError(f"--precision {precision} does not run on {device}: {str(e).splitlines()[0]}") from None
    return speeds


def plan(minutes: float, task: Task, device: torch.device, precisions: list[str]) -> Recipe:
    """Measure this machine, then choose: the recipe for `minutes` of training on `task`."""
    model = task.parent or {"cell": task.cell, "layers": REFERENCE[0], "hidden_size": REFERENCE[1]}
    batch = {**BATCH, **task.batch}  # what each process reads a step, as it will be trained
    measured = Measurements(plan_key({
        "task": asdict(task), "minutes": minutes, "device": str(device), "precisions": precisions,
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "threads": torch.get_num_threads(), "torch": torch.__version__, "chargen": __version__, "machine": machine()}))
    speeds = measured.reference(
        {p: s * task.world for p, s in measure_speeds(task.vocab_size, device, precisions, model, batch).items()})
    precision = pick_precision(speeds)

    def measure_at(precision: str, streams: int, shape: dict) -> float:
        return measured.speed(f"{precision} {streams} {shape['cell']} {shape['layers']}x{shape['hidden_size']}",
                              lambda: task.world * measure_speed(task.vocab_size, device, precision, shape,
                                                                 dict(batch, batch_size=streams), steps=3))

    fits = [b for b in GPU_BATCHES if b * batch["seq_len"] < task.train_chars]
    if device.type != "cuda" or task.item_chars or task.parent or "batch_size" in task.batch or len(fits) < 2:
        # The user's streams are each process's; the recipe's (BATCH) are the whole job's, shared out.
        job = dict(batch, batch_size=batch["batch_size"] * task.world) if "batch_size" in task.batch else batch
        picked = choose(minutes, speeds, task, sized(measure_at, task, precision, batch["batch_size"]), job)
    else:
        picked = plan_gpu(minutes, task, speeds, fits, measure_at)
    measured.keep()
    return replace(picked, pace=measured.pace(), why=f"{picked.why}; {measured.note}" if measured.note else picked.why)


def sized(measure_at: Callable[[str, int, dict], float], task: Task, precision: str,
          streams: int) -> Callable[[int, int], float]:
    """`measure_at(precision, streams, shape)` as `choose` asks for it: chars/s of a (layers, width)."""
    return lambda layers, width: measure_at(precision, streams, {"cell": task.cell, "layers": layers,
                                                                  "hidden_size": width})


def plan_gpu(minutes: float, task: Task, speeds: dict[str, float], batches: list[int],
             measure_at: Callable[[str, int, dict], float]) -> Recipe:
    """The batch for a GPU (recipe.pick_gpu_batch, from the reference model timed at each of `batches`),
    then the precision that is fastest for the model chosen at that batch."""
    precision = pick_precision(speeds)
    reference = {"cell": task.cell, "layers": REFERENCE[0], "hidden_size": REFERENCE[1]}
    by_batch = {b: measure_at(precision, b, reference) for b in batches}
    b, recipe, why = pick_gpu_batch(minutes, speeds, task, by_batch, lambda b: sized(measure_at, task, precision, b))
    # Precisions differ little on the small reference model; measure them on the model chosen.
    shape = {"cell": task.cell, "layers": recipe.size[0], "hidden_size": recipe.size[1]}
    at_size = {p: measure_at(p, b, shape) for p in speeds}
    best = pick_precision(at_size)
    if best != precision:
        # The reference model's speed in each precision, estimated from the ratios at the chosen size.
        speeds = {p: speeds[precision] * at_size[p] / at_size[precision] for p in speeds}
        recipe = at_streams(minutes, speeds, task, by_batch, b, sized(measure_at, task, best, b))
    return replace(recipe, why=f"{recipe.why}; {why}")
