#!/usr/bin/env bash
# Integration suite: real processes captured and restored on this kernel.
# Every test program verifies its own state after restore (progs/*.c).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"

for variant in "" -static; do
	for io in uring sync; do
		CAPTURE_ARGS="--io $io"
		roundtrip "mem_pattern$variant ($io)" "mem_pattern$variant" 64
	done
done
