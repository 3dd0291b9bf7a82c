"""Many completions, one batched step: the server's generation loop, in a thread of its own.

Every request is a `Stream` of one or more rows (its choices). Between two steps streams join (their
prompt is read first, on their own rows) and leave (finished, or cancelled when the client went away),
and one `StepModel.step` then advances every row of every stream together: at batch 32 a step costs a
few times a batch-one step, not 32 times. Each stream draws from its own generator, seeded as `chargen
sample` seeds its own, and the rows' distributions are computed row by row, so a stream writes the text
it would have written alone. Streams with the same settings draw in one vectorised call.

The loop never touches the event loop's objects: what the steps wrote is handed over through an
outbox, with one `call_soon_threadsafe` callback for however many steps the event loop is behind.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from chargen.config import SamplingSettings
from chargen.data.vocab import ITEM_BOUNDARY, Vocab
from chargen.errors import ChargenError
from chargen.generate.sample import StepModel, cumulative, pick, start_char


class Busy(ChargenError):
    """The server already steps as many rows as it may."""


@dataclass(eq=False)
class Stream:
    """One request: `rows` completions of `prompt`, each at most `max_chars` long, ending early at a stop
    sequence (or, in line mode, at the end of its item). `on_chars` is called on the event loop with what
    the engine's steps wrote: (row, character, finish_reason or None) tuples."""

    prompt: str
    rows: int
    max_chars: int
    settings: SamplingSettings
    seed: int | None
    stops: tuple[str, ...] = ()
    items: bool = False  # line mode: every row reads the item boundary, then the prompt; the boundary ends it
    on_chars: Callable[[list[tuple[int, str, str | None]]], None] = lambda batch: None
    cancelled: bool = False  # set from the event loop when the client has gone
    # The engine's, from here on.
    state: list[np.ndarray] = field(default_factory=list)
    logits: np.ndarray | None = None
    rng: np.random.Generator | None = None
    written: list[int] = field(default_factory=list)  # characters drawn per row
    done: list[bool] = field(default_factory=list)
    tails: list[str] = field(default_factory=list)  # each row's last characters, for the stop sequences


