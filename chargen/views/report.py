"""The one-page run report: a self-contained HTML page of the run's facts, loss curves, samples at three
temperatures, how much the model copies, and what it finds surprising in held-out text, built from
the same sections as the single views."""

from __future__ import annotations

from pathlib import Path

from dataclasses import asdict

from chargen.config import DEFAULT_TEMPERATURE, SamplingSettings
from chargen.data.baselines import summary
from chargen.data.vocab import Vocab
from chargen.errors import ChargenError
from chargen.generate.sample import Sampler, StepModel, generate_items
from chargen.model.equations import Network
from chargen.store import runs
from chargen.store.weights import read_model
from chargen.store.record import Checkpoint
from chargen.store.sources import validation_baselines_of
from chargen.units import bits
from chargen.views.neurons import activations, trackers
from chargen.views.novelty import measure, validation_text
from chargen.views.page import Section, page, text
from chargen.views.sections import (
    copying_section,
    curves_section,
    facts_section,
    items_section,
    neurons_section,
    samples_section,
    surprise_section,
    tracker_label,
)
from chargen.views.surprise import surprise

TEMPERATURES = (0.5, 0.8, 1.0)
SAMPLE_CHARS = 600
EXCERPT_CHARS = 1500  # of the validation text, for the surprise and cell views


def samples(model: StepModel, vocab: Vocab, items: bool, seed: int) -> list[tuple[float, str]]:
    out = []
    for t in TEMPERATURES:
        sampler = Sampler(model, vocab, SamplingSettings(t), seed=seed, batch_size=10 if items else 1)
        if items:
            out.append((t, "\n".join(generate_items(sampler, max_length=200))))
        else:
            out.append((t, "".join(chars[0] for chars in sampler.stream(SAMPLE_CHARS))))
    return out


def run_report(run_dir: Path, seed: int = 1) -> str:
    """The report of the run in `run_dir`, from its best checkpoint (else its latest) and metrics."""
    path = runs.find_model(str(run_dir), run_dir.parent)
    checkpoint = read_model(path)
    records, skipped = runs.read_metrics(run_dir)
    config, vocab, items = checkpoint.model_config, checkpoint.vocab, checkpoint.lines
    model = StepModel(config, checkpoint.weights)
    name, last, best = run_dir.name, records[-1], checkpoint.position.best_val_loss
    weights = checkpoint.facts(path)["parameters"]
    trained = f" in {last['elapsed_s'] / 60:.1f} minutes" if last.get("elapsed_s") else ""
    headline = (f"best validation loss {best:.4f} nats/char ({bits(best):.3f} bits/char)" if best is not None
                else "no validation loss yet")
    lede = (f"{config.cell} {config.layers}x{config.hidden_size} ({weights:,} weights) trained on "
            f"{', '.join(Path(s).name for s in checkpoint.corpus.sources)} for {last['step']:,} steps{trained}: "
            f"{headline}.")
    if found := validation_baselines_of(checkpoint).get("val_baselines_bpc"):
        said = summary(bits(best), found)
        lede += f" {said[0].upper()}{said[1:]}."
    # What a person opens the report for first: how training went and what the model writes; the facts after.
    curves = curves_section([(name, records)])
    if skipped:
        curves = Section("curves", "Loss", curves.body + f"<p>{skipped} unreadable line(s) of metrics.jsonl skipped.</p>")
    sections = [curves, samples_section(samples(model, vocab, items, seed)),
                facts_section({**checkpoint.facts(path), "train": asdict(checkpoint.train_config)})]
    try:
        sections += _corpus_sections(checkpoint, model, seed)
    except ChargenError as e:  # the training text is gone or changed: the model's own sections still stand
        sections.append(Section("novelty", "Copying", f"<p>{text(e)}.</p>"))
    return page(f"chargen run {name}", sections, lede)


def _corpus_sections(checkpoint: Checkpoint, model: StepModel, seed: int) -> list[Section]:
    novelty = measure(checkpoint, seed=seed)
    vocab = checkpoint.vocab
    if checkpoint.lines:
        return [items_section(novelty.items, novelty.samples[:12])]
    out = [copying_section(novelty.generated, novelty.validation,
                           f"{len(novelty.samples)} samples of {len(novelty.samples[0]):,} characters at temperature {DEFAULT_TEMPERATURE:g}.")]
    val = validation_text(checkpoint)
    if len(val):
        excerpt = vocab.decode(val[:EXCERPT_CHARS])
        out.append(surprise_section(surprise(model, vocab, excerpt), "Surprise, on held-out text"))
        acts = activations(Network(checkpoint.model_config, checkpoint.weights), vocab, excerpt)
        found = trackers(acts)[:4]
        out.append(neurons_section(acts, [(t.cell, tracker_label(t, acts.layer)) for t in found],
                                   "Cells that track the text"))
    return out
