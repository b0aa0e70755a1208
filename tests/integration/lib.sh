# lib.sh — helpers for the integration suite (sourced by run.sh).
# Each test runs real processes on the real kernel and prints one TAP line.

# Test programs must start with fds 0-2 only: close whatever we inherited.
for _fd in /proc/$$/fd/*; do
	_fd=${_fd##*/}
	[ "$_fd" -gt 2 ] 2>/dev/null && eval "exec $_fd>&-" 2>/dev/null
done
unset _fd

SNAPCTL=${SNAPCTL:-$SNAP_BUILD/snapctl}
PROGS=${PROGS:-${SNAP_PROGS:-$SNAP_BUILD/tests/progs}}
WORK=$(mktemp -d /tmp/snapctl-it.XXXXXX)
TESTNUM=0
PROG_PID=
PROG_FD=
PROG_OUT=

cleanup_all() {
	[ -n "$PROG_PID" ] && kill -9 "$PROG_PID" 2>/dev/null
	for m in "$WORK"/mnt-*; do [ -d "$m" ] && umount "$m" 2>/dev/null; done
	rm -rf "$WORK"
}
trap cleanup_all EXIT

ok() { TESTNUM=$((TESTNUM + 1)); echo "ok $TESTNUM - $1"; }
not_ok() {
	TESTNUM=$((TESTNUM + 1))
	echo "not ok $TESTNUM - $1"
	shift
	for f in "$@"; do [ -f "$f" ] && sed 's/^/#   /' "$f" | tail -n 20; done
}
skip() { TESTNUM=$((TESTNUM + 1)); echo "ok $TESTNUM - $1 # SKIP $2"; }

# Waits (up to $2 seconds, default 60) until file $1 contains "ready".
wait_ready() {
	local deadline=$((SECONDS + ${2:-60}))
	while [ $SECONDS -lt $deadline ]; do
		grep -q '^ready' "$1" 2>/dev/null && return 0
		[ -n "$PROG_PID" ] && ! kill -0 "$PROG_PID" 2>/dev/null && return 1
		sleep 0.02
	done
	return 1
}

# start_prog DIR PROG ARGS...: runs a test program with stdin on a FIFO we
# hold open (so its read(0) blocks), stdout/stderr in DIR; waits for ready.
start_prog() {
	local dir=$1 prog=$2
	shift 2
	mkdir -p "$dir"
	rm -f "$dir/in"
	mkfifo "$dir/in"
	exec {PROG_FD}<>"$dir/in"
	PROG_OUT=$dir/prog.out
	(cd "$dir" && exec "$PROGS/$prog" "$@" <"$dir/in" >"$PROG_OUT" 2>"$dir/prog.err" {PROG_FD}>&-) &
	PROG_PID=$!
	wait_ready "$PROG_OUT"
}

# snapshot_of DIR PROG ARGS...: runs PROG to ready, captures it into
# DIR/snap (which ends it) and empties DIR/prog.out for the restored
# process; fails when it does not become ready or the capture fails.
snapshot_of() {
	local dir=$1 prog=$2
	shift 2
	start_prog "$dir" "$prog" "$@" || return 1
	if ! "$SNAPCTL" capture --pid "$PROG_PID" --out "$dir/snap" >/dev/null 2>"$dir/capture.err"; then
		kill -9 "$PROG_PID" 2>/dev/null
		reap_prog
		return 1
	fi
	reap_prog
	: >"$dir/prog.out"
}

# Lets a still-running original continue: it reads its line and verifies.
release_prog() {
	echo go >&"$PROG_FD"
}

# Reaps the original (killed by capture or finished); returns its status.
reap_prog() {
	local rc=0
	wait "$PROG_PID" 2>/dev/null || rc=$?
	exec {PROG_FD}>&-
	PROG_PID=
	return $rc
}

# restore_fg DIR SNAP [ARGS...]: restores in the foreground with "go" on
# stdin; output in DIR/restore.{out,err}; returns the restore's status.
restore_fg() {
	local dir=$1 snap=$2
	shift 2
	# shellcheck disable=SC2086
	echo go | "$SNAPCTL" restore "$snap" ${RESTORE_ARGS:-} "$@" >"$dir/restore.out" 2>"$dir/restore.err"
}

# Runs a whole round trip of PROG: start, capture (extra capture args in
# CAPTURE_ARGS), reap, restore; passes when the restored process printed ok.
roundtrip() {
	local name=$1 prog=$2
	shift 2
	local dir="$WORK/$name" rc=0
	if ! start_prog "$dir" "$prog" "$@"; then
		not_ok "$name: program did not become ready" "$dir/prog.err"
		return
	fi
	# shellcheck disable=SC2086
	if ! "$SNAPCTL" capture --pid "$PROG_PID" --out "$dir/snap" ${CAPTURE_ARGS:-} >"$dir/capture.out" 2>"$dir/capture.err"; then
		kill -9 "$PROG_PID" 2>/dev/null
		reap_prog
		not_ok "$name: capture failed" "$dir/capture.err"
		return
	fi
	reap_prog
	restore_fg "$dir" "$dir/snap" || rc=$?
	if [ $rc -ne 0 ] || ! grep -qs '^ok' "$dir/restore.out" "$dir/prog.out"; then
		not_ok "$name: restored process failed (status $rc)" "$dir/restore.err" "$dir/restore.out"
		return
	fi
	ok "$name"
}

flip_byte() { # flip_byte FILE OFFSET
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $(((b ^ 0x5a) & 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
