"""`chargen serve`'s HTTP side, on Starlette: the completions API, the model list, and a page at `/`.

    POST /v1/completions   OpenAI's completions (stream or not), every choice a row of the engine's batch
    GET  /v1/models        the one model served
    GET  /                 a page with a prime box whose text streams in from /v1/completions

Every failure a client can cause is a 4xx with an OpenAI-style error body, never a 500 and never a
connection left hanging; the body is read up to its limit and no further.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from html import escape
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from chargen.serve.api import BadRequest, Choices, Completion, Limits, error_body, parse_completion
from chargen.serve.engine import Busy, Engine, Stream

POLL_S = 0.25  # how often a waiting non-streamed request checks that its client is still there
CHUNK_S = 0.02  # after a chunk, a stream waits this long before the next (the first goes at once)


def create_app(engine_for, vocab, served: str, lines: bool, facts: dict[str, Any], limits: Limits) -> Starlette:
    """The app. `engine_for(call_soon)` makes the engine once the event loop runs (its thread needs the loop)."""
    holder: dict[str, Engine] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        holder["engine"] = engine_for(asyncio.get_running_loop().call_soon_threadsafe)
        holder["engine"].start()
        try:
            yield
        finally:
            await asyncio.to_thread(holder["engine"].stop)

    async def body_of(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_body:
            raise BadRequest(f"the body has {int(declared):,} bytes; this server takes at most {limits.max_body:,} "
                             "(--max-body)", status=413)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.max_body:
                raise BadRequest(f"the body is larger than this server takes ({limits.max_body:,} bytes, --max-body)",
                                 status=413)
            chunks.append(chunk)
        return b"".join(chunks)

    def submit(completion: Completion) -> tuple[Stream, Choices, asyncio.Event]:
        choices, changed = Choices(completion), asyncio.Event()

        def arrived(batch: list[tuple[int, str, str | None]]) -> None:
            for row, ch, finish in batch:
                choices.add(row, ch, finish)
            changed.set()

        stream = Stream(completion.prompt, completion.n, completion.max_tokens, completion.settings, completion.seed,
                        completion.stops, items=lines, on_chars=arrived)
        try:
            holder["engine"].submit(stream)
        except Busy as e:
            raise BadRequest(str(e), status=429, kind="server_busy") from None
        return stream, choices, changed

    async def completions(request: Request) -> Response:
        try:
            completion = parse_completion(await body_of(request), vocab, served, limits)
            stream, choices, changed = submit(completion)
        except BadRequest as e:
            return JSONResponse(e.body(), status_code=e.status)
        except ClientDisconnect:
            return Response(status_code=400)
        if completion.stream:
            return StreamingResponse(events(stream, choices, changed), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        try:
            checked = asyncio.get_running_loop().time()
            while not choices.finished:
                try:
                    await asyncio.wait_for(changed.wait(), POLL_S)
                except asyncio.TimeoutError:
                    pass
                changed.clear()
                if asyncio.get_running_loop().time() - checked >= POLL_S:  # however fast characters come
                    if await request.is_disconnected():
                        return Response(status_code=499)
                    checked = asyncio.get_running_loop().time()
        finally:
            stream.cancelled = True  # frees its rows at the engine's next step if it has not finished
        if "error" in choices.finish:
            return JSONResponse(error_body("the server failed to generate (its log says why)", "server_error"),
                                status_code=500)
        return JSONResponse(choices.response())

    async def events(stream: Stream, choices: Choices, changed: asyncio.Event):
        """Server-sent events: a chunk whenever characters have arrived, then [DONE]. Starlette cancels this
        generator when the client goes away; the stream's rows are freed then."""
        try:
            while True:
                await changed.wait()
                changed.clear()
                if news := choices.news():
                    yield f"data: {json.dumps(choices.chunk(news), ensure_ascii=False)}\n\n"
                if all(choices.announced):
                    break
                await asyncio.sleep(CHUNK_S)  # let characters gather: fewer, larger events for both sides
            yield "data: [DONE]\n\n"
        finally:
            stream.cancelled = True

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": served, "object": "model", "created": 0,
                                                         "owned_by": "chargen", "chargen": facts}]})

    async def home(request: Request) -> Response:
        return HTMLResponse(page(served, facts))

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return JSONResponse(error_body(f"{request.method} {request.url.path}: {getattr(exc, 'detail', 'not found')}"),
                            status_code=status)

    async def server_error(request: Request, exc: Exception) -> Response:  # a bug, said as one line, never a trace
        return JSONResponse(error_body(f"internal error: {type(exc).__name__}", "server_error"), status_code=500)

    return Starlette(routes=[Route("/v1/completions", completions, methods=["POST"]),
                             Route("/v1/models", models, methods=["GET"]), Route("/", home, methods=["GET"])],
                     lifespan=lifespan,
                     exception_handlers={404: not_found, 405: not_found, 500: server_error})


def page(served: str, facts: dict[str, Any]) -> str:
    """A prime box, the sampling settings, and the text streaming in from the API."""
    about = f"{facts['cell']} {facts['layers']}×{facts['hidden_size']}, trained on {facts['name']}"
    model_json = json.dumps(served).replace("<", "\\u003c")  # inside a script: no </script> from a run's name
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(served)}: chargen serve</title>
<style>body {{ font: 15px/1.5 system-ui, sans-serif; margin: 2em auto; max-width: 60em; padding: 0 1em; color: #222; }}
textarea, #out {{ font: 14px/1.6 ui-monospace, Menlo, Consolas, monospace; width: 100%; box-sizing: border-box; }}
#out {{ white-space: pre-wrap; border: 1px solid #ddd; background: #fafafa; padding: 0.8em; min-height: 10em; }}
label {{ margin-right: 1em; font-size: 13px; color: #555; }} input {{ width: 6em; }}</style></head>
<body><h1>{escape(served)}</h1><p>{escape(about)} · <code>POST /v1/completions</code></p>
<textarea id="prompt" rows="3" placeholder="a prime (optional)"></textarea>
<p><label>temperature <input id="temperature" type="number" step="0.1" min="0" value="0.8"></label>
<label>length <input id="length" type="number" min="1" value="500"></label>
<label>seed <input id="seed" type="number" placeholder="random"></label>
<button id="go">Generate</button> <button id="stop">Stop</button> <span id="status"></span></p>
<div id="out"></div>
<script>
const $ = (id) => document.getElementById(id);
let reader = null;
$("stop").onclick = () => reader && reader.cancel();
$("go").onclick = async () => {{
  if (reader) reader.cancel();
  const body = {{ model: {model_json}, prompt: $("prompt").value, stream: true,
                 temperature: Number($("temperature").value), max_tokens: Number($("length").value) }};
  if ($("seed").value !== "") body.seed = Number($("seed").value);
  $("out").textContent = body.prompt; $("status").textContent = "";
  const response = await fetch("/v1/completions", {{ method: "POST", headers: {{ "Content-Type": "application/json" }}, body: JSON.stringify(body) }});
  if (!response.ok) {{ $("status").textContent = (await response.json()).error.message; return; }}
  reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  for (;;) {{
    const {{ value, done }} = await reader.read();
    if (done) break;
    pending += value;
    const events = pending.split("\\n\\n"); pending = events.pop();
    for (const e of events) {{
      const data = e.replace(/^data: /, "");
      if (data === "[DONE]") continue;
      for (const c of JSON.parse(data).choices) $("out").textContent += c.text;
    }}
  }}
  reader = null;
}};
</script></body></html>
"""
