"""The one exception a user is meant to see: the CLI prints its message on one line and exits 1."""


class ChargenError(Exception):
    """A problem the user can fix: bad input, a missing or corrupt file, an impossible setting.

    The message is one sentence that says what was wrong and what to do about it.
    """


class PeerFailed(ChargenError):
    """In a job of several processes: the main process failed and printed why; the others exit 1 quietly."""


def first_line(e: BaseException, width: int = 160) -> str:
    """What a library exception says, shortened to fit into one line of ours."""
    text = str(e).strip()
    return text.splitlines()[0][:width] if text else type(e).__name__
