# ready_workload.py — the Python workload of the readiness tests: snapctl.snapshot_point() under
# snapctl run, after a restore and without snapctl; never connects anywhere but 127.0.0.1.
#
# usage: ready_workload.py LOG TCP_PORT BEFORE   (BEFORE: EPERM under the guard, ok without)
# A line "before=... point=... after=..." in LOG; exit 0 when the connect
# before the snapshot point went as BEFORE says and the one after worked.
import socket
import sys

import snapctl

log, port, want_before = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def note(line):
    # Opened for each line: no fd is held across the snapshot point.
    with open(log, "a") as f:
        f.write(line + "\n")


def connect():
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            return "ok"
    except PermissionError:
        return "EPERM"


before = connect()
point = snapctl.snapshot_point()
after = connect()
note(f"before={before} point={point} after={after}")
sys.exit(0 if before == want_before and after == "ok" else 1)
