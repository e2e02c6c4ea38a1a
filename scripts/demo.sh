#!/usr/bin/env bash
# kafkit in two minutes: one command on a fresh machine (needs cargo, python3, Java 17+ and Maven).
#
#   ./scripts/demo.sh
#
# Installs and starts a local Apache Kafka broker (jars from Maven Central, cached), creates a
# topic with 6 partitions, and runs two `kafkit consume` members of one group side by side: each
# prints the records of the partitions it owns. Then it stops member B, which commits and leaves;
# member A takes over all six partitions. Finally it stops everything it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Apache Kafka by default; KAFKIT_BROKER=tansu or nisshi for the quick Rust brokers.
export KAFKIT_BROKER=${KAFKIT_BROKER:-kafka}
state=$(mktemp -d "${TMPDIR:-/tmp}/kafkit-demo.XXXXXX")
export KAFKIT_STATE=$state
topic=orders
group=demo-group
pids=()

# Waits (at most 30 s) until the members have printed $1 records in all.
wait_for_records() {
	local deadline=$((SECONDS + 30))
	while [ "$(wc -l <"$state/printed" 2>/dev/null || echo 0)" -lt "$1" ]; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "demo: only $(wc -l <"$state/printed") of $1 records arrived within 30 s; the members said:" >&2
			cat "$state"/member-*.err >&2
			exit 1
		fi
		sleep 0.2
	done
}

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	scripts/broker.sh stop 2>/dev/null || true
	rm -rf "$state"
	[ "$rc" -eq 0 ] && say "done: stopped both members and the broker"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "building kafkit and the test producer (cargo build)"
cargo build --quiet -p kafkit-cli -p kafkit-protocol-tests --bin kafkit --bin kafkit-testkit
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
kafkit=$target_dir/debug/kafkit
testkit=$target_dir/debug/kafkit-testkit

say "starting a local $KAFKIT_BROKER broker (scripts/broker.sh; installs it on first use)"
broker=$(scripts/broker.sh start 2>"$state/broker.err") || {
	cat "$state/broker.err" >&2
	exit 1
}
echo "broker at $broker"

say "creating topic '$topic' with 6 partitions"
"$testkit" create-topic "$broker" "$topic" 6 2>/dev/null
"$kafkit" metadata --brokers "$broker" --topic "$topic"

# Starts member $1 in the background; its records print as "[member X] partition P: VALUE".
member() {
	local name=$1
	"$kafkit" consume --brokers "$broker" --topic "$topic" --group "$group" --from earliest --format json \
		--property session.timeout.ms=6000 --property heartbeat.interval.ms=1000 \
		2>"$state/member-$name.err" \
		> >(sed -u -E "s/.*\"partition\":([0-9]+),\"offset\":([0-9]+).*\"value\":\"([^\"]*)\".*/[member $name] partition \1: \3/" |
			tee -a "$state/printed") &
	pids+=($!)
	eval "pid_$name=\$!"
}

say "starting two members of group '$group': kafkit consume --group $group (A and B)"
echo "\$ kafkit consume --brokers $broker --topic $topic --group $group --from earliest --format json"
member A
member B
sleep 8 # both join; the group splits the 6 partitions between them

say "producing 12 records: each member prints those of the partitions it owns"
"$testkit" produce "$broker" "$topic" 12 order 2>/dev/null
wait_for_records 12

say "stopping member B (SIGTERM): it commits, leaves the group, and A takes over all 6 partitions"
# shellcheck disable=SC2154 # set by member() through eval
kill -TERM "$pid_B"
wait "$pid_B" && echo "member B exited with status 0"
sleep 6

say "producing 12 more records: member A now prints them all"
"$testkit" produce "$broker" "$topic" 12 later 2>/dev/null
wait_for_records 24
