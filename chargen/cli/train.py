"""`chargen train`: a new run, a resumed one, or several processes through torchrun's launcher."""

from __future__ import annotations

import contextlib
import signal
from dataclasses import replace
from pathlib import Path

import click

from chargen.cli import (ARGV_KEY, EXIT_INTERRUPTED, SectionedCommand, check_device, checked, checkpoint_dir_option,
                         cli, default_of, write_stream)
from chargen.config import CELLS, DEFAULT_MINUTES, INITS, PRECISIONS, ModelConfig, TrainConfig
from chargen.errors import ChargenError
from chargen.store.runs import check_run_name
from chargen.train.request import RunRequest


# What a time budget (--minutes, the default) chooses for this machine when the option is left out
# (chargen.train.recipe); --batch-size on a GPU and in line mode, --warmup-steps when fine-tuning.
BUDGET_CHOOSES = ("layers", "hidden_size", "dropout", "batch_size", "lr", "weight_decay", "warmup_steps", "min_lr_ratio",
                  "eval_every", "eval_chars", "precision")
# train --help lists its options under these headings.
SECTIONS = (
    ("Model options", ("cell", "layers", "hidden_size", "embed_dim", "dropout", "init", "init_from")),
    ("Regularisation options (in training only)", ("weight_drop", "input_dropout", "locked_dropout")),
    ("Training options", ("batch_size", "seq_len", "lr", "weight_decay", "warmup_steps", "min_lr_ratio", "grad_clip",
                          "seed", "lines", "encoding", "max_vocab")),
    ("Length options (one of them, or --minutes with --epochs; the default is a time budget)", ("steps", "epochs", "minutes")),
    ("Evaluation options", ("eval_every", "eval_chars", "val_fraction")),
    ("Output options", ("checkpoint_dir", "name", "resume", "allow_corpus_change", "sample_length", "quiet", "plan_only",
                        "logs")),
    ("Process options", ("device", "precision", "nproc")),
)


def _opt(name: str, cls, help: str, type=None, **kw):
    """The option of a config field: its flag, its default shown, and (for a number) the field's own check,
    so that a bad value is a usage error with the message a library user gets."""
    default = default_of(cls, name)
    shown = f"default: {default}" if default is not None else ""
    if name in BUDGET_CHOOSES:
        shown = f"{shown}; a time budget chooses" if shown else "a time budget chooses"
    if type in (int, float):
        kw.setdefault("callback", checked(_field_check(cls, name)))
    return click.option("--" + name.replace("_", "-"), name, type=type, default=None,
                        help=help + (f" [{shown}]" if shown else ""), **kw)


def _field_check(cls, name: str):
    def check(value):
        cls(**({"vocab_size": 1} if cls is ModelConfig else {}), **{name: value})  # raises ChargenError
        return value

    return check


@cli.command(cls=SectionedCommand, sections=SECTIONS, context_settings={"show_default": False},
             short_help="Train a model on text files (default: the bundled Shakespeare).")
@click.argument("corpus", nargs=-1, type=click.Path(path_type=str))
@_opt("cell", ModelConfig, "Recurrent cell.", type=click.Choice(CELLS))
@_opt("layers", ModelConfig, "Stacked recurrent layers.", type=int)
@_opt("hidden_size", ModelConfig, "Width of each recurrent layer.", type=int)
@_opt("embed_dim", ModelConfig, "Character embedding width; 0 feeds one-hot vectors.", type=int)
@_opt("dropout", ModelConfig, "Dropout between layers and before the output.", type=float)
@_opt("init", ModelConfig, "How the recurrent weights start: torch's own (the best or near it for every cell in bench.init), "
      "orthogonal, identity (IRNN, plain RNNs) or forget-1 (LSTM).", type=click.Choice(INITS))
@_opt("weight_drop", ModelConfig, "DropConnect on the hidden-to-hidden matrices (AWD-LSTM's weight-drop): "
      "this fraction of their weights dropped, one mask per window.", type=float)
@_opt("input_dropout", ModelConfig, "Dropout on the inputs (the character embeddings).", type=float)
@click.option("--locked-dropout", "locked_dropout", flag_value=True, default=None,
              help="Hold each dropout mask (--dropout, --input-dropout) over a window's time steps (variational "
                   "dropout) instead of drawing one per character.")
@_opt("batch_size", TrainConfig, "Contiguous streams per batch.", type=int)
@_opt("seq_len", TrainConfig, "Characters per window (truncated BPTT length).", type=int)
@_opt("lr", TrainConfig, "Peak learning rate (AdamW).", type=float)
@_opt("weight_decay", TrainConfig, "AdamW weight decay on matrices.", type=float)
@_opt("warmup_steps", TrainConfig, "Linear warm-up steps before the cosine decay.", type=int)
@_opt("min_lr_ratio", TrainConfig, "Final learning rate as a fraction of --lr.", type=float)
@_opt("grad_clip", TrainConfig, "Clip the global gradient norm to this; 0 is off.", type=float)
@_opt("steps", TrainConfig, "Train for this many optimizer steps in all.", type=int)
@_opt("epochs", TrainConfig, "Or: this many passes over the training text (with --minutes: whichever ends first).", type=float)
@_opt("minutes", TrainConfig, f"Or: this wall-clock budget (the default, {DEFAULT_MINUTES:g} minutes).", type=float)
@_opt("eval_every", TrainConfig, "Evaluate, preview and save every N steps.", type=int)
@_opt("eval_chars", TrainConfig, "Validation characters each evaluation reads, in spans spread over the "
      "validation text; 0 reads all of it.", type=int)
