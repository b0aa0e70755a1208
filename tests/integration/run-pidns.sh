#!/usr/bin/env bash
# restore --pid-ns: a snapshot restored into a fresh PID namespace gets its
# saved pid and thread ids back there, however many copies run and whoever
# holds those ids outside. The test programs check themselves (getpid(),
# gettid(), pthread_kill); this driver checks what only the outside sees
# (NSpid, exit status, pid files, nothing left behind). Prints TAP lines.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"

# start_piped DIR PROG ARGS...: like start_prog, but stdout goes through a
# FIFO, so a restored copy writes to its own restore command's stdout
# instead of into the original's output file. The program runs under a
# subshell that waits for it (PROG_WAITER), so the SIGKILL a capture sends
# is reaped there instead of being announced as "Killed" in the TAP output.
PROG_WAITER=
start_piped() {
	local dir=$1 prog=$2
	shift 2
	mkdir -p "$dir"
	rm -f "$dir/in" "$dir/out" "$dir/pid"
	mkfifo "$dir/in" "$dir/out"
	exec {PROG_FD}<>"$dir/in"
	PROG_OUT=$dir/prog.out
	cat "$dir/out" >"$PROG_OUT" {PROG_FD}>&- &
	(
		exec {PROG_FD}>&-
		cd "$dir" || exit 1
		"$PROGS/$prog" "$@" <"$dir/in" >"$dir/out" 2>"$dir/prog.err" &
		echo $! >"$dir/pid"
		wait $! 2>/dev/null
	) &
	PROG_WAITER=$!
	wait_file "$dir/pid" 10 || return 1
	PROG_PID=$(cat "$dir/pid")
	wait_ready "$PROG_OUT"
}

# reap_piped: reaps the original started by start_piped; returns its status.
reap_piped() {
	local rc=0
	wait "$PROG_WAITER" || rc=$?
	exec {PROG_FD}>&-
	PROG_PID=
	PROG_WAITER=
	return $rc
}

# ns_pids PID: the NSpid fields of PID's status ("outer inner").
ns_pids() {
	awk '/^NSpid:/ { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status" 2>/dev/null
}

