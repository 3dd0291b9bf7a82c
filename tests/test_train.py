"""Training runs (chargen.train.loop, launch and saves): the loss falls, the run folder fills, a stopped run
resumes bit for bit from any save point, and bad steps, bad resumes and failed saves end the way they should."""

import json
import math

import pytest
import torch

from chargen.train import loss, saves

from chargen.model import device

from chargen.store import runs
from chargen.store.checkpoint import load_checkpoint
from chargen.config import TrainConfig
from chargen.errors import ChargenError
from chargen.train.request import RunRequest
from chargen.train.launch import new_trainer, resume_trainer
from chargen.train.reports import Evaluated, Note

from conftest import TEXT, TINY_MODEL, TINY_TRAIN, run_to_end

STEPS = 40  # two epochs of the tiny corpus, so the epoch boundary is crossed too


def make(corpus_file, run_dir, model=None, **train_options):
    # On the CPU: bitwise resume with dropout between layers is a CPU promise (cuDNN keeps that dropout's
    # generator to itself; tests/test_gpu.py covers cuda).
    cfg = TrainConfig(**{**TINY_TRAIN, "steps": STEPS, "device": "cpu", **train_options})
    return new_trainer(RunRequest([str(corpus_file)], {**TINY_MODEL, "dropout": 0.2, **(model or {})}, cfg, run_dir))


def weights(run_dir):
    return load_checkpoint(run_dir / runs.LATEST).weights


def test_training_lowers_the_loss_and_writes_the_run_folder(corpus_file, tmp_path):
    trainer = make(corpus_file, tmp_path / "run", steps=120, eval_every=40, lr=1e-2)
    reports = run_to_end(trainer)
    evals = [r for r in reports if isinstance(r, Evaluated)]
    assert [e.step for e in evals] == [40, 80, 120]
    assert evals[-1].val_loss < math.log(trainer.corpus.vocab.size) - 1.0  # well below a uniform guess
    assert {p.name for p in (tmp_path / "run").iterdir()} >= {"best.pt", "latest.pt", "metrics.jsonl", "config.json"}
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [40, 80, 120]
    assert records[-1]["val_bpc"] == pytest.approx(records[-1]["val_loss"] / math.log(2))


def test_a_new_model_starts_out_predicting_the_training_texts_character_frequencies(corpus_file, tmp_path):
    """Not a uniform guess: a short budget on thousands of characters would spend itself learning them."""
    trainer = make(corpus_file, tmp_path / "run", steps=1)
    counts = torch.from_numpy(trainer.data.train_counts).double()
    frequencies = counts / counts.sum()
    x, y = trainer.data.streams.window(0, 0)
    logits, _ = trainer.model.eval()(torch.as_tensor(x, device=trainer.device))
    logits = logits.cpu()
    predicted = logits.double().softmax(-1).mean((0, 1))
    assert (predicted - frequencies).abs().max() < 0.02
    targets = torch.as_tensor(y).flatten()
    start = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets).item()
    frequency_guess = -frequencies.log()[targets].mean().item()
    assert start == pytest.approx(frequency_guess, abs=0.05) and start < math.log(trainer.corpus.vocab.size) - 0.3


def test_eval_chars_evaluates_a_part_of_the_validation_text_and_says_how_much(corpus_file, tmp_path):
    trainer = make(corpus_file, tmp_path / "run", steps=8, val_fraction=0.5, eval_chars=300)
    started, *reports = run_to_end(trainer)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    # 4 streams of the 1,150 validation characters; the first 256-character window of each.
    assert started.eval_chars == 4 * 256 < started.val_chars
    assert {r["val_chars"] for r in records} == {4 * 256}


