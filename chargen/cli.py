"""The command line: click commands, the error boundary, and exit codes.

Heavy modules (torch, numpy, the training loop) are imported inside the commands, so `chargen --help`
answers at once. Generated text goes to stdout; progress, notes and errors go to stderr.
Exit codes: 0 success, 1 a user-fixable error (one `Error: ...` line), 2 a bad option, 130 Ctrl-C.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
from dataclasses import MISSING, fields
from pathlib import Path

import click

from chargen import __version__
from chargen.config import (
    CELLS,
    DEFAULT_MINUTES,
    PRECISIONS,
    ModelConfig,
    TrainConfig,
    check_length,
    check_temperature,
    check_top_k,
    check_top_p,
    unescape,
)
from chargen.errors import ChargenError, PeerFailed

BUNDLED_CORPUS = "shakespeare.txt"  # in the package chargen.corpora (the top-level corpora/ folder)
EXIT_INTERRUPTED = 130
ARGV_KEY = "chargen.argv"  # the words after `chargen`, as typed: --nproc passes them on to every process


class ChargenGroup(click.Group):
    """The error boundary: user errors become one line and exit 1, Ctrl-C exits 130, a closed pipe ends quietly."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[ARGV_KEY] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PeerFailed:
            raise click.exceptions.Exit(1) from None  # the main process printed the reason
        except ChargenError as e:
            rank = int(os.environ.get("RANK", "0"))
            raise click.ClickException(f"process {rank}: {e}" if rank else str(e)) from None
        except KeyboardInterrupt:
            click.echo("\nInterrupted.", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError:
            # The reader (e.g. `| head`) has gone: point stdout at /dev/null so the final flush is silent too.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(0) from None


def _default(cls, name: str):
    value = next(f.default for f in fields(cls) if f.name == name)
    return None if value is MISSING else value


def _checked(check):
    """A click callback that runs one of config's validators: a bad value is a usage error (exit 2)."""

    def callback(ctx, param, value):
        if value is None:
            return value
        try:
            return check(value)
        except ChargenError as e:
            raise click.BadParameter(str(e)) from None

    return callback


def checkpoint_option(f):
    return click.option(
        "-c", "--checkpoint", metavar="RUN|FILE",
        help="A run folder, a run name under --checkpoint-dir, or a checkpoint file. "
             "Default: the best checkpoint of the most recent run.",
    )(f)


def checkpoint_dir_option(f):
    return click.option(
        "--checkpoint-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("checkpoints"),
        show_default=True, help="Where runs live.",
    )(f)


def sampling_options(f):
    options = [
        click.option("--temp", "--temperature", "temperature", type=float, default=1.0, show_default=True,
                     callback=_checked(check_temperature), help="Sampling temperature; 0 is greedy (argmax)."),
        click.option("--top-k", type=int, default=None, callback=_checked(check_top_k),
                     help="Sample only among the K most likely characters."),
        click.option("--top-p", type=float, default=None, callback=_checked(check_top_p),
                     help="Nucleus sampling: the smallest set of characters with probability >= P."),
        click.option("--seed", type=int, default=None, help="Same seed and checkpoint give the same text."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.group(cls=ChargenGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="chargen")
def cli() -> None:
    """Train character-level RNN language models on any text and sample from them.

    \b
      chargen train corpus.txt     train (on the bundled Shakespeare with no corpus)
      chargen sample --temp 0.8    stream text from the most recent run
      chargen repl                 type a prefix, watch the model continue it
    """


# -- train --------------------------------------------------------------------------------------

MODEL_OPTIONS = ("cell", "layers", "hidden_size", "embed_dim", "dropout")
TRAIN_OPTIONS = tuple(f.name for f in fields(TrainConfig))


def _opt(name: str, cls, help: str, type=None, **kw):
    default = _default(cls, name)
    shown = f" [default: {default}]" if default is not None else ""
    return click.option("--" + name.replace("_", "-"), name, type=type, default=None, help=help + shown, **kw)


@cli.command(context_settings={"show_default": False})
@click.argument("corpus", nargs=-1, type=click.Path(path_type=str))
@_opt("cell", ModelConfig, "Recurrent cell.", type=click.Choice(CELLS))
@_opt("layers", ModelConfig, "Stacked recurrent layers.", type=int)
@_opt("hidden_size", ModelConfig, "Width of each recurrent layer.", type=int)
@_opt("embed_dim", ModelConfig, "Character embedding width; 0 feeds one-hot vectors.", type=int)
@_opt("dropout", ModelConfig, "Dropout between layers and before the output.", type=float)
@_opt("batch_size", TrainConfig, "Contiguous streams per batch.", type=int)
@_opt("seq_len", TrainConfig, "Characters per window (truncated BPTT length).", type=int)
@_opt("lr", TrainConfig, "Peak learning rate (AdamW).", type=float)
@_opt("weight_decay", TrainConfig, "AdamW weight decay on matrices.", type=float)
@_opt("warmup_steps", TrainConfig, "Linear warm-up steps before the cosine decay.", type=int)
@_opt("min_lr_ratio", TrainConfig, "Final learning rate as a fraction of --lr.", type=float)
@_opt("grad_clip", TrainConfig, "Clip the global gradient norm to this; 0 is off.", type=float)
@_opt("steps", TrainConfig, "Train for this many optimizer steps in all.", type=int)
@_opt("epochs", TrainConfig, "Or: this many passes over the training text.", type=float)
@_opt("minutes", TrainConfig, f"Or: this wall-clock budget (the default, {DEFAULT_MINUTES:g} minutes).", type=float)
@_opt("eval_every", TrainConfig, "Evaluate, preview and save every N steps.", type=int)
@_opt("val_fraction", TrainConfig, "Last fraction of the text held out for validation; 0 for none.", type=float)
@_opt("seed", TrainConfig, "Random seed for weights, dropout and data order.", type=int)
@_opt("device", TrainConfig, "auto, cpu, cuda, cuda:N or mps.", type=str)
@_opt("precision", TrainConfig, "Forward-pass arithmetic in training; bf16 where the hardware has it "
      "(the time-budget recipe measures both).", type=click.Choice(PRECISIONS))
@click.option("--lines", "lines", flag_value=True, default=None,
              help="Line mode: each non-empty line is one item (a name, a title), learned from its start to its end.")
@click.option("--encoding", default=None, help="Text encoding of the corpus. [default: utf-8]")
@click.option("--max-vocab", type=int, default=None, help="Refuse corpora with more distinct characters. [default: 20000]")
@checkpoint_dir_option
@click.option("--name", default=None, help="Run folder name. Default: corpus name and time.")
@click.option("--resume", is_flag=False, flag_value="", default=None, metavar="[RUN]",
              help="Continue a run exactly where it stopped (default: the most recent run).")
@click.option("--allow-corpus-change", is_flag=True, help="On --resume, accept a corpus that differs from the run's.")
@click.option("--init-from", metavar="RUN|FILE", default=None,
              help="Start from a trained model (a run or checkpoint file): fine-tune its weights on CORPUS, "
                   "keeping its architecture; characters it never saw are added.")
@click.option("--sample-length", type=int, default=400, show_default=True,
              help="Characters of sample printed to stdout at the end; 0 for none.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.option("--nproc", type=click.IntRange(min=1), default=None, metavar="N",
              help="Train with N processes on this machine (torchrun's launcher, DistributedDataParallel); "
                   "--batch-size is then each process's share of the streams.")
def train(corpus, encoding, max_vocab, checkpoint_dir, name, resume, allow_corpus_change, init_from, sample_length,
          quiet, nproc, **options):
    """Train a model on CORPUS: text files, or folders of *.txt files (default: bundled Shakespeare).

    With a time budget (--minutes, the default), every option you leave out is chosen for the budget
    and this machine's measured speed, and the log says what was chosen; with --steps or --epochs the
    defaults shown apply.

    Checkpoints, metrics and config go to CHECKPOINT_DIR/NAME. Ctrl-C saves a resumable checkpoint
    and exits 130; `chargen train --resume` continues it exactly.

    Under torchrun (`torchrun --nproc-per-node N -m chargen train ...`), or with --nproc N, the
    processes train one model together; only the first prints and writes checkpoints.
    """
    from chargen import distributed

    if nproc is not None and nproc > 1 and not distributed.launched_by_torchrun():
        argv = _without_option(click.get_current_context().meta[ARGV_KEY], "--nproc")
        _exit_for(distributed.launch(nproc, argv))
    group = distributed.join()
    try:
        _train(group, corpus, encoding, max_vocab, checkpoint_dir, name, resume, allow_corpus_change, init_from,
               sample_length, quiet or not group.is_main, {k: v for k, v in options.items() if v is not None})
    finally:
        group.close()


def _train(group, corpus, encoding, max_vocab, checkpoint_dir, name, resume, allow_corpus_change, init_from,
           sample_length, quiet, given) -> None:
    from rich.console import Console

    from chargen import display, launch, runs
    from chargen.loss import LN2

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    progress = _encoding_progress(console, quiet)
    if resume is not None and init_from is not None:
        raise ChargenError("--init-from starts a new run from a model; --resume continues a run: use one of them")
    if resume is not None:
        run_dir = group.on_main(lambda: runs.find_run(resume or None, checkpoint_dir))
        trainer = launch.resume_trainer(run_dir, given, corpus_paths=list(corpus) or None, encoding=encoding,
                                        allow_corpus_change=allow_corpus_change, progress=progress, group=group)
    else:
        paths = list(corpus) or [str(_bundled_corpus())]
        train_options = {k: v for k, v in given.items() if k in TRAIN_OPTIONS}
        model_options = {k: v for k, v in given.items() if k in MODEL_OPTIONS}
        run_dir = checkpoint_dir / (name or group.broadcast(runs.new_run_name(paths)))
        parent = group.on_main(lambda: runs.find_checkpoint(init_from, checkpoint_dir)) if init_from else None
        trainer = launch.new_trainer(paths, model_options, train_options, run_dir, encoding=encoding or "utf-8",
                                     max_vocab=max_vocab, progress=progress, group=group, init_from=parent)

    stop_requested = False

    def on_sigint(signum, frame):
        nonlocal stop_requested
        if stop_requested:
            raise KeyboardInterrupt
        stop_requested = True
        if group.is_main:
            console.print("stopping: finishing this step and saving a checkpoint (Ctrl-C again quits without saving)")

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        finished = display.render(trainer.run(lambda: stop_requested), console, quiet)
    finally:
        signal.signal(signal.SIGINT, previous)

    if finished.reason == "interrupted":
        if group.is_main:
            console.print(f"saved step {finished.step:,} to {finished.checkpoint}; continue with: "
                          f"{_train_command(group.world)} --resume {trainer.run_dir.name} --checkpoint-dir {checkpoint_dir}")
        raise click.exceptions.Exit(EXIT_INTERRUPTED)
    if not group.is_main:
        return
    best = finished.best_val_loss
    summary = f"best val loss {best:.4f} nats/char ({best / LN2:.3f} bpc)" if best is not None else "done"
    if not quiet:
        console.print(f"finished at step {finished.step:,}: {summary}; checkpoints in {trainer.run_dir}")
    if sample_length > 0:
        if not quiet:
            console.print(f"a sample at temperature 0.8 (more with: chargen sample -c {trainer.run_dir}):")
        if trainer.cfg.lines:
            click.echo(trainer.sample_text(sample_length, seed=trainer.cfg.seed))
        else:
            sampler = trainer.sampler(temperature=0.8, seed=trainer.cfg.seed)
            _write_stream((chars[0] for chars in sampler.stream(sample_length)))
            click.echo()


def _train_command(world: int) -> str:
    """How the user started this run's processes, to repeat it."""
    if world == 1:
        return "chargen train"
    from chargen.distributed import NPROC_ENV

    if os.environ.get(NPROC_ENV):
        return f"chargen train --nproc {world}"
    return f"torchrun --nproc-per-node {world} -m chargen train"


def _without_option(argv: list[str], option: str) -> list[str]:
    """`argv` less `option VALUE` / `option=VALUE` (the rest goes to every process as it was typed)."""
    kept, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == option:
            skip = True
        elif not word.startswith(option + "="):
            kept.append(word)
    return kept


def _exit_for(outcome) -> None:
    """The exit of a job of several processes, from how its processes ended."""
    if outcome.interrupted:
        raise click.exceptions.Exit(EXIT_INTERRUPTED)
    if outcome.exit_code == 1:  # a user error, which the processes have printed
        raise click.exceptions.Exit(1)
    if outcome.failed_rank is not None:
        # A crash or a kill: this line says which process ended the job.
        code = outcome.exit_code
        how = f"was killed by signal {-code}" if code < 0 else f"ended with exit code {code}"
        raise ChargenError(f"process {outcome.failed_rank} of the job {how} and the others were stopped; "
                           "the last saved checkpoint is intact, resume with --resume")
    raise click.exceptions.Exit(0)


def _bundled_corpus() -> Path:
    from importlib.resources import files

    try:
        path = Path(str(files("chargen.corpora") / BUNDLED_CORPUS))
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise ChargenError(f"the bundled corpus {BUNDLED_CORPUS} is not installed; name a corpus to train on")
    return path


def _encoding_progress(console, quiet: bool):
    """A progress bar for reading and encoding large corpora (shown only past a few MB)."""
    if quiet:
        return None
    state: dict = {}

    def report(phase: str, done: int, total: int) -> None:
        if total < 32 << 20:
            return
        if "progress" not in state:
            from rich.progress import Progress

            state["progress"] = Progress(console=console, transient=True)
            state["progress"].start()
            state["tasks"] = {}
        progress, tasks = state["progress"], state["tasks"]
        if phase not in tasks:
            tasks[phase] = progress.add_task(f"{phase} corpus", total=total)
        progress.update(tasks[phase], completed=done)
        if done >= total and phase == "encoding":
            progress.stop()

    return report


# -- sample -------------------------------------------------------------------------------------

def _write_stream(chars) -> None:
    """Write characters to stdout as they come: each one on a terminal, in small batches into a pipe."""
    out = sys.stdout
    interactive = out.isatty()
    pending = 0
    for ch in chars:
        out.write(ch)
        pending += 1
        if interactive or pending >= 256:
            out.flush()
            pending = 0
    out.flush()


def _check_terminal_can_show(vocab_chars: str) -> None:
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    bad = [ch for ch in vocab_chars if not _encodable(ch, encoding)]
    if bad:
        from chargen.vocab import describe_chars

        raise ChargenError(f"the output encoding ({encoding}) cannot show the model's {describe_chars(bad, ascii_only=True)}; "
                           "set PYTHONIOENCODING=utf-8 (or a UTF-8 locale such as LANG=C.UTF-8)")


def _encodable(ch: str, encoding: str) -> bool:
    try:
        ch.encode(encoding)
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def load_for_sampling(checkpoint: str | None, checkpoint_dir: Path):
    """(payload, StepModel, Vocab) from a checkpoint spec."""
    from chargen import runs
    from chargen.checkpoint import load_checkpoint
    from chargen.sample import StepModel
    from chargen.vocab import Vocab

    payload = load_checkpoint(runs.find_checkpoint(checkpoint, checkpoint_dir))
    config = ModelConfig(**payload["model_config"])
    return payload, StepModel(config, payload["weights"]), Vocab(payload["vocab"])


@cli.command()
@checkpoint_option
@checkpoint_dir_option
@sampling_options
@click.option("--prime", default="", help="Text to warm the model on; it is printed before the continuation.")
@click.option("-n", "--length", type=int, default=500, show_default=True, callback=_checked(check_length),
              help="Characters to generate (not counting the prime).")
@click.option("--num-samples", type=int, default=1, show_default=True, callback=_checked(check_length),
              help="Independent samples, generated together in one batch.")
@click.option("--stop", default=None, help="Stop a sample once it has generated this string.")
@click.option("--new-only", is_flag=True,
              help="Line-mode models: print only items that are not in the training file.")
def sample(checkpoint, checkpoint_dir, temperature, top_k, top_p, seed, prime, length, num_samples, stop, new_only):
    """Stream generated text to stdout.

    A line-mode model (trained with --lines) prints NUM_SAMPLES complete items, one per line, and says on
    stderr how many were in its training set, in its validation set, and new; --length is then the
    longest an item may grow.
    """
    from chargen.config import SamplingSettings
    from chargen.sample import Sampler

    payload, model, vocab = load_for_sampling(checkpoint, checkpoint_dir)
    _check_terminal_can_show(vocab.chars)
    settings = SamplingSettings(temperature, top_k, top_p)
    sampler = Sampler(model, vocab, settings, seed=seed, batch_size=num_samples)
    if is_line_mode(payload):
        _sample_items(payload, sampler, prime, length, num_samples, new_only)
        return
    if new_only:
        raise ChargenError("--new-only is for line-mode models (trained with --lines), whose samples are items")
    if prime:
        sampler.feed(prime)
    stop = unescape(stop) if stop else None  # let users type --stop '\n\n'
    if num_samples == 1:
        _write_stream([prime, *(chars[0] for chars in sampler.stream(length, stop))])
        click.echo()
        return
    texts = ["".join(column) for column in zip(*sampler.stream(length, stop))]
    for i, text in enumerate(texts):
        click.echo(("\n" if i else "") + prime + text)


def is_line_mode(payload) -> bool:
    return bool(payload.get("train_config", {}).get("lines"))


def _sample_items(payload, sampler, prime: str, length: int, count: int, new_only: bool) -> None:
    """Complete items, one per line; a tally of where they come from on stderr."""
    from chargen.novelty import ItemSets
    from chargen.sample import generate_items

    try:
        known = ItemSets.of(payload)
    except ChargenError as e:
        if new_only:
            raise
        known = None
        click.echo(f"note: {e}", err=True)
    printed, tally = 0, {"train": 0, "val": 0, "new": 0}
    rounds = 0
    while printed < count and rounds < (20 if new_only else 1):  # --new-only draws again for what it dropped
        rounds += 1
        for item in generate_items(sampler, prime, length):
            where = known.where(item) if known else "new"
            tally[where] += 1
            if printed < count and (where == "new" or not new_only):
                click.echo(item)
                printed += 1
    if known:
        drawn = sum(tally.values())
        click.echo(f"{drawn} item(s) generated: {tally['train']} in the training set, {tally['val']} in the "
                   f"validation set, {tally['new']} new" + (f"; {printed} new printed" if new_only else ""), err=True)
    if printed < count:
        raise ChargenError(f"only {printed} of {count} items were new after {rounds} rounds; "
                           "raise --temp, or ask for fewer")


@cli.command()
@checkpoint_option
@checkpoint_dir_option
@sampling_options
@click.option("-n", "--length", type=int, default=200, show_default=True, callback=_checked(check_length),
              help="Characters per continuation.")
def repl(checkpoint, checkpoint_dir, temperature, top_k, top_p, seed, length):
    """Interactive completion: type a prefix, watch the model continue it.

    An empty line continues where the last continuation stopped; :help lists the commands. With
    standard input not a terminal, each input line gets its completion on one line of stdout. With a
    line-mode model, each line typed is the beginning of an item, completed to the item's end (an
    empty line asks for a whole new item).
    """
    from chargen.config import SamplingSettings
    from chargen.repl import Repl, ReplSettings, describe_model

    payload, model, vocab = load_for_sampling(checkpoint, checkpoint_dir)
    _check_terminal_can_show(vocab.chars)
    items = is_line_mode(payload)
    settings = ReplSettings(SamplingSettings(temperature, top_k, top_p), length=length, seed=seed, items=items)
    name = Path(payload.get("corpus", {}).get("sources", ["model"])[0]).stem
    description = describe_model(name, model.config, payload["position"].get("best_val_loss"), items)
    raise click.exceptions.Exit(Repl(model, vocab, settings, description).run())


# -- info and eval ------------------------------------------------------------------------------

@cli.command()
@checkpoint_option
@checkpoint_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info(checkpoint, checkpoint_dir, as_json):
    """Describe a checkpoint: model, vocabulary, corpus, progress and a digest of its weights."""
    from chargen import runs
    from chargen.checkpoint import load_checkpoint

    path = runs.find_checkpoint(checkpoint, checkpoint_dir)
    payload = load_checkpoint(path)
    model, position = payload["model_config"], payload["position"]
    params = sum(t.numel() for t in payload["weights"].values())
    best = position.get("best_val_loss")
    record = {
        "checkpoint": str(path),
        "cell": model["cell"],
        "layers": model["layers"],
        "hidden_size": model["hidden_size"],
        "embed_dim": model["embed_dim"],
        "dropout": model["dropout"],
        "parameters": params,
        "vocab_size": model["vocab_size"],
        "corpus": payload["corpus"]["sources"],
        "corpus_chars": payload["corpus"]["chars"],
        "corpus_sha256": payload["corpus"]["sha256"],
        "mode": "lines" if is_line_mode(payload) else "text",
        "step": position["step"],
        "total_steps": position["total_steps"],
        "best_val_loss": best,
        "best_val_bpc": best / math.log(2) if best is not None else None,
        "weights_sha256": payload["weights_sha256"],
        "parent": payload.get("parent"),
        "resumable": "resume" in payload,
        "format_version": payload["format_version"],
        "chargen_version": payload["chargen_version"],
    }
    if as_json:
        click.echo(json.dumps(record, indent=2, ensure_ascii=False))
        return
    width = max(map(len, record))
    for key, value in record.items():
        if key == "parent":
            if value is None:
                continue
            value = f"{value['checkpoint']} (step {value['step']:,}, weights sha256 {value['weights_sha256'][:16]}...)"
        elif isinstance(value, float):
            value = f"{value:.4f}"
        elif isinstance(value, list):
            value = ", ".join(value)
        elif isinstance(value, int) and not isinstance(value, bool) and key != "format_version":
            value = f"{value:,}"
        click.echo(f"{key.replace('_', ' '):<{width}}  {value}")


@cli.command("eval")
@checkpoint_option
@checkpoint_dir_option
@click.argument("textfile", type=click.Path(path_type=Path))
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of TEXTFILE.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate(checkpoint, checkpoint_dir, textfile, encoding, as_json):
    """Measure how well a model predicts TEXTFILE: nats/char, bits/char and perplexity."""
    import torch

    from chargen import runs
    from chargen.checkpoint import load_checkpoint
    from chargen.corpus import read_text
    from chargen.data import eval_windows
    from chargen.items import all_item_batches
    from chargen.loss import LN2, loss_sum
    from chargen.model import CharRNN
    from chargen.vocab import Vocab

    path = runs.find_checkpoint(checkpoint, checkpoint_dir)
    payload = load_checkpoint(path)
    vocab = Vocab(payload["vocab"])
    text = read_text(textfile, encoding)
    if len(text) < 2:
        raise ChargenError(f"{textfile} has {len(text)} characters; it needs at least 2 to evaluate")
    if missing := vocab.unknown(text):
        from chargen.vocab import describe_chars

        raise ChargenError(f"{textfile} has characters the model never saw, {describe_chars(missing)}")
    ids = vocab.encode(text)
    model = CharRNN.from_checkpoint(payload)
    if is_line_mode(payload):  # every line an item, from the start state, its end predicted too
        batches, carry = all_item_batches(ids, vocab), False
    else:  # one text, the state carried from the first character to the last
        batches, carry = eval_windows(ids, batch_size=1, seq_len=1024), True
    total, count = loss_sum(model, batches, torch.device("cpu"), carry_state=carry)
    loss = total / count
    record = {"checkpoint": str(path), "text": str(textfile), "chars": count,
              "loss_nats": loss, "bpc": loss / LN2, "perplexity": math.exp(loss)}
    if as_json:
        click.echo(json.dumps(record, indent=2))
    else:
        click.echo(f"{textfile}: {loss:.4f} nats/char, {loss / LN2:.4f} bits/char, "
                   f"perplexity {math.exp(loss):.3f} over {count:,} predicted characters")


def main() -> None:
    cli(prog_name="chargen")
