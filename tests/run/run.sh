#!/usr/bin/env bash
# The snapshot phase: snapctl run with the guard, the readiness helpers (C and Python), restore,
# and every way a run can end — each leaving no cgroup and no bpf link. Prints TAP lines.
set -u
here=$(cd "$(dirname "$0")" && pwd)
SNAP_SRCDIR=${SNAP_SRCDIR:-$(cd "$here/../.." && pwd)}
# shellcheck source=tests/run/lib.sh
. "$here/lib.sh"
FAILED=0
trap 'listener_stop; cleanup_all' EXIT

GW=$RUN_PROGS/guard_workload
READY_PY=$here/py/ready_workload.py

# ---- the guard, from the workload, a child and a thread -----------------------

# The backend this host gets (lsm where the kernel allows it, else cgroup):
# `true` exits before any snapshot point, but the error says which guard ran.
guard_backend() {
	sc --json run --out "$WORK/probe-backend" -- true </dev/null 2>/dev/null |
		"$PY" -c 'import json,sys; print(json.load(sys.stdin)["guard"]["backend"])'
}

# Checks run.out's report: each kind of attempt denied and reported for the
# process, its child and its thread.
check_report() {
	local out=$1 who
	for who in guard_workload gw-child gw-thread; do
		# socket(2) and io_uring's IORING_OP_SOCKET: two attempts each.
		grep -Eq "^guard: denied socket\(AF_INET, SOCK_STREAM\) by $who \(pid [0-9]+\), 2 times$" "$out" ||
			die "no TCP socket denial for $who"
		grep -Eq "^guard: denied socket\(AF_INET, SOCK_DGRAM\) by $who \(pid [0-9]+\)$" "$out" ||
			die "no UDP socket denial for $who"
		grep -Eq "^guard: denied socket\(AF_PACKET, SOCK_RAW\) by $who \(pid [0-9]+\), 2 times" "$out" ||
			die "no AF_PACKET denial for $who"
		# open(2) and io_uring's IORING_OP_OPENAT.
		grep -Eq "^guard: denied open of char device 195:0 by $who \(pid [0-9]+\), 2 times$" "$out" ||
			die "no device denial for $who"
	done
}

t_guard_continue() {
	guard_built || skip_test "snapctl was built without the guard (no clang or bpftool)"
	local d=$WORK/guard tcp0 udp0 rc=0
	mkdir -p "$d"
	mknod "$d/nvidia0" c 195 0
	tcp0=$(listener_count tcp)
	udp0=$(listener_count udp)
	GUARD_TEST_PACKET_AFTER_CONTINUE=$PACKET_AFTER_CONTINUE \
		sc run --out "$d/snap" --continue -- "$GW" "$d/log" "$TCP_PORT" "$UDP_PORT" "$d/nvidia0" deny \
		</dev/null >"$d/run.out" 2>"$d/run.err" || rc=$?
	cat "$d/run.out" "$d/run.err" "$d/log"
	[ "$rc" -eq 0 ] || die "snapctl run exited $rc (the workload's status: an attempt went otherwise than expected)"
	grep -q '^before-failures=0$' "$d/log"
	grep -q '^point=continued ' "$d/log"
	grep -q '^done point=continued failures=0$' "$d/log"
	check_report "$d/run.out"
	grep -q "^captured pid [0-9]* into $d/snap: .*the process was continued$" "$d/run.out"
	# Nothing reached the listener before "continued"; then one TCP connect
	# and one datagram from each of the three.
	[ $(($(listener_count tcp) - tcp0)) -eq 3 ] || die "the listener saw $(($(listener_count tcp) - tcp0)) connects, want 3"
	[ $(($(listener_count udp) - udp0)) -eq 3 ] || die "the listener saw $(($(listener_count udp) - udp0)) datagrams, want 3"
}

