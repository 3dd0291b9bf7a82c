"""One process, or several training one model together under torchrun (torch.distributed + DDP).

torchrun starts N copies of `chargen train` and tells each its RANK, LOCAL_RANK and WORLD_SIZE and where
to meet (MASTER_ADDR, MASTER_PORT). Every collective the training loop needs is a method of a group, so
the loop reads the same either way: a `Single` group answers every call at once, a `Distributed` group
asks the other processes through torch.distributed (gloo on CPU, NCCL on GPU). Rank 0 is the main
process: it alone prints, writes checkpoints and metrics, and plans time budgets.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import numpy as np
import torch

from chargen.errors import ChargenError, PeerFailed, first_line

T = TypeVar("T")
TIMEOUT = timedelta(minutes=10)  # a collective that waits this long means a peer is gone


@dataclass(frozen=True)
class Agreement:
    """What every process leaves a training step with, so that all stop and plan alike."""

    loss: float  # the step's loss averaged over all processes' streams
    total_steps: int | None  # the main process's plan
    stop: bool  # any process was asked to stop (Ctrl-C)
    out_of_time: bool  # the main process's clock says the budget is spent


class Single:
    """The group of one process: every collective is the identity."""

    rank, world, local_rank = 0, 1, 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module to run training steps through (DistributedDataParallel averages its gradients)."""
        return model

    def seed_generators(self, seed: int) -> None:
        """Give each process its own dropout randomness (after the shared weights are initialised)."""

    def agree(self, loss: float, total_steps: int | None, stop: bool, out_of_time: bool) -> Agreement:
        return Agreement(loss, total_steps, stop, out_of_time)

    def sum(self, *values: float) -> list[float]:
        return list(values)

    def gather(self, obj: T) -> list[T]:
        """Every process's `obj`, in rank order, on the main process (an empty list elsewhere)."""
        return [obj]

    def broadcast(self, obj: T) -> T:
        """The main process's `obj`, on every process."""
        return obj

    def on_main(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the main process only and hand its result to all; its error stops all."""
        return fn()

    def main_first(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the main process, then (if it succeeded) on the others: one error message, not N,
        and what the main process caches (an encoded corpus) the others find ready."""
        return fn()

    def watch(self) -> contextlib.AbstractContextManager:
        """Around work that talks to the other processes (the gradient all-reduce inside backward)."""
        return contextlib.nullcontext()

    def close(self) -> None:
        pass


class Distributed(Single):
    """This process's place in a torch.distributed job started by torchrun (or any env:// launcher)."""

    def __init__(self, timeout: timedelta = TIMEOUT) -> None:
        import torch.distributed as dist

        self._dist = dist
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        try:
            dist.init_process_group(backend="cpu:gloo,cuda:nccl" if cuda else "gloo", timeout=timeout)
        except (RuntimeError, ValueError) as e:
            raise ChargenError(f"could not join the distributed job ({first_line(e)}); start it with torchrun "
                               "or chargen train --nproc N") from None
        # DistributedDataParallel sits in reference cycles, so the garbage collector frees it, and with it
        # gloo's threads, whenever it next runs; during interpreter shutdown that aborts the process
        # ("terminate called without an active exception"). Free it while Python is still whole.
        atexit.register(gc.collect)
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.local_rank = int(os.environ.get("LOCAL_RANK", self.rank))

    @contextlib.contextmanager
    def watch(self) -> Iterator[None]:
        try:
            yield
        except RuntimeError as e:
            if not _lost_peer(e):
                raise
            raise ChargenError(f"process {self.rank} lost contact with the other processes of the job "
                               f"({first_line(e)}); the last saved checkpoint is intact, resume with --resume") from None


    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        device = next(model.parameters()).device
        with self.watch():  # DDP broadcasts rank 0's weights: every process starts alike
            return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)

    def seed_generators(self, seed: int) -> None:
        derived = int(np.random.SeedSequence([seed, self.rank]).generate_state(1)[0])
        torch.manual_seed(derived)

    def agree(self, loss: float, total_steps: int | None, stop: bool, out_of_time: bool) -> Agreement:
        main = self.is_main
        plan = (-1 if total_steps is None else total_steps) if main else 0
        # One small all-reduce a step carries everything: float64 holds step counts exactly.
        values = torch.tensor([loss, plan, float(stop), float(out_of_time and main)], dtype=torch.float64)
        with self.watch():
            self._dist.all_reduce(values)
        loss_sum, total, stops, expired = values.tolist()
        return Agreement(loss_sum / self.world, None if total < 0 else int(total), stops > 0, expired > 0)

    def sum(self, *values: float) -> list[float]:
        summed = torch.tensor(values, dtype=torch.float64)
        with self.watch():
            self._dist.all_reduce(summed)
        return summed.tolist()

    def gather(self, obj: T) -> list[T]:
        gathered = [None] * self.world if self.is_main else None
        with self.watch():
            self._dist.gather_object(obj, gathered, dst=0)
        return gathered or []

    def broadcast(self, obj: T) -> T:
        box = [obj]
        with self.watch():
            self._dist.broadcast_object_list(box, src=0)
        return box[0]

    def on_main(self, fn: Callable[[], T]) -> T:
        return self.broadcast(self._main_outcome(fn))

    def main_first(self, fn: Callable[[], T]) -> T:
        result = self._main_outcome(fn)
        return result if self.is_main else fn()

    def _main_outcome(self, fn: Callable[[], T]) -> T | None:
        """`fn()` on the main process (None elsewhere); its ChargenError is raised on every process."""
        result, error = None, None
        if self.is_main:
            try:
                result = fn()
            except ChargenError as e:
                error = str(e)
        if (error := self.broadcast(error)) is not None:
            raise (ChargenError if self.is_main else PeerFailed)(error)
        return result

    def close(self) -> None:
        if self._dist.is_initialized():
            gc.collect()  # a DistributedDataParallel nothing refers to goes while its group still exists
            self._dist.destroy_process_group()


