"""chargen serve, started for real on a free loopback port: the official openai client gets what `chargen
sample` writes, every bad request is a 4xx with an OpenAI-style body, and streams come and go."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import chargen

httpx = pytest.importorskip("httpx", reason="httpx (with the openai client, the test extra) is not installed")
openai = pytest.importorskip("openai", reason="the openai client (the test extra) is not installed")
pytest.importorskip("uvicorn", reason="uvicorn (the serve extra, in the test extra) is not installed")
pytest.importorskip("starlette", reason="starlette (the serve extra, in the test extra) is not installed")
pytestmark = pytest.mark.slow


class Server:
    """`chargen serve ARGS --port 0` in a process of its own, until stop()."""

    def __init__(self, *args, cwd=None):
        self.process = subprocess.Popen([sys.executable, "-m", "chargen", "serve", *map(str, args), "--port", "0"],
                                        stderr=subprocess.PIPE, text=True, cwd=cwd,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.log = ""
        for line in self.process.stderr:
            self.log += line
            if found := re.search(r"serving (.*) at (http://\S+?)/ ", line):
                self.model, self.url = found[1], found[2]
                return
        raise AssertionError(f"chargen serve did not start: {self.log}")

    def client(self):
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key="none", max_retries=0)

    def post(self, body, **kw):
        content = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return httpx.post(f"{self.url}/v1/completions", content=content, timeout=30, **kw)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=30)
        self.log += self.process.stderr.read()
        return code


@pytest.fixture(scope="module")
def server(trained_run):
    s = Server("-c", trained_run.path, "--max-tokens", 2000, "--max-prompt", 50, "--max-n", 4, "--max-body", 4096)
    yield s
    assert s.stop() == 130


def sampled(run, prime, length, seed, temperature, **more) -> str:
    args = ["sample", "-c", run, "--prime", prime, "--length", length, "--seed", seed, "-t", temperature]
    for k, v in more.items():
        args += [f"--{k.replace('_', '-')}", v]
    result = chargen(*args)
    assert result.exit_code == 0, result.output
    return result.stdout.removesuffix("\n").removeprefix(prime)


def test_the_openai_client_gets_what_chargen_sample_writes(server, trained_run):
    want = sampled(trained_run.path, "First", 300, 7, 0.8, top_p=0.95)
    client = server.client()
    done = client.completions.create(model=server.model, prompt="First", max_tokens=300, temperature=0.8, top_p=0.95, seed=7)
    assert done.choices[0].text == want and done.choices[0].finish_reason == "length"
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (5, 300)
    chunks = list(client.completions.create(model=server.model, prompt="First", max_tokens=300, temperature=0.8,
                                            top_p=0.95, seed=7, stream=True))
    assert "".join(c.choices[0].text for c in chunks) == want
    assert chunks[-1].choices[0].finish_reason == "length"
    assert [m.id for m in client.models.list().data] == [server.model] == ["<b>&run"]


def test_choices_and_stop_sequences(server):
    done = server.client().completions.create(model=server.model, prompt="All:", max_tokens=200, n=3, seed=1, stop=["\n"])
    assert [c.index for c in done.choices] == [0, 1, 2]
    for choice in done.choices:
        assert "\n" not in choice.text  # a stop sequence ends a choice and is left out of it
        assert choice.finish_reason == "stop" or len(choice.text) == 200
    streamed = server.client().completions.create(model=server.model, prompt="All:", max_tokens=200, n=3, seed=1,
                                                  stop=["\n"], stream=True)
    texts = ["", "", ""]
    for chunk in streamed:
        for c in chunk.choices:
            texts[c.index] += c.text
    assert texts == [c.text for c in done.choices]


@pytest.mark.parametrize("body, status, message", [
    (b"{not json", 400, "the body is not valid JSON"),
    (b"[1, 2]", 400, "the body must be a JSON object"),
    ({"prompt": "a", "temperature": "hot"}, 400, 'temperature must be a number, not "hot"'),
    ({"prompt": "a", "temperature": -1}, 400, "temperature must be at least 0, not -1"),
    ({"prompt": "a", "top_p": 0}, 400, "top_p must be above 0 and at most 1, not 0"),
    ({"prompt": "Zap ☃"}, 400, "the prime has characters the model never saw, 2 characters: 'Z' (U+005A), '☃' (U+2603)"),
    ({"prompt": 5}, 400, "prompt must be a string"),
    ({"prompt": "a", "max_tokens": 2001}, 400, "max_tokens must be at least 1 and at most 2000, not 2001"),
    ({"prompt": "a", "max_tokens": 1.5}, 400, "max_tokens must be an integer, not 1.5"),
    ({"prompt": "a", "n": 5}, 400, "n must be at least 1 and at most 4, not 5"),
    ({"prompt": "a" * 51}, 400, "the prompt has 51 characters; this server takes at most 50 (--max-prompt)"),
    ({"prompt": "a", "stop": ["a", "b", "c", "d", "e"]}, 400, "stop must be a non-empty string or a list of at most 4"),
    ({"prompt": "a", "stream": "yes"}, 400, 'stream must be true or false, not "yes"'),
    ({"prompt": "a", "echo": True}, 400, "echo is not supported by a character model"),
    ({"prompt": "a", "model": "gpt-4"}, 404, "model 'gpt-4' is not served here"),
    ({"prompt": "a", "seed": -1}, 400, "seed must be at least 0, not -1"),
    (b'{"prompt": "a", "temperature": NaN}', 400, "temperature must be a number, not NaN"),
    (b'{"prompt": "a", "max_tokens": ' + b"9" * 400 + b"}", 400, "max_tokens must be at least 1 and at most 2000"),
    (b"[" * 100_000, 413, "--max-body"),
    (b"[" * 4000, 400, "the body is not valid JSON"),
    ({"prompt": "a" * 5000}, 413, "this server takes at most 4,096 (--max-body)"),
])
def test_bad_requests_get_their_status_and_an_openai_error_body(server, body, status, message):
    response = server.post(body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert message in error["message"] and set(error) == {"message", "type", "param", "code"}


def test_after_bad_requests_the_server_still_answers(server):
    assert server.post({"prompt": "a", "max_tokens": 3, "seed": 1}).status_code == 200


def test_the_openai_client_raises_on_an_error_as_it_would_on_openais(server):
    with pytest.raises(openai.BadRequestError, match="temperature must be at least 0"):
        server.client().completions.create(model=server.model, prompt="a", temperature=-1)


def test_unknown_paths_and_methods_are_json_errors(server):
    assert httpx.get(f"{server.url}/nope").status_code == 404 and "error" in httpx.get(f"{server.url}/nope").json()
    wrong = httpx.get(f"{server.url}/v1/completions")
    assert wrong.status_code == 405 and "error" in wrong.json()


def test_the_page_shows_the_run_name_as_text(server):
    page = httpx.get(f"{server.url}/").text
    assert "&lt;b&gt;&amp;run" in page and "<b>" not in page


def test_too_many_streams_is_429_and_a_client_that_leaves_frees_its_row(trained_run):
    server = Server("-c", trained_run.path, "--max-streams", 1, "--max-tokens", 10_000_000)
    try:
        body = {"prompt": "All:", "max_tokens": 10_000_000, "stream": True}
        with httpx.stream("POST", f"{server.url}/v1/completions", json=body, timeout=30) as long:
            assert long.status_code == 200
            lines = long.iter_lines()  # kept: a dropped iterator closes the response, and the server frees the row
            next(lines)  # it is writing
            busy = server.post({"prompt": "a", "max_tokens": 5})
            assert busy.status_code == 429 and "its limit (--max-streams 1)" in busy.json()["error"]["message"]
        deadline = time.monotonic() + 10  # the client has gone: its row is free at the next step
        while (answer := server.post({"prompt": "a", "max_tokens": 5})).status_code == 429 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert answer.status_code == 200 and len(answer.json()["choices"][0]["text"]) == 5
    finally:
        assert server.stop() == 130
    assert "Traceback" not in server.log


def test_a_line_mode_model_answers_one_item_per_choice(trained_line_run):
    server = Server("-c", trained_line_run.path)
    try:
        done = server.client().completions.create(model=server.model, prompt="", n=4, max_tokens=40, seed=3,
                                                  temperature=0.5)
        items = [c.text for c in done.choices]
        assert len(items) == 4 and all(item and "\n" not in item for item in items)
        assert all(c.finish_reason == "stop" for c in done.choices)
        result = chargen("sample", "-c", trained_line_run.path, "-n", 4, "--length", 40, "--seed", 3, "-t", 0.5)
        assert items == result.stdout.splitlines()  # the items chargen sample writes, as a batch of four
    finally:
        assert server.stop() == 130


def test_listening_beyond_loopback_is_warned_of(trained_run):
    server = Server("-c", trained_run.path, "--host", "0.0.0.0")
    try:
        assert "warning: listening on 0.0.0.0, not loopback" in server.log
    finally:
        assert server.stop() == 130


def test_a_port_in_use_is_one_line(server, trained_run):
    port = server.url.rsplit(":", 1)[1]
    result = chargen("serve", "-c", trained_run.path, "--port", port)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [f"Error: cannot listen on 127.0.0.1:{port} (Address already in use)"]


def test_serve_without_the_extra_is_one_line(trained_run, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    result = chargen("serve", "-c", trained_run.path)
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: chargen serve needs the serve extra: pip install 'chargen[serve]' (starlette and uvicorn)"