# inner_tids PID: the thread ids of PID as its own namespace sees them, sorted.
inner_tids() {
	local t
	for t in /proc/"$1"/task/*; do
		awk '/^NSpid:/ { print $NF }' "$t/status" 2>/dev/null
	done | sort -n | tr '\n' ' '
}

# saved_tids SNAP: the thread ids the snapshot holds, sorted.
saved_tids() {
	"$SNAPCTL" --json inspect "$1" | grep -o '"tid":[0-9]*' | cut -d: -f2 | sort -n | tr '\n' ' '
}

# wait_file FILE [SECONDS]: until FILE is non-empty.
wait_file() {
	local deadline=$((SECONDS + ${2:-60}))
	while [ ! -s "$1" ] && [ $SECONDS -lt $deadline ]; do sleep 0.02; done
	[ -s "$1" ]
}

# wait_gone PID [SECONDS]: until PID no longer runs (gone or a zombie).
wait_gone() {
	local deadline=$((SECONDS + ${2:-60}))
	while [ $SECONDS -lt $deadline ]; do
		[ -e "/proc/$1" ] || return 0
		[ "$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null)" = Z ] && return 0
		sleep 0.02
	done
	return 1
}

# json_field FILE KEY: a number or boolean from snapctl's one-line JSON.
json_field() {
	grep -o "\"$2\":[a-z0-9-]*" "$1" | head -n 1 | cut -d: -f2
}

if [ "$(id -u)" -ne 0 ]; then
	skip "restore --pid-ns" "creating a PID namespace and choosing pids in it needs root"
	exit 0
fi

# ---- one threaded copy beside its still-running original ----------------
# The snapshot made here is used by the next test too: its original keeps
# the pid and every tid for as long as both tests run.
tsnap=$WORK/threads/snap
threads_test() {
	local dir=$WORK/threads d pid rc=0 ids want got
	if ! start_piped "$dir" threads; then
		not_ok "threads --pid-ns: program did not become ready" "$dir/prog.err"
		return
	fi
	pid=$PROG_PID
	if ! "$SNAPCTL" capture --leave-running --pid "$pid" --out "$tsnap" >/dev/null 2>"$dir/capture.err"; then
		not_ok "threads --pid-ns: capture" "$dir/capture.err"
		return
	fi
	d=$dir/one
	mkdir -p "$d"
	mkfifo "$d/in"
	exec {fd}<>"$d/in"
	"$SNAPCTL" --json restore --pid-ns --pidfile "$d/pidfile" "$tsnap" <"$d/in" >"$d/restore.out" 2>"$d/restore.err" {fd}>&- &
	local job=$!
	if wait_file "$d/pidfile"; then
		ids=$(ns_pids "$(cat "$d/pidfile")")
		want=$(saved_tids "$tsnap")
		got=$(inner_tids "$(cat "$d/pidfile")")
	fi
	echo go >&"$fd"
	wait "$job" || rc=$?
	exec {fd}>&-
	if [ $rc -eq 0 ] && grep -q '^ok' "$d/restore.out" && [ "${ids#* }" = "$pid" ] && [ "${ids%% *}" != "$pid" ] &&
		[ -n "$want" ] && [ "$want" = "$got" ] && grep -q "\"pid_ns\":true,\"pid_in_ns\":$pid," "$d/restore.out" &&
		kill -0 "$pid" 2>/dev/null; then
		ok "threads restored with --pid-ns beside the running original: NSpid $ids, tids ${want% } in its namespace, its own checks pass"
	else
		not_ok "threads --pid-ns (rc $rc, NSpid '${ids:-}', tids '${want:-}' vs '${got:-}')" "$d/restore.err" "$d/restore.out"
	fi
}
threads_test

# ---- three copies of one threaded snapshot at once -------------------------
three_test() {
	local i rc pids=() jobs=() fds=() all=1 outer seen=" " why=""
	if [ ! -d "$tsnap" ]; then
		not_ok "three concurrent --pid-ns restores: no snapshot (see the test before)"
		return
	fi
	for i in 1 2 3; do
		local d=$WORK/three-$i
		mkdir -p "$d"
		mkfifo "$d/in"
		exec {fd}<>"$d/in"
		fds[i]=$fd
		"$SNAPCTL" --json restore --pid-ns --pidfile "$d/pidfile" "$tsnap" <"$d/in" >"$d/restore.out" 2>"$d/restore.err" {fd}>&- &
		jobs[i]=$!
	done
	# All three run at the same time, each with the saved pid inside.
	for i in 1 2 3; do
		if ! wait_file "$WORK/three-$i/pidfile"; then
			all=0
			why="$why copy $i never ran;"
			continue
		fi
		outer=$(cat "$WORK/three-$i/pidfile")
		pids[i]=$outer
		case $seen in *" $outer "*) all=0; why="$why outer pid $outer twice;" ;; esac
		seen="$seen$outer "
	done
	for i in 1 2 3; do
		[ -n "${pids[i]:-}" ] || continue
		local ids
		ids=$(ns_pids "${pids[i]}")
		[ "${ids#* }" = "$PROG_PID" ] || { all=0; why="$why copy $i NSpid '$ids';"; }
	done
	for i in 1 2 3; do echo go >&"${fds[i]}"; done
	for i in 1 2 3; do
		rc=0
		wait "${jobs[i]}" || rc=$?
		fd=${fds[i]}
		exec {fd}>&-
		if [ $rc -ne 0 ] || ! grep -q '^ok' "$WORK/three-$i/restore.out"; then
			all=0
			why="$why copy $i exited $rc;"
		fi
	done
	if [ $all -eq 1 ]; then
		ok "three concurrent --pid-ns restores of one threaded snapshot (outer pids${seen% }), each pid $PROG_PID inside, all pass their checks"
	else
		not_ok "three concurrent --pid-ns restores:$why" "$WORK/three-1/restore.err" "$WORK/three-2/restore.err" \
			"$WORK/three-3/restore.err"
	fi
}
three_test

# Without --pid-ns the same snapshot is refused, and the refusal says how.
refusal_test() {
	local d=$WORK/refusal rc=0
	mkdir -p "$d"
	echo go | "$SNAPCTL" restore "$tsnap" >"$d/out" 2>"$d/err" || rc=$?
	if [ $rc -ne 0 ] && grep -q "pid $PROG_PID is taken; a process with threads.*--pid-ns" "$d/err" &&
		[ "$(wc -l <"$d/err")" -eq 1 ]; then
		ok "without --pid-ns a threaded snapshot under a taken pid is refused with that advice"
	else
		not_ok "refusal advises --pid-ns (rc $rc)" "$d/err"
	fi
}
[ -d "$tsnap" ] && refusal_test

# The original, which held the pid and tids throughout, finishes too.
if [ -n "$PROG_PID" ]; then
	release_prog
	rc=0
	reap_piped || rc=$?
	if [ $rc -eq 0 ] && [ "$(grep -c '^ok' "$WORK/threads/prog.out")" -eq 1 ]; then
		ok "the original threads process ran on and passed its own checks"
	else
		not_ok "the original threads process (status $rc)" "$WORK/threads/prog.err"
	fi
fi

# ---- pid free, one thread id taken ------------------------------------------
# Without --pid-ns it is refused before anything runs, naming the thread id;
# with --pid-ns it restores. A process of ours takes the id through
# /proc/sys/kernel/ns_last_pid (others forking at that moment can beat us:
# then the test is skipped).
tid_taken_test() {
	local dir=$WORK/tid pid rc=0 rc2=0 tid holder='' i
	start_piped "$dir" threads || { not_ok "tid taken: not ready" "$dir/prog.err"; return; }
	pid=$PROG_PID
	"$SNAPCTL" capture --pid "$pid" --out "$dir/snap" >/dev/null 2>"$dir/capture.err" ||
		{ kill -9 "$pid"; reap_piped; not_ok "tid taken: capture" "$dir/capture.err"; return; }
	reap_piped || true
	tid=$(saved_tids "$dir/snap" | tr ' ' '\n' | grep -v "^$pid\$" | tail -n 1)
	for i in 1 2 3 4 5; do
		echo $((tid - 1)) >/proc/sys/kernel/ns_last_pid 2>/dev/null || break
		sleep 600 &
		holder=$!
		[ "$holder" = "$tid" ] && break
		kill "$holder"
		wait "$holder" 2>/dev/null
		holder=
	done
	if [ -z "$holder" ]; then
		skip "threaded snapshot with a taken thread id" "could not take thread id $tid through ns_last_pid"
		return
	fi
	echo go | "$SNAPCTL" restore "$dir/snap" >"$dir/restore.out" 2>"$dir/restore.err" || rc=$?
	echo go | "$SNAPCTL" restore --pid-ns "$dir/snap" >"$dir/ns.out" 2>"$dir/ns.err" || rc2=$?
	kill "$holder"
	wait "$holder" 2>/dev/null
	if [ $rc -eq 1 ] && grep -q "thread id $tid of the snapshot is taken; .*--pid-ns" "$dir/restore.err" &&
		[ "$(wc -l <"$dir/restore.err")" -eq 1 ] && ! grep -qs '^ok' "$dir/restore.out" &&
		[ $rc2 -eq 0 ] && grep -q '^ok' "$dir/ns.out"; then
		ok "pid free, thread id $tid taken: refused without --pid-ns (one line, nothing ran), restored with it"
	else
		not_ok "tid taken: rc $rc without --pid-ns, $rc2 with" "$dir/restore.err" "$dir/ns.err"
	fi
}
tid_taken_test

# ---- single-threaded: getpid() is the saved pid inside -------------------
getpid_test() {
	local dir=$WORK/getpid pid rc=0
	start_piped "$dir" mem_pattern 8 || { not_ok "getpid --pid-ns: not ready" "$dir/prog.err"; return; }
	pid=$PROG_PID
	"$SNAPCTL" capture --leave-running --pid "$pid" --out "$dir/snap" >/dev/null 2>"$dir/capture.err" ||
		{ kill -9 "$pid"; reap_piped; not_ok "getpid --pid-ns: capture" "$dir/capture.err"; return; }
	# mem_pattern fails unless getpid() after restore is the pid it had.
	echo go | "$SNAPCTL" --json restore --pid-ns "$dir/snap" >"$dir/restore.out" 2>"$dir/restore.err" || rc=$?
	release_prog
	reap_piped || true
	if [ $rc -eq 0 ] && grep -q '^ok' "$dir/restore.out" && grep -q "\"pid_in_ns\":$pid," "$dir/restore.out" &&
		[ "$(json_field "$dir/restore.out" pid)" != "$pid" ]; then
		ok "single-threaded --pid-ns restore beside its original: getpid() is the saved pid $pid (outer $(json_field "$dir/restore.out" pid))"
	else
		not_ok "getpid --pid-ns (rc $rc)" "$dir/restore.err" "$dir/restore.out"
	fi
}
getpid_test

# ---- detached, with a pid file -----------------------------------------------
detach_test() {
	local dir=$WORK/detach pid rc=0 outer init ids
	start_piped "$dir" mem_pattern 8 || { not_ok "detach --pid-ns: not ready" "$dir/prog.err"; return; }
	pid=$PROG_PID
	"$SNAPCTL" capture --leave-running --pid "$pid" --out "$dir/snap" >/dev/null 2>"$dir/capture.err" ||
		{ kill -9 "$pid"; reap_piped; not_ok "detach --pid-ns: capture" "$dir/capture.err"; return; }
	mkfifo "$dir/in2"
	exec {fd2}<>"$dir/in2"
	"$SNAPCTL" --json restore --pid-ns --detach --pidfile "$dir/pidfile" "$dir/snap" <"$dir/in2" \
		>"$dir/restore.out" 2>"$dir/restore.err" {fd2}>&- || rc=$?
	outer=$(cat "$dir/pidfile" 2>/dev/null)
	init=$(json_field "$dir/restore.out" ns_init_pid)
	ids=$(ns_pids "${outer:-0}")
	if [ $rc -ne 0 ] || [ -z "$outer" ] || [ "$outer" = "$pid" ] || [ "$ids" != "$outer $pid" ] ||
		! grep -q "\"pid\":$outer,\"saved_pid\":$pid,\"same_pid\":true,\"pid_ns\":true,\"pid_in_ns\":$pid,\"ns_init_pid\":$init,\"detached\":true" "$dir/restore.out" ||
		[ "$(awk '/^PPid:/ { print $2 }' "/proc/$outer/status")" != "$init" ]; then
		not_ok "detach --pid-ns: rc $rc, pid file '$outer', NSpid '$ids'" "$dir/restore.err" "$dir/restore.out"
		exec {fd2}>&-
		release_prog
		reap_piped
		return
	fi
	echo go >&"$fd2"
	local gone=0
	wait_gone "$outer" && wait_gone "$init" && gone=1
	exec {fd2}>&-
	release_prog
	reap_piped || true
	if [ $gone -eq 1 ] && grep -q '^ok' "$dir/restore.out"; then
		ok "restore --pid-ns --detach --pidfile: pid file $outer (NSpid $ids), ran to completion, its init $init ended with it"
	else
		not_ok "detach --pid-ns: the process or its init did not finish" "$dir/restore.out"
	fi
}
detach_test

# ---- signals to the namespace's init reach the process ------------------------
signal_test() {
	local dir=$WORK/signal pid rc=0 outer init
	start_piped "$dir" mem_pattern 8 || { not_ok "signal --pid-ns: not ready" "$dir/prog.err"; return; }
	pid=$PROG_PID
	"$SNAPCTL" capture --pid "$pid" --out "$dir/snap" >/dev/null 2>"$dir/capture.err" ||
		{ kill -9 "$pid"; reap_piped; not_ok "signal --pid-ns: capture" "$dir/capture.err"; return; }
	reap_piped || true
	mkfifo "$dir/in2"
	exec {fd2}<>"$dir/in2"
	"$SNAPCTL" restore --pid-ns --pidfile "$dir/pidfile" "$dir/snap" <"$dir/in2" >"$dir/restore.out" \
		2>"$dir/restore.err" {fd2}>&- &
	local job=$!
	wait_file "$dir/pidfile" && outer=$(cat "$dir/pidfile")
	init=$(awk '/^PPid:/ { print $2 }' "/proc/${outer:-0}/status" 2>/dev/null)
	[ -n "$init" ] && kill -TERM "$init"
	wait "$job" || rc=$?
	exec {fd2}>&-
	if [ -n "$init" ] && [ $rc -eq 143 ] && ! grep -qs '^ok' "$dir/restore.out"; then
		ok "SIGTERM to the namespace's init ends the process; the foreground restore exits 143"
	else
		not_ok "signal --pid-ns: rc $rc, want 143 (init '${init:-}')" "$dir/restore.err"
	fi
}
signal_test

# ---- a restore that fails leaves nothing behind ------------------------------
failed_test() {
	local dir=$WORK/failed pid rc=0 before after
	start_piped "$dir" mem_pattern 8 || { not_ok "failed --pid-ns: not ready" "$dir/prog.err"; return; }
	pid=$PROG_PID
	"$SNAPCTL" capture --pid "$pid" --out "$dir/snap" >/dev/null 2>"$dir/capture.err" ||
		{ kill -9 "$pid"; reap_piped; not_ok "failed --pid-ns: capture" "$dir/capture.err"; return; }
	reap_piped || true
	before=$(pgrep -x snapctl-pidns | sort | tr '\n' ' ')
	# The snapshot's fd 0 was a pipe: a restore with no fd 0 cannot give it one.
	"$SNAPCTL" restore --pid-ns "$dir/snap" <&- >"$dir/restore.out" 2>"$dir/restore.err" || rc=$?
	sleep 0.2
	after=$(pgrep -x snapctl-pidns | sort | tr '\n' ' ')
	# none new (an earlier test's init may still be ending meanwhile)
	local new
	new=$(comm -13 <(tr ' ' '\n' <<<"$before" | sort) <(tr ' ' '\n' <<<"$after" | sort) | tr -d '\n')
	if [ $rc -eq 1 ] && grep -q "fd 0" "$dir/restore.err" && [ "$(wc -l <"$dir/restore.err")" -eq 1 ] &&
		[ -z "$new" ] && ! grep -qs '^ok' "$dir/restore.out"; then
		ok "a --pid-ns restore that fails in the child: one line ($(head -c 120 "$dir/restore.err")), no init or process left"
	else
		not_ok "failed --pid-ns: rc $rc, namespace inits before '$before', after '$after'" "$dir/restore.err"
	fi
}
failed_test
