"""From a run request to a trainer: a new run (its recipe chosen for a time budget, or fine-tuned from a
parent model) or a resumed one, continued exactly where it stopped."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from chargen.config import DEFAULT_MINUTES, LENGTH_OPTIONS, ModelConfig, TrainConfig, flag
from chargen.data.corpus import Corpus, load_corpus
from chargen.data.items import mean_item_chars
from chargen.data.shift import validation_shift
from chargen.data.vocab import describe_chars
from chargen.errors import ChargenError
from chargen.model.device import check_precision, has_precision, resolve_device, usable_precisions
from chargen.store import runs
from chargen.store.checkpoint import load_checkpoint
from chargen.store.record import Checkpoint
from chargen.train.budget import scaled_minutes
from chargen.train.distributed import Single
from chargen.train.finetune import ARCHITECTURE, grown_vocab, parent_record, transplant
from chargen.train.loop import Preview, Trainer, make_data
from chargen.train.plans import Pace
from chargen.train.request import RunRequest

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
    pace: Pace | None = None  # the schedule this machine's last run of the same plan trained


def trainer_for(request: RunRequest, *, progress=None, group: Single | None = None,
                preview: Preview | None = None) -> Trainer:
    """The trainer a request asks for: a resumed run or a new one."""
    start = resume_trainer if request.resume else new_trainer
    return start(request, progress=progress, group=group, preview=preview)


def new_trainer(request: RunRequest, *, progress=None, group: Single | None = None,
                preview: Preview | None = None) -> Trainer:
    """A fresh run in `request.run_dir` (which must not hold a run yet), set up by `prepare`."""
    group, run_dir = group or Single(), request.run_dir

    def check_run_dir() -> None:
        if (run_dir / runs.LATEST).exists() or (run_dir / runs.BEST).exists():
            raise ChargenError(f"run {run_dir} already exists; continue it with --resume {run_dir.name} or pick another --name")
        runs.ensure_writable(run_dir.parent)

    made = not run_dir.parent.exists()
    group.on_main(check_run_dir)
    try:
        setup = prepare(request, progress=progress, group=group)
        trainer = Trainer(run_dir, setup.corpus, setup.model_config, setup.cfg, group=group,
                          init_weights=setup.init_weights, parent=setup.lineage, preview=preview, pace=setup.pace)
    except BaseException:
        if made and group.is_main:  # a start that failed (a bad corpus, say) leaves no empty folder behind
            with contextlib.suppress(OSError):
                run_dir.parent.rmdir()
        raise
    trainer.notes.extend(setup.notes)
    return trainer


def prepare(request: RunRequest, *, progress=None, group: Single | None = None, world: int | None = None) -> Setup:
    """A new run's corpus and options, without training (`chargen train --plan` shows them).

    A run with a time budget (the default) gets the recipe that suits the budget on this machine for
    every option the request leaves unchosen; a whole TrainConfig is taken as it is. Under torchrun the
    main process plans the recipe and every process gets the same; `world` plans for that many
    processes from this one. `init_from` starts the run from that model: its architecture and weights,
    its vocabulary grown by the new text's characters.
    """
    group = group or Single()
    parent = group.on_main(lambda: load_checkpoint(request.init_from)) if request.init_from is not None else None
    model_options = _with_parent_architecture(request.model, parent)
    chosen = dict(request.train) if isinstance(request.train, dict) else None
    cfg = TrainConfig(**chosen) if chosen is not None else request.train
    if all(getattr(cfg, n) is None for n in LENGTH_OPTIONS):
        cfg = replace(cfg, minutes=DEFAULT_MINUTES)
    if cfg.minutes is not None:
        cfg = replace(cfg, minutes=scaled_minutes(cfg.minutes))
    encoding = request.encoding or "utf-8"
    extra = {"max_vocab": request.max_vocab} if request.max_vocab is not None else {}
    corpus = group.main_first(lambda: load_corpus(request.corpus, encoding=encoding, progress=progress, **extra))
    notes, init_weights, pace = [], None, None
    if parent is not None:
        vocab = grown_vocab(parent.vocab, corpus.vocab)
        if vocab != corpus.vocab:  # ids of the parent's vocabulary, and more
            corpus = group.main_first(lambda: load_corpus(request.corpus, encoding=encoding, vocab=vocab,
                                                          progress=progress))
        init_weights = transplant(parent.weights, parent.vocab, vocab)
        if new_chars := [ch for ch in vocab.chars if ch not in parent.vocab]:
            notes.append(f"the new text has {describe_chars(new_chars)} that the parent model never saw: each "
                         "starts with the average embedding and as unlikely as its rarest character")
    if chosen is not None and cfg.minutes is not None:
        picked = group.on_main(lambda: _plan(corpus, cfg, chosen, model_options, parent is not None,
                                             world or group.world, group.local_rank))
        model_options = {**picked.model, **model_options}
        cfg = replace(cfg, **{k: v for k, v in picked.train.items() if k not in chosen})
        notes.append(f"recipe: {picked.why} (options you give explicitly take precedence)")
        pace = picked.pace
    model_config = ModelConfig(vocab_size=corpus.vocab.size, **model_options)
    if model_config.locked_dropout and not (model_config.dropout or model_config.input_dropout):
        notes.append("--locked-dropout locks nothing: this run has no dropout (--dropout 0 and no --input-dropout)")
    lineage = parent_record(str(request.init_from), parent) if parent is not None else None
    return Setup(corpus, model_config, cfg, notes, init_weights, lineage, pace)


def _with_parent_architecture(model_options: dict[str, Any], parent: Checkpoint | None) -> dict[str, Any]:
    """Fine-tuning keeps the parent's architecture: the options that would change it are refused."""
    if parent is None:
        return dict(model_options)
    kept = {k: getattr(parent.model_config, k) for k in ARCHITECTURE}
    if clash := [k for k in kept if k in model_options and model_options[k] != kept[k]]:
        has = ", ".join(f"{flag(k)} {kept[k]}" for k in clash)
        raise ChargenError(f"--init-from keeps the parent model's architecture (it has {has}); "
                           "drop the options that change it")
    return {**kept, **model_options}


