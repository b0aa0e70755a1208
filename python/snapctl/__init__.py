# snapctl — a workload's side of snapctl's readiness protocol, standard library only.
# snapshot_point() says "ready" and tells how the process goes on; it never opens a socket itself.
"""Readiness helper for workloads run under ``snapctl run``.

At its snapshot point (imports done, weights loaded, no socket or GPU touched
yet) a workload calls :func:`snapshot_point`::

    import snapctl

    model = load_weights()
    if snapctl.snapshot_point() == "restored":
        reseed_random()          # a restored copy: new randomness, new connections
    serve(model)

It returns ``"continued"`` in the original once its snapshot was taken
(``snapctl run --continue``), ``"restored"`` in a process restored from that
snapshot, and ``"unmanaged"`` at once when the process was not started by
snapctl (``SNAPCTL_READY_FD`` is unset). The fd is closed once it has
answered: there is one snapshot point per process.
"""

import os

__all__ = ["snapshot_point", "SnapshotPointError", "READY_ENV"]

READY_ENV = "SNAPCTL_READY_FD"
_READY = b"ready\n"
_ANSWERS = {b"continued\n": "continued", b"restored\n": "restored"}


class SnapshotPointError(RuntimeError):
    """The readiness fd is unusable, or snapctl answered nonsense or went away."""


def _ready_fd():
    value = os.environ.get(READY_ENV, "")
    if not value:
        return None
    if not value.isdigit() or not value.isascii():
        raise SnapshotPointError(f"{READY_ENV}={value!r} is not an fd number")
    return int(value)


def snapshot_point():
    """Say "ready" and wait: "continued", "restored" or "unmanaged"."""
    fd = _ready_fd()
    if fd is None:
        return "unmanaged"
    try:
        data = _READY
        while data:
            # os.write retries on EINTR itself (PEP 475); Python ignores
            # SIGPIPE, so a snapctl gone away is a BrokenPipeError.
            data = data[os.write(fd, data):]
        line = b""
        # One byte at a time: nothing past the answer is consumed. A
        # restore resumes the read blocked here, on the restored fd.
        while not line.endswith(b"\n"):
            byte = os.read(fd, 1)
            if not byte:
                raise SnapshotPointError(f"snapctl closed {READY_ENV} before answering")
            line += byte
            if len(line) > 32:
                raise SnapshotPointError(f"an answer too long on {READY_ENV}: {line!r}")
    except OSError as e:
        raise SnapshotPointError(f"{READY_ENV}={fd}: {e.strerror}") from e
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
    try:
        return _ANSWERS[line]
    except KeyError:
        raise SnapshotPointError(f"an answer this module does not know on {READY_ENV}: {line!r}") from None
