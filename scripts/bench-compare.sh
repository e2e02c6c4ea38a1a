#!/usr/bin/env bash
# Compares kafkit's consumer with the Java KafkaConsumer (and Kafka's ConsumerPerformance),
# franz-go, confluent-kafka (Rust), rdkafka, krafka and rskafka on a local Apache Kafka broker and
# writes benches/RESULTS.md: bulk throughput, latency, rebalance pause and many-partition scale.
#
#   scripts/bench-compare.sh [options]
#
# Options (each also settable as the environment variable in brackets):
#   --phases LIST       comma-separated, from bulk,latency,rebalance,scale (BENCH_PHASES, default all)
#   --rounds N          interleaved rounds per case (BENCH_ROUNDS, default 3)
#   --datasets LIST     bulk data sets, from 100b,1k,zstd,lz4 (BENCH_DATASETS, default all)
#                         100b: 2,000,000 records x 100 B, uncompressed
#                         1k:     200,000 records x 1000 B, uncompressed
#                         zstd: 2,000,000 records x 100 B, zstd
#                         lz4:  2,000,000 records x 100 B, lz4
#   --clients LIST      comma-separated, from kafkit-merged,kafkit-partitions,java,java-perf,franz,
#                       confluent,rdkafka-stream,rdkafka-assign,krafka,rskafka (BENCH_CLIENTS,
#                       default all; each phase skips the clients it does not apply to)
#   --quick             a tenth of the bulk records, short latency/rebalance/scale windows, 1 round
#                       unless --rounds is given, no build-cost measurement unless --build-cost is
#                       given: a check that the harness works (about 10 minutes)
#   --quick-windows     the short latency/rebalance/scale windows of --quick, but full-size bulk
#                       data sets and the given rounds (BENCH_QUICK_WINDOWS=1)
#   --skip-build-cost   do not measure the clean build time and binary size of the minimal
#                       consumers in benches/minimal/ (BENCH_SKIP_BUILD_COST=1)
#   --build-cost        measure them even with --quick
#   --build-cost-only   only (re)measure the build cost and rewrite the report from the consumer
#                       results of the previous run in target/bench-results/
#   --timeout S         seconds before a consumer run counts as failed (BENCH_TIMEOUT, default 180)
#   --idle-wait S       before each run, wait up to S seconds for the measured CPUs to be >= 90%
#                       idle (BENCH_IDLE_WAIT, default 30); runs started on a busy CPU are listed
#   --note TEXT         a note printed at the top of RESULTS.md (BENCH_NOTE), e.g. "preliminary"
#   --out PATH          where to write the results (BENCH_OUT, default benches/RESULTS.md)
#   --no-rdkafka-zstd   build librdkafka without zstd (then the rdkafka peers fail on the zstd
#                       data set). By default this script builds kafkit-benches with its feature
#                       rdkafka-zstd; plain workspace builds (tests, clippy) leave it off, so they
#                       build librdkafka once, with protocol-tests' features, and only this
#                       script's release build has the zstd variant (BENCH_RDKAFKA_ZSTD=0)
#
# The broker: KAFKIT_BROKER=kafka (default) starts one Apache Kafka node with
# scripts/kafka-broker.sh under `taskset -c 0` (state in target/bench-broker), sized for
# benchmarking: heap KAFKIT_KAFKA_HEAP (default "-Xms2g -Xmx2g"), and the overrides
# "num.io.threads=4 num.network.threads=3 socket.send.buffer.bytes=-1 socket.receive.buffer.bytes=-1"
# plus $KAFKIT_KAFKA_OVERRIDES. KAFKIT_BROKER=nisshi or tansu starts that broker with
# scripts/broker.sh instead (flags "--group-initial-rebalance-delay 0s" plus $KAFKIT_BROKER_ARGS).
#
# What it does: builds benches/ in release mode, the Java program (javac against the jars
# `scripts/kafka-broker.sh install` prints) and the franz-go program (go build); starts the broker
# and pins it to CPU 0; creates the topics and produces the bulk data sets once; runs every phase
# with every consumer as its own process pinned to CPU 1, interleaved, with a timeout (a steady
# producer process on CPU 0 during the latency, rebalance and scale phases); samples the broker's
# CPU time around each run; optionally measures build cost; writes the report. Raw results stay in
# target/bench-results/ (runs.jsonl, build-cost.tsv, meta.env). Everything it starts is stopped on
# exit. Needs taskset (util-linux), java/javac 17+, go, mvn (first Kafka install) and 2 CPUs.
set -euo pipefail

