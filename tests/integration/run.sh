#!/usr/bin/env bash
# Integration suite: real processes captured and restored on this kernel.
# Every test program verifies its own state after restore (progs/*.c);
# this driver checks what only the outside can see (exit status, sizes,
# refusals, nothing left behind). Prints TAP lines.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"

# ---- round trips: each program, dynamic and static, eager and lazy ------
# (everything after this loop restores with the default: lazy)
for mode in eager lazy; do
	RESTORE_ARGS="--$mode"
	for prog in lazy_ops protections filemap heap files signals clock threads shm churn fdkinds; do
		roundtrip "$prog ($mode)" "$prog"
	done
	roundtrip "mem_pattern 256 MiB ($mode)" mem_pattern 256
done
RESTORE_ARGS=""
for variant in "" -static; do
	for io in uring sync; do
		CAPTURE_ARGS="--io $io" roundtrip "mem_pattern$variant 64 MiB ($io)" "mem_pattern$variant" 64
	done
	[ -z "$variant" ] && continue # the dynamic builds ran above, in both modes
	for prog in lazy_ops protections filemap heap files signals clock threads shm churn fdkinds; do
		roundtrip "$prog$variant" "$prog$variant"
	done
done
roundtrip "mem_pattern 1 GiB" mem_pattern 1024

# ---- a real ML process: Debian's python3 with numpy and torch ------------
# (Debian's /usr/bin/python3, not whatever python3 is first on PATH.)
python_test() {
	local name="python3 + numpy + torch, 1 GiB of float32 weights, thread pools" dir="$WORK/python" rc=0
	mkdir -p "$dir"
	if ! /usr/bin/python3 -c 'import numpy, torch' 2>"$dir/import.err"; then
		not_ok "$name: Debian's python3-numpy/python3-torch are missing (scripts/setup installs them)" "$dir/import.err"
		return
	fi
	rm -f "$dir/in"; mkfifo "$dir/in"
	exec {PROG_FD}<>"$dir/in"
	PROG_OUT=$dir/prog.out
	(cd "$dir" && exec /usr/bin/python3 "$here/py/torch_model.py" <"$dir/in" >"$PROG_OUT" 2>"$dir/prog.err" {PROG_FD}>&-) &
	PROG_PID=$!
	wait_ready "$PROG_OUT" 300 || { kill -9 "$PROG_PID"; reap_prog; not_ok "$name: not ready" "$dir/prog.err"; return; }
	if ! "$SNAPCTL" capture --pid "$PROG_PID" --out "$dir/snap" >"$dir/capture.out" 2>"$dir/capture.err"; then
		kill -9 "$PROG_PID"; reap_prog; not_ok "$name: capture failed" "$dir/capture.err"; return
	fi
	reap_prog
	restore_fg "$dir" "$dir/snap" || rc=$?
	if [ $rc -eq 0 ] && grep -q '^ok' "$dir/prog.out"; then
		ok "$name: same forward pass after restore ($(grep -o '"threads": [0-9]*' "$dir/prog.out"))"
	else
		not_ok "$name: restored interpreter failed (status $rc)" "$dir/restore.err" "$dir/prog.err"
	fi
}
python_test

# ---- pre-copy: a region written all along, captured while it runs -------
precopy_test() {
	local name="pre-copy ($1) of a region written throughout the capture$2" dir="$WORK/precopy-$1$2"
	start_prog "$dir" "writer$2" 256 || { not_ok "$name: not ready"; return; }
	if ! "$SNAPCTL" --json capture --pid "$PROG_PID" --out "$dir/snap" --precopy-rounds 4 --dirty "$1" \
		>"$dir/capture.out" 2>"$dir/capture.err"; then
		kill -9 "$PROG_PID"; reap_prog; not_ok "$name: capture failed" "$dir/capture.err"; return
	fi
	reap_prog
	if ! grep -q "\"dirty_backend\":\"$1\"" "$dir/capture.out" || grep -q '"precopy_rounds":[01],' "$dir/capture.out"; then
		not_ok "$name: no pre-copy passes reported" "$dir/capture.out"
		return
	fi
	restore_fg "$dir" "$dir/snap" && grep -qs '^ok' "$dir/prog.out" ||
		{ not_ok "$name: the restored region is not the one at the freeze" "$dir/restore.err" "$dir/prog.err"; return; }
	ok "$name: $(grep -o '"freeze_ms":[0-9.]*' "$dir/capture.out"), $(grep -o '"frozen_bytes":[0-9]*' "$dir/capture.out")"
}
precopy_test uffd-wp ""
precopy_test uffd-wp -static
precopy_test none ""
CAPTURE_ARGS="--precopy-rounds 3" roundtrip "threads with pre-copy" threads
CAPTURE_ARGS="--precopy-rounds 3" roundtrip "shared memory with pre-copy" shm