def test_overfits_a_tiny_corpus(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("hello world, " * 40)
    trainer = new_trainer(RunRequest([str(path)], {"hidden_size": 32, "embed_dim": 8}, TrainConfig(batch_size=2, seq_len=16, steps=150, lr=2e-2, warmup_steps=5,
                                      eval_every=25, val_fraction=0.0), tmp_path / "run"))
    final = [r for r in run_to_end(trainer) if isinstance(r, Evaluated)][-1]
    assert final.train_loss < 0.1


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The weights at the end of `make`'s run, trained without a stop: once, for every save point resumed from."""
    root = tmp_path_factory.mktemp("uninterrupted")
    (root / "corpus.txt").write_text(TEXT, encoding="utf-8")
    run_to_end(make(root / "corpus.txt", root / "whole"))
    return weights(root / "whole")


@pytest.mark.parametrize("stop_at", [3, 4, 8, 31, 33])
def test_resume_from_any_save_point_is_bitwise_identical(uninterrupted, corpus_file, tmp_path, stop_at):
    interrupted = make(corpus_file, tmp_path / "split")
    assert run_to_end(interrupted, stop_after=stop_at)[-1].reason == "interrupted"
    assert load_checkpoint(tmp_path / "split" / runs.LATEST).position.step == stop_at
    resumed = resume_trainer(RunRequest.resuming(tmp_path / "split"))
    assert resumed.pos.step == stop_at
    run_to_end(resumed)
    split = weights(tmp_path / "split")
    assert all(torch.equal(uninterrupted[k], split[k]) for k in uninterrupted)


needs_bf16 = pytest.mark.skipif("bf16" not in device.usable_precisions(torch.device("cpu")),
                                reason="this CPU has no bf16 arithmetic (AVX-512 BF16 or AMX)")


@needs_bf16
def test_bf16_training_learns_keeps_fp32_weights_and_resumes_bitwise(corpus_file, tmp_path):
    whole = make(corpus_file, tmp_path / "whole", precision="bf16", lr=1e-2)
    evals = [r for r in run_to_end(whole) if isinstance(r, Evaluated)]
    assert evals[-1].val_loss < math.log(whole.corpus.vocab.size) - 0.5
    saved = load_checkpoint(tmp_path / "whole" / runs.LATEST)
    assert all(w.dtype == torch.float32 for w in saved.weights.values())
    assert all(s.dtype == torch.float32 for s in whole.train.state)  # the carried state too, whatever autocast made
    run_to_end(make(corpus_file, tmp_path / "split", precision="bf16", lr=1e-2), stop_after=13)
    run_to_end(resume_trainer(RunRequest.resuming(tmp_path / "split")))
    split = weights(tmp_path / "split")
    assert all(torch.equal(saved.weights[k], split[k]) for k in split)


def test_bf16_without_hardware_support_is_refused_with_the_fix(corpus_file, tmp_path, monkeypatch):
    monkeypatch.setattr(device, "usable_precisions", lambda where: ["fp32"])
    with pytest.raises(ChargenError, match="--precision bf16 needs bf16 arithmetic, which this CPU .* use --precision fp32"):
        make(corpus_file, tmp_path / "run", precision="bf16", device="cpu")
    assert not make(corpus_file, tmp_path / "other").notes  # fp32: nothing to say


def test_a_bf16_run_resumed_without_bf16_goes_on_in_fp32_and_says_so(corpus_file, tmp_path, monkeypatch):
    from chargen.store.checkpoint import save_checkpoint

    run_to_end(make(corpus_file, tmp_path / "run", steps=4))
    path = tmp_path / "run" / runs.LATEST
    saved = load_checkpoint(path)
    saved.train_config.precision = "bf16"  # as if trained on a machine with bf16
    save_checkpoint(path, saved)
    monkeypatch.setattr(device, "usable_precisions", lambda where: ["fp32"])
    resumed = resume_trainer(RunRequest.resuming(tmp_path / "run", {"steps": 8}))
    assert resumed.cfg.precision == "fp32" and any("continues in fp32" in n for n in resumed.notes)
    assert run_to_end(resumed)[-1].step == 8


def test_a_checkpoint_of_the_first_format_still_resumes(corpus_file, tmp_path):
    """Runs saved by chargen 0.1 (format 1: one process's generators at the top level, no character count)."""
    from chargen.store.checkpoint import read_payload, write_payload

    run_to_end(make(corpus_file, tmp_path / "run", steps=4))
    path = tmp_path / "run" / runs.LATEST
    payload = read_payload(path)
    rng = payload["resume"].pop("rng")[0]
    payload["resume"].update(torch_rng=rng["torch"], cuda_rng=rng["cuda"], python_rng=rng["python"])
    for key in ("world_size",):
        payload.pop(key)
    payload["position"].pop("chars")
    payload["train_config"].pop("lines")
    write_payload(path, payload)
    assert run_to_end(resume_trainer(RunRequest.resuming(tmp_path / "run", {"steps": 8})))[-1].step == 8


def test_steps_may_be_raised_on_resume(corpus_file, tmp_path):
    run_to_end(make(corpus_file, tmp_path / "run", steps=8))
    again = resume_trainer(RunRequest.resuming(tmp_path / "run", {"steps": 12}))
    reports = run_to_end(again)
    assert reports[-1].step == 12 and again.pos.total_steps == 12


def test_resume_refuses_conflicting_model_and_recipe_options(corpus_file, tmp_path):
    run_to_end(make(corpus_file, tmp_path / "run", steps=4))
    with pytest.raises(ChargenError, match=r"--hidden-size 32 \(the run has 24\); --lr 0.5 \(the run has 0.002\)"):
        resume_trainer(RunRequest.resuming(tmp_path / "run", {"hidden_size": 32, "lr": 0.5}))


def test_resume_on_a_changed_corpus_needs_the_flag(corpus_file, tmp_path):
    run_to_end(make(corpus_file, tmp_path / "run", steps=4))
    corpus_file.write_text(corpus_file.read_text()[::-1])  # same characters, other text
    with pytest.raises(ChargenError, match="corpus changed since step 4.*--allow-corpus-change"):
        resume_trainer(RunRequest.resuming(tmp_path / "run", {"steps": 8}))
    trainer = resume_trainer(RunRequest.resuming(tmp_path / "run", {"steps": 8}, allow_corpus_change=True))
    assert run_to_end(trainer)[-1].step == 8


def test_resume_onto_text_with_new_characters_is_refused(corpus_file, tmp_path):
    run_to_end(make(corpus_file, tmp_path / "run", steps=4))
    corpus_file.write_text(corpus_file.read_text() + "§")
    with pytest.raises(ChargenError, match="vocabulary lacks, 1 character: '§'"):
        resume_trainer(RunRequest.resuming(tmp_path / "run", allow_corpus_change=True))


def test_a_new_run_will_not_overwrite_an_existing_one(corpus_file, tmp_path):
    run_to_end(make(corpus_file, tmp_path / "run", steps=4))
    with pytest.raises(ChargenError, match="already exists; continue it with --resume run"):
        make(corpus_file, tmp_path / "run")


def nan_on_calls(monkeypatch, bad_calls):
    calls = {"n": 0}
    real = loss.char_loss

    def nan_loss(logits, targets):
        calls["n"] += 1
        value = real(logits, targets)
        return value * float("nan") if bad_calls(calls["n"]) else value

    monkeypatch.setattr(loss, "char_loss", nan_loss)


def test_a_non_finite_loss_skips_the_update(corpus_file, tmp_path, monkeypatch):
    nan_on_calls(monkeypatch, lambda n: n in (5, 6))
    reports = run_to_end(make(corpus_file, tmp_path / "run", steps=10))
    assert sum("update skipped" in r.message for r in reports if isinstance(r, Note)) == 2
    assert all(torch.isfinite(w).all() for w in weights(tmp_path / "run").values())


def test_persistent_divergence_rolls_back_then_stops_with_a_message(corpus_file, tmp_path, monkeypatch):
    nan_on_calls(monkeypatch, lambda n: n > 9)
    trainer = make(corpus_file, tmp_path / "run", steps=30)
    notes = []
    with pytest.raises(ChargenError, match="training diverged"):
        for r in trainer.run():
            if isinstance(r, Note):
                notes.append(r.message)
    assert sum("rolled back to step 8" in n for n in notes) == saves.MAX_ROLLBACKS
    saved = load_checkpoint(tmp_path / "run" / runs.LATEST)
    assert saved.position.step == 8 and all(torch.isfinite(w).all() for w in saved.weights.values())


def test_a_failed_save_names_the_cause_and_the_intact_step(corpus_file, tmp_path, monkeypatch):
    import errno

    import chargen.store.checkpoint

    trainer = make(corpus_file, tmp_path / "run", steps=12)
    real = chargen.store.checkpoint.torch.save
    calls = {"n": 0}

    def save(obj, f):
        calls["n"] += 1
        if calls["n"] > 2:  # latest.pt and best.pt at step 4 succeed; the next save finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device")
        real(obj, f)

    monkeypatch.setattr(chargen.store.checkpoint.torch, "save", save)
    with pytest.raises(ChargenError, match="disk full while saving step 8 .*the checkpoint from step 4 is intact"):
        list(trainer.run())
    assert load_checkpoint(tmp_path / "run" / runs.LATEST).position.step == 4