@_opt("val_fraction", TrainConfig, "Last fraction of the text held out for validation; 0 for none.", type=float)
@_opt("seed", TrainConfig, "Random seed for weights, dropout and data order.", type=int)
@_opt("device", TrainConfig, "Where to train: cpu, cuda, cuda:N or mps; auto takes cuda, then mps, then cpu.",
      type=str, metavar="auto|cpu|cuda[:N]|mps", callback=checked(check_device))
@_opt("precision", TrainConfig, "Arithmetic of training: fp32; tf32 on NVIDIA GPUs (Ampere and later); bf16 "
      "where the hardware has it (the time-budget recipe measures each and takes the fastest).",
      type=click.Choice(PRECISIONS))
@click.option("--lines", "lines", flag_value=True, default=None,
              help="Line mode: each non-empty line is one item (a name, a title), learned from its start to its end.")
@click.option("--encoding", default=None, help="Text encoding of the corpus. [default: utf-8]")
@click.option("--max-vocab", type=click.IntRange(min=1), default=None, metavar="N",
              help="Refuse corpora with more distinct characters. [default: 20000]")
@checkpoint_dir_option
@click.option("--name", default=None, callback=checked(check_run_name),
              help="Run folder name. Default: corpus name and time.")
@click.option("--resume", is_flag=False, flag_value="", default=None, metavar="[RUN]",
              help="Continue a run exactly where it stopped: a run folder, name or start of a name (default: "
                   "the most recent run).")
@click.option("--allow-corpus-change", is_flag=True, help="On --resume, accept a corpus that differs from the run's.")
@click.option("--init-from", metavar="RUN|FILE", default=None,
              help="Start from a trained model (a run or checkpoint file): fine-tune its weights on CORPUS, "
                   "keeping its architecture; characters it never saw are added.")
@click.option("--sample-length", type=click.IntRange(min=0), default=400, show_default=True, metavar="N",
              help="Characters of sample printed to stdout at the end (at temperature 0.8); 0 for none.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.option("--plan", "plan_only", is_flag=True,
              help="Show the run's settings (with a time budget: the recipe, measured on this machine) and the "
                   "command that gives them all explicitly, then exit without training.")
@click.option("--nproc", type=click.IntRange(min=1), default=None, metavar="N",
              help="Train with N processes on this machine (torchrun's launcher, DistributedDataParallel); "
                   "--batch-size is then each process's share of the streams.")
@click.option("--log", "logs", type=click.Choice(["tensorboard", "wandb"]), multiple=True,
              help="Also write the evaluation records to TensorBoard (RUN/tensorboard) or Weights & Biases; "
                   "repeat for both.")
def train(corpus, encoding, max_vocab, checkpoint_dir, name, resume, allow_corpus_change, init_from, sample_length,
          quiet, plan_only, nproc, logs, **options):
    """Train a model on CORPUS: text files, or folders of *.txt files (default: bundled Shakespeare).

    With a time budget (--minutes, the default), the options marked "a time budget chooses" that you
    leave out are chosen for the budget and this machine's measured speed: the model's size and
    dropout, the learning rate and its schedule, the evaluations, the arithmetic and (on a GPU or
    with --lines) the batch; the log says what was chosen, and --plan shows it without training. With --steps or
    --epochs the defaults shown apply. Options you give always win.

    Checkpoints, metrics and config go to CHECKPOINT_DIR/NAME. Ctrl-C saves a resumable checkpoint
    and exits 130; `chargen train --resume` continues it exactly.

    Under torchrun (`torchrun --nproc-per-node N -m chargen train ...`), or with --nproc N, the
    processes train one model together; only the first prints and writes checkpoints.

    Examples:

    \b
      chargen train --minutes 5                     the bundled Shakespeare, 5 minutes
      chargen train names.txt --lines --name names  one item per line
      chargen train --resume names                  continue an interrupted run
    """
    from chargen.cli.plan import show_plan
    from chargen.cli.processes import exit_for, without_option
    from chargen.train import distributed
    from chargen.train.loggers import require

    require(list(logs))
    given = {k: v for k, v in options.items() if v is not None}
    if plan_only and resume is not None:
        raise ChargenError("--plan shows a new run's settings; a resumed run keeps its own (chargen info shows them)")

    def request(group) -> RunRequest:
        """The run asked for; under torchrun every process names the same run folder."""
        from chargen.data.corpus import bundled_corpus
        from chargen.store import runs

        if resume is not None:
            asked = RunRequest.from_options(list(corpus), given, encoding=encoding, resume=True,
                                            allow_corpus_change=allow_corpus_change, init_from=init_from)
            return replace(asked, run_dir=group.on_main(lambda: runs.find_run(resume or None, checkpoint_dir)))
        paths = list(corpus) or [str(bundled_corpus())]
        run_dir = checkpoint_dir / (name or group.broadcast(runs.new_run_name(paths)))
        parent = group.on_main(lambda: runs.find_checkpoint(init_from, checkpoint_dir)) if init_from else None
        return RunRequest.from_options(paths, given, run_dir=run_dir, encoding=encoding, max_vocab=max_vocab,
                                       init_from=parent)

    if plan_only:
        show_plan(request(distributed.Single()), bool(corpus), nproc or 1, quiet)
        return
    if nproc is not None and nproc > 1 and not distributed.launched_by_torchrun():
        argv = without_option(click.get_current_context().meta[ARGV_KEY], "--nproc")
        exit_for(distributed.launch(nproc, argv))
    with contextlib.closing(distributed.join()) as group:
        _train(group, request(group), checkpoint_dir, sample_length, quiet or not group.is_main, logs)