def _lost_peer(e: RuntimeError) -> bool:
    """A failure of the transport between processes (a peer died, or a collective timed out), not a bug."""
    import torch.distributed as dist

    text = str(e)
    return isinstance(e, dist.DistError) or any(w in text for w in ("gloo", "NCCL", "Connection closed", "timed out"))


NPROC_ENV = "CHARGEN_NPROC"  # set for the processes that `chargen train --nproc N` starts


@dataclass(frozen=True)
class Outcome:
    """How a job of several processes ended."""

    interrupted: bool = False  # stopped by Ctrl-C (or SIGTERM), after saving
    failed_rank: int | None = None  # the first process to fail, if one did
    exit_code: int = 0  # its exit code (negative: killed by that signal)


def launch(nproc: int, argv: list[str]) -> Outcome:
    """Run `chargen ARGV` as `nproc` processes on this machine through torchrun's own launcher, and wait.

    torchrun's agent watches the processes: when one fails it stops the others within seconds, and it
    passes a Ctrl-C on to all of them, which then stop at the same step and save.
    """
    import logging

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    # One thread a process unless the user says otherwise: N processes share this machine's cores.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    os.environ[NPROC_ENV] = str(nproc)
    # The agent logs a multi-line report of every failure and signal; the caller says it in one line.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        run(parse_args(["--standalone", f"--nproc-per-node={nproc}", "--module", "chargen", *argv]))
    except SignalException:
        return Outcome(interrupted=True)
    except ChildFailedError as e:
        rank, failure = e.get_first_failure()
        if failure.exitcode == 130:
            return Outcome(interrupted=True)
        return Outcome(failed_rank=rank, exit_code=failure.exitcode)
    return Outcome()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def join() -> Single:
    """This process's group: a Distributed one when a launcher started several processes."""
    if not launched_by_torchrun():
        return Single()
    _die_with_parent()
    return Distributed()


def _die_with_parent() -> None:
    """Ask Linux to end this process if the launcher that started it dies (even by SIGKILL): torchrun
    starts each process in a session of its own, where it would otherwise train on, orphaned."""
    try:
        import ctypes
        import signal

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the launcher's own clean-up has to do
