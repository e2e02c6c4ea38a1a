#!/usr/bin/env bash
# CPU per million records over PLAINTEXT, SSL (TLS 1.3) and SASL_SSL (SCRAM-SHA-512 over TLS 1.3),
# for kafkit (rustls + rustls-graviola) and rdkafka (librdkafka + OpenSSL), on the secure broker
# that scripts/test.sh starts (or one started by hand, see below). Interleaved rounds; the broker
# pinned to CPU 0 and each consumer run to CPU 1; one JSON line per run on stdout, a summary
# (median, min-max of client CPU-seconds per million records) on stderr.
#
#   export KAFKIT_TEST_SECURE_BROKER=... KAFKIT_TEST_SECURE_LISTENERS=... KAFKIT_TEST_SECURITY_DIR=...
#   KAFKIT_STATE=<the secure broker's state dir> scripts/bench-tls.sh [ROUNDS]
#
# Builds `cargo build --release -p kafkit-benches --features rdkafka-ssl` (librdkafka with OpenSSL:
# C, allowed in benches only), creates and fills bench-100b-2000000 (8 partitions, 2 M x 100 B)
# through the PLAINTEXT listener if it is not there yet.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rounds=${1:-3}
: "${KAFKIT_TEST_SECURE_BROKER:?set it (scripts/test.sh starts the secure broker)}"
: "${KAFKIT_TEST_SECURE_LISTENERS:?}"
: "${KAFKIT_TEST_SECURITY_DIR:?}"
listener() { tr ',' '\n' <<<"$KAFKIT_TEST_SECURE_LISTENERS" | sed -n "s/^$1=//p"; }

cargo build -q --release -p kafkit-benches --features rdkafka-ssl --bin bench-consumer --bin bench-compare
cargo build -q -p kafkit-protocol-tests --bin kafkit-testkit
topic=bench-100b-2000000
if ! timeout 60 target/debug/kafkit-testkit create-topic "$KAFKIT_TEST_SECURE_BROKER" "$topic" 8 2>/dev/null; then
	echo "bench-tls: using the existing $topic" >&2
else
	BENCH_BOOTSTRAP=$KAFKIT_TEST_SECURE_BROKER BENCH_DATASETS=100b timeout 600 target/release/bench-compare produce >&2
fi
if pid=$(scripts/kafka-broker.sh pid 1 2>/dev/null); then
	taskset -a -p -c 0 "$pid" >/dev/null
fi

ca=$KAFKIT_TEST_SECURITY_DIR/ca.pem
declare -A bootstrap=(
	[plaintext]=$KAFKIT_TEST_SECURE_BROKER
	[ssl]=$(listener SSL)
	[sasl_ssl]=$(listener SASL_SSL)
)
declare -A props=(
	[plaintext]=""
	[ssl]="security.protocol=SSL;ssl.ca.location=$ca"
	[sasl_ssl]="security.protocol=SASL_SSL;ssl.ca.location=$ca;sasl.mechanism=SCRAM-SHA-512;sasl.username=alice;sasl.password=alice-secret"
)
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq 1 "$rounds"); do
	for mode in plaintext ssl sasl_ssl; do
		for client in kafkit-merged rdkafka-stream; do
			line=$(KAFKIT_BENCH_PROPERTIES=${props[$mode]} timeout 180 taskset -c 1 \
				target/release/bench-consumer "$client" bulk "bootstrap=${bootstrap[$mode]}" "topics=$topic" \
				records=2000000 partitions=8) || {
				echo "bench-tls: $client over $mode failed in round $round" >&2
				continue
			}
			echo "{\"round\":$round,\"mode\":\"$mode\",\"run\":$line}" | tee -a "$results"
		done
	done
done
python3 - "$results" >&2 <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
rows = {}
for r in runs:
    run = r["run"]
    cpu = (run["cpu_user"] + run["cpu_sys"]) / run["records"] * 1e6
    rate = run["records"] / run["seconds"]
    rows.setdefault((run["client"], r["mode"]), []).append((cpu, rate, run["first_record_seconds"]))
print("client          mode       CPU-s per M records: median (min-max)   records/s median   first record s")
for (client, mode), xs in sorted(rows.items()):
    cpus = [x[0] for x in xs]
    print(f"{client:15} {mode:10} {statistics.median(cpus):6.3f} ({min(cpus):.3f}-{max(cpus):.3f}) n={len(xs)}"
          f"        {statistics.median([x[1] for x in xs]) / 1e6:5.2f} M         {statistics.median([x[2] for x in xs]):.2f}")
EOF