def _train(group, request: RunRequest, checkpoint_dir: Path, sample_length: int, quiet: bool, logs) -> None:
    from rich.console import Console

    from chargen.cli import display
    from chargen.cli.display import encoding_progress
    from chargen.cli.processes import train_command
    from chargen.generate.sample import preview
    from chargen.train import launch

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    trainer = launch.trainer_for(request, progress=encoding_progress(console, quiet), group=group, preview=preview)
    stop_requested = False

    def on_sigint(signum, frame):
        nonlocal stop_requested
        if stop_requested:
            raise KeyboardInterrupt
        stop_requested = True
        if group.is_main:
            console.print("stopping: finishing this step and saving a checkpoint (Ctrl-C again quits without saving)")

    previous = signal.signal(signal.SIGINT, on_sigint)
    sinks = _open_logs(logs, trainer) if group.is_main else []
    try:
        finished = display.render(_logged(trainer.run(lambda: stop_requested), sinks), console, quiet)
    finally:
        signal.signal(signal.SIGINT, previous)
        for sink in sinks:
            sink.close()

    if finished.reason == "interrupted":
        if group.is_main:
            console.print(f"saved step {finished.step:,} to {finished.checkpoint}; continue with: "
                          f"{train_command(group.world)} --resume {trainer.run_dir.name} --checkpoint-dir {checkpoint_dir}")
        raise click.exceptions.Exit(EXIT_INTERRUPTED)
    if group.is_main:
        _finish(trainer, finished, console, sample_length, quiet)


def _finish(trainer, finished, console, sample_length: int, quiet: bool) -> None:
    """The end of a run: its best loss on stderr, a sample of what it writes on stdout."""
    from chargen.config import SamplingSettings
    from chargen.data.baselines import summary as baselines_summary
    from chargen.data.baselines import validation_baselines
    from chargen.generate.sample import Sampler, StepModel, sample_text
    from chargen.units import bits

    best = finished.best_val_loss
    summary = f"best val loss {best:.4f} nats/char ({bits(best):.3f} bpc)" if best is not None else "done"
    if not quiet:
        console.print(f"finished at step {finished.step:,}: {summary}; checkpoints in {trainer.run_dir}")
        found = validation_baselines(trainer.corpus, trainer.cfg.val_fraction) if best is not None and not trainer.cfg.lines else None
        if found:
            part = "; over all of it, where the evaluations read a part" if trainer.cfg.eval_chars else ""
            console.print(baselines_summary(bits(best), found) + part)
    if sample_length <= 0:
        return
    if not quiet:
        console.print(f"a sample at temperature 0.8 (more with: chargen sample -c {trainer.run_dir} -t 0.8):")
    model, vocab, seed = StepModel(trainer.model_config, trainer.model.state_dict()), trainer.corpus.vocab, trainer.cfg.seed
    if trainer.cfg.lines:
        click.echo(sample_text(model, vocab, sample_length, seed=seed, items=True))
    else:
        write_stream(chars[0] for chars in Sampler(model, vocab, SamplingSettings(0.8), seed=seed).stream(sample_length))
        click.echo()


def _open_logs(kinds, trainer) -> list:
    if not kinds:
        return []
    from dataclasses import asdict

    from chargen.train.loggers import open_logs

    config = {"model": asdict(trainer.model_config), "train": asdict(trainer.cfg),
              "corpus": list(trainer.corpus.sources), "parent": trainer.parent}
    return open_logs(list(kinds), trainer.run_dir, config)


def _logged(reports, sinks):
    """The reports, each evaluation's metrics record also written to every experiment log."""
    from chargen.train.reports import Evaluated

    for report in reports:
        if isinstance(report, Evaluated):
            for sink in sinks:
                sink.record(report.record)
        yield report
