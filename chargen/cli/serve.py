"""`chargen serve`: a trained model behind a local HTTP API in OpenAI's completions shape."""

from __future__ import annotations

import click

from chargen.cli import checkpoint_dir_option, checkpoint_option, cli

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@cli.command(short_help="The model behind an HTTP API in OpenAI's completions shape.")
@checkpoint_option
@checkpoint_dir_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Where to listen; anything but loopback is warned of.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0 takes a free port.")
@click.option("--max-tokens", "max_tokens", type=click.IntRange(min=1), default=4096, show_default=True,
              help="The most characters a choice may ask for.")
@click.option("--max-prompt", type=click.IntRange(min=1), default=8192, show_default=True,
              help="The most characters of prompt.")
@click.option("--max-n", type=click.IntRange(min=1), default=16, show_default=True, help="The most choices a request may ask for.")
@click.option("--max-body", type=click.IntRange(min=1024), default=1 << 20, show_default=True,
              help="The largest request body, in bytes.")
@click.option("--max-streams", type=click.IntRange(min=1), default=256, show_default=True,
              help="Completions generated at once, all requests together; more wait for a 429 and try again.")
def serve(checkpoint, checkpoint_dir, host, port, max_tokens, max_prompt, max_n, max_body, max_streams):
    """Serve a trained model at http://HOST:PORT: POST /v1/completions in OpenAI's completions shape
    (stream or not; a token is a character), GET /v1/models, and a page at / to try it.

    Every request is stepped in one batch with all the others, so many clients cost far less than as
    many times one. The official openai client works unchanged: OpenAI(base_url="http://127.0.0.1:8000/v1",
    api_key="none"). Needs the serve extra: pip install 'chargen[serve]'. Ctrl-C stops it.

    Examples:

    \b
      chargen serve
      chargen serve -c names --port 8080
    """
    import socket

    from chargen.errors import ChargenError

    try:
        import uvicorn

        from chargen.serve.app import create_app
    except ImportError:
        raise ChargenError("chargen serve needs the serve extra: pip install 'chargen[serve]' (starlette and uvicorn)") from None
    from chargen.export import export_facts
    from chargen.generate.sample import StepModel
    from chargen.serve.api import Limits
    from chargen.serve.engine import Engine
    from chargen.store import runs
    from chargen.store.files import describe_os_error
    from chargen.store.weights import read_model

    source = runs.find_model(checkpoint, checkpoint_dir)
    saved = read_model(source)
    facts = export_facts(saved, source, None)
    served = facts["run"] if source.parent.name else saved.name
    model = StepModel(saved.model_config, saved.weights)
    limits = Limits(max_tokens, max_prompt, max_n, max_body, max_streams)
    app = create_app(lambda call_soon: Engine(model, saved.vocab, max_streams, call_soon), saved.vocab, served,
                     saved.lines, facts, limits)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ChargenError(f"cannot listen on {host}:{port} ({describe_os_error(e)})") from None
    sock.listen(2048)  # from here a client waits in the backlog, not refused, while the server starts
    port = sock.getsockname()[1]
    if host not in LOOPBACK:
        click.echo(f"warning: listening on {host}, not loopback: anyone who can reach this machine can use the model",
                   err=True)
    click.echo(f"serving {served} at http://{host}:{port}/ (POST /v1/completions); Ctrl-C stops", err=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    server.run(sockets=[sock])
