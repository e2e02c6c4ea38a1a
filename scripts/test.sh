#!/usr/bin/env bash
# kafkit's one test command: on a fresh machine it installs and starts everything the tests need,
# runs every check, and stops what it started. `.ci/run` runs exactly this.
#
#   scripts/test.sh           everything CI runs
#   scripts/test.sh --quick   for local iteration: skips the musl builds and the fuzz smoke run
#
# Steps, cheapest first so a mistake fails fast: toolchain components and targets; rustfmt; the
# FFI-free proof (scripts/check-ffi.sh); clippy; library builds for x86_64 and aarch64 musl;
# Apache Kafka's jars from Maven Central (scripts/kafka-broker.sh install, cached in
# ~/.cache/kafkit); the test broker (Apache Kafka, one node) and a 3-node Kafka cluster for the
# tests that need leaders to move; a secure Kafka node (SSL, mutual TLS, TLS 1.2 only, an expired
# certificate, SASL_PLAINTEXT, SASL_SSL and a short-session SASL_SSL listener, over a PKI that
# `kafkit-testkit gen-certs` writes in pure Rust); confluent-kafka for mixed-group tests; cargo test; the
# reliability soak (its own step, KAFKIT_SOAK_SECS: 120 s, 20 s with --quick); the static
# aarch64 CLI under qemu (scripts/cli-smoke.sh); the README's demo (scripts/demo.sh);
# scripts/fuzz-smoke.sh.
#
# The tests get:
#   KAFKIT_TEST_BROKER  HOST:PORT of the test broker on loopback (empty at start)
#   KAFKIT_BROKER       which broker that is: kafka (default), nisshi or tansu (quick local runs)
#   KAFKIT_BROKER_BIN   nisshi/tansu only: that broker's binary
#   KAFKIT_TEST_CLUSTER the bootstrap list of a 3-node Apache Kafka cluster (always Kafka)
#   KAFKIT_TEST_CLUSTER_STATE  its state dir: `KAFKIT_STATE=$KAFKIT_TEST_CLUSTER_STATE
#                       scripts/kafka-broker.sh kill|stop-node|start-node N` acts on node N
#   KAFKIT_KAFKA_LIB    the Kafka jars (broker, tools, clients): `java -cp "$KAFKIT_KAFKA_LIB/*"`,
#                       for the Java peers the tests compile and run
#   KAFKIT_TEST_SECURE_BROKER     the secure node's PLAINTEXT address (topics are made there)
#   KAFKIT_TEST_SECURE_LISTENERS  its secure listeners, NAME=HOST:PORT,... (see scripts/kafka-broker.sh)
#   KAFKIT_TEST_SECURITY_DIR      its PEM files and SASL users (protocol-tests/src/certs.rs)
#   KAFKIT_PYTHON       a Python with confluent-kafka (librdkafka), for mixed-group tests
#   KAFKIT_SOAK_SECS    the soak's duration (set it to override the default)
# If KAFKIT_TEST_BROKER is already set, that broker is used and none is started (the cluster is
# still started unless KAFKIT_TEST_CLUSTER is set too).
# shellcheck disable=SC2317 # functions here run indirectly, through run_step and the traps
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

quick=0
for arg in "$@"; do
	case "$arg" in
	--quick) quick=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | grep -v -e '^set -euo' -e '^# shellcheck' | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "test.sh: unknown argument '$arg' (try --help)" >&2
		exit 2
		;;
	esac
done

if [ "${CI:-}" = true ]; then
	export CARGO_TERM_COLOR=never
	# A CI run builds once, so incremental caches only cost disk (about a third of target/), and
	# full debug info in every dev artifact costs most of the rest: line tables keep backtraces.
	# Together they take a clean run's target/ from about 14 GB to well under half of that.
	export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
	export CARGO_PROFILE_DEV_DEBUG=${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}
	export CARGO_PROFILE_TEST_DEBUG=${CARGO_PROFILE_TEST_DEBUG:-line-tables-only}