# ---- lazy restore: what only the page server can get wrong --------------
# lazy_start DIR PROG ARGS: a captured snapshot in DIR/snap and a lazy,
# detached restore of it waiting on the FIFO DIR/go; sets SRV (the page
# server's supervisor) and RPID.
lazy_start() {
	local dir=$1 prog=$2
	shift 2
	snapshot_of "$dir" "$prog" "$@" || return 1
	rm -f "$dir/go"; mkfifo "$dir/go"
	exec {GO_FD}<>"$dir/go"
	"$SNAPCTL" --json restore "$dir/snap" --lazy --no-prefetch --detach --server-log "$dir/server.log" \
		$LAZY_ARGS <"$dir/go" >"$dir/restore.json" 2>"$dir/restore.err" {GO_FD}>&- || return 1
	SRV=$(grep -o '"page_server_pid":[0-9]*' "$dir/restore.json" | cut -d: -f2)
	RPID=$(grep -o '"pid":[0-9]*' "$dir/restore.json" | head -1 | cut -d: -f2)
	[ -n "$SRV" ] && [ -n "$RPID" ]
}

# Waits for process $1 (not our child) to end; prints its exit status
# from the page server's log or /proc when known.
wait_gone() {
	local deadline=$((SECONDS + 60))
	while kill -0 "$1" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
	! kill -0 "$1" 2>/dev/null
}

killed_server_test() {
	local dir="$WORK/lazy-killed" name="lazy: a killed page server gives SIGBUS, not wrong memory"
	LAZY_ARGS="" lazy_start "$dir" mem_pattern 64 || { not_ok "$name: setup" "$dir/capture.err" "$dir/restore.err"; return; }
	local server
	server=$(pgrep -P "$SRV" | head -1)
	[ -n "$server" ] && kill -9 "$server"
	echo go >&"$GO_FD"
	wait_gone "$RPID"
	exec {GO_FD}>&-
	if ! grep -q '^ok' "$dir/prog.out" && grep -q "sending SIGBUS to process $RPID" "$dir/server.log"; then
		ok "$name ($(head -c 120 "$dir/server.log"))"
	else
		not_ok "$name" "$dir/server.log" "$dir/prog.out" "$dir/prog.err"
	fi
}
killed_server_test

corrupt_lazy_test() {
	local dir="$WORK/lazy-corrupt" name="lazy: a corrupt chunk found at fault time kills the process, never feeds it"
	snapshot_of "$dir" mem_pattern 64 || { not_ok "$name: not ready, or capture failed" "$dir/prog.err" "$dir/capture.err"; return; }
	local size
	size=$(stat -c %s "$dir/snap/pages")
	flip_byte "$dir/snap/pages" $((size / 2)) # inside the region the program reads
	local rc=0
	echo go | "$SNAPCTL" restore "$dir/snap" --lazy --server-log "$dir/server.log" >"$dir/restore.out" 2>"$dir/restore.err" || rc=$?
	if [ $rc -eq 137 ] && ! grep -q '^ok' "$dir/prog.out" && grep -q "fails its checksum" "$dir/server.log"; then
		ok "$name (status $rc; $(head -c 140 "$dir/server.log"))"
	else
		not_ok "$name (status $rc)" "$dir/server.log" "$dir/restore.err"
	fi
}
corrupt_lazy_test