t_guard_restore() {
	guard_built || skip_test "snapctl was built without the guard"
	local d=$WORK/guard tcp0 rc=0
	[ -d "$d/snap" ] || die "no snapshot from the previous test"
	: >"$d/log"
	tcp0=$(listener_count tcp)
	sc restore "$d/snap" </dev/null >"$d/restore.out" 2>"$d/restore.err" || rc=$?
	cat "$d/restore.out" "$d/restore.err" "$d/log"
	[ "$rc" -eq 0 ] || die "restore exited $rc"
	grep -q '^point=restored ' "$d/log"
	grep -q '^done point=restored failures=0$' "$d/log"
	# Sockets work (TCP connects counted) and the node fails as nodes
	# without a driver do (ENXIO, checked inside).
	[ $(($(listener_count tcp) - tcp0)) -eq 3 ] || die "want 3 connects after restore"
	grep -q 'attempt=device-open result=ENXIO as-expected' "$d/log"
	grep -q 'attempt=uring-socket-packet result=ok as-expected' "$d/log"
}

t_guard_json() {
	guard_built || skip_test "snapctl was built without the guard"
	local d=$WORK/guard-json rc=0
	mkdir -p "$d"
	mknod "$d/nvidia0" c 195 0
	GUARD_TEST_PACKET_AFTER_CONTINUE=$PACKET_AFTER_CONTINUE \
		sc --json run --out "$d/snap" --continue -- "$GW" "$d/log" "$TCP_PORT" "$UDP_PORT" "$d/nvidia0" deny \
		</dev/null >"$d/run.json" 2>"$d/run.err" || rc=$?
	cat "$d/run.json" "$d/run.err"
	[ "$rc" -eq 0 ] || die "exit $rc"
	"$PY" - "$d/run.json" "$BACKEND" <<-'EOF'
		import json, sys
		r = json.load(open(sys.argv[1]))
		assert "error" not in r and r["stage"] == "done", r
		assert r["captured"] and r["continued"] and r["exit_status"] == 0, r
		assert r["start_ms"] > 0 and r["capture"]["freeze_ms"] > 0, r
		g = r["guard"]
		assert g["backend"] == sys.argv[2] and g["lost"] == 0, g
		d = g["denials"]
		assert all(x["errno"] == "EPERM" and x["count"] >= 1 for x in d), d
		comms = {x["comm"] for x in d}
		assert comms == {"guard_workload", "gw-child", "gw-thread"}, comms
		kinds = {(x["kind"], x["what"]) for x in d}
		for k in [("socket", "socket(AF_INET, SOCK_STREAM)"), ("socket", "socket(AF_INET, SOCK_DGRAM)"),
		          ("socket", "socket(AF_PACKET, SOCK_RAW)"), ("device", "open of char device 195:0")]:
		    assert k in kinds, (k, kinds)
		dev = [x for x in d if x["kind"] == "device"][0]
		assert (dev["device_type"], dev["major"], dev["minor"]) == ("c", 195, 0), dev
		assert sum(x["count"] for x in d) == 3 * 7, sum(x["count"] for x in d)
	EOF
}