def _plan(corpus: Corpus, cfg: TrainConfig, chosen: dict[str, Any], model_options: dict[str, Any],
          fine_tuning: bool, world: int, local_rank: int):
    """The recipe for `cfg.minutes` on this machine (on the main process, which hands it to the others)."""
    from chargen.train import measure, recipe

    val_chars = int(len(corpus) * cfg.val_fraction)
    train_ids, val_ids = corpus.split(cfg.val_fraction)
    # Only dropout follows the shift: it is measured where the recipe chooses dropout.
    shift = (validation_shift(train_ids, val_ids, corpus.vocab.size)
             if val_chars and "dropout" not in model_options else 0.0)
    task = recipe.Task(corpus.vocab.size, len(corpus) - val_chars, val_chars,
                       cell=model_options.get("cell", "lstm"), world=world,
                       item_chars=mean_item_chars(corpus) if cfg.lines else None,
                       parent={k: model_options[k] for k in ARCHITECTURE} if fine_tuning else None,
                       fixed=dict(model_options), eval_chars=chosen.get("eval_chars"), val_shift=shift,
                       # A step of items is no batch of streams: line mode is timed at the recipe's.
                       batch={} if cfg.lines else {k: chosen[k] for k in ("batch_size", "seq_len") if k in chosen},
                       max_passes=chosen.get("epochs"))
    device = resolve_device(cfg.device, local_rank)
    if "precision" in chosen:
        check_precision(chosen["precision"], device)
    precisions = [chosen["precision"]] if "precision" in chosen else usable_precisions(device)
    return measure.plan(cfg.minutes, task, device, precisions)


def resume_trainer(request: RunRequest, *, progress=None, group: Single | None = None,
                   preview: Preview | None = None) -> Trainer:
    """Continue the run in `request.run_dir` from its latest checkpoint, exactly.

    The request holds only options the user gave explicitly; any that would change the model or the
    training recipe is refused, naming both values, since it would silently break the continuation.
    The main process reads the checkpoint and hands it to the others, so only its machine needs it.
    """
    group, run_dir = group or Single(), request.run_dir
    checkpoint = group.on_main(lambda: _resumable(run_dir))
    if checkpoint.world_size != group.world:
        saved = checkpoint.world_size
        raise ChargenError(f"run {run_dir.name} was trained by {saved} process(es) and this job has "
                           f"{group.world}; resume it with {saved} (torchrun --nproc-per-node {saved}, "
                           f"or chargen train --nproc {saved}), since each process carries its own streams' state")
    overrides = request.chosen
    cfg, notes = _resumed_config(checkpoint, overrides, run_dir, group.local_rank)
    corpus = _resumed_corpus(checkpoint, request, group, progress)
    length = {n: overrides[n] for n in LENGTH_OPTIONS if overrides.get(n) is not None}
    if "steps" in length:
        checkpoint.position.total_steps = length["steps"]
    elif "epochs" in length:
        per_epoch = make_data(corpus, cfg, (0, group.world)).steps_per_epoch
        checkpoint.position.total_steps = max(1, math.ceil(length["epochs"] * per_epoch))
    minutes_extra = scaled_minutes(length["minutes"]) if "minutes" in length else None
    trainer = Trainer(run_dir, corpus, checkpoint.model_config, cfg, resume=checkpoint, minutes_extra=minutes_extra,
                      group=group, parent=checkpoint.parent, preview=preview)
    trainer.notes.extend(notes)
    return trainer


