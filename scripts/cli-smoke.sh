#!/usr/bin/env bash
# The static aarch64 `kafkit` binary, run under qemu-user against the test broker: it must consume
# exactly the 1,000 records this script first produces (with the pure-Rust kafkit-testkit), once
# over PLAINTEXT and once over SASL_SSL (SCRAM-SHA-512, TLS with rustls-graviola, configured with
# `--config FILE`) on the secure broker that scripts/test.sh starts.
#
#   KAFKIT_TEST_BROKER=HOST:PORT KAFKIT_TEST_SECURE_BROKER=HOST:PORT \
#   KAFKIT_TEST_SECURE_LISTENERS=SASL_SSL=HOST:PORT,... KAFKIT_TEST_SECURITY_DIR=DIR scripts/cli-smoke.sh
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
secure_broker=${KAFKIT_TEST_SECURE_BROKER:-}
security_dir=${KAFKIT_TEST_SECURITY_DIR:-}
sasl_ssl=$(tr ',' '\n' <<<"${KAFKIT_TEST_SECURE_LISTENERS:-}" | sed -n 's/^SASL_SSL=//p')
if [ -z "$secure_broker" ] || [ -z "$security_dir" ] || [ -z "$sasl_ssl" ]; then
	die "KAFKIT_TEST_SECURE_BROKER, KAFKIT_TEST_SECURE_LISTENERS (with SASL_SSL=) and KAFKIT_TEST_SECURITY_DIR must be set (scripts/test.sh starts the secure broker)"
fi

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

out=$(mktemp)
config=$(mktemp)
trap 'rm -f "$out" "$config"' EXIT

# Consumes $records records of topic $1 with the aarch64 binary under qemu (extra args: $2...)
# and checks that they are exactly the records produced.
smoke_consume() {
	local topic=$1 group=cli-smoke-group-$$-$RANDOM rc lines distinct run_started=$SECONDS
	shift
	log "\$ $qemu $bin consume $* --topic $topic --group $group --from earliest --count $records --idle-timeout 60 --format json"
	set +e
	timeout 180 "$qemu" "$bin" consume "$@" --topic "$topic" --group "$group" --from earliest \
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
	log "ok: the aarch64 binary under qemu consumed exactly $records records in $((SECONDS - run_started))s"
}

topic=cli-smoke-$$-$RANDOM
timeout 120 "$testkit" create-topic "$broker" "$topic" 4
timeout 120 "$testkit" produce "$broker" "$topic" "$records" smoke
smoke_consume "$topic" --brokers "$broker"

# SASL_SSL: topic and records through the secure broker's PLAINTEXT listener, consumed over TLS
# with SCRAM-SHA-512.
secure_topic=cli-smoke-sasl-$$-$RANDOM
timeout 120 "$testkit" create-topic "$secure_broker" "$secure_topic" 4
timeout 120 "$testkit" produce "$secure_broker" "$secure_topic" "$records" smoke
cat >"$config" <<EOF
bootstrap.servers=$sasl_ssl
security.protocol=SASL_SSL
sasl.mechanisms=SCRAM-SHA-512
sasl.username=alice
sasl.password=alice-secret
ssl.ca.location=$security_dir/ca.pem
EOF
smoke_consume "$secure_topic" --config "$config"
log "ok: PLAINTEXT and SASL_SSL (total $((SECONDS - started))s)"
