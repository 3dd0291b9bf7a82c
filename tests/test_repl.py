import io
import os
import sys
from dataclasses import replace

import pytest
import torch

from chargen.store.checkpoint import write_payload
from chargen.config import ModelConfig, SamplingSettings
from chargen.errors import ChargenError
from chargen.model.charrnn import CharRNN
import chargen.generate.repl as repl_module
from chargen.generate.repl import COMMAND_TABLE, COMMANDS, Repl, ReplSettings, parse_command
from chargen.generate.sample import Sampler, StepModel
from chargen.data.vocab import Vocab

from conftest import chargen

VOCAB = Vocab.from_text("abcdefghij \n\\")


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=VOCAB.size, hidden_size=16, embed_dim=4)
    model = CharRNN(config)
    path = tmp_path / "m.pt"
    write_payload(path, {"model_config": vars(config).copy(), "vocab": VOCAB.chars, "weights": model.state_dict(),
                           "corpus": {"sources": ["letters.txt"]}, "position": {"best_val_loss": 1.0}})
    return path, StepModel(config, model.state_dict())


def repl(path, text, *options):
    return chargen("repl", "-c", path, *options, input=text)


def escaped(text):
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def expected(model, seed, *chunks, length=20):
    """What one uninterrupted sampler produces: (prime or None, length) chunks, state carried."""
    sampler = Sampler(model, VOCAB, SamplingSettings(), seed=seed)
    out = []
    for prime in chunks:
        if prime is not None:
            sampler.reset()
            sampler.feed(prime)
        out.append(escaped("".join(c[0] for c in sampler.stream(length))))
    return out


def test_each_line_gets_its_completion_on_one_line(checkpoint):
    path, model = checkpoint
    result = repl(path, "abc\nhij\n", "--seed", "1", "--length", "20")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == expected(model, 1, "abc", "hij")
    assert "\x1b" not in result.output


def test_more_continues_from_the_carried_state(checkpoint):
    path, model = checkpoint
    result = repl(path, "abc\n\n:more\n", "--seed", "4", "--length", "20")
    assert result.stdout.splitlines() == expected(model, 4, "abc", None, None)
    whole = expected(model, 4, "abc", length=60)[0]
    assert "".join(result.stdout.splitlines()) == whole


def test_settings_commands_change_what_follows(checkpoint):
    path, model = checkpoint
    result = repl(path, ":len 5\n:temp 0\nab\n:seed 3\n:temp 1\n:topk 1\nab\n", "--seed", "2")
    assert result.exit_code == 0
    greedy = Sampler(model, VOCAB, SamplingSettings(0.0))
    greedy.feed("ab")
    line = escaped("".join(c[0] for c in greedy.stream(5)))
    assert result.stdout.splitlines() == [line, line]  # top-k 1 is greedy too
    assert result.stderr == ""


def test_keep_on_continues_the_context_across_prefixes(checkpoint):
    path, model = checkpoint
    result = repl(path, ":keep on\nab\ncd\n", "--seed", "5", "--length", "10")
    sampler = Sampler(model, VOCAB, SamplingSettings(), seed=5)
    sampler.feed("ab")
    first = "".join(c[0] for c in sampler.stream(10))
    sampler.feed("cd")
    second = "".join(c[0] for c in sampler.stream(10))
    assert result.stdout.splitlines() == [escaped(first), escaped(second)]


def test_unknown_characters_and_bad_commands_get_a_hint_and_the_session_goes_on(checkpoint):
    path, model = checkpoint
    result = repl(path, "abXyz\n:frobnicate\n:temp hot\n:topp 2\n:keep maybe\n:len 0\nabc\n", "--seed", "1",
                  "--length", "20")
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "the model never saw 3 characters: 'X' (U+0058), 'y' (U+0079), 'z' (U+007A); try other text",
        "unknown command ':frobnicate'; type :help for the list",
        ":temp needs a number, not 'hot'",
        "top-p must be in (0, 1], not 2.0",
        "expected on or off, not 'maybe'",
        "length must be at least 1, not 0",
    ]
    assert result.stdout.splitlines() == expected(model, 1, "abc")


def test_choose_save_and_quit(checkpoint, tmp_path):
    path, _ = checkpoint
    out = tmp_path / "session.txt"
    result = repl(path, f"ab\n:choose\n1\n:save {out}\n:quit\nnever read\n", "--seed", "1", "--length", "8")
    assert result.exit_code == 0
    assert "1:" in result.stderr and "saved" in result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and len(lines[1].replace("\\n", "\n").replace("\\\\", "\\")) == 9
    assert out.read_text().startswith("ab")


def test_parse_command_knows_every_command():
    for name in COMMANDS:
        assert parse_command(f":{name} x")[0] == name
    with pytest.raises(ChargenError):
        parse_command(":nope")


def test_help_lists_every_command_of_the_table_with_its_argument_and_description(checkpoint):
    path, _ = checkpoint
    result = repl(path, ":help\n")
    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    for command in COMMAND_TABLE:
        usage = f":{command.name} {command.arg}".rstrip()
        assert any(usage in line and line.rstrip().endswith(command.help) for line in lines), command.name


def test_every_command_of_the_table_is_dispatched_to_its_own_handler(checkpoint, monkeypatch):
    _, model = checkpoint
    calls = []
    table = tuple(replace(c, run=lambda session, arg, name=c.name: calls.append((name, arg))) for c in COMMAND_TABLE)
    monkeypatch.setattr(repl_module, "COMMAND_TABLE", table)
    session = Repl(model, VOCAB, ReplSettings(SamplingSettings()), "test", stdin=io.StringIO(), stdout=io.StringIO(),
                   stderr=io.StringIO(), interactive=False)
    for name in COMMANDS:
        assert session.handle(f":{name.upper()}  an argument ")
    assert calls == [(name, "an argument") for name in COMMANDS]


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_real_terminal_ctrl_c_stops_generation_and_ctrl_d_exits_zero(checkpoint, tmp_path):
    pexpect = pytest.importorskip("pexpect")
    path, _ = checkpoint
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path), "TERM": "xterm"}
    child = pexpect.spawn(sys.executable, ["-m", "chargen", "repl", "-c", str(path), "--length", "100000000"],
                          env=env, encoding="utf-8", timeout=60)
    child.expect(":help for commands")
    child.expect("» ")
    child.sendline("abc")
    child.expect("\x1b\\[36m")  # the continuation streams in colour
    child.sendintr()
    child.expect(r"\(stopped\)")
    child.expect("» ")
    child.sendline(":len 5")
    child.expect("» ")
    child.sendintr()  # at the prompt: clears the line, the session goes on
    child.expect("» ")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "Traceback" not in (child.before or "")
    assert (tmp_path / "chargen" / "repl_history").read_text().count("abc") == 1