log() { printf 'bench-compare.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
usage() {
	sed -n '2,/^set -euo/p' "$0" | grep -v -e '^set -euo' -e '^# shellcheck' | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}

# Stops the broker if this script started it (an EXIT trap).
# shellcheck disable=SC2317 # runs through the trap
cleanup() {
	local rc=$?
	if [ "${broker_started:-0}" = 1 ]; then scripts/broker.sh stop || true; fi
	exit "$rc"
}

# Clean release build (-j2, fresh target dir) of each benches/minimal/<client>, timed, and the size
# of its stripped binary: appended to $results/build-cost.tsv as CLIENT SECONDS BYTES.
measure_build_cost() {
	local client dir tmp start_ns seconds
	rm -f "$results/build-cost.tsv"
	echo "build_cost_when=$(date -u '+%Y-%m-%d %H:%M UTC'), load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$results/meta.env"
	for client in kafkit rdkafka krafka rskafka; do
		dir=$repo/benches/minimal/$client
		tmp=$(mktemp -d "${TMPDIR:-/tmp}/kafkit-bench-build.XXXXXX")
		log "clean build of benches/minimal/$client (target $tmp)"
		start_ns=$(date +%s%N)
		if cargo build --release -j2 --locked --manifest-path "$dir/Cargo.toml" --target-dir "$tmp" \
			>"$results/build-$client.log" 2>&1; then
			seconds=$((($(date +%s%N) - start_ns + 500000000) / 1000000000))
			strip -o "$tmp/stripped" "$tmp/release/minimal-$client"
			printf '%s\t%s\t%s\n' "$client" "$seconds" "$(stat -c %s "$tmp/stripped")" >>"$results/build-cost.tsv"
		else
			log "build of $client failed; see $results/build-$client.log"
			printf '%s\tfailed\tfailed\n' "$client" >>"$results/build-cost.tsv"
		fi
		rm -rf "$tmp"
	done
}

# In a function, read whole before it runs: editing this file while it runs cannot change what it does.
main() {
	cd "$(dirname "${BASH_SOURCE[0]}")/.."
	repo=$PWD

	rounds=${BENCH_ROUNDS:-}
	phases=${BENCH_PHASES:-bulk,latency,rebalance,scale}
	datasets=${BENCH_DATASETS:-100b,1k,zstd,lz4}
	clients=${BENCH_CLIENTS:-}
	quick=${BENCH_QUICK:-0}
	quick_windows=${BENCH_QUICK_WINDOWS:-0}
	skip_build_cost=${BENCH_SKIP_BUILD_COST:-}
	timeout_s=${BENCH_TIMEOUT:-180}
	idle_wait=${BENCH_IDLE_WAIT:-30}
	note=${BENCH_NOTE:-}
	out=${BENCH_OUT:-$repo/benches/RESULTS.md}
	rdkafka_zstd=${BENCH_RDKAFKA_ZSTD:-1}
	build_cost_only=0
	# The options as RESULTS.md shows them (the note is shown on its own).
	args=()
	local a skip=0
	for a in "$@"; do
		if [ "$skip" = 1 ]; then
			skip=0
		elif [ "$a" = --note ]; then
			skip=1
		else
			args+=("$a")
		fi
	done

	while [ $# -gt 0 ]; do
		case "$1" in
		--rounds) rounds=${2:?--rounds needs a number}; shift ;;
		--phases) phases=${2:?--phases needs a list}; shift ;;
		--datasets) datasets=${2:?--datasets needs a list}; shift ;;
		--clients) clients=${2:?--clients needs a list}; shift ;;
		--quick) quick=1 ;;
		--quick-windows) quick_windows=1 ;;
		--skip-build-cost) skip_build_cost=1 ;;
		--build-cost) skip_build_cost=0 ;;
		--build-cost-only) build_cost_only=1 ;;
		--timeout) timeout_s=${2:?--timeout needs seconds}; shift ;;
		--idle-wait) idle_wait=${2:?--idle-wait needs seconds}; shift ;;
		--note)
			note=${2:?--note needs text}
			shift
			;;
		--out) out=${2:?--out needs a path}; shift ;;
		--no-rdkafka-zstd) rdkafka_zstd=0 ;;
		-h | --help) usage 0 ;;
		*)
			log "unknown argument '$1'"
			usage 2
			;;
		esac
		shift
	done
	if [ -z "$rounds" ]; then
		if [ "$quick" = 1 ]; then rounds=1; else rounds=3; fi
	fi
	if [ -z "$skip_build_cost" ]; then
		if [ "$quick" = 1 ]; then skip_build_cost=1; else skip_build_cost=0; fi
	fi
	case "$out" in /*) ;; *) out=$repo/$out ;; esac

	[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (broker on CPU 0, consumers on CPU 1)"
	command -v taskset >/dev/null || die "needs taskset (util-linux)"

	results=$repo/target/bench-results
	export KAFKIT_BROKER=${KAFKIT_BROKER:-kafka}
	export KAFKIT_STATE=$repo/target/bench-broker
	case "$KAFKIT_BROKER" in
	kafka)
		export KAFKIT_KAFKA_HEAP=${KAFKIT_KAFKA_HEAP:--Xms2g -Xmx2g}
		export KAFKIT_KAFKA_OVERRIDES="num.io.threads=4 num.network.threads=3 socket.send.buffer.bytes=-1 socket.receive.buffer.bytes=-1${KAFKIT_KAFKA_OVERRIDES:+ $KAFKIT_KAFKA_OVERRIDES}"
		broker_flags="heap $KAFKIT_KAFKA_HEAP; $KAFKIT_KAFKA_OVERRIDES"
		;;
	nisshi | tansu)
		broker_flags="--group-initial-rebalance-delay 0s${KAFKIT_BROKER_ARGS:+ $KAFKIT_BROKER_ARGS}"
		export KAFKIT_BROKER_ARGS=$broker_flags
		;;
	*) die "KAFKIT_BROKER must be kafka, nisshi or tansu" ;;
	esac

	# --- build -------------------------------------------------------------------------------------
	features=()
	if [ "$rdkafka_zstd" = 1 ]; then features=(--features rdkafka-zstd); fi
	log "building benches (release)"
	cargo build --release -p kafkit-benches --bins "${features[@]}" >&2
	target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
	bin_dir=$target_dir/release
	if ! [ -x "$bin_dir/bench-consumer" ] || ! [ -x "$bin_dir/bench-compare" ]; then
		die "benches binaries missing in $bin_dir"
	fi
	kafka_lib=$(scripts/kafka-broker.sh install)
	java_classes=$target_dir/bench-java
	log "compiling benches/java/BenchConsumer.java against $kafka_lib"
	rm -rf "$java_classes"
	mkdir -p "$java_classes"
	javac -nowarn -cp "$kafka_lib/*" -d "$java_classes" benches/java/BenchConsumer.java >&2 || die "javac failed"
	franz_bin=$target_dir/bench-franz/bench-franz
	log "building benches/franz (go build)"
	(cd benches/franz && go build -o "$franz_bin" .) >&2 || die "go build of benches/franz failed"
	if [ "$build_cost_only" = 1 ]; then
		[ -f "$results/runs.jsonl" ] || die "no previous results in $results: run without --build-cost-only first"
		measure_build_cost
		BENCH_RESULTS_DIR=$results BENCH_OUT=$out "$bin_dir/bench-compare" report
		log "done: $out (raw results in $results)"
		return
	fi

	# --- broker ------------------------------------------------------------------------------------
	broker_started=0
	trap cleanup EXIT
	trap 'exit 130' INT TERM

	if [ "$KAFKIT_BROKER" = kafka ]; then
		# Started under taskset, so the JVM and every thread it starts are on CPU 0 from the start.
		bootstrap=$(taskset -c 0 scripts/kafka-broker.sh start)
		broker_started=1
		broker_pid=$(scripts/kafka-broker.sh pid 1)
		broker_desc="Apache Kafka $(basename "$(dirname "$kafka_lib")" | sed 's/^kafka-//') (KRaft, one combined node, scripts/kafka-broker.sh; log dirs on disk in target/bench-broker), \`$broker_flags\`"
	else
		broker_bin=$(scripts/broker.sh install)
		bootstrap=$(scripts/broker.sh start)
		broker_started=1
		broker_pid=$(sed -n 's/^pid=//p' "$KAFKIT_STATE/$KAFKIT_BROKER.state")
		broker_desc="$("$broker_bin" --version 2>/dev/null | head -n 1 || echo "$KAFKIT_BROKER") on loopback, memory storage, flags \`$broker_flags\`"
	fi
	taskset -a -p -c 0 "$broker_pid" >/dev/null
	log "broker $bootstrap (pid $broker_pid) pinned to CPU 0: $broker_flags"

	# --- meta and data -----------------------------------------------------------------------------
	rm -rf "$results"
	mkdir -p "$results"
	{
		echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
		echo "nproc=$(nproc)"
		echo "cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
		echo "loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
		echo "broker=$broker_desc"
		echo "broker_flags=$broker_flags"
		echo "phases=$phases"
		echo "kafka_version=$(basename "$kafka_lib"/kafka-clients-*.jar .jar | sed 's/^kafka-clients-//')"
		echo "java_version=$(java -version 2>&1 | head -n 1)"
		echo "go_version=$(go version | cut -d' ' -f3)"
		echo "franz_version=$(sed -n 's/^require github.com\/twmb\/franz-go \(v[^ ]*\).*/\1/p' benches/franz/go.mod)"
		echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
		echo "rounds=$rounds"
		echo "idle_wait=$idle_wait"
		echo "quick=$quick"
		echo "quick_windows=$quick_windows"
		echo "rdkafka_zstd=$rdkafka_zstd"
		echo "args=${args[*]}"
		if [ -n "$note" ]; then echo "note=$note"; fi
	} >"$results/meta.env"

	export BENCH_BOOTSTRAP=$bootstrap BENCH_BROKER_PID=$broker_pid BENCH_DATASETS=$datasets BENCH_CLIENTS=$clients
	export BENCH_PHASES=$phases BENCH_ROUNDS=$rounds BENCH_QUICK=$quick BENCH_QUICK_WINDOWS=$quick_windows
	export BENCH_TIMEOUT=$timeout_s
	export BENCH_IDLE_WAIT=$idle_wait BENCH_RESULTS_DIR=$results BENCH_OUT=$out
	export BENCH_CONSUMER=$bin_dir/bench-consumer BENCH_SELF=$bin_dir/bench-compare BENCH_FRANZ=$franz_bin
	export BENCH_JAVA=java BENCH_JAVA_CP="$kafka_lib/*:$java_classes"

	log "creating topics"
	"$bin_dir/bench-compare" topics
	case ",$phases," in
	*,bulk,*)
		log "producing the bulk data sets"
		taskset -c 1 "$bin_dir/bench-compare" produce
		;;
	esac

	# --- consumers ---------------------------------------------------------------------------------
	log "running phases $phases: $rounds round(s)"
	"$bin_dir/bench-compare" run
	echo "loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$results/meta.env"

	# --- build cost --------------------------------------------------------------------------------
	if [ "$skip_build_cost" != 1 ]; then
		scripts/broker.sh stop
		broker_started=0
		measure_build_cost
	fi

	# --- report ------------------------------------------------------------------------------------
	"$bin_dir/bench-compare" report
	log "done: $out (raw results in $results)"
}

main "$@"
exit
