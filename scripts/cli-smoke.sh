#!/usr/bin/env bash
# The static aarch64 `kafkit` binary, run under qemu-user against the test broker: it must consume
# exactly the 1,000 records this script first produces (with the pure-Rust kafkit-testkit).
#
#   KAFKIT_TEST_BROKER=HOST:PORT scripts/cli-smoke.sh
#
# Builds `cargo build --release -p kafkit-cli --target aarch64-unknown-linux-musl` (rust-lld, no C
# toolchain), installs Debian's qemu-user-static if no qemu-aarch64 is on PATH, and prints the
# stripped sizes of the binaries it finds (aarch64 and, when built, x86_64).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly target=aarch64-unknown-linux-musl
readonly records=1000
log() { printf 'cli-smoke: %s\n' "$*" >&2; }
die() {
	log "FAIL: $*"
	exit 1
}

broker=${KAFKIT_TEST_BROKER:-}
[ -n "$broker" ] || die "KAFKIT_TEST_BROKER is not set (start one: export KAFKIT_TEST_BROKER=\$(scripts/broker.sh start))"

find_qemu() { command -v qemu-aarch64-static || command -v qemu-aarch64 || true; }
qemu=$(find_qemu)
if [ -z "$qemu" ]; then
	command -v apt-get >/dev/null || die "no qemu-aarch64 on PATH and no apt-get to install qemu-user-static"
	sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	log "installing qemu-user-static (Debian package)"
	"${sudo[@]}" apt-get update -qq >&2 || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq qemu-user-static >&2 ||
		die "apt-get install qemu-user-static failed"
	qemu=$(find_qemu)
	[ -n "$qemu" ] || die "qemu-user-static is installed but neither qemu-aarch64-static nor qemu-aarch64 is on PATH"
fi
log "qemu: $qemu"

started=$SECONDS
cargo build --release -p kafkit-cli --target "$target" >&2
cargo build -p kafkit-protocol-tests --bin kafkit-testkit >&2
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin=$target_dir/$target/release/kafkit
testkit=$target_dir/debug/kafkit-testkit
log "built in $((SECONDS - started))s: $bin"

# Stripped sizes (a stripped copy; the build output keeps its symbols).
strip_tool=$(command -v llvm-strip || command -v rust-strip || true)
for t in aarch64-unknown-linux-musl x86_64-unknown-linux-musl; do
	b=$target_dir/$t/release/kafkit
	[ -f "$b" ] || continue
	if [ -n "$strip_tool" ]; then
		"$strip_tool" -o "$b.stripped" "$b"
		log "size: $t: $(stat -c %s "$b.stripped") bytes stripped ($(stat -c %s "$b") unstripped)"
		rm -f "$b.stripped"
	else
		log "size: $t: $(stat -c %s "$b") bytes unstripped (no llvm-strip to strip a copy)"
	fi
done

topic=cli-smoke-$$-$RANDOM
group=cli-smoke-group-$$-$RANDOM
timeout 120 "$testkit" create-topic "$broker" "$topic" 4
timeout 120 "$testkit" produce "$broker" "$topic" "$records" smoke

out=$(mktemp)
trap 'rm -f "$out"' EXIT
run_started=$SECONDS
log "\$ $qemu $bin consume --brokers $broker --topic $topic --group $group --from earliest --count $records --idle-timeout 60 --format json"
set +e
timeout 180 "$qemu" "$bin" consume --brokers "$broker" --topic "$topic" --group "$group" --from earliest \
	--count "$records" --idle-timeout 60 --format json >"$out"
rc=$?
set -e
[ "$rc" -eq 0 ] || die "kafkit under qemu exited with $rc"
lines=$(wc -l <"$out")
distinct=$(python3 -c '
import json, sys
seen = set()
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["topic"] == sys.argv[2], r
    assert r["value"].startswith("smoke-"), r
    seen.add((r["partition"], r["offset"]))
print(len(seen))' "$out" "$topic") || die "the output is not the expected JSON"
[ "$lines" -eq "$records" ] || die "consumed $lines lines, expected $records"
[ "$distinct" -eq "$records" ] || die "consumed $distinct distinct records, expected $records"
log "ok: the aarch64 binary under qemu consumed exactly $records records in $((SECONDS - run_started))s (total $((SECONDS - started))s)"
