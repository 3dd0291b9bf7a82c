"""`chargen sample` and `chargen repl`: text from a trained model, streamed or interactive."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import click

from chargen.cli import (checked, checkpoint_dir_option, checkpoint_option, cli, device_option, sampling_options,
                         write_stream)
from chargen.config import SamplingSettings, check_length, unescape
from chargen.errors import ChargenError
def _check_terminal_can_show(vocab_chars: str) -> None:
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    bad = [ch for ch in vocab_chars if not _encodable(ch, encoding)]
    if bad:
        from chargen.data.vocab import describe_chars

        raise ChargenError(f"the output encoding ({encoding}) cannot show the model's {describe_chars(bad, ascii_only=True)}; "
                           "set PYTHONIOENCODING=utf-8 (or a UTF-8 locale such as LANG=C.UTF-8)")


def _encodable(ch: str, encoding: str) -> bool:
    try:
        ch.encode(encoding)
        return True
    except (UnicodeEncodeError, LookupError):
        return False


SAMPLING_DEVICE = ("Where each character is computed: cpu (NumPy), cuda or cuda:N; auto times both on a big model "
                   "where there is a GPU and takes the faster; mps samples on the cpu.")


ADAPT_CONTEXT = 2_000  # characters of an --adapt text the sampler reads before it continues the text


def adapted(saved, path: Path, device: str):
    """(a copy of the checkpoint adapted to the text in `path`, the text, what to tell the user); the run's
    own files are never written."""
    import dataclasses

    from chargen.data.corpus import read_text
    from chargen.data.vocab import describe_chars
    from chargen.model.device import resolve_device
    from chargen.train.dynamic import adapt

    if saved.lines:
        raise ChargenError("adapting continues running text; this is a line-mode model, whose items each start afresh")
    text = read_text(path, "utf-8")
    if len(text) < 2:
        raise ChargenError(f"{path} has {len(text)} characters: there is no text to adapt to")
    if missing := saved.vocab.unknown(text):
        raise ChargenError(f"{path} has characters the model never saw, {describe_chars(missing)}")
    where = resolve_device("cpu" if device in ("auto", "mps") else device)
    done = adapt(saved.model_config, saved.weights, saved.vocab.encode(text), where)
    note = (f"adapted a copy of the model to {path} ({len(text):,} characters, {done.passes} pass(es), "
            f"{done.trained.seconds + done.learning.seconds * done.passes:.1f} s): it predicts the text at "
            f"{done.learning.loss:.3f} nats/char while learning it, {done.trained.loss:.3f} as trained; "
            "the checkpoint is unchanged")
    return dataclasses.replace(saved, weights=done.weights), text, note


def load_for_sampling(checkpoint: str | None, checkpoint_dir: Path, settings: SamplingSettings, seed: int | None,
                      batch_size: int = 1, device: str = "auto", adapt_to: Path | None = None):
    """(checkpoint, sampler) from a checkpoint spec; the sampler's step model runs on `device`. With
    `adapt_to`, a copy of the model adapted to that file's text, the sampler having read its end."""
    from chargen.generate.sample import sampler_for
    from chargen.store import runs
    from chargen.store.weights import read_model

    if device == "mps":  # sampling has a NumPy path and a CUDA one; on a Mac the NumPy one is what works
        click.echo("note: sampling runs on the cpu or a CUDA GPU; --device mps samples on the cpu", err=True)
        device = "cpu"
    elif device not in ("auto", "cpu"):
        from chargen.model.device import resolve_device  # torch: only where a GPU may be used

        device = str(resolve_device(device))  # one clear line for a GPU that is not there
    saved = read_model(runs.find_model(checkpoint, checkpoint_dir))
    _check_terminal_can_show(saved.vocab.chars)
    if adapt_to is None:
        return saved, sampler_for(saved, settings, seed, batch_size, device)
    saved, text, note = adapted(saved, adapt_to, device)
    click.echo(note, err=True)
    sampler = sampler_for(saved, settings, seed, batch_size, device)
    sampler.feed(text[-ADAPT_CONTEXT:])
    return saved, sampler


@cli.command(short_help="Stream text from a trained model to stdout.")
@checkpoint_option
@checkpoint_dir_option
@sampling_options
@click.option("--prime", default="", help="Text to warm the model on; it is printed before the continuation.")
@click.option("-l", "--length", type=int, default=500, show_default=True, callback=checked(check_length),
              help="Characters to generate (not counting the prime).")