def _resumable(run_dir: Path) -> Checkpoint:
    checkpoint = load_checkpoint(run_dir / runs.LATEST) if (run_dir / runs.LATEST).is_file() else None
    if checkpoint is None or checkpoint.resume is None:
        raise ChargenError(f"run {run_dir} has no resumable checkpoint ({runs.LATEST}); start it afresh instead")
    return checkpoint


def _resumed_config(checkpoint: Checkpoint, overrides: dict[str, Any], run_dir: Path,
                    local_rank: int) -> tuple[TrainConfig, list[str]]:
    """The run's own training options, with those that may change on resume changed; and what to note."""
    saved_cfg = checkpoint.train_config
    conflicts = []
    for name, value in overrides.items():
        if name in RESUME_FREE:
            continue
        saved = getattr(checkpoint.model_config, name, getattr(saved_cfg, name, None))
        if value != saved:
            conflicts.append(f"{flag(name)} {value} (the run has {saved})")
    if conflicts:
        raise ChargenError(f"cannot resume {run_dir.name} with different settings: {'; '.join(conflicts)}; "
                           "drop those options or start a new run")
    length = {n: overrides[n] for n in LENGTH_OPTIONS if overrides.get(n) is not None}
    cfg = replace(saved_cfg, **{**{n: None for n in LENGTH_OPTIONS}, **length}) if length else saved_cfg
    cfg = replace(cfg, **{n: overrides[n] for n in RESUME_FREE.difference(LENGTH_OPTIONS) if n in overrides})
    notes = []
    device = resolve_device(cfg.device, local_rank)
    model = checkpoint.model_config
    if device.type == "cuda" and model.dropout > 0 and model.layers > 1 and not model.locked_dropout:
        notes.append("on a GPU, cuDNN draws the dropout between layers from a generator of its own that no checkpoint "
                     "can hold: the run goes on with other dropout masks than an uninterrupted run would have drawn, "
                     "so it matches that run in distribution, not bit for bit")
    if "precision" not in overrides and not has_precision(cfg.precision, device):
        # Trained where bf16 is fast, resumed where it does not exist: go on in fp32 rather than fail.
        cfg = replace(cfg, precision="fp32")
        notes.append(f"this device has no bf16 arithmetic: the run continues in fp32 (it was trained in "
                     f"{saved_cfg.precision}), so it will not match a continuation on the original hardware bit for bit")
    return cfg, notes


def _resumed_corpus(checkpoint: Checkpoint, request: RunRequest, group: Single, progress) -> Corpus:
    """The run's text, read again with the run's vocabulary; a changed text only with allow_corpus_change."""
    saved, run_name = checkpoint.corpus, request.run_dir.name
    paths = request.corpus or saved.sources
    if not request.corpus and (gone := [p for p in paths if not Path(p).is_file()]):
        raise ChargenError(f"the run's corpus {gone[0]} is gone; name the corpus again: "
                           f"chargen train CORPUS --resume {run_name}")
    encoding = request.encoding or saved.encoding
    corpus = group.main_first(lambda: load_corpus(paths, encoding=encoding, vocab=checkpoint.vocab, progress=progress))
    if corpus.sha256 != saved.sha256 and not request.allow_corpus_change:
        raise ChargenError(
            f"the corpus changed since step {checkpoint.position.step} "
            f"({saved.chars:,} chars, sha256 {saved.sha256[:12]} -> {len(corpus):,} chars, "
            f"sha256 {corpus.sha256[:12]}); pass --allow-corpus-change to continue on the new text"
        )
    return corpus
