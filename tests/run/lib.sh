# tests/run/lib.sh — helpers for the snapshot-phase suite (sourced by run.sh): a loopback
# listener, the checks that nothing is left behind, and a runner printing one TAP line per test.
# shellcheck shell=bash

# The integration suite's helpers: inherited fds closed (a workload must
# start with 0-2 only), $WORK, $SNAPCTL, ok/not_ok/skip.
# shellcheck source=tests/integration/lib.sh
. "$SNAP_SRCDIR/tests/integration/lib.sh"

# shellcheck disable=SC2034 # for run.sh
RUN_PROGS=$SNAP_BUILD/tests/run/progs
PY=/usr/bin/python3 # Debian's, not whatever python3 is first on PATH
export PYTHONPATH=$SNAP_SRCDIR/python
LISTENER_PID=
TCP_PORT=
UDP_PORT=

# Where the cgroup v2 hierarchy is mounted (empty when it is not).
CG_MOUNT=$(grep ' - cgroup2 ' /proc/self/mountinfo | head -n 1 | cut -d' ' -f5)

# Another run of this suite (or scripts/bench-guard) would look like a leak.
# The lock's fd is closed for everything started (sc, the listener): a
# workload must hold nothing it was not given.
exec {RUN_LOCK}>/tmp/snapctl-run-tests.lock
flock "$RUN_LOCK"

# snapctl, without the lock's fd.
sc() {
	"$SNAPCTL" "$@" {RUN_LOCK}>&-
}

skip_test() {
	echo "SKIP: $*"
	exit 77
}

die() {
	echo "FAIL: $*" >&2
	exit 1
}

guard_built() {
	[ -f "$SNAP_BUILD/bpf/guard.skel.h" ]
}

# Starts a TCP and a UDP listener on 127.0.0.1 (free ports): TCP_PORT,
# UDP_PORT; each connection or datagram is a line in $WORK/listener.log.
listener_start() {
	local out=$WORK/listener.ports
	"$PY" -u - >"$out" 2>"$WORK/listener.err" 3>"$WORK/listener.log" {RUN_LOCK}>&- <<-'EOF' &
		import os, socket, threading
		log = os.fdopen(3, "w", buffering=1)
		t = socket.socket()
		t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		t.bind(("127.0.0.1", 0))
		t.listen(64)
		u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
		u.bind(("127.0.0.1", 0))
		print(t.getsockname()[1], u.getsockname()[1])
		def accept():
		    while True:
		        c, _ = t.accept()
		        log.write("tcp\n")
		        c.close()
		threading.Thread(target=accept, daemon=True).start()
		while True:
		    u.recv(64)
		    log.write("udp\n")
	EOF
	LISTENER_PID=$!
	for _ in $(seq 100); do
		[ -s "$out" ] && break
		sleep 0.05
	done
	read -r TCP_PORT UDP_PORT <"$out" || return 1
	[ -n "$TCP_PORT" ] && [ -n "$UDP_PORT" ]
}

listener_stop() {
	[ -n "$LISTENER_PID" ] && kill "$LISTENER_PID" 2>/dev/null
	LISTENER_PID=
}

# Lines the listener logged so far, of one kind (tcp or udp).
listener_count() {
	grep -c "^$1\$" "$WORK/listener.log" 2>/dev/null || true
}

# ---- what must never be left behind -----------------------------------------

leftover_cgroups() {
	[ -n "$CG_MOUNT" ] || return 0
	find "$CG_MOUNT" -maxdepth 8 -type d -name 'snapctl-run.*' 2>/dev/null
}

# bpf links (and programs) of the guard's programs, by name, one per line.
leftover_links() {
	command -v bpftool >/dev/null || return 0
	"$PY" - <<-'EOF'
		import json, subprocess
		def bpftool(*args):
		    out = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True).stdout
		    return json.loads(out) if out.strip() else []
		progs = {p["id"]: p.get("name", "") for p in bpftool("prog", "list")}
		for link in bpftool("link", "list"):
		    name = progs.get(link.get("prog_id"), "")
		    if name.startswith("guard_"):
		        print(f"link {link['id']} ({link.get('type')}) of program {name}")
		for pid, name in progs.items():
		    if name.startswith("guard_"):
		        print(f"program {pid} {name}")
	EOF
}

# Prints what is left, after a moment for the kernel to let go; false if anything.
nothing_left() {
	local left
	for _ in $(seq 40); do
		left=$(leftover_cgroups; leftover_links)
		[ -z "$left" ] && return 0
		sleep 0.05
	done
	echo "$left"
	return 1
}

# run_test NAME FUNCTION: FUNCTION in a subshell (set -eu), its output kept
# aside; one TAP line; exit 77 with "SKIP: why" is a skip. Every test must
# also leave no cgroup and no bpf link behind.
run_test() {
	local name=$1 fn=$2 log rc left
	log=$WORK/test-$((TESTNUM + 1)).log
	# shellcheck disable=SC2016 # expanded when the trap fires
	(set -eEu; trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR; "$fn") >"$log" 2>&1
	rc=$?
	if [ "$rc" -eq 77 ]; then
		skip "$name" "$(grep '^SKIP: ' "$log" | tail -n 1 | cut -c7-)"
		return
	fi
	if ! left=$(nothing_left); then
		echo "left behind: $left" >>"$log"
		rc=1
	fi
	# The sanitized build's reports (snapctl's stderr is in the log).
	if grep -Eq 'ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:' "$log"; then
		echo "a sanitizer reported an error" >>"$log"
		rc=1
	fi
	if [ "$rc" -eq 0 ]; then
		ok "$name"
	else
		not_ok "$name" "$log"
		# shellcheck disable=SC2034 # run.sh's exit status
		FAILED=1
	fi
}

# expect_fail WANT_RC MESSAGE OUT CMD...: CMD exits WANT_RC, and its stderr
# has MESSAGE on one line (the error printer's).
expect_fail() {
	local want=$1 msg=$2 out=$3 rc=0
	shift 3
	"$@" >"$out.out" 2>"$out.err" || rc=$?
	cat "$out.out" "$out.err"
	[ "$rc" -eq "$want" ] || die "exit status $rc, want $want"
	grep -q -- "$msg" "$out.err" || die "no '$msg' in the error"
	[ "$(grep -c '^snapctl run: ' "$out.err")" -eq 1 ] || die "not exactly one error line"
}