@click.option("-n", "--num-samples", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Independent samples, generated together in one batch.")
@click.option("--stop", default=None, help="Stop a sample once it has generated this string (\\n escapes work).")
@click.option("--new-only", is_flag=True,
              help="Line-mode models: print only items that are not in the training file.")
@click.option("--adapt", "adapt_to", type=click.Path(path_type=Path), metavar="FILE",
              help="First adapt a copy of the model to FILE's text (dynamic evaluation's updates), then continue "
                   "that text; the checkpoint is unchanged.")
@device_option(SAMPLING_DEVICE)
def sample(checkpoint, checkpoint_dir, temperature, top_k, top_p, seed, prime, length, num_samples, stop, new_only,
           adapt_to, device):
    """Stream generated text to stdout.

    A line-mode model (trained with --lines) prints NUM_SAMPLES complete items, one per line, and says on
    stderr how many were in its training set, in its validation set, and new; --length is then the
    longest an item may grow.

    Examples:

    \b
      chargen sample -c names -n 20 --new-only      20 new items from the run names-...
      chargen sample --prime "ROMEO:" --stop '\\n\\n' --seed 7
      chargen sample --adapt my-page.txt -l 400     continue my-page.txt in its style
    """
    saved, sampler = load_for_sampling(checkpoint, checkpoint_dir, SamplingSettings(temperature, top_k, top_p), seed,
                                       num_samples, device, adapt_to)
    if saved.lines:
        _sample_items(saved, sampler, prime, length, num_samples, new_only)
        return
    if new_only:
        raise ChargenError("--new-only is for line-mode models (trained with --lines), whose samples are items")
    if prime:
        sampler.feed(prime)
    stop = unescape(stop) if stop else None  # let users type --stop '\n\n'
    if num_samples == 1:
        write_stream(itertools.chain(prime, (chars[0] for chars in sampler.stream(length, stop))))  # as drawn
        click.echo()
        return
    texts = ["".join(column) for column in zip(*sampler.stream(length, stop))]
    for i, text in enumerate(texts):
        click.echo(("\n" if i else "") + prime + text)


def _sample_items(saved, sampler, prime: str, length: int, count: int, new_only: bool) -> None:
    """Complete items, one per line; a tally of where they come from on stderr."""
    from chargen.views.novelty import ItemSets
    from chargen.generate.sample import generate_items

    try:
        known = ItemSets.of(saved)
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
    where = (f"{sum(tally.values())} item(s) generated: {tally['train']} in the training set, {tally['val']} in "
             f"the validation set, {tally['new']} new") if known else ""
    if printed < count:  # the tally goes into the one error line
        raise ChargenError(f"only {printed} of {count} items were new after {rounds} rounds ({where}); "
                           "raise --temperature, or ask for fewer")
    if known:
        click.echo(where + (f"; {printed} new printed" if new_only else ""), err=True)


@cli.command(short_help="Type a prefix and watch the model continue it.")
@checkpoint_option
@checkpoint_dir_option
@sampling_options
@click.option("-l", "--length", type=int, default=200, show_default=True, callback=checked(check_length),
              help="Characters per continuation.")
@device_option(SAMPLING_DEVICE)
def repl(checkpoint, checkpoint_dir, temperature, top_k, top_p, seed, length, device):
    """Interactive completion: type a prefix, watch the model continue it.

    An empty line continues where the last continuation stopped; :help lists the commands. With
    standard input not a terminal, each input line gets its completion on one line of stdout. With a
    line-mode model, each line typed is the beginning of an item, completed to the item's end (an
    empty line asks for a whole new item).

    Examples:

    \b
      chargen repl -t 0.7 -l 150 --seed 1
      printf 'To be\\nWhat\\n' | chargen repl --seed 1    one completion per input line
    """
    from chargen.generate.repl import Repl, ReplSettings, describe_model

    sampling = SamplingSettings(temperature, top_k, top_p)
    saved, sampler = load_for_sampling(checkpoint, checkpoint_dir, sampling, seed, device=device)
    settings = ReplSettings(sampling, length=length, seed=seed, items=saved.lines)
    description = describe_model(saved.name, saved.model_config, saved.position.best_val_loss, saved.lines)

    def adapter(path: str):
        from chargen.generate.sample import StepModel

        copy, text, note = adapted(saved, Path(path).expanduser(), device)
        return StepModel(copy.model_config, copy.weights), text[-ADAPT_CONTEXT:], note

    raise click.exceptions.Exit(Repl(sampler.model, saved.vocab, settings, description, adapter=adapter).run())