workingset_test() {
	local dir="$WORK/ws" name="lazy: --record writes the working set; --prefault-ws uses it"
	snapshot_of "$dir" mem_pattern 64 || { not_ok "$name: not ready, or capture failed" "$dir/prog.err" "$dir/capture.err"; return; }
	local rc=0
	echo go | "$SNAPCTL" restore "$dir/snap" --lazy --record --server-log "$dir/server.log" >"$dir/r1.out" 2>"$dir/r1.err" || rc=$?
	# the server writes the set when its recording window ends; wait for it
	local deadline=$((SECONDS + 30))
	while [ ! -s "$dir/snap/workingset" ] && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
	if [ $rc -ne 0 ] || [ "$(head -c 8 "$dir/snap/workingset" 2>/dev/null)" != SNAPWSET ] || compgen -G "$dir/snap/workingset.tmp-*" >/dev/null; then
		not_ok "$name: recording (status $rc)" "$dir/server.log" "$dir/r1.err"
		return
	fi
	: >"$dir/prog.out"
	rc=0
	echo go | "$SNAPCTL" --json restore "$dir/snap" --lazy --prefault-ws >"$dir/r2.json" 2>"$dir/r2.err" || rc=$?
	if [ $rc -eq 0 ] && grep -q '^ok' "$dir/prog.out"; then
		ok "$name ($(grep -o 'working set recorded[^,]*' "$dir/server.log"))"
	else
		not_ok "$name: prefault restore (status $rc)" "$dir/r2.err" "$dir/prog.err"
	fi
}
workingset_test

# A recording restore that crashes leaves the working set it had (or none),
# never a torn one.
crash_record_test() {
	local dir="$WORK/ws-crash" name="lazy: a crash while recording leaves no torn working set"
	LAZY_ARGS="--record" lazy_start "$dir" mem_pattern 32 || { not_ok "$name: setup" "$dir/restore.err"; return; }
	echo go >&"$GO_FD"
	sleep 0.2 # it is recording now (a 2 s window)
	kill -9 "$SRV" $(pgrep -P "$SRV") 2>/dev/null
	kill -9 "$RPID" 2>/dev/null
	exec {GO_FD}>&-
	wait_gone "$RPID"
	if [ ! -e "$dir/snap/workingset" ] || [ "$(head -c 8 "$dir/snap/workingset")" = SNAPWSET ]; then
		# and a snapshot with a torn working set is still restorable: the set is ignored
		printf 'SNAPWSET\001\000\000\000\377\377' >"$dir/snap/workingset"
		: >"$dir/prog.out"
		local rc=0
		echo go | "$SNAPCTL" restore "$dir/snap" --lazy --prefault-ws >"$dir/r.out" 2>"$dir/r.err" || rc=$?
		if [ $rc -eq 0 ] && grep -q '^ok' "$dir/prog.out" && grep -q "workingset is corrupt" "$dir/r.err"; then
			ok "$name; a damaged one is ignored with a warning"
		else
			not_ok "$name: restore with a damaged working set (status $rc)" "$dir/r.err"
		fi
	else
		not_ok "$name" "$dir/server.log"
	fi
}
crash_record_test

# A child forked after restore that outlives the restored process: its
# memory, never touched since, still comes from the snapshot (prefetch on
# or off), not zeros.
orphan_test() {
	local args=$1 dir="$WORK/orphan$1" name="lazy: an orphaned child of the restored process gets its memory${1:+ ($1)}"
	snapshot_of "$dir" orphan 64 || { not_ok "$name: not ready, or capture failed" "$dir/prog.err" "$dir/capture.err"; return; }
	local rc=0
	# shellcheck disable=SC2086
	echo go | "$SNAPCTL" restore "$dir/snap" $args >"$dir/restore.out" 2>"$dir/restore.err" || rc=$?
	local deadline=$((SECONDS + 30))
	while ! grep -q '^child' "$dir/prog.out" && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
	if [ $rc -eq 0 ] && grep -q '^child ok' "$dir/prog.out"; then
		ok "$name"
	else
		not_ok "$name (status $rc)" "$dir/prog.out" "$dir/restore.err" "$dir/prog.err"
	fi
}
orphan_test ""
orphan_test "--no-prefetch"

