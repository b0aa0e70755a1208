#!/usr/bin/env bash
# Soft-dirty pre-copy: only kernels built with CONFIG_MEM_SOFT_DIRTY have
# it (this project's host kernel does not; `make check-kernel` runs this in
# a qemu guest with Debian's 6.1 kernel, which does). Prints TAP lines.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"

if ! "$SNAPCTL" --json check | grep -q '"soft_dirty":true'; then
	skip "pre-copy with soft-dirty tracking" "this kernel has no soft-dirty (make check-kernel runs it in a qemu guest)"
	exit 0
fi
for variant in "" -static; do
	name="pre-copy (soft-dirty) of a region written throughout the capture$variant"
	dir="$WORK/sd$variant"
	start_prog "$dir" "writer$variant" 64 || { not_ok "$name: not ready"; continue; }
	if ! "$SNAPCTL" --json capture --pid "$PROG_PID" --out "$dir/snap" --precopy-rounds 4 --dirty soft-dirty \
		>"$dir/capture.out" 2>"$dir/capture.err"; then
		kill -9 "$PROG_PID"; reap_prog; not_ok "$name: capture failed" "$dir/capture.err"; continue
	fi
	reap_prog
	if ! grep -q '"dirty_backend":"soft-dirty"' "$dir/capture.out" || grep -q '"precopy_rounds":[01],' "$dir/capture.out"; then
		not_ok "$name: no soft-dirty passes reported" "$dir/capture.out"
		continue
	fi
	# the same snapshot restored both ways
	for mode in eager lazy; do
		: >"$dir/prog.out"
		: >"$dir/prog.err"
		rargs=("--$mode")
		[ $mode = lazy ] && rargs+=(--server-log "$dir/server.log")
		if restore_fg "$dir" "$dir/snap" "${rargs[@]}" && grep -qs '^ok' "$dir/prog.out"; then
			ok "$name, restored --$mode: $(grep -o '"freeze_ms":[0-9.]*' "$dir/capture.out")"
		else
			not_ok "$name, restored --$mode: the restored region is not the one at the freeze" "$dir/restore.err" "$dir/prog.err" "$dir/server.log"
		fi
	done
done
