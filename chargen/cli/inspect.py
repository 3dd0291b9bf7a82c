"""`chargen info` and `chargen eval`: what a checkpoint is, and how well it predicts a text."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from chargen.cli import checkpoint_dir_option, checkpoint_option, cli, device_option, json_option
from chargen.errors import ChargenError


@cli.command(short_help="Describe a checkpoint: model, corpus, progress, weights digest.")
@checkpoint_option
@checkpoint_dir_option
@json_option
def info(checkpoint, checkpoint_dir, as_json):
    """Describe a checkpoint: model, vocabulary, corpus, progress and a digest of its weights.

    The digest is the SHA-256 of the weights, the same for the same model whatever file holds it.

    Examples:

    \b
      chargen info                      the best checkpoint of the most recent run
      chargen info -c names --json      a run named by the start of its name
      chargen info -c shakespeare.html  what a page or .onnx file from chargen export holds
    """
    from chargen.export import exported_facts
    from chargen.store import runs
    from chargen.store.record import fact_text
    from chargen.store.weights import read_model

    path = runs.find_model(checkpoint, checkpoint_dir)
    record = exported_facts(path) or read_model(path).facts(path)
    if as_json:
        click.echo(json.dumps(record, indent=2, ensure_ascii=False))
        return
    width = max(map(len, record))
    for key, value in record.items():
        if value is not None:
            click.echo(f"{key.replace('_', ' '):<{width}}  {fact_text(key, value)}")


@cli.command("eval", short_help="Score a text: nats/char, bits/char and perplexity.")
@checkpoint_option
@checkpoint_dir_option
@click.argument("textfile", type=click.Path(path_type=Path))
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of TEXTFILE.")
@device_option("Where the model runs: cpu, cuda, cuda:N or mps; auto takes cuda, then mps, then cpu.")
@json_option
def evaluate(checkpoint, checkpoint_dir, textfile, encoding, device, as_json):
    """Measure how well a model predicts TEXTFILE: nats/char, bits/char and perplexity.

    The state is carried from the first character to the last (a line-mode model: each line is an
    item, from a fresh state, its end predicted too).

    Examples:

    \b
      chargen eval held-out.txt
      chargen eval -c names new-names.txt --json
    """
    from chargen.data.baselines import baselines
    from chargen.data.corpus import read_text
    from chargen.data.items import all_item_batches
    from chargen.data.streams import eval_windows
    from chargen.data.vocab import describe_chars
    from chargen.model.charrnn import CharRNN
    from chargen.model.device import resolve_device, set_arithmetic
    from chargen.store import runs
    from chargen.store.weights import read_model
    from chargen.train.loss import loss_sum
    from chargen.units import bits

    path = runs.find_model(checkpoint, checkpoint_dir)
    saved = read_model(path)
    vocab = saved.vocab
    text = read_text(textfile, encoding)
    if len(text) < 2:
        raise ChargenError(f"{textfile} has {len(text)} characters; it needs at least 2 to evaluate")
    if missing := vocab.unknown(text):
        raise ChargenError(f"{textfile} has characters the model never saw, {describe_chars(missing)}")
    ids = vocab.encode(text)
    where = resolve_device(device)
    set_arithmetic("fp32", where)  # the score of the model as trained, not of TF32 products
    model = CharRNN.trained(saved.model_config, saved.weights).to(where)
    if saved.lines:  # every line an item, from the start state, its end predicted too
        batches, carry = all_item_batches(ids, vocab), False
    else:  # one text, the state carried from the first character to the last
        batches, carry = eval_windows(ids, batch_size=1, seq_len=1024), True
    total, count = loss_sum(model, batches, where, carry_state=carry)
    loss = total / count
    found = baselines(ids, text, vocab.size, training_ids(saved))
    record = {"checkpoint": str(path), "text": str(textfile), "chars": count,
              "loss_nats": loss, "bpc": bits(loss), "perplexity": math.exp(loss), "baselines_bpc": found,
              "fewer_bits_than_xz": 1 - bits(loss) / found["xz"]}
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    click.echo(f"{textfile}: {loss:.4f} nats/char, {bits(loss):.4f} bits/char, "
               f"perplexity {math.exp(loss):.3f} over {count:,} predicted characters")
    shown = " · ".join(f"{name.replace('order', 'order-')} {value:.3f}" for name, value in found.items() if value is not None)
    saving = record["fewer_bits_than_xz"]
    click.echo(f"the same text in bits/char: {shown}; the model uses {abs(saving):.0%} "
               f"{'fewer' if saving >= 0 else 'more'} bits than xz")


def training_ids(saved):
    """The text the model was trained on, encoded: its corpus less the validation part (for a text model the
    end, as chargen.data.corpus.Corpus.split cuts it; a line-mode model's items are drawn apart, so there the
    whole corpus); None where its files are gone or hold characters the vocabulary dropped."""
    from chargen.data.corpus import read_text

    try:
        text = "".join(read_text(source, saved.corpus.encoding) for source in saved.corpus.sources)
    except (OSError, ChargenError):
        return None
    if not text or saved.vocab.unknown(text):
        return None
    ids = saved.vocab.encode(text)
    return ids if saved.lines else ids[: int(len(ids) * (1.0 - saved.train_config.val_fraction))]