fi
export RUST_BACKTRACE=${RUST_BACKTRACE:-1}
export KAFKIT_BROKER=${KAFKIT_BROKER:-kafka}

# The broker this run starts keeps its state apart from one a developer started by hand.
broker_state=$repo/target/kafkit-broker/test-sh
cluster_state=$repo/target/kafkit-broker/test-sh-cluster
secure_state=$repo/target/kafkit-broker/test-sh-secure
secure_dir=$repo/target/kafkit-broker/test-sh-pki
broker_started=0
cluster_started=0
secure_started=0
test_log=$repo/target/kafkit-test-output.log

step_names=()
step_times=()
step_results=()
tests_ran=0

now() { echo "${EPOCHREALTIME/,/.}"; }

# show COMMAND...: prints COMMAND, then runs it.
show() {
	echo "\$ $*"
	"$@"
}

# run_step NAME COMMAND...: runs COMMAND, times it, and stops the whole run if it fails.
run_step() {
	local name=$1 started rc elapsed
	shift
	echo
	echo "==> $name"
	started=$(now)
	set +e
	"$@"
	rc=$?
	set -e
	elapsed=$(awk -v a="$started" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	step_names+=("$name")
	step_times+=("${elapsed}s")
	if [ "$rc" -ne 0 ]; then
		step_results+=("FAILED (exit $rc)")
		echo
		local cmd="$*"
		echo "test.sh: FAILED: step '$name' exited with $rc after ${elapsed}s: ${cmd#show }" >&2
		exit "$rc"
	fi
	step_results+=(ok)
}

skip_step() {
	step_names+=("$1")
	step_times+=("-")
	step_results+=("skipped ($2)")
}

summary() {
	[ "${#step_names[@]}" -gt 0 ] || return 0
	echo
	echo "==> timing"
	local i
	for i in "${!step_names[@]}"; do
		printf '  %-28s %9s  %s\n' "${step_names[$i]}" "${step_times[$i]}" "${step_results[$i]}"
	done
	printf '  %-28s %9s\n' total "${SECONDS}s"
	if [ "$1" -eq 0 ]; then echo "test.sh: all steps passed"; else echo "test.sh: FAILED (exit $1)"; fi
	# Last, so it is the closing line: the sum of cargo's "test result:" lines.
	if [ "$tests_ran" -eq 1 ] && [ -f "$test_log" ]; then
		# cargo prints one "test result:" line per test binary; add them up into one closing line.
		awk '/^test result: / {
			n++
			for (i = 1; i <= NF; i++) {
				if ($(i + 1) ~ /^passed;?$/) p += $i
				if ($(i + 1) ~ /^failed;?$/) f += $i
				if ($(i + 1) ~ /^ignored;?$/) s += $i
			}
		} END { if (n) printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$test_log"
	fi
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ "$broker_started" -eq 1 ]; then
		KAFKIT_STATE=$broker_state scripts/broker.sh stop || true
	fi
	if [ "$cluster_started" -eq 1 ]; then
		KAFKIT_STATE=$cluster_state scripts/kafka-broker.sh stop || true
	fi
	if [ "$secure_started" -eq 1 ]; then
		KAFKIT_STATE=$secure_state scripts/kafka-broker.sh stop || true
	fi
	summary "$rc"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

toolchain() {
	show rustup component add clippy rustfmt &&
		show rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl
}

install_broker() {
	echo "\$ scripts/kafka-broker.sh install"
	KAFKIT_KAFKA_LIB=$(scripts/kafka-broker.sh install) || return
	export KAFKIT_KAFKA_LIB
	echo "KAFKIT_KAFKA_LIB=$KAFKIT_KAFKA_LIB"
	if [ "$KAFKIT_BROKER" != kafka ]; then
		echo "\$ scripts/broker.sh install"
		KAFKIT_BROKER_BIN=$(scripts/broker.sh install) || return
		export KAFKIT_BROKER_BIN
		echo "KAFKIT_BROKER_BIN=$KAFKIT_BROKER_BIN"
	fi
}

start_broker() {
	# A broker left by a run that was killed before it could clean up.
	KAFKIT_STATE=$broker_state scripts/broker.sh stop || return
	broker_started=1
	echo "\$ scripts/broker.sh start"
	KAFKIT_TEST_BROKER=$(KAFKIT_STATE=$broker_state scripts/broker.sh start) || return
	export KAFKIT_TEST_BROKER
	echo "KAFKIT_TEST_BROKER=$KAFKIT_TEST_BROKER"
}

start_cluster() {
	KAFKIT_STATE=$cluster_state scripts/kafka-broker.sh stop || return
	cluster_started=1
	echo "\$ KAFKIT_BROKER_NODES=3 scripts/kafka-broker.sh start"
	KAFKIT_TEST_CLUSTER=$(KAFKIT_BROKER_NODES=3 KAFKIT_STATE=$cluster_state scripts/kafka-broker.sh start) || return
	KAFKIT_TEST_CLUSTER_STATE=$cluster_state
	export KAFKIT_TEST_CLUSTER KAFKIT_TEST_CLUSTER_STATE
	echo "KAFKIT_TEST_CLUSTER=$KAFKIT_TEST_CLUSTER"
}

# The secure node: a fresh PKI from kafkit-testkit (pure Rust), then Kafka with its secure listeners.
start_secure_broker() {
	KAFKIT_STATE=$secure_state scripts/kafka-broker.sh stop || return
	show cargo build -q -p kafkit-protocol-tests --bin kafkit-testkit || return
	rm -rf "$secure_dir"
	show target/debug/kafkit-testkit gen-certs "$secure_dir" || return
	secure_started=1
	echo "\$ KAFKIT_BROKER_SECURITY=$secure_dir scripts/kafka-broker.sh start"
	KAFKIT_TEST_SECURE_BROKER=$(KAFKIT_BROKER_SECURITY=$secure_dir KAFKIT_STATE=$secure_state scripts/kafka-broker.sh start) || return
	KAFKIT_TEST_SECURE_LISTENERS=$(KAFKIT_STATE=$secure_state scripts/kafka-broker.sh listeners | paste -sd,) || return
	KAFKIT_TEST_SECURITY_DIR=$secure_dir
	export KAFKIT_TEST_SECURE_BROKER KAFKIT_TEST_SECURE_LISTENERS KAFKIT_TEST_SECURITY_DIR
	echo "KAFKIT_TEST_SECURE_BROKER=$KAFKIT_TEST_SECURE_BROKER"
	echo "KAFKIT_TEST_SECURE_LISTENERS=$KAFKIT_TEST_SECURE_LISTENERS"
}

# librdkafka as a fellow group member: PyPI confluent-kafka (its wheel bundles librdkafka) in a venv
# cached outside the clone.
CONFLUENT_KAFKA_VERSION=${CONFLUENT_KAFKA_VERSION:-2.16.1}
install_python_peers() {
	local cache=${KAFKIT_CACHE:-$HOME/.cache/kafkit}
	local venv=$cache/peers-venv-confluent-kafka-$CONFLUENT_KAFKA_VERSION
	if ! "$venv/bin/python" -c 'import confluent_kafka' 2>/dev/null; then
		rm -rf "$venv"
		mkdir -p "$cache"
		show python3 -m venv "$venv" || return
		show "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input \
			"confluent-kafka==$CONFLUENT_KAFKA_VERSION" || return
	fi
	KAFKIT_PYTHON=$venv/bin/python
	export KAFKIT_PYTHON
	echo "KAFKIT_PYTHON=$KAFKIT_PYTHON ($("$KAFKIT_PYTHON" -c 'import confluent_kafka as c; print("confluent-kafka", c.version()[0], "librdkafka", c.libversion()[0])'))"
}

cargo_test() {
	tests_ran=1
	mkdir -p "$(dirname "$test_log")"
	echo "\$ cargo test --workspace"
	cargo test --workspace 2>&1 | tee "$test_log"
}

# --all-targets leaves out test targets with test = false (the soak), so it is named as well.
clippy_all() {
	show cargo clippy --workspace --all-targets -- -D warnings &&
		show cargo clippy -p kafkit-protocol-tests --test soak -- -D warnings
}

# The reliability soak (protocol-tests/tests/soak.rs): member processes joining, stopping and
# being killed for KAFKIT_SOAK_SECS (120 s in CI, 20 s with --quick) while a producer writes. It is
# a test target that `cargo test --workspace` leaves out (test = false), so it runs here, alone,
# after the others; its result line joins the same log and the closing tally.
soak_test() {
	export KAFKIT_SOAK_SECS=${KAFKIT_SOAK_SECS:-$([ "$quick" -eq 1 ] && echo 20 || echo 120)}
	echo "\$ KAFKIT_SOAK_SECS=$KAFKIT_SOAK_SECS cargo test -p kafkit-protocol-tests --test soak -- --nocapture"
	cargo test -p kafkit-protocol-tests --test soak -- --nocapture 2>&1 | tee -a "$test_log"
}

# In a function, read whole before it runs: editing this file while it runs cannot change what it does.
main() {
	run_step "toolchain (rustup)" toolchain
	if [ "${CI:-}" = true ]; then
		run_step "rustfmt" show cargo fmt --all --check -- --color=never
	else
		run_step "rustfmt" show cargo fmt --all --check
	fi
	run_step "check-ffi" show scripts/check-ffi.sh
	run_step "clippy" clippy_all
	if [ "$quick" -eq 1 ]; then
		skip_step "build x86_64 musl" --quick
		skip_step "build aarch64 musl" --quick
	else
		run_step "build x86_64 musl" show cargo build -p kafkit --target x86_64-unknown-linux-musl
		run_step "build aarch64 musl" show cargo build -p kafkit --target aarch64-unknown-linux-musl
	fi
	run_step "broker install ($KAFKIT_BROKER)" install_broker
	if [ -n "${KAFKIT_TEST_BROKER:-}" ]; then
		echo "test.sh: using the broker at KAFKIT_TEST_BROKER=$KAFKIT_TEST_BROKER from the environment"
		skip_step "broker start" "KAFKIT_TEST_BROKER given"
	else
		run_step "broker start ($KAFKIT_BROKER)" start_broker
	fi
	if [ -n "${KAFKIT_TEST_CLUSTER:-}" ]; then
		echo "test.sh: using the cluster at KAFKIT_TEST_CLUSTER=$KAFKIT_TEST_CLUSTER from the environment"
		skip_step "cluster start" "KAFKIT_TEST_CLUSTER given"
	else
		run_step "cluster start (kafka x3)" start_cluster
	fi
	if [ -n "${KAFKIT_TEST_SECURE_BROKER:-}" ]; then
		echo "test.sh: using the secure broker at KAFKIT_TEST_SECURE_BROKER=$KAFKIT_TEST_SECURE_BROKER from the environment"
		skip_step "secure broker start" "KAFKIT_TEST_SECURE_BROKER given"
	else
		run_step "secure broker start (kafka)" start_secure_broker
	fi
	run_step "python peers (confluent-kafka)" install_python_peers
	run_step "cargo test" cargo_test
	run_step "soak" soak_test
	if [ "$quick" -eq 1 ]; then
		skip_step "cli smoke (aarch64, qemu)" --quick
		skip_step "demo" --quick
	else
		run_step "cli smoke (aarch64, qemu)" show scripts/cli-smoke.sh
		run_step "demo" show scripts/demo.sh
	fi
	if [ "$quick" -eq 1 ]; then
		skip_step "fuzz smoke" --quick
	elif [ -x scripts/fuzz-smoke.sh ]; then
		run_step "fuzz smoke" show scripts/fuzz-smoke.sh
	else
		skip_step "fuzz smoke" "no scripts/fuzz-smoke.sh"
	fi
}

main
exit
