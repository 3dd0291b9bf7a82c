"""`chargen info` and `chargen eval`: what a checkpoint is, and how well it predicts a text."""

from __future__ import annotations

import hashlib
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
    from chargen.data.baselines import summary
    from chargen.export import exported_facts
    from chargen.store import runs
    from chargen.store.record import fact_text
    from chargen.store.sources import validation_baselines_of
    from chargen.store.weights import read_model

    path = runs.find_model(checkpoint, checkpoint_dir)
    record = exported_facts(path)
    if record is None:
        saved = read_model(path)
        record = {**saved.facts(path), **validation_baselines_of(saved)}
    if as_json:
        click.echo(json.dumps(record, indent=2, ensure_ascii=False))
        return
    width = max(map(len, record))
    for key, value in record.items():
        if key == "val_baselines_bpc":
            click.echo(f"{'baselines':<{width}}  {summary(record['best_val_bpc'], value)}")
        elif value is not None and key != "fewer_bits_than_xz":
            click.echo(f"{key.replace('_', ' '):<{width}}  {fact_text(key, value)}")


@cli.command("eval", short_help="Score a text: nats/char, bits/char and perplexity.")
@checkpoint_option
@checkpoint_dir_option
@click.argument("textfile", type=click.Path(path_type=Path))
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of TEXTFILE.")
@device_option("Where the model runs: cpu, cuda, cuda:N or mps; auto takes cuda, then mps, then cpu.")
@click.option("--dynamic", is_flag=True,
              help="Also score it with dynamic evaluation: a copy of the model learns from each segment after "
                   "predicting it (its learning rate chosen on the training text's end).")
@json_option
def evaluate(checkpoint, checkpoint_dir, textfile, encoding, device, dynamic, as_json):
    """Measure how well a model predicts TEXTFILE: nats/char, bits/char and perplexity, beside the same
    text's bits/char under xz, bz2 and counting models of the training text.

    The state is carried from the first character to the last (a line-mode model: each line is an
    item, from a fresh state, its end predicted too). With --dynamic, a copy of the model also learns
    as it reads (Krause et al. 2018), and both figures are given; the checkpoint is unchanged.

    Examples:

    \b
      chargen eval held-out.txt
      chargen eval held-out.txt --dynamic
      chargen eval -c names new-names.txt --json
    """
    from chargen.data.baselines import cached_baselines, fewer_bits_than_xz, summary
    from chargen.store.sources import training_ids
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
    text_sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    found = cached_baselines(ids, vocab, lambda: training_ids(saved), f"{text_sha}|trained on {saved.corpus.sha256} "
                             f"{saved.train_config.val_fraction!r} {saved.lines}")
    record = {"checkpoint": str(path), "text": str(textfile), "chars": count,
              "loss_nats": loss, "bpc": bits(loss), "perplexity": math.exp(loss), "baselines_bpc": found,
              "fewer_bits_than_xz": fewer_bits_than_xz(bits(loss), found)}
    if dynamic:
        record["dynamic"] = _dynamic(saved, ids, where, loss, len(text.encode("utf-8")))
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    click.echo(f"{textfile}: {loss:.4f} nats/char, {bits(loss):.4f} bits/char, "
               f"perplexity {math.exp(loss):.3f} over {count:,} predicted characters")
    click.echo(summary(bits(loss), found))
    if dynamic:
        d = record["dynamic"]
        gain = loss - d["loss_nats"]
        click.echo(f"dynamic evaluation: {d['loss_nats']:.4f} nats/char, {d['bpc']:.4f} bits/char, "
                   f"{abs(gain):.4f} nats/char {'below' if gain >= 0 else 'above'} the static {loss:.4f} "
                   f"(learning rate {d['lr']:g}, "
                   f"decay {d['decay']:g}, chosen on the training text's last {d['tuned_on_chars']:,} characters; "
                   f"{d['seconds']:.1f} s, {d['seconds_per_mb']:.0f} s per MB)")


def _dynamic(saved, ids, where, static_loss: float, text_bytes: int) -> dict:
    """Dynamic evaluation of a text (chargen.train.dynamic): its figures, as `eval --json` gives them."""
    from chargen.store.sources import training_ids
    from chargen.train.dynamic import LearningCopy, tune
    from chargen.units import bits

    if saved.lines:
        raise ChargenError("--dynamic scores running text; this is a line-mode model, whose items each start afresh")
    train_ids = training_ids(saved)
    if train_ids is None:
        sources = ", ".join(saved.corpus.sources)
        raise ChargenError(f"--dynamic chooses its learning rate on the model's training text, and {sources} is "
                           "gone or no longer the text it was trained on")
    click.echo("dynamic evaluation: choosing the learning rate and decay on the training text's end", err=True)
    tuned = tune(saved.model_config, saved.weights, train_ids, where)
    reading = LearningCopy(saved.model_config, saved.weights, tuned.rms, tuned.how, where).read(ids)
    return {"loss_nats": reading.loss, "bpc": bits(reading.loss), "static_loss_nats": static_loss,
            "lr": tuned.how.lr, "decay": tuned.how.decay, "tuned_on_chars": tuned.chars, "grid": tuned.grid,
            "seconds": reading.seconds, "seconds_per_mb": reading.seconds / (text_bytes / 1e6)}

