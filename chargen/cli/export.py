"""`chargen export`: a trained model as one HTML page that generates in a browser, or as ONNX."""

from __future__ import annotations

import click

from chargen.cli import checkpoint_dir_option, checkpoint_option, cli, output_option


@cli.command(short_help="A model as one HTML page that generates in a browser, or as ONNX.")
@checkpoint_option
@checkpoint_dir_option
@output_option("The file to write: .html for the page, .onnx for ONNX.")
@click.option("--format", "fmt", type=click.Choice(["html", "onnx"]), default=None,
              help="The format, where the suffix of -o does not say it.")
@click.option("--precision", type=click.Choice(["fp16", "fp32"]), default="fp16", show_default=True,
              help="The page's weights: fp16 is half the size, fp32 gives chargen's text exactly. ONNX is fp32.")
@click.option("--force", is_flag=True, help="Replace the file if it exists.")
def export(checkpoint, checkpoint_dir, output, fmt, precision, force):
    """Write a trained model to one file that runs without chargen.

    An .html page holds the model and a small JavaScript sampler: open it from disk in any browser,
    no network, and type a prime, choose temperature, top-k, top-p and length, and watch the text
    stream in, each character coloured by how surprised the model was. An .onnx file holds the
    model's step (ids and states in, logits and states out) for onnxruntime; it needs the onnx extra,
    and is checked against torch before it is written.

    Examples:

    \b
      chargen export -o shakespeare.html
      chargen export -c names -o names.html --precision fp32
      chargen export -o model.onnx
    """
    from chargen.errors import ChargenError
    from chargen.export import export as write_export
    from chargen.export import format_for
    from chargen.store import runs
    from chargen.store.weights import read_model

    if output is None:
        raise ChargenError("name the file to write with -o, e.g. -o model.html or -o model.onnx")
    fmt = format_for(output, fmt)
    if fmt == "onnx":
        from chargen.export.onnxfile import require_onnx

        require_onnx()  # before the model is read: the missing extra is the first thing to say
    source = runs.find_model(checkpoint, checkpoint_dir)
    size = write_export(read_model(source), source, output, fmt, precision, force)
    what = f"{precision} page" if fmt == "html" else "ONNX step model"
    click.echo(f"wrote {output} ({what}, {size / 1e6:.2f} MB)", err=True)
