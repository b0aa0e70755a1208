#!/usr/bin/env bash
# Pipes and kernel-object fds that capture must refuse (the other end of a
# pipe, or an epoll watch's file, out of reach), and a --leave-running
# capture that must leave the target's pipes, counters and timers as they
# were. Prints TAP lines (lib.sh).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"

# refuse NAME MODE PATTERN: capture of `fdkinds MODE` must fail with one line
# matching PATTERN, write nothing, and leave the process working (it checks
# itself and prints ok once released).
refuse() {
	local name=$1 mode=$2 pattern=$3 dir="$WORK/$2" rc=0 prc=0
	start_prog "$dir" fdkinds "$mode" || { not_ok "$name: not ready" "$dir/prog.err"; return; }
	"$SNAPCTL" capture --pid "$PROG_PID" --out "$dir/snap" >"$dir/capture.out" 2>"$dir/capture.err" || rc=$?
	release_prog
	reap_prog || prc=$?
	if [ $rc -ne 0 ] && grep -q -- "$pattern" "$dir/capture.err" && [ "$(wc -l <"$dir/capture.err")" -eq 1 ] &&
		[ ! -e "$dir/snap" ] && ! compgen -G "$dir/snap.tmp-*" >/dev/null &&
		[ $prc -eq 0 ] && grep -q '^ok' "$dir/prog.out"; then
		ok "$name: refused, the process ran on ($(head -c 160 "$dir/capture.err"))"
	else
		not_ok "$name: capture rc $rc, process rc $prc" "$dir/capture.err" "$dir/prog.err"
	fi
}

refuse "write end of a pipe whose read end is held by another process" write-end-only \
	"fd [0-9]* is the write end of a pipe (pipe:\[[0-9]*\]) whose read end is held by another process"
refuse "read end of a pipe whose write end is held by another process" read-end-only \
	"fd [0-9]* is the read end of a pipe (pipe:\[[0-9]*\]) whose write end is held by another process"
refuse "epoll set watching a file whose fd was closed" epoll-closed-fd \
	"fd [0-9]* is an epoll set watching a file added as fd [0-9]*"
refuse "named FIFO" fifo "fd [0-9]* is the named FIFO"

# --leave-running: the original then finds its 100 KiB of pipe bytes, its
# eventfd counts, its unread timer expiry and its blocked reader as they
# were; the snapshot, restored once the original is gone, does too.
leave_running() {
	local name="fdkinds with --leave-running" dir="$WORK/leave" rc=0 prc=0
	start_prog "$dir" fdkinds || { not_ok "$name: not ready" "$dir/prog.err"; return; }
	"$SNAPCTL" capture --leave-running --pid "$PROG_PID" --out "$dir/snap" >"$dir/capture.out" 2>"$dir/capture.err" || rc=$?
	release_prog
	reap_prog || prc=$?
	if [ $rc -ne 0 ] || [ $prc -ne 0 ] || ! grep -q '^ok' "$dir/prog.out"; then
		not_ok "$name: capture rc $rc, the original exited $prc" "$dir/capture.err" "$dir/prog.err"
		return
	fi
	: >"$dir/prog.out"
	restore_fg "$dir" "$dir/snap" || rc=$?
	if [ $rc -eq 0 ] && grep -q '^ok' "$dir/prog.out"; then
		ok "$name: the original was left untouched and the snapshot restores"
	else
		not_ok "$name: the restored copy failed (status $rc)" "$dir/restore.err" "$dir/prog.err"
	fi
}
leave_running
