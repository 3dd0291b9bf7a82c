"""The OpenAI completions shape: a request body checked field by field, the response and its streamed
chunks, and the error body. No web framework here: chargen.serve.app carries these over HTTP.

A token is a character. `max_tokens` counts the characters written, `usage` counts characters, and a
stop sequence ends a choice and is left out of its text, as the API does. Fields the API has and a
character model has no use for (`logprobs`, `echo`, `frequency_penalty`, ...) are accepted at their
neutral values; any other value of them is a 400, never silently ignored.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

from chargen.config import DEFAULT_TEMPERATURE, SamplingSettings
from chargen.data.vocab import Vocab, describe_chars


@dataclass(frozen=True)
class Limits:
    max_tokens: int = 4096  # characters a choice may ask for
    max_prompt: int = 8192  # characters of prompt
    max_n: int = 16  # choices a request may ask for
    max_body: int = 1 << 20  # bytes of request body
    max_streams: int = 256  # rows the server steps at once, all requests together


class BadRequest(Exception):
    """A request the API answers with `status` and an OpenAI-style error body."""

    def __init__(self, message: str, param: str | None = None, status: int = 400, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.message, self.param, self.status, self.kind = message, param, status, kind

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.kind, self.param)


def error_body(message: str, kind: str = "invalid_request_error", param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


NEUTRAL = {"logprobs": (None, 0), "echo": (None, False), "best_of": (None, 1), "suffix": (None, ""),
           "frequency_penalty": (None, 0, 0.0), "presence_penalty": (None, 0, 0.0), "logit_bias": (None, {}),
           "user": None, "stream_options": None}  # None: any value


@dataclass(frozen=True)
class Completion:
    """A checked request."""

    model: str
    prompt: str
    max_tokens: int
    settings: SamplingSettings
    n: int
    seed: int | None
    stops: tuple[str, ...]
    stream: bool


def _number(body: dict, name: str, default: float | None, low: float | None = None, high: float | None = None,
            integer: bool = False, low_open: bool = False) -> Any:
    value = body.get(name, default)
    if value is None:
        return default
    kind = "an integer" if integer else "a number"
    not_finite = isinstance(value, float) and not math.isfinite(value)  # JSON's NaN and Infinity, which Python reads
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)) or not_finite:
        raise BadRequest(f"{name} must be {kind}, not {json.dumps(value)[:40]}", name)
    if (low is not None and (value <= low if low_open else value < low)) or (high is not None and value > high):
        bounds = f"{'above' if low_open else 'at least'} {low:g}" if low is not None else ""
        bounds += (" and " if bounds and high is not None else "") + (f"at most {high:g}" if high is not None else "")
        raise BadRequest(f"{name} must be {bounds}, not {str(value)[:40]}", name)
    return value


def parse_completion(raw: bytes, vocab: Vocab, served: str, limits: Limits) -> Completion:
    """A request body as a Completion, or BadRequest saying what is wrong with it."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise BadRequest(f"the body is not valid JSON ({str(e)[:80]})") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    model = body.get("model", served)
    if not isinstance(model, str):
        raise BadRequest(f"model must be a string, not {json.dumps(model)}", "model")
    if model != served:
        raise BadRequest(f"model {model!r} is not served here; this server serves {served!r}", "model", 404,
                         "model_not_found")
    prompt = body.get("prompt", "")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise BadRequest("prompt must be a string (or a list of one string)", "prompt")
    if len(prompt) > limits.max_prompt:
        raise BadRequest(f"the prompt has {len(prompt):,} characters; this server takes at most {limits.max_prompt:,} "
                         "(--max-prompt)", "prompt")
    if missing := vocab.unknown(prompt):  # the words chargen sample uses for its --prime
        raise BadRequest(f"the prime has characters the model never saw, {describe_chars(missing)}", "prompt")
    for name, allowed in NEUTRAL.items():
        if allowed is not None and name in body and body[name] not in allowed:
            raise BadRequest(f"{name} is not supported by a character model (only {allowed[-1]!r})", name)
    stop = body.get("stop")
    stops = (stop,) if isinstance(stop, str) else tuple(stop) if isinstance(stop, list) else () if stop is None else None
    if stops is None or not all(isinstance(s, str) and s for s in stops) or len(stops) > 4:
        raise BadRequest("stop must be a non-empty string or a list of at most 4 of them", "stop")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest(f"stream must be true or false, not {json.dumps(stream)}", "stream")
    temperature = _number(body, "temperature", DEFAULT_TEMPERATURE, low=0)
    top_p = _number(body, "top_p", None, low=0, high=1, low_open=True)
    top_k = _number(body, "top_k", None, low=1, integer=True)  # not OpenAI's; what chargen sample --top-k is
    return Completion(
        model=model, prompt=prompt,
        max_tokens=_number(body, "max_tokens", 256, low=1, high=limits.max_tokens, integer=True),
        settings=SamplingSettings(float(temperature), top_k, None if top_p is None or top_p == 1 else float(top_p)),
        n=_number(body, "n", 1, low=1, high=min(limits.max_n, limits.max_streams), integer=True),
        seed=_number(body, "seed", None, low=0, integer=True), stops=stops, stream=stream)


class Choices:
    """What each choice has written, stop sequences held back until they are known not to be one."""

    def __init__(self, request: Completion) -> None:
        self.request = request
        self.id, self.created = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        self.text = [""] * request.n  # everything written
        self.sent = [0] * request.n  # how much of it the client has
        self.finish: list[str | None] = [None] * request.n  # why each choice ended
        self.announced = [False] * request.n  # whether the client has been told
        self.hold = max(map(len, request.stops), default=1) - 1

    def add(self, row: int, ch: str, finish: str | None) -> None:
        self.text[row] += ch
        if finish == "stop":  # the longest stop sequence that ended it is left out
            self.text[row] = next((self.text[row][: -len(s)] for s in sorted(self.request.stops, key=len, reverse=True)
                                   if self.text[row].endswith(s)), self.text[row])
        if finish:
            self.finish[row] = finish

    @property
    def finished(self) -> bool:
        return all(self.finish)

    def news(self) -> list[tuple[int, str, str | None]]:
        """Per choice, what the client does not have yet and may: (index, text, finish_reason once it ends)."""
        out = []
        for i, text in enumerate(self.text):
            ended = self.finish[i] is not None
            ready = len(text) if ended else max(self.sent[i], len(text) - self.hold)
            if ready > self.sent[i] or (ended and not self.announced[i]):
                out.append((i, text[self.sent[i]:ready], self.finish[i]))
                self.sent[i], self.announced[i] = ready, ended
        return out

    def chunk(self, news: list[tuple[int, str, str | None]]) -> dict[str, Any]:
        return {"id": self.id, "object": "text_completion", "created": self.created, "model": self.request.model,
                "choices": [{"text": text, "index": i, "logprobs": None, "finish_reason": finish}
                            for i, text, finish in news]}

    def response(self) -> dict[str, Any]:
        written = sum(map(len, self.text))
        return {"id": self.id, "object": "text_completion", "created": self.created, "model": self.request.model,
                "choices": [{"text": text, "index": i, "logprobs": None, "finish_reason": self.finish[i]}
                            for i, text in enumerate(self.text)],
                "usage": {"prompt_tokens": len(self.request.prompt), "completion_tokens": written,
                          "total_tokens": len(self.request.prompt) + written}}

