"""Property-based tests: random bytes and Unicode never crash anything but with the user-facing error."""

import io

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chargen.config import ModelConfig, SamplingSettings
from chargen.data.corpus import load_corpus
from chargen.errors import ChargenError
from chargen.model.charrnn import CharRNN
from chargen.generate.repl import Repl, ReplSettings, parse_command
from chargen.generate.sample import Sampler, StepModel
from chargen.data.vocab import Vocab

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
VOCAB = Vocab.from_text("abcdefghij klmnop\nqrstuvwxyzé")


def step_model():
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=VOCAB.size, hidden_size=8, embed_dim=4)
    return StepModel(config, CharRNN(config).state_dict())


MODEL = step_model()


@FUZZ
@given(data=st.binary(max_size=400), encoding=st.sampled_from(["utf-8", "latin-1", "utf-16"]))
def test_corpus_reading_accepts_or_explains_any_bytes(tmp_path_factory, data, encoding):
    path = tmp_path_factory.mktemp("fuzz") / "corpus.txt"
    path.write_bytes(data)
    try:
        corpus = load_corpus([path], encoding=encoding)
    except ChargenError as e:
        assert str(e) and "\n" not in str(e)
        return
    text = data.decode(encoding)
    assert corpus.vocab.decode(corpus.ids) == text.removeprefix("\ufeff")


@FUZZ
@given(text=st.text(min_size=1, max_size=300))
def test_any_unicode_text_round_trips_through_the_vocabulary(tmp_path_factory, text):
    vocab = Vocab.from_text(text)
    assert vocab.decode(vocab.encode(text)) == text
    path = tmp_path_factory.mktemp("fuzz") / "t.txt"
    path.write_text(text, encoding="utf-8", newline="")
    try:
        corpus = load_corpus([path])
    except ChargenError as e:  # only text with a NUL character is refused (as binary)
        assert "\0" in text and "binary" in str(e)
        return
    assert corpus.vocab.decode(corpus.ids) == text.removeprefix("\ufeff")


@FUZZ
@given(prime=st.text(max_size=50))
def test_any_prime_is_used_or_explained(prime):
    sampler = Sampler(MODEL, VOCAB, SamplingSettings(), seed=0)
    try:
        sampler.feed(prime)
    except ChargenError as e:
        assert set(prime) - set(VOCAB.chars) and "never saw" in str(e)
        return
    assert len(list(sampler.stream(5))) == 5


@FUZZ
@given(line=st.text(max_size=40).map(lambda s: ":" + s))
def test_any_command_line_parses_or_explains(line):
    try:
        name, _ = parse_command(line)
    except ChargenError as e:
        assert "unknown command" in str(e)
        return
    assert name.isalpha()


@FUZZ
@given(lines=st.lists(st.one_of(st.text(max_size=30), st.sampled_from(
    [":temp", ":temp x", ":topk -3", ":topp 0", ":len 1", ":len 4", ":len -5", ":seed", ":stop", ":keep", ":probs on",
     ":choose", ":save", ":more", ":reset", ":info", ":help", ":topk off", ":temp 1e309"])), max_size=8))
def test_the_repl_survives_any_input(lines):
    lines = [line.replace("\n", " ").replace("\r", " ") for line in lines]
    stdin = io.StringIO("".join(line + "\n" for line in lines if not line.startswith(":quit")))
    stdout, stderr = io.StringIO(), io.StringIO()
    settings_ = ReplSettings(SamplingSettings(), length=3, seed=0)
    session = Repl(MODEL, VOCAB, settings_, "fuzz", stdin=stdin, stdout=stdout, stderr=stderr, interactive=False)
    assert session.run() == 0
