"""Starting a run (its recipe chosen for a time budget) and resuming one exactly where it stopped."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from chargen.store import runs
from chargen.store.checkpoint import load_checkpoint
from chargen.config import DEFAULT_MINUTES, LENGTH_OPTIONS, ModelConfig, TrainConfig, flag
from chargen.data.corpus import Corpus, load_corpus
from chargen.model.device import check_precision, has_precision, resolve_device, usable_precisions
from chargen.train.distributed import Single
from chargen.errors import ChargenError
from chargen.train.finetune import ARCHITECTURE, grown_vocab, parent_record, transplant
from chargen.data.items import mean_item_chars
from chargen.data.shift import validation_shift
from chargen.train.loop import Trainer, make_data
from chargen.data.vocab import Vocab, describe_chars

# Options that may differ on resume: how long to go on, and where, how verbosely and in what arithmetic to run.
RESUME_FREE = {*LENGTH_OPTIONS, "eval_every", "eval_chars", "device", "precision"}


@dataclass
class Setup:
    """A new run as it will start: its text, model and training options, and what the log says of them."""

    corpus: Corpus
    model_config: ModelConfig
    cfg: TrainConfig
    notes: list[str]
    init_weights: dict[str, Any] | None = None  # the parent model's weights, fine-tuning
    lineage: dict[str, Any] | None = None  # the parent model's record, fine-tuning


def new_trainer(
    corpus_paths: list[str],
    model_options: dict[str, Any],
    train: TrainConfig | dict[str, Any],
    run_dir: Path,
    *,
    encoding: str = "utf-8",
    max_vocab: int | None = None,
    progress=None,
    group: Single | None = None,
    init_from: Path | None = None,
) -> Trainer:
    """A fresh run in `run_dir` (which must not hold a run yet), set up by `prepare`."""
    group = group or Single()

    def check_run_dir() -> None:
        if (run_dir / runs.LATEST).exists() or (run_dir / runs.BEST).exists():
            raise ChargenError(f"run {run_dir} already exists; continue it with --resume {run_dir.name} or pick another --name")
        runs.ensure_writable(run_dir.parent)

    group.on_main(check_run_dir)
    setup = prepare(corpus_paths, model_options, train, encoding=encoding, max_vocab=max_vocab, progress=progress,
                    group=group, init_from=init_from)
    trainer = Trainer(run_dir, setup.corpus, setup.model_config, setup.cfg, group=group,
                      init_weights=setup.init_weights, parent=setup.lineage)
    trainer.notes.extend(setup.notes)
    return trainer


def prepare(
    corpus_paths: list[str],
    model_options: dict[str, Any],
    train: TrainConfig | dict[str, Any],
    *,
    encoding: str = "utf-8",
    max_vocab: int | None = None,
    progress=None,
    group: Single | None = None,
    init_from: Path | None = None,
    world: int | None = None,
) -> Setup:
    """A new run's corpus and options, without training (`chargen train --plan` shows them).

    `model_options` and a `train` dict hold only the options the user chose. A run with a time budget
    (the default) then gets the recipe that suits the budget on this machine for every option left
    unchosen; a full TrainConfig is taken as it is. Under torchrun the main process plans the recipe
    and every process gets the same; `world` plans for that many processes from this one. `init_from`,
    a checkpoint file, starts the run from that model: its architecture and weights, its vocabulary
    grown by the new text's characters.
    """
    group = group or Single()
    parent = group.on_main(lambda: load_checkpoint(init_from)) if init_from is not None else None
    if parent is not None:
        kept = {k: parent["model_config"][k] for k in ARCHITECTURE}
        if clash := [k for k in kept if k in model_options and model_options[k] != kept[k]]:
            has = ", ".join(f"{flag(k)} {kept[k]}" for k in clash)
            raise ChargenError(f"--init-from keeps the parent model's architecture (it has {has}); "
                               "drop the options that change it")
        model_options = {**kept, **model_options}

    chosen = dict(train) if isinstance(train, dict) else None
    cfg = TrainConfig(**chosen) if chosen is not None else train
    if all(getattr(cfg, n) is None for n in LENGTH_OPTIONS):
        cfg = replace(cfg, minutes=DEFAULT_MINUTES)
    extra = {"max_vocab": max_vocab} if max_vocab is not None else {}
    corpus = group.main_first(lambda: load_corpus(corpus_paths, encoding=encoding, progress=progress, **extra))
    notes = []
    init_weights = None
    if parent is not None:
        parent_vocab = Vocab(parent["vocab"])
        vocab = grown_vocab(parent_vocab, corpus.vocab)
        if vocab != corpus.vocab:  # ids of the parent's vocabulary, and more
            corpus = group.main_first(lambda: load_corpus(corpus_paths, encoding=encoding, vocab=vocab, progress=progress))
        init_weights = transplant(parent["weights"], parent_vocab, vocab)
        if new_chars := [ch for ch in vocab.chars if ch not in parent_vocab]:
            notes.append(f"the new text has {describe_chars(new_chars)} that the parent model never saw: each "
                         "starts with the average embedding and as unlikely as its rarest character")
    if chosen is not None and cfg.minutes is not None:
        from chargen.train import recipe

        def plan() -> recipe.Recipe:  # on the main process, which hands the recipe to the others
            val_chars = int(len(corpus) * cfg.val_fraction)
            train_ids, val_ids = corpus.split(cfg.val_fraction)
            # Only dropout follows the shift: it is measured where the recipe chooses dropout.
            shift = (validation_shift(train_ids, val_ids, corpus.vocab.size)
                     if val_chars and "dropout" not in model_options else 0.0)
            task = recipe.Task(corpus.vocab.size, len(corpus) - val_chars, val_chars,
                               cell=model_options.get("cell", "lstm"), world=world or group.world,
                               item_chars=mean_item_chars(corpus) if cfg.lines else None,
                               parent={k: model_options[k] for k in ARCHITECTURE} if parent is not None else None,
                               fixed=dict(model_options), eval_chars=chosen.get("eval_chars"), val_shift=shift,
                               # A step of items is no batch of streams: line mode is timed at the recipe's.
                               batch={} if cfg.lines else {k: chosen[k] for k in ("batch_size", "seq_len") if k in chosen})
            device = resolve_device(cfg.device, group.local_rank)
            if "precision" in chosen:
                check_precision(chosen["precision"], device)
            precisions = [chosen["precision"]] if "precision" in chosen else usable_precisions(device)
            return recipe.plan(cfg.minutes, task, device, precisions)

        picked = group.on_main(plan)
        model_options = {**picked.model, **model_options}
        # A shorter time than asked for is the recipe's one override: more would only make worse text.
        cfg = replace(cfg, **{k: v for k, v in picked.train.items() if k not in chosen or k == "minutes"})
        notes.append(f"recipe: {picked.why} (options you give explicitly take precedence)")
    model_config = ModelConfig(vocab_size=corpus.vocab.size, **model_options)
    lineage = parent_record(str(init_from), parent) if parent is not None else None
    return Setup(corpus, model_config, cfg, notes, init_weights, lineage)


def resume_trainer(
    run_dir: Path,
    overrides: dict[str, Any],
    *,
    corpus_paths: list[str] | None = None,
    encoding: str | None = None,
    allow_corpus_change: bool = False,
    progress=None,
    group: Single | None = None,
) -> Trainer:
    """Continue the run in `run_dir` from its latest checkpoint, exactly.

    `overrides` holds only options the user gave explicitly; any that would change the model or the
    training recipe is refused, naming both values, since it would silently break the continuation.
    The main process reads the checkpoint and hands it to the others, so only its machine needs it.
    """
    group = group or Single()

    def read() -> dict[str, Any]:
        payload = load_checkpoint(run_dir / runs.LATEST) if (run_dir / runs.LATEST).is_file() else None
        if payload is None or "resume" not in payload:
            raise ChargenError(f"run {run_dir} has no resumable checkpoint ({runs.LATEST}); start it afresh instead")
        return payload

    payload = group.on_main(read)
    saved_world = payload.get("world_size", 1)
    if saved_world != group.world:
        raise ChargenError(f"run {run_dir.name} was trained by {saved_world} process(es) and this job has "
                           f"{group.world}; resume it with {saved_world} (torchrun --nproc-per-node {saved_world}, "
                           f"or chargen train --nproc {saved_world}), since each process carries its own streams' state")
    model_config = ModelConfig.saved(payload["model_config"])
    saved_cfg = TrainConfig(**payload["train_config"])
    conflicts = []
    for name, value in overrides.items():
        if name in RESUME_FREE:
            continue
        saved = getattr(model_config, name, getattr(saved_cfg, name, None))
        if value != saved:
            conflicts.append(f"{flag(name)} {value} (the run has {saved})")
    if conflicts:
        raise ChargenError(f"cannot resume {run_dir.name} with different settings: {'; '.join(conflicts)}; "
                           "drop those options or start a new run")
    length = {n: overrides[n] for n in LENGTH_OPTIONS if overrides.get(n) is not None}
    cfg = replace(saved_cfg, **{**{n: None for n in LENGTH_OPTIONS}, **length}) if length else saved_cfg
    for name in RESUME_FREE.difference(LENGTH_OPTIONS):
        if name in overrides:
            cfg = replace(cfg, **{name: overrides[name]})
    notes = []
    device = resolve_device(cfg.device, group.local_rank)
    if device.type == "cuda" and model_config.dropout > 0 and model_config.layers > 1:
        notes.append("on a GPU, cuDNN draws the dropout between layers from a generator of its own that no checkpoint "
                     "can hold: the run goes on with other dropout masks than an uninterrupted run would have drawn, "
                     "so it matches that run in distribution, not bit for bit")
    if "precision" not in overrides and not has_precision(cfg.precision, device):
        # Trained where bf16 is fast, resumed where it does not exist: go on in fp32 rather than fail.
        cfg = replace(cfg, precision="fp32")
        notes.append(f"this device has no bf16 arithmetic: the run continues in fp32 (it was trained in "
                     f"{saved_cfg.precision}), so it will not match a continuation on the original hardware bit for bit")

    saved_corpus = payload["corpus"]
    vocab = Vocab(payload["vocab"])
    paths = corpus_paths or saved_corpus["sources"]
    if not corpus_paths and (gone := [p for p in paths if not Path(p).is_file()]):
        raise ChargenError(f"the run's corpus {gone[0]} is gone; name the corpus again: "
                           f"chargen train CORPUS --resume {run_dir.name}")
    enc = encoding or saved_corpus["encoding"]
    corpus = group.main_first(lambda: load_corpus(paths, encoding=enc, vocab=vocab, progress=progress))
    if corpus.sha256 != saved_corpus["sha256"] and not allow_corpus_change:
        raise ChargenError(
            f"the corpus changed since step {payload['position']['step']} "
            f"({saved_corpus['chars']:,} chars, sha256 {saved_corpus['sha256'][:12]} -> {len(corpus):,} chars, "
            f"sha256 {corpus.sha256[:12]}); pass --allow-corpus-change to continue on the new text"
        )
    minutes_extra = length.get("minutes")
    if "steps" in length:
        payload["position"]["total_steps"] = length["steps"]
    elif "epochs" in length:
        per_epoch = make_data(corpus, cfg, (0, group.world)).steps_per_epoch
        payload["position"]["total_steps"] = max(1, math.ceil(length["epochs"] * per_epoch))
    trainer = Trainer(run_dir, corpus, model_config, cfg, resume=payload, minutes_extra=minutes_extra, group=group,
                      parent=payload.get("parent"))
    trainer.notes.extend(notes)
    return trainer
