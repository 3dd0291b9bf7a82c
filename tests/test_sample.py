import numpy as np
import pytest
import torch

from chargen.config import CELLS, ModelConfig, SamplingSettings
from chargen.errors import ChargenError
from chargen.model.charrnn import CharRNN
from chargen.generate.sample import Sampler, StepModel, next_ids
from chargen.data.vocab import Vocab

VOCAB = Vocab.from_text("abcdefgh \n")


def make_model(cell="lstm", embed_dim=4, layers=2, hidden=6, seed=0):
    torch.manual_seed(seed)
    model = CharRNN(ModelConfig(vocab_size=VOCAB.size, cell=cell, layers=layers, hidden_size=hidden,
                                embed_dim=embed_dim)).eval()
    with torch.no_grad():  # larger weights than the init, so saturating gates are exercised too
        for p in model.parameters():
            p.mul_(3.0)
    return model


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("embed_dim", [0, 4])
def test_step_model_gives_the_training_models_logits(cell, embed_dim):
    model = make_model(cell, embed_dim, layers=3)
    ids = torch.randint(0, VOCAB.size, (2, 20))
    with torch.no_grad():
        expected, _ = model(ids)
    step = StepModel(model.config, model.state_dict())
    state = step.init_state(2)
    got = np.stack([step.step(ids[:, t].numpy(), state) for t in range(ids.shape[1])], axis=1)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-4, atol=1e-4)


def sample_text(seed, settings=SamplingSettings(1.0), prime="", length=60):
    model = make_model()
    sampler = Sampler(StepModel(model.config, model.state_dict()), VOCAB, settings, seed=seed)
    if prime:
        sampler.feed(prime)
    return "".join(c[0] for c in sampler.stream(length))


def test_same_seed_same_text_and_other_seeds_differ():
    assert sample_text(1) == sample_text(1)
    assert len({sample_text(s) for s in range(5)}) > 1


def test_temperature_zero_is_greedy_whatever_the_seed():
    greedy = {sample_text(s, SamplingSettings(0.0)) for s in range(4)}
    assert len(greedy) == 1


def test_continuing_a_stream_equals_one_long_stream():
    model = make_model()
    step = StepModel(model.config, model.state_dict())
    whole = "".join(c[0] for c in Sampler(step, VOCAB, SamplingSettings(), seed=9).stream(50))
    sampler = Sampler(step, VOCAB, SamplingSettings(), seed=9)
    parts = "".join(c[0] for c in sampler.stream(20)) + "".join(c[0] for c in sampler.stream(30))
    assert parts == whole


def test_top_k_and_top_p_never_leave_their_set():
    rng = np.random.default_rng(0)
    logits = np.log(np.array([[0.5, 0.3, 0.1, 0.06, 0.04]] * 4000))
    assert set(next_ids(logits, SamplingSettings(1.0, top_k=2), rng)) == {0, 1}
    assert set(next_ids(logits, SamplingSettings(1.0, top_p=0.85), rng)) == {0, 1, 2}  # 0.5 + 0.3 < 0.85
    assert set(next_ids(logits, SamplingSettings(1.0, top_p=0.01), rng)) == {0}
    assert set(next_ids(logits, SamplingSettings(5.0), rng)) == {0, 1, 2, 3, 4}


def test_sampling_follows_the_distribution():
    rng = np.random.default_rng(0)
    probs = np.array([0.6, 0.3, 0.1])
    ids = next_ids(np.log(np.tile(probs, (20000, 1))), SamplingSettings(1.0), rng)
    np.testing.assert_allclose(np.bincount(ids, minlength=3) / len(ids), probs, atol=0.015)


def test_stop_string_ends_the_sample_after_it():
    model = make_model()
    sampler = Sampler(StepModel(model.config, model.state_dict()), VOCAB, SamplingSettings(1.0), seed=3)
    text = "".join(c[0] for c in sampler.stream(5000, stop=" "))
    assert text.endswith(" ") and text.count(" ") == 1


def test_a_prime_with_unseen_characters_is_a_clear_error():
    with pytest.raises(ChargenError, match=r"never saw, 2 characters: 'x' \(U\+0078\), 'é'"):
        sample_text(0, prime="abxé")


@pytest.mark.parametrize("settings", [{"temperature": -1}, {"temperature": float("nan")},
                                      {"temperature": float("inf")}, {"top_k": 0}, {"top_p": 0.0}, {"top_p": 1.5}])
def test_bad_sampling_settings_are_refused(settings):
    with pytest.raises(ChargenError):
        SamplingSettings(**settings)


def test_stop_strings_typed_with_escapes_become_characters():
    from chargen.config import unescape

    assert unescape(r"\n\n") == "\n\n"
    assert unescape("é☃") == "é☃"
    assert unescape(r"a\u2603") == "a☃"
    assert unescape("trailing\\") == "trailing\\"
