# tests/bake/lib.sh — helpers for the snapbake suite (sourced, not run):
# TAP output, image checksums, a private registry on 127.0.0.1, tar checks.
# shellcheck shell=bash

test_n=0
# Read by the suite that sources this file.
export test_failed=0

# run_test NAME FUNCTION: runs FUNCTION in a subshell with its output kept
# aside; prints "ok"/"not ok", and the output as TAP comments on failure.
# A function that prints "SKIP: reason" as its last line and returns 77 is
# counted as a skip.
run_test() {
	local name=$1 fn=$2 log rc
	log=$(mktemp "$WORK/log.XXXXXX")
	test_n=$((test_n + 1))
	( set -eu; "$fn" ) >"$log" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "ok $test_n - $name"
	elif [ "$rc" -eq 77 ]; then
		echo "ok $test_n - $name # SKIP $(grep '^SKIP: ' "$log" | tail -n 1 | cut -c7-)"
	else
		echo "not ok $test_n - $name"
		sed 's/^/#   /' "$log" | tail -n 40
		test_failed=1
	fi
	rm -f "$log"
}

skip() {
	echo "SKIP: $*"
	exit 77
}

die() {
	echo "FAIL: $*" >&2
	exit 1
}

# Everything about a directory tree that a change could touch: names, types,
# modes, sizes and contents, so stray or partial files show up too.
tree_sum() {
	(
		cd "$1" || exit 1
		find . -printf '%p %y %m %s\n' | LC_ALL=C sort
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
	) | sha256sum | cut -d' ' -f1
}

manifest_digest() { # DIR [TAG]
	"$BAKE" inspect --json "$1${2:+:$2}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifest"]["digest"])'
}

# unpack DIR:TAG DEST — umoci's own unpacker (Go), rootless so it works for
# any user; only gzip and uncompressed layers (Debian's umoci predates zstd).
unpack() {
	umoci unpack --rootless --image "$1" "$2" >/dev/null
}

# Files under $1 byte-identical to the same names under $2.
same_files() {
	local f
	(cd "$1" && find . -type f) | while read -r f; do
		cmp "$1/$f" "$2/$f" || die "$2/$f differs from $1/$f"
	done
}

skopeo_policy() {
	local p="$WORK/policy.json"
	[ -f "$p" ] || echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$p"
	echo "$p"
}

# Starts Debian's docker-registry on a free 127.0.0.1 port; sets REGISTRY
# (host:port) and REGISTRY_PID. Stopped by registry_stop (and the EXIT trap).
registry_start() {
	local dir="$WORK/registry" port
	mkdir -p "$dir/data"
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 20000))
		ss -ltn 2>/dev/null | grep -q ":$port " && continue
		cat >"$dir/config.yml" <<-EOF
			version: 0.1
			log:
			  level: error
			  accesslog:
			    disabled: true
			storage:
			  filesystem:
			    rootdirectory: $dir/data
			http:
			  addr: 127.0.0.1:$port
		EOF
		docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
		REGISTRY_PID=$!
		echo "$REGISTRY_PID" >"$WORK/registry.pid"
		REGISTRY=127.0.0.1:$port
		for _ in $(seq 50); do
			if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://$REGISTRY/v2/', timeout=1)" 2>/dev/null; then
				return 0
			fi
			kill -0 "$REGISTRY_PID" 2>/dev/null || break
			sleep 0.2
		done
		registry_stop
	done
	cat "$dir/log" >&2
	return 1
}

registry_stop() {
	if [ -f "$WORK/registry.pid" ]; then
		kill "$(cat "$WORK/registry.pid")" 2>/dev/null || true
		wait "$(cat "$WORK/registry.pid")" 2>/dev/null || true
		rm -f "$WORK/registry.pid"
	fi
	return 0
}

# expect_refusal DIR PATTERN CMD...: CMD must fail with exactly one line on
# stderr, "snapbake: ...PATTERN...", and leave the image at DIR as it was.
expect_refusal() {
	local dir=$1 pattern=$2 before after rc lines
	shift 2
	before=$(tree_sum "$dir")
	set +e
	"$@" >"$WORK/out" 2>"$WORK/err"
	rc=$?
	set -e
	cat "$WORK/err"
	after=$(tree_sum "$dir")
	[ "$rc" -ne 0 ] || die "succeeded, but should have been refused"
	[ "$rc" -lt 128 ] || die "died with signal $((rc - 128))"
	lines=$(wc -l <"$WORK/err")
	[ "$lines" -eq 1 ] || die "want one line of error, got $lines"
	grep -q "^snapbake: .*$pattern" "$WORK/err" || die "error does not say '$pattern'"
	[ "$before" = "$after" ] || die "the image changed"
}