t_guard_ends_original() {
	guard_built || skip_test "snapctl was built without the guard"
	local d=$WORK/guard-end pid rc=0
	mkdir -p "$d"
	mknod "$d/nvidia0" c 195 0
	sc --json run --out "$d/snap" -- "$GW" "$d/log" "$TCP_PORT" "$UDP_PORT" "$d/nvidia0" deny \
		</dev/null >"$d/run.json" 2>"$d/run.err" || rc=$?
	cat "$d/run.json" "$d/run.err" "$d/log"
	[ "$rc" -eq 0 ] || die "exit $rc"
	pid=$("$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["captured"] and not r["continued"]; print(r["pid"])' "$d/run.json")
	! kill -0 "$pid" 2>/dev/null || die "the original (pid $pid) still runs"
	! grep -q '^point=' "$d/log" || die "the original went past its snapshot point"
	rc=0
	sc restore "$d/snap" </dev/null >"$d/restore.out" 2>"$d/restore.err" || rc=$?
	cat "$d/restore.err" "$d/log"
	[ "$rc" -eq 0 ] || die "restore exited $rc"
	grep -q '^done point=restored failures=0$' "$d/log"
}

t_extra_device() {
	guard_built || skip_test "snapctl was built without the guard"
	local d=$WORK/guard-dev rc=0
	mkdir -p "$d"
	# 240: a major of the range Linux keeps for local use, no driver here.
	grep -q '^240 ' /proc/devices && skip_test "major 240 has a driver on this host"
	mknod "$d/local0" c 240 7
	GUARD_TEST_PACKET_AFTER_CONTINUE=$PACKET_AFTER_CONTINUE \
		sc run --deny-device c:240 --out "$d/snap" --continue -- "$GW" "$d/log" "$TCP_PORT" "$UDP_PORT" "$d/local0" deny \
		</dev/null >"$d/run.out" 2>"$d/run.err" || rc=$?
	cat "$d/run.out" "$d/run.err"
	[ "$rc" -eq 0 ] || die "exit $rc"
	grep -Eq '^guard: denied open of char device 240:7 by guard_workload \(pid [0-9]+\), 2 times$' "$d/run.out"
}

t_inherited_sockets() {
	guard_built || skip_test "snapctl was built without the guard"
	local d=$WORK/inherited tcp0 udp0 rc=0
	mkdir -p "$d"
	tcp0=$(listener_count tcp)
	udp0=$(listener_count udp)
	# Sockets made here, outside the workload's cgroup, handed to it: no
	# sock_create hook ever saw them.
	"$PY" -c '
import os, socket, sys
snapctl, out, prog, udp_port, tcp_port = sys.argv[1:]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
for s in (u, t):
    os.set_inheritable(s.fileno(), True)
os.execv(snapctl, [snapctl, "run", "--out", out, "--", prog, str(u.fileno()), str(t.fileno()), udp_port, tcp_port])
' "$SNAPCTL" "$d/snap" "$RUN_PROGS/inherited_socket" "$UDP_PORT" "$TCP_PORT" \
		</dev/null >"$d/run.out" 2>"$d/run.err" {RUN_LOCK}>&- || rc=$?
	cat "$d/run.out" "$d/run.err"
	[ "$rc" -eq 0 ] || die "exit $rc"
	grep -q '^sendto: Operation not permitted, connect: Operation not permitted$' "$d/run.out"
	grep -Eq "^guard: denied send to 127.0.0.1:$UDP_PORT by inherited_socke \(pid [0-9]+\)$" "$d/run.out"
	grep -Eq "^guard: denied connect to 127.0.0.1:$TCP_PORT by inherited_socke \(pid [0-9]+\)$" "$d/run.out"
	[ "$(listener_count tcp)" -eq "$tcp0" ] && [ "$(listener_count udp)" -eq "$udp0" ] || die "something reached the listener"
}

# ---- readiness without the guard, and without snapctl --------------------------

t_no_guard() {
	local d=$WORK/no-guard rc=0
	mkdir -p "$d"
	mknod "$d/nvidia0" c 195 0
	sc run --no-guard --out "$d/snap" --continue -- "$GW" "$d/log" "$TCP_PORT" "$UDP_PORT" "$d/nvidia0" allow \
		</dev/null >"$d/run.out" 2>"$d/run.err" || rc=$?
	cat "$d/run.out" "$d/run.err"
	[ "$rc" -eq 0 ] || die "exit $rc"
	! grep -q '^guard:' "$d/run.out" || die "a guard report without a guard"
	grep -q '(guard: none, ' "$d/run.out"
	grep -q '^done point=continued failures=0$' "$d/log"
}

t_c_unmanaged() {
	local d=$WORK/c-unmanaged
	mkdir -p "$d"
	mknod "$d/nvidia0" c 195 0
	env -u SNAPCTL_READY_FD "$GW" "$d/log" "$TCP_PORT" "$UDP_PORT" "$d/nvidia0" allow </dev/null {RUN_LOCK}>&-
	cat "$d/log"
	grep -q '^point=unmanaged ' "$d/log"
	grep -q '^done point=unmanaged failures=0$' "$d/log"
}

t_python_continue_restore() {
	local d=$WORK/python rc=0 want=EPERM
	mkdir -p "$d"
	guard_built || want=ok
	[ "$want" = EPERM ] || skip_test "snapctl was built without the guard"
	sc run --out "$d/snap" --continue -- "$PY" "$READY_PY" "$d/log" "$TCP_PORT" "$want" \
		</dev/null >"$d/run.out" 2>"$d/run.err" || rc=$?
	cat "$d/run.out" "$d/run.err" "$d/log"
	[ "$rc" -eq 0 ] || die "run exited $rc"
	grep -q '^before=EPERM point=continued after=ok$' "$d/log"
	grep -Eq '^guard: denied socket\(AF_INET, SOCK_STREAM\) by python3 \(pid [0-9]+\)$' "$d/run.out"
	: >"$d/log"
	rc=0
	sc restore "$d/snap" </dev/null >"$d/restore.out" 2>"$d/restore.err" || rc=$?
	cat "$d/restore.out" "$d/restore.err" "$d/log"
	[ "$rc" -eq 0 ] || die "restore exited $rc"
	grep -q '^before=EPERM point=restored after=ok$' "$d/log"
}

t_python_unmanaged() {
	local d=$WORK/python-unmanaged
	mkdir -p "$d"
	env -u SNAPCTL_READY_FD "$PY" "$READY_PY" "$d/log" "$TCP_PORT" ok </dev/null {RUN_LOCK}>&-
	cat "$d/log"
	grep -q '^before=ok point=unmanaged after=ok$' "$d/log"
	# The module is the standard library's only: no third-party import.
	"$PY" -c 'import ast,sys; t=ast.parse(open(sys.argv[1]).read()); m={a.name for n in ast.walk(t) if isinstance(n,(ast.Import,ast.ImportFrom)) for a in n.names}; assert m <= {"os"}, m' \
		"$SNAP_SRCDIR/python/snapctl/__init__.py"
}

t_python_bad_fd() {
	local rc=0
	SNAPCTL_READY_FD=notanfd "$PY" -c 'import snapctl; snapctl.snapshot_point()' </dev/null 2>"$WORK/badfd.err" || rc=$?
	cat "$WORK/badfd.err"
	[ "$rc" -ne 0 ] && grep -q "SnapshotPointError: SNAPCTL_READY_FD='notanfd' is not an fd number" "$WORK/badfd.err"
	rc=0
	SNAPCTL_READY_FD=987 "$PY" -c 'import snapctl; snapctl.snapshot_point()' </dev/null 2>"$WORK/badfd.err" || rc=$?
	cat "$WORK/badfd.err"
	[ "$rc" -ne 0 ] && grep -q "SnapshotPointError: SNAPCTL_READY_FD=987: Bad file descriptor" "$WORK/badfd.err"
}

# ---- every way a run can end badly: one line, non-zero, nothing left ---------------

t_not_found() {
	expect_fail 127 "cannot run 'no-such-command-snapctl-test': command not found" "$WORK/nf" \
		sc run --out "$WORK/nf-snap" -- no-such-command-snapctl-test
	expect_fail 127 "No such file or directory" "$WORK/nf2" sc run --out "$WORK/nf-snap" -- /nonexistent/cmd
	[ ! -e "$WORK/nf-snap" ]
}

t_not_executable() {
	printf '#!/bin/sh\nexit 0\n' >"$WORK/noexec.sh"
	chmod 0644 "$WORK/noexec.sh"
	expect_fail 126 "cannot execute it: Permission denied" "$WORK/ne" sc run --out "$WORK/ne-snap" -- "$WORK/noexec.sh"
}

t_exit_before_ready() {
	expect_fail 3 "exited with status 3 before its snapshot point" "$WORK/eb" \
		sc run --out "$WORK/eb-snap" -- sh -c 'exit 3' </dev/null
	[ ! -e "$WORK/eb-snap" ]
}

t_crash() {
	expect_fail 139 "was killed by signal 11 before its snapshot point" "$WORK/crash" \
		sc run --out "$WORK/crash-snap" -- sh -c 'kill -SEGV $$' </dev/null
}

t_timeout() {
	local t0=$SECONDS
	expect_fail 124 "did not reach its snapshot point within 1 s; it was killed" "$WORK/to" \
		sc run --timeout 1 --out "$WORK/to-snap" -- sleep 600.1 </dev/null
	[ $((SECONDS - t0)) -lt 10 ] || die "took $((SECONDS - t0)) s"
	! pgrep -f '^sleep 600.1' || die "the workload still runs"
}

# kill -SIG snapctl while its workload has not reached its snapshot point.
interrupted() {
	local sig=$1 want=$2 pid rc=0
	# A background job ignores SIGINT unless told otherwise.
	env --default-signal=INT,TERM "$SNAPCTL" run --out "$WORK/int-snap" -- sleep 600.2 \
		</dev/null >"$WORK/int.out" 2>"$WORK/int.err" {RUN_LOCK}>&- &
	pid=$!
	# The workload itself (snapctl's own command line has the same words).
	for _ in $(seq 500); do
		pgrep -f '^sleep 600.2' >/dev/null && break
		sleep 0.02
	done
	pgrep -f '^sleep 600.2' >/dev/null || die "the workload never started"
	kill -s "$sig" "$pid"
	wait "$pid" || rc=$?
	cat "$WORK/int.out" "$WORK/int.err"
	[ "$rc" -eq "$want" ] || die "SIG$sig: exit $rc, want $want"
	grep -q "^snapctl run: interrupted before the workload's snapshot point; it was killed$" "$WORK/int.err" ||
		die "no 'interrupted' line"
	! pgrep -f '^sleep 600.2' || die "the workload survived"
}

t_sigint() { interrupted INT 130; }
t_sigterm() { interrupted TERM 143; }

t_capture_fails() {
	expect_fail 1 "capture of the workload (pid [0-9]*) failed; it was killed: .*is a socket" "$WORK/cf" \
		sc run --out "$WORK/cf-snap" -- "$PY" -c '
import socket, time, snapctl
a, b = socket.socketpair()
snapctl.snapshot_point()
time.sleep(600.3)' </dev/null
	[ ! -e "$WORK/cf-snap" ] || die "a snapshot was published"
	! pgrep -f 'time.sleep.600.3' || die "the workload survived"
}

t_protocol() {
	expect_fail 1 "wrote \"hello\" on SNAPCTL_READY_FD, not \"ready\"" "$WORK/proto" \
		sc run --out "$WORK/proto-snap" -- bash -c 'echo hello >&"$SNAPCTL_READY_FD"; exec sleep 600.4' </dev/null
	! pgrep -f '^sleep 600.4' || die "the workload survived"
}

t_out_exists() {
	mkdir -p "$WORK/exists"
	expect_fail 1 "already exists" "$WORK/ex" sc run --out "$WORK/exists" -- touch "$WORK/ran"
	[ ! -e "$WORK/ran" ] || die "the workload ran"
}

t_usage() {
	local rc=0
	sc run -- true 2>"$WORK/u.err" || rc=$?
	[ "$rc" -eq 2 ] && grep -q -- '--out DIR is required' "$WORK/u.err"
	rc=0
	sc run --out "$WORK/u" --deny-device x:1 -- true 2>"$WORK/u.err" || rc=$?
	[ "$rc" -eq 2 ] && grep -q 'is not c:MAJOR' "$WORK/u.err"
	rc=0
	sc run --out "$WORK/u" 2>"$WORK/u.err" || rc=$?
	[ "$rc" -eq 2 ] && grep -q 'no command to run' "$WORK/u.err"
	sc run --help | grep -q '^usage: snapctl run --out DIR'
}

t_lsm_refused_cleanly() {
	guard_built || skip_test "snapctl was built without the guard"
	[ "$BACKEND" = lsm ] && skip_test "the LSM backend works here: the guard tests above ran on it"
	expect_fail 1 "cannot switch the guard on: the .*lsm guard" "$WORK/lsm" \
		sc run --guard-backend lsm --out "$WORK/lsm-snap" -- touch "$WORK/lsm-ran"
	[ ! -e "$WORK/lsm-ran" ] || die "the workload ran without its guard"
}

t_stale_cgroup() {
	[ -n "$CG_MOUNT" ] || skip_test "no cgroup v2 hierarchy"
	local own dead stale
	own=$(sed -n 's/^0:://p' /proc/self/cgroup)
	[ "$own" = / ] && own=
	sh -c 'exit 0' &
	dead=$!
	wait "$dead"
	stale=$CG_MOUNT$own/snapctl-run.$dead.dead
	mkdir "$stale"
	sc run --out "$WORK/stale-snap" -- true </dev/null >/dev/null 2>&1 || true
	[ ! -d "$stale" ] || { rmdir "$stale"; die "the stale cgroup was not swept"; }
}

echo "# snapshot-phase suite, build $SNAP_BUILD"
if [ ! -x "$SNAPCTL" ] || [ ! -x "$GW" ]; then
	not_ok "snapctl and tests/run/progs are built ($SNAPCTL, $GW)"
	exit 1
fi
if [ -z "$CG_MOUNT" ] || [ "$(id -u)" -ne 0 ]; then
	skip "snapshot phase" "needs root and a cgroup v2 hierarchy"
	exit 0
fi
listener_start || { not_ok "a listener on 127.0.0.1"; exit 1; }
BACKEND=none
PACKET_AFTER_CONTINUE=allow
if guard_built; then
	BACKEND=$(guard_backend)
	# The cgroup backend keeps AF_PACKET out by withholding CAP_NET_RAW,
	# which the original does not get back after "continued".
	[ "$BACKEND" = cgroup ] && PACKET_AFTER_CONTINUE=deny
fi
echo "# guard backend here: $BACKEND"

run_test "guard: socket/connect/packet/io_uring/GPU node denied in process, child and thread, each reported" t_guard_continue
run_test "guard: the restored process connects, sends, and gets ENXIO from the node" t_guard_restore
run_test "guard: --json lists every denial (kind, process, errno, device)" t_guard_json
run_test "guard: without --continue the original is ended and the snapshot restores" t_guard_ends_original
run_test "guard: --deny-device adds a device to the defaults" t_extra_device
run_test "guard: sockets inherited from outside the cgroup are denied connect and sendto" t_inherited_sockets
run_test "--no-guard: a cgroup, no bpf, attempts allowed" t_no_guard
run_test "C helper: unmanaged without snapctl" t_c_unmanaged
run_test "Python helper: continued under snapctl run, restored after restore" t_python_continue_restore
run_test "Python helper: unmanaged without snapctl, standard library only" t_python_unmanaged
run_test "Python helper: a bad SNAPCTL_READY_FD is an error, not a hang" t_python_bad_fd
run_test "bad input: CMD not found (127)" t_not_found
run_test "bad input: CMD not executable (126)" t_not_executable
run_test "bad input: workload exits before ready (its status)" t_exit_before_ready
run_test "bad input: workload crashes mid-phase (139)" t_crash
run_test "bad input: workload never ready, --timeout (124)" t_timeout
run_test "bad input: SIGINT to snapctl run (130)" t_sigint
run_test "bad input: SIGTERM to snapctl run (143)" t_sigterm
run_test "bad input: capture fails (a socket at the snapshot point)" t_capture_fails
run_test "bad input: something else than ready on the fd" t_protocol
run_test "bad input: --out exists, refused before the workload runs" t_out_exists
run_test "usage errors exit 2" t_usage
run_test "--guard-backend lsm where the kernel refuses it: a clean failure" t_lsm_refused_cleanly
run_test "a cgroup left by a killed snapctl is swept" t_stale_cgroup
exit $FAILED
