"""Runs a script (tests/integration/py/torch_model.py) unchanged and
prints on stdout "resumed <unix time>" when the snapshot point returns
(a restored process runs Python again) and "answered <unix time>" the
moment the first forward pass of a torch.nn.Sequential after it has
returned: when a restored service would first answer a request.
usage: torch_ready.py SCRIPT

The snapshot point is the script's sys.stdin.readline(): stdin is wrapped
to notice it returning, and only then is a global forward hook registered,
so nothing before the snapshot point differs from running the script."""
import runpy
import sys
import time


class _SnapshotPointTap:
    """sys.stdin, except that readline() arms the forward-pass clock."""

    def __init__(self, stream):
        self._stream = stream

    def readline(self, *args):
        line = self._stream.readline(*args)
        sys.stdout.write("resumed %.6f\n" % time.time())
        sys.stdout.flush()
        _arm()
        return line

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _arm():
    import torch  # already imported by the script: no cost here

    def hook(module, args, output):
        if isinstance(module, torch.nn.Sequential):
            handle.remove()
            sys.stdout.write("answered %.6f\n" % time.time())
            sys.stdout.flush()

    handle = torch.nn.modules.module.register_module_forward_hook(hook)


if len(sys.argv) != 2:
    sys.exit("usage: torch_ready.py SCRIPT")
script = sys.argv[1]
sys.argv = [script]
sys.stdin = _SnapshotPointTap(sys.stdin)
runpy.run_path(script, run_name="__main__")