# With transparent huge pages always on (Debian's default), a page the
# restore writes before the process runs (here a thread's TLS and rseq
# area, inside a region of the snapshot) must not bring a 2 MiB page of
# zeros that the page server then finds present and leaves alone.
thp_test() {
	local knob=/sys/kernel/mm/transparent_hugepage/enabled was name="lazy: THP always, a huge page around an early write is not zeros"
	was=$(grep -o '\[[a-z]*\]' "$knob" 2>/dev/null | tr -d '[]')
	if [ -z "$was" ] || ! echo always 2>/dev/null >"$knob"; then
		skip "$name" "cannot set $knob to always here"
		return
	fi
	RESTORE_ARGS=--lazy roundtrip "$name" thp
	echo "$was" >"$knob"
}
thp_test

# The default restore is lazy where userfaultfd allows it (as here), and
# its --json tells what the page server did; --eager loads all first.
default_mode_test() {
	local dir="$WORK/default-mode" name="restore is lazy by default; --json has the page server's counters; --eager is not"
	snapshot_of "$dir" mem_pattern 64 || { not_ok "$name: not ready, or capture failed" "$dir/prog.err" "$dir/capture.err"; return; }
	local rc=0 rc2=0
	echo go | "$SNAPCTL" --json restore "$dir/snap" >"$dir/lazy.json" 2>"$dir/lazy.err" || rc=$?
	: >"$dir/prog.out"
	echo go | "$SNAPCTL" --json restore "$dir/snap" --eager >"$dir/eager.json" 2>"$dir/eager.err" || rc2=$?
	local served
	served=$(/usr/bin/python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["page_server"]; print(p["bytes_on_demand"]+p["bytes_prefetched"])' \
		"$dir/lazy.json" 2>/dev/null)
	if [ $rc -eq 0 ] && [ $rc2 -eq 0 ] && grep -q '"lazy":true' "$dir/lazy.json" && grep -q '"complete":true' "$dir/lazy.json" &&
		[ "${served:-0}" -ge $((64 << 20)) ] && grep -q '"lazy":false' "$dir/eager.json" &&
		! grep -q page_server "$dir/eager.json" && grep -q '^ok' "$dir/prog.out"; then
		ok "$name ($served bytes served)"
	else
		not_ok "$name (status $rc, $rc2)" "$dir/lazy.json" "$dir/lazy.err" "$dir/eager.json" "$dir/eager.err"
	fi
	rc=0
	"$SNAPCTL" restore "$dir/snap" --eager --record >"$dir/usage.out" 2>"$dir/usage.err" || rc=$?
	if [ $rc -eq 2 ] && grep -q "for lazy restore" "$dir/usage.err"; then
		ok "restore --eager --record is a usage error ($(head -c 100 "$dir/usage.err"))"
	else
		not_ok "restore --eager --record (status $rc)" "$dir/usage.err"
	fi
}
default_mode_test

# ---- sparse: 16 GiB reserved, 4096 pages touched ------------------------
sparse_test() {
	local name="sparse 16 GiB NORESERVE, 4096 pages$1" dir="$WORK/sparse$1" size
	start_prog "$dir" "sparse$1" || { not_ok "$name: not ready" "$dir/prog.err"; return; }
	if ! "$SNAPCTL" capture --pid "$PROG_PID" --out "$dir/snap" >"$dir/capture.out" 2>"$dir/capture.err"; then
		kill -9 "$PROG_PID"; reap_prog; not_ok "$name: capture failed" "$dir/capture.err"; return
	fi
	reap_prog
	size=$(du -b --apparent-size -s "$dir/snap" | cut -f1)
	# 4096 pages of 4 KiB = 16 MiB of content, stored compressed or raw.
	if [ "$size" -gt $((17 * 1024 * 1024)) ] || [ "$size" -lt $((1024 * 1024)) ]; then
		not_ok "$name: snapshot is $size bytes, not proportional to 4096 touched pages"
		return
	fi
	restore_fg "$dir" "$dir/snap" && grep -qs '^ok' "$dir/prog.out" ||
		{ not_ok "$name: restored process failed" "$dir/restore.err" "$dir/prog.err"; return; }
	ok "$name (snapshot $size bytes)"
}
sparse_test ""
sparse_test -static

# ---- exit status ----------------------------------------------------------
exit_test() {
	local want=$1 arg=$2 dir="$WORK/exit-$2" rc=0
	start_prog "$dir" exitcode "$arg" || { not_ok "exit status $want: not ready"; return; }
	"$SNAPCTL" capture --pid "$PROG_PID" --out "$dir/snap" >/dev/null 2>"$dir/capture.err" ||
		{ kill -9 "$PROG_PID"; reap_prog; not_ok "exit status $want: capture" "$dir/capture.err"; return; }
	reap_prog
	restore_fg "$dir" "$dir/snap" || rc=$?
	if [ $rc -eq "$want" ]; then ok "foreground restore exits with the process's status ($want)"; else
		not_ok "foreground restore exited $rc, want $want" "$dir/restore.err"; fi
}
exit_test 42 42
exit_test 134 abort

# ---- same pid, --json, --detach with --pidfile ----------------------------
detach_test() {
	local dir="$WORK/detach" pid rc=0
	start_prog "$dir" mem_pattern 8 || { not_ok "detach: not ready"; return; }
	pid=$PROG_PID
	"$SNAPCTL" capture --pid "$pid" --out "$dir/snap" >/dev/null 2>"$dir/capture.err" ||
		{ kill -9 "$pid"; reap_prog; not_ok "detach: capture" "$dir/capture.err"; return; }
	reap_prog
	mkfifo "$dir/in2"
	exec {fd2}<>"$dir/in2"
	"$SNAPCTL" --json restore "$dir/snap" --detach --pidfile "$dir/pidfile" <"$dir/in2" >"$dir/restore.json" 2>"$dir/restore.err" {fd2}>&- || rc=$?
	if [ $rc -ne 0 ] || [ "$(cat "$dir/pidfile" 2>/dev/null)" != "$pid" ] ||
		! grep -q "\"pid\":$pid,\"saved_pid\":$pid,\"same_pid\":true" "$dir/restore.json" || ! kill -0 "$pid" 2>/dev/null; then
		not_ok "detach: restore --detach --pidfile --json (rc $rc)" "$dir/restore.err" "$dir/restore.json"
		exec {fd2}>&-
		return
	fi
	echo go >&"$fd2"
	local deadline=$((SECONDS + 60))
	while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
	exec {fd2}>&-
	if grep -qs '^ok' "$dir/prog.out"; then ok "restore --detach --pidfile: same pid $pid, process ran to completion"; else
		not_ok "detach: the detached process did not finish" "$dir/prog.err"; fi
}
detach_test

# A pid that is taken: restore gives a new one and says so.
newpid_test() {
	local dir="$WORK/newpid" pid rc=0
	start_prog "$dir" mem_pattern 8 || { not_ok "new pid: not ready"; return; }
	pid=$PROG_PID
	"$SNAPCTL" capture --leave-running --pid "$pid" --out "$dir/snap" >/dev/null 2>"$dir/capture.err" ||
		{ kill -9 "$pid"; reap_prog; not_ok "new pid: capture" "$dir/capture.err"; return; }
	# The original is still running with the pid: the restore must use another.
	echo go | "$SNAPCTL" --json restore "$dir/snap" >"$dir/restore.json" 2>"$dir/restore.err" || rc=$?
	release_prog
	reap_prog || true
	if [ $rc -eq 1 ] && grep -q '"same_pid":false' "$dir/restore.json" && grep -q "pid $pid is taken" "$dir/restore.err"; then
		ok "restore under a taken pid uses a new one and says so (the program then sees its pid changed)"
	else
		not_ok "new pid (rc $rc)" "$dir/restore.err" "$dir/restore.json"
	fi
}
newpid_test

# A threaded snapshot whose pid is taken: refused, nothing started.
threaded_pid_taken_test() {
	local dir="$WORK/tpid" pid rc=0
	start_prog "$dir" threads || { not_ok "threaded, pid taken: not ready"; return; }
	pid=$PROG_PID
	"$SNAPCTL" capture --leave-running --pid "$pid" --out "$dir/snap" >/dev/null 2>"$dir/capture.err" ||
		{ kill -9 "$pid"; reap_prog; not_ok "threaded, pid taken: capture" "$dir/capture.err"; return; }
	echo go | "$SNAPCTL" restore "$dir/snap" >"$dir/restore.out" 2>"$dir/restore.err" || rc=$?
	release_prog
	reap_prog || true
	if [ $rc -ne 0 ] && grep -q "pid $pid is taken; a process with threads" "$dir/restore.err" &&
		[ "$(grep -c '^ok' "$dir/prog.out")" -eq 1 ]; then
		ok "threaded snapshot under a taken pid: refused ($(head -c 120 "$dir/restore.err"))"
	else
		not_ok "threaded snapshot under a taken pid (rc $rc)" "$dir/restore.err"
	fi
}
threaded_pid_taken_test

# ---- bad input ------------------------------------------------------------
# A snapshot to damage, made once.
base="$WORK/base"
start_prog "$base" mem_pattern 16 && "$SNAPCTL" capture --pid "$PROG_PID" --out "$base/snap" >/dev/null 2>"$base/capture.err"
kill -9 "$PROG_PID" 2>/dev/null
reap_prog

# expect_refusal NAME SNAPDIR PATTERN: restore must fail, say PATTERN, and
# start nothing (the program's output file gets no "ok").
# REFUSE_ARGS: more restore options.
expect_refusal() {
	local name=$1 snap=$2 pattern=$3 dir="$WORK/refuse-$TESTNUM" rc=0
	mkdir -p "$dir"
	# shellcheck disable=SC2086
	echo go | "$SNAPCTL" restore "$snap" ${REFUSE_ARGS:-} >"$dir/out" 2>"$dir/err" || rc=$?
	if [ $rc -ne 0 ] && grep -qi -- "$pattern" "$dir/err" && [ "$(wc -l <"$dir/err")" -eq 1 ] &&
		! grep -qs '^ok' "$snap/../prog.out"; then
		ok "$name: refused ($(head -c 160 "$dir/err"))"
	else
		not_ok "$name: rc $rc, want a one-line error matching '$pattern'" "$dir/err"
	fi
}

damage() { # damage NAME: a fresh copy of the base snapshot
	rm -rf "$WORK/bad-$1"
	mkdir -p "$WORK/bad-$1"
	cp -a "$base/snap" "$WORK/bad-$1/snap"
	: >"$WORK/bad-$1/prog.out"
	echo "$WORK/bad-$1/snap"
}


if [ -d "$base/snap" ]; then
	s=$(damage chunk); size=$(stat -c %s "$s/pages")
	flip_byte "$s/pages" $((size / 2))
	# eager checks every chunk before the process runs (lazy, as it reads
	# them: corrupt_lazy_test above)
	REFUSE_ARGS=--eager expect_refusal "flipped byte in a chunk (--eager)" "$s" "checksum"
	s=$(damage header); flip_byte "$s/pages" 20
	expect_refusal "flipped byte in the pages header" "$s" "corrupt"
	s=$(damage meta); flip_byte "$s/meta" 300
	expect_refusal "flipped byte in the metadata" "$s" "corrupt"
	s=$(damage truncpages); truncate -s $((size - 100)) "$s/pages"
	expect_refusal "truncated pages file" "$s" "truncated"
	s=$(damage truncmeta); truncate -s 1000 "$s/meta"
	expect_refusal "truncated metadata" "$s" "truncated"
	s=$(damage version); printf '\143' | dd of="$s/meta" bs=1 seek=8 conv=notrunc status=none
	expect_refusal "wrong format version" "$s" "version 99"
	s=$(damage nopages); rm "$s/pages"
	expect_refusal "missing pages file" "$s" "pages"
	expect_refusal "missing snapshot directory" "$WORK/no-such-snapshot" "no such snapshot directory"
	mkdir -p "$WORK/empty/snap"
	expect_refusal "a directory that is no snapshot" "$WORK/empty/snap" "meta"
else
	not_ok "base snapshot for the bad-input tests" "$base/capture.err"
fi

# A file the snapshot maps changed since: refused with its path.
changed_file_test() {
	local dir="$WORK/changed"
	mkdir -p "$dir"
	cp "$PROGS/mem_pattern" "$dir/prog"
	PROGS_SAVE=$PROGS
	PROGS=$dir
	start_prog "$dir/run" prog 8 || { PROGS=$PROGS_SAVE; not_ok "changed file: not ready"; return; }
	PROGS=$PROGS_SAVE
	"$SNAPCTL" capture --pid "$PROG_PID" --out "$dir/run/snap" >/dev/null 2>"$dir/capture.err" ||
		{ kill -9 "$PROG_PID"; reap_prog; not_ok "changed file: capture" "$dir/capture.err"; return; }
	reap_prog
	printf 'x' >>"$dir/prog"
	expect_refusal "a mapped file changed since capture" "$dir/run/snap" "$dir/prog changed"
}
changed_file_test

# Capture of a pid that does not exist.
rc=0
"$SNAPCTL" capture --pid 999999 --out "$WORK/never" >"$WORK/nopid.out" 2>"$WORK/nopid.err" || rc=$?
if [ $rc -ne 0 ] && grep -q "process 999999 does not exist" "$WORK/nopid.err" && [ ! -e "$WORK/never" ]; then
	ok "capture of a nonexistent pid: $(cat "$WORK/nopid.err")"
else
	not_ok "capture of a nonexistent pid (rc $rc)" "$WORK/nopid.err"
fi

# refuse_capture NAME PROG PATTERN OUT [ARGS]: capture into OUT must fail
# with PATTERN, leave OUT as it was (absent, or an existing directory
# untouched) and no temporary directory, and the original must finish its
# own check.
refuse_capture() {
	local name=$1 prog=$2 pattern=$3 out=$4 dir="$WORK/rc-$2-$TESTNUM" rc=0 before=absent after=absent
	[ -e "$out" ] && before=$(stat -c %Y.%s "$out"; ls -A "$out")
	start_prog "$dir" "$prog" "${@:5}" || { not_ok "$name: not ready"; return; }
	"$SNAPCTL" capture --pid "$PROG_PID" --out "$out" >"$dir/capture.out" 2>"$dir/capture.err" || rc=$?
	release_prog
	local prc=0
	reap_prog || prc=$?
	[ -e "$out" ] && after=$(stat -c %Y.%s "$out"; ls -A "$out")
	if [ $rc -ne 0 ] && grep -q -- "$pattern" "$dir/capture.err" && [ "$before" = "$after" ] &&
		! compgen -G "$out.tmp-*" >/dev/null && [ $prc -eq 0 ] && grep -q '^ok' "$dir/prog.out"; then
		ok "$name: refused, nothing left behind, the process ran on ($(head -c 150 "$dir/capture.err"))"
	else
		not_ok "$name: capture rc $rc, process rc $prc" "$dir/capture.err" "$dir/prog.err"
	fi
}
refuse_capture "target holding a TCP socket" tcp "fd [0-9]* is a socket" "$WORK/tcp-snap"
refuse_capture "target holding an inotify fd" inotify "fd [0-9]* is a kernel object (anon inode)" "$WORK/inotify-snap"
mkdir -p "$WORK/exists"
refuse_capture "target directory exists" mem_pattern "already exists" "$WORK/exists" 8

# Full disk: a 4 MiB tmpfs cannot hold 64 MiB of incompressible-ish memory.
fulldisk_test() {
	local mnt="$WORK/mnt-full"
	mkdir -p "$mnt"
	if ! mount -t tmpfs -o size=4m tmpfs "$mnt" 2>/dev/null; then
		skip "full disk during capture" "cannot mount a tmpfs here (not root?)"
		return
	fi
	refuse_capture "full disk during capture" mem_pattern "No space left on device" "$mnt/snap" 64
	umount "$mnt"
}
fulldisk_test