class Engine:
    """The loop: call `start()` once, then `submit` streams from any thread."""

    def __init__(self, model: StepModel, vocab: Vocab, max_rows: int, call_soon: Callable) -> None:
        self.model, self.vocab, self.max_rows = model, vocab, max_rows
        self.call_soon = call_soon  # the event loop's call_soon_threadsafe
        self.start_char = start_char(vocab.chars)
        self._joining: list[Stream] = []
        self._active: list[Stream] = []
        self._rows = 0  # rows of the streams joining or active
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._outbox: list = []  # (stream, what it wrote) for the event loop, in order
        self._scheduled = False  # whether a _deliver callback is on its way
        self._thread = threading.Thread(target=self._loop, name="chargen-engine", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=10)

    def submit(self, stream: Stream) -> None:
        """Queue a stream; Busy when its rows would take the server past max_rows."""
        with self._lock:
            if self._rows + stream.rows > self.max_rows:
                raise Busy(f"the server is generating {self._rows} completions at once, its limit "
                           f"(--max-streams {self.max_rows}); try again shortly")
            self._rows += stream.rows
            self._joining.append(stream)
        self._wake.set()

    # -- the thread -------------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping:
            with self._lock:
                joining, self._joining = self._joining, []
            for stream in joining:
                try:
                    self._admit(stream)
                except Exception:  # noqa: BLE001  a bug fails its own request, never the server's loop
                    self._fail([stream])
            if not self._active:
                self._wake.wait(timeout=0.5)
                self._wake.clear()
                continue
            try:
                self._step()
            except Exception:  # noqa: BLE001
                failed, self._active = self._active, []
                self._fail(failed)

    def _fail(self, streams: list[Stream]) -> None:
        """End every row of `streams` with finish_reason "error" (the server answers 500 for them)."""
        traceback.print_exc()
        for stream in streams:
            self._leave(stream)
        self._hand_over([(s, [(row, "", "error") for row in range(s.rows)]) for s in streams])

    def _admit(self, stream: Stream) -> None:
        """Read the stream's prompt on its own rows (the start character when there is none)."""
        stream.rng = np.random.default_rng(stream.seed)
        stream.state = self.model.init_state(stream.rows)
        stream.written, stream.done, stream.tails = [0] * stream.rows, [False] * stream.rows, [""] * stream.rows
        text = (ITEM_BOUNDARY + stream.prompt) if stream.items else (stream.prompt or self.start_char)
        for i in self.vocab.encode(text):
            stream.logits = self.model.step(np.full(stream.rows, i), stream.state)
        self._active.append(stream)

    def _step(self) -> None:
        """Draw every row's next character, hand them over, then step all rows that go on, together."""
        delivered: list[tuple[Stream, list[tuple[int, str, str | None]]]] = []
        ids = self._draw()
        going = []
        for stream, chosen in zip(self._active, ids):
            out = []
            for row, i in enumerate(chosen):
                if stream.done[row]:
                    continue
                out.append(self._emit(stream, row, self.vocab.chars[i]))
            delivered.append((stream, out))
            if stream.cancelled or all(stream.done):
                self._leave(stream)
            else:
                going.append((stream, chosen))
        self._hand_over(delivered)
        self._active = [s for s, _ in going]
        if not going:
            return
        # Every row of every stream that goes on, as one batch (a finished row of a stream still running
        # keeps stepping, as `chargen sample -n` steps all its rows, so the generator's draws line up).
        sizes = [s.rows for s, _ in going]
        state = [np.concatenate([s.state[k] for s, _ in going]) for k in range(len(going[0][0].state))]
        logits = self.model.step(np.concatenate([c for _, c in going]), state)
        at = 0
        for (stream, _), n in zip(going, sizes):
            stream.state = [s[at : at + n] for s in state]
            stream.logits = logits[at : at + n]
            at += n

    def _draw(self) -> list[np.ndarray]:
        """Each active stream's next ids (rows,), streams of the same settings in one call."""
        ids: list[np.ndarray | None] = [None] * len(self._active)
        groups: dict[SamplingSettings, list[int]] = {}
        for n, stream in enumerate(self._active):
            groups.setdefault(stream.settings, []).append(n)
        for settings, members in groups.items():
            logits = np.concatenate([self._active[n].logits for n in members])
            if settings.temperature == 0:
                chosen = logits.argmax(axis=1)
            else:  # each stream's uniforms from its own generator, as chargen sample draws them
                uniforms = np.concatenate([self._active[n].rng.random(self._active[n].rows) for n in members])
                chosen = pick(cumulative(logits, settings), uniforms)
            at = 0
            for n in members:
                rows = self._active[n].rows
                ids[n] = chosen[at : at + rows]
                at += rows
        return ids

    def _emit(self, stream: Stream, row: int, ch: str) -> tuple[int, str, str | None]:
        """What row `row` shows of `ch`: the character, and why the row ended if it has."""
        stream.written[row] += 1
        if stream.items and ch == ITEM_BOUNDARY:
            stream.done[row] = True
            return row, "", "stop"
        if stream.stops:
            tail = stream.tails[row] = (stream.tails[row] + ch)[-max(map(len, stream.stops)):]
            if any(tail.endswith(stop) for stop in stream.stops):
                stream.done[row] = True
                return row, ch, "stop"
        if stream.written[row] >= stream.max_chars:
            stream.done[row] = True
            return row, ch, "length"
        return row, ch, None

    def _hand_over(self, delivered: list) -> None:
        """Queue what a step wrote for the event loop, with one callback for however many steps it is behind."""
        with self._lock:
            self._outbox.extend(delivered)
            if self._scheduled:
                return
            self._scheduled = True
        self.call_soon(self._deliver)

    def _deliver(self) -> None:  # on the event loop
        with self._lock:
            delivered, self._outbox, self._scheduled = self._outbox, [], False
        for stream, out in delivered:
            if out and not stream.cancelled:
                stream.on_chars(out)

    def _leave(self, stream: Stream) -> None:
        with self._lock:
            self._rows -= stream.rows

