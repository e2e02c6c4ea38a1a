#!/usr/bin/env bash
# Apache Kafka (KRaft, from Maven Central jars) for kafkit's tests: one combined broker+controller,
# or a cluster of N, on free 127.0.0.1 ports. scripts/broker.sh runs this when KAFKIT_BROKER=kafka
# (the default); it can also be run directly.
#
#   scripts/kafka-broker.sh install        resolve the jars into the cache if missing; print the lib dir
#   scripts/kafka-broker.sh start          format and start KAFKIT_BROKER_NODES nodes (default 1), wait
#                                          until every one answers over the Kafka protocol and the
#                                          metadata lists them all; print the bootstrap list
#   scripts/kafka-broker.sh stop           stop every node that `start` started (SIGTERM, then SIGKILL)
#   scripts/kafka-broker.sh status         whether it runs (exit 0) or not (exit 1)
#   scripts/kafka-broker.sh addr           the bootstrap list (HOST:PORT,...)
#   scripts/kafka-broker.sh bin            the lib dir (run classes with java -cp 'DIR/*')
#   scripts/kafka-broker.sh topic NAME PARTITIONS [REPLICAS]
#                                          create a topic (Kafka's TopicCommand)
#   scripts/kafka-broker.sh kill N         SIGKILL node N's JVM (a crash: no controlled shutdown)
#   scripts/kafka-broker.sh stop-node N    stop node N cleanly (SIGTERM: controlled shutdown)
#   scripts/kafka-broker.sh start-node N   start node N again on its old ports and log dir; wait
#                                          until it is back in the metadata
#   scripts/kafka-broker.sh node-addr N    node N's HOST:PORT
#   scripts/kafka-broker.sh pid N          node N's JVM pid (exit 1 when it is not running)
#   scripts/kafka-broker.sh listeners      with KAFKIT_BROKER_SECURITY: the secure listeners of node 1,
#                                          one NAME=HOST:PORT per line
#
# Environment:
#   KAFKIT_BROKER_NODES  nodes to start (default 1; 3 for the cluster tests). Each is a combined
#                        broker+controller; with 3, the quorum survives one node's loss, node N
#                        has broker.rack=rack-N, and internal topics have 3 replicas.
#   KAFKIT_CACHE         jar cache, outside the clone (default ~/.cache/kafkit)
#   KAFKIT_STATE         where pids, ports, configs, logs and data live (default <repo>/target/kafkit-broker)
#   KAFKIT_BROKER_START_TIMEOUT  seconds to wait for the nodes to be ready (default 90)
#   KAFKIT_KAFKA_OVERRIDES       extra broker settings, "key=value" separated by spaces
#   KAFKIT_KAFKA_HEAP            JVM heap flags (default "-Xms256m -Xmx1g")
#   KAFKIT_BROKER_SECURITY       opt-in: a directory of PEM material and users (as written by
#                        `kafkit-testkit gen-certs DIR`: ca.pem, broker.pem, expired.pem, users). Adds,
#                        besides PLAINTEXT (still the inter-broker listener and the printed address):
#                          SSL             TLS 1.2 and 1.3, no client certificate
#                          MTLS            TLS with ssl.client.auth=required (truststore ca.pem)
#                          TLS12           TLS with ssl.enabled.protocols=TLSv1.2 only
#                          EXPIRED         TLS with the expired certificate expired.pem
#                          SASL_PLAINTEXT  SASL without TLS
#                          SASL_SSL        SASL over TLS
#                          REAUTH          SASL over TLS with connections.max.reauth.ms=KAFKIT_BROKER_REAUTH_MS
#                                          (default 5000): KIP-368 re-authentication; enables PLAIN,
#                                          SCRAM-SHA-256 and OAUTHBEARER (not SCRAM-SHA-512)
#                        SASL listeners enable PLAIN (JAAS users), SCRAM-SHA-256/512 (the users in
#                        `users`, "name password" lines, created at format time with --add-scram)
#                        and OAUTHBEARER (Kafka's unsecured JWT validator: tests only). One node only.
#   JAVA                         the java binary (default: $JAVA_HOME/bin/java, else java on PATH)
#
# Logs go to stderr; only results (an address, a path) go to stdout.
set -euo pipefail

readonly KAFKA_VERSION=4.1.2

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${KAFKIT_CACHE:-$HOME/.cache/kafkit}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
lib_dir=$cache/kafka-$KAFKA_VERSION/lib
state_dir=${KAFKIT_STATE:-$repo/target/kafkit-broker}
state_file=$state_dir/kafka.state
nodes_dir=$state_dir/kafka
start_timeout=${KAFKIT_BROKER_START_TIMEOUT:-90}
probe=$repo/scripts/kafka-probe.py

log() { printf 'kafka-broker.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

java_bin() {
	if [ -n "${JAVA:-}" ]; then
		echo "$JAVA"
	elif [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
		echo "$JAVA_HOME/bin/java"
	else
		command -v java || die "no java on PATH (Kafka $KAFKA_VERSION needs Java 17 or newer)"
	fi
}

# Holds an exclusive lock on $1 for the rest of this process, so two installs never race.
lock() {
	mkdir -p "$(dirname "$1")"
	exec 9>"$1"
	if ! flock -n 9; then
		log "another install holds $1; waiting for it"
		flock 9
	fi
}
unlock() { exec 9>&-; }

# Resolves the jars with Maven into a private directory, then renames it into place, so an
# interrupted download never leaves a half-filled lib dir behind.
do_install() {
	if [ ! -f "$lib_dir/.complete" ]; then
		lock "$cache/kafka-$KAFKA_VERSION.lock"
		if [ ! -f "$lib_dir/.complete" ]; then
			command -v mvn >/dev/null || die "installing Kafka's jars needs Maven (mvn) on PATH"
			local tmp=$cache/.kafka-$KAFKA_VERSION.lib.$$ started=$SECONDS
			rm -rf "$tmp"
			log "resolving Apache Kafka $KAFKA_VERSION from Maven Central (scripts/kafka/pom.xml)"
			if ! mvn -B -q -f "$repo/scripts/kafka/pom.xml" dependency:copy-dependencies \
				-Dkafka.version="$KAFKA_VERSION" -DincludeScope=runtime -DoutputDirectory="$tmp" >&2; then
				rm -rf "$tmp"
				die "mvn could not resolve Kafka $KAFKA_VERSION (see above)"
			fi
			[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] || die "mvn ran but $tmp has no kafka_2.13-$KAFKA_VERSION.jar"
			touch "$tmp/.complete"
			rm -rf "$lib_dir"
			mkdir -p "$(dirname "$lib_dir")"
			mv "$tmp" "$lib_dir"
			log "installed $(find "$lib_dir" -name '*.jar' | wc -l) jars at $lib_dir in $((SECONDS - started))s"
		fi
		unlock
	fi
	echo "$lib_dir"
}

# Whether process $1 exists and has not exited (a zombie has exited).
alive() {
	local _pid _comm st
	read -r _pid _comm st _ 2>/dev/null <"/proc/$1/stat" || return 1
	[ "$st" != Z ]
}

state_value() { [ -f "$state_file" ] && sed -n "s/^$1=//p" "$state_file"; }

set_state() {
	local key=$1 value=$2 tmp=$state_file.tmp.$$
	{
		grep -v "^$key=" "$state_file" 2>/dev/null || true
		echo "$key=$value"
	} >"$tmp"
	mv -f "$tmp" "$state_file"
}

# The pid of node $1 if that process is alive and is the JVM we started for it.
node_pid() {
	local pid
	pid=$(state_value "pid.$1")
	[ -n "$pid" ] && alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "kafka.Kafka $nodes_dir/node-$1/server.properties" || return 1
	echo "$pid"
}

node_count() { state_value nodes; }

any_running() {
	local n count
	count=$(node_count) || return 1
	[ -n "$count" ] || return 1
	for n in $(seq 1 "$count"); do
		node_pid "$n" >/dev/null && return 0
	done
	return 1
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

min() { if [ "$1" -lt "$2" ]; then echo "$1"; else echo "$2"; fi; }

readonly secure_listeners=(SSL MTLS TLS12 EXPIRED SASL_PLAINTEXT SASL_SSL REAUTH)

secure_protocol() {
	case $1 in
	SASL_PLAINTEXT) echo SASL_PLAINTEXT ;;
	SASL_SSL | REAUTH) echo SASL_SSL ;;
	*) echo SSL ;;
	esac
}

# The KAFKIT_BROKER_SECURITY directory (absolute), checked; exit 1 when security is not asked for.
security_dir() {
	[ -n "${KAFKIT_BROKER_SECURITY:-}" ] || return 1
	local dir f
	dir=$(cd "$KAFKIT_BROKER_SECURITY" && pwd) || die "KAFKIT_BROKER_SECURITY=$KAFKIT_BROKER_SECURITY is not a directory"
	for f in ca.pem broker.pem expired.pem users; do
		[ -f "$dir/$f" ] || die "KAFKIT_BROKER_SECURITY: $dir has no $f (write it with: kafkit-testkit gen-certs $dir)"
	done
	echo "$dir"
}

# The broker settings for the secure listeners (appended to server.properties).
security_config() {
	local dir=$1 lower jaas_plain user password
	jaas_plain='org.apache.kafka.common.security.plain.PlainLoginModule required'
	while read -r user password; do
		[ -n "$user" ] && jaas_plain+=" user_$user=\"$password\""
	done <"$dir/users"
	echo "# Secure listeners (KAFKIT_BROKER_SECURITY=$dir)."
	echo "ssl.keystore.type=PEM"
	echo "ssl.keystore.location=$dir/broker.pem"
	echo "ssl.truststore.type=PEM"
	echo "ssl.truststore.location=$dir/ca.pem"
	echo "listener.name.mtls.ssl.client.auth=required"
	echo "listener.name.tls12.ssl.enabled.protocols=TLSv1.2"
	echo "listener.name.tls12.ssl.protocol=TLSv1.2"
	echo "listener.name.expired.ssl.keystore.location=$dir/expired.pem"
	echo "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER"
	echo "listener.name.reauth.connections.max.reauth.ms=${KAFKIT_BROKER_REAUTH_MS:-5000}"
	# REAUTH leaves SCRAM-SHA-512 out, so a test can meet UNSUPPORTED_SASL_MECHANISM.
	echo "listener.name.reauth.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,OAUTHBEARER"
	for lower in sasl_plaintext sasl_ssl reauth; do
		echo "listener.name.$lower.plain.sasl.jaas.config=$jaas_plain;"
		echo "listener.name.$lower.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
		echo "listener.name.$lower.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
		echo "listener.name.$lower.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;"
	done
}

# StorageTool arguments that create every user in $1/users for SCRAM-SHA-256 and -512.
scram_args() {
	local user password
	while read -r user password; do
		[ -n "$user" ] || continue
		echo "--add-scram"
		echo "SCRAM-SHA-256=[name=$user,password=$password]"
		echo "--add-scram"
		echo "SCRAM-SHA-512=[name=$user,password=$password]"
	done <"$1/users"
}

# Writes node $1's server.properties from the ports in the state file.
write_config() {
	local n=$1 count voters i dir rf
	count=$(node_count)
	dir=$nodes_dir/node-$n
	voters=""
	for i in $(seq 1 "$count"); do
		voters+="${voters:+,}$i@127.0.0.1:$(state_value "cport.$i")"
	done
	rf=$(min "$count" 3)
	local extra_listeners="" extra_map="" sec_dir="" l
	if sec_dir=$(security_dir); then
		for l in "${secure_listeners[@]}"; do
			extra_listeners+=",$l://127.0.0.1:$(state_value "lport.$l.$n")"
			extra_map+=",$l:$(secure_protocol "$l")"
		done
	fi
	mkdir -p "$dir"
	cat >"$dir/server.properties" <<EOF
# Written by scripts/kafka-broker.sh for kafkit's tests: node $n of $count, loopback only.
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(state_value "port.$n"),CONTROLLER://127.0.0.1:$(state_value "cport.$n")$extra_listeners
advertised.listeners=PLAINTEXT://127.0.0.1:$(state_value "port.$n")$extra_listeners
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT$extra_map
log.dirs=$dir/data
broker.rack=rack-$n
replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=$([ "$count" -gt 1 ] && echo 12 || echo 4)
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$(min "$count" 2)
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=1
# Tests start groups all the time: no initial rebalance delay (Kafka's default is 3 s), and
# session timeouts down to 1 s are accepted (Kafka's default minimum is 6 s).
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
# The consumer protocol (KIP-848) with test-sized timers (defaults: 45 s session, 5 s heartbeat).
group.consumer.min.session.timeout.ms=3000
group.consumer.session.timeout.ms=10000
group.consumer.min.heartbeat.interval.ms=500
group.consumer.heartbeat.interval.ms=1000
# Broker-evaluated subscription regexes are matched again this often (default 10 min; 10 s is
# the least Kafka accepts), so a test sees a new matching topic assigned.
group.consumer.regex.refresh.interval.ms=10000
# A killed node is fenced after 3 s (default 9 s), so leaders move quickly in the fault tests.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
# Sized for a 2-core machine.
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=2097152
EOF
	if [ -n "$sec_dir" ]; then
		security_config "$sec_dir" >>"$dir/server.properties"
	fi
	local kv
	for kv in ${KAFKIT_KAFKA_OVERRIDES:-}; do
		echo "$kv" >>"$dir/server.properties"
	done
}

# Starts node $1's JVM in the background and records its pid.
launch() {
	local n=$1 dir java pid heap
	dir=$nodes_dir/node-$n
	java=$(java_bin)
	read -r -a heap <<<"${KAFKIT_KAFKA_HEAP:--Xms256m -Xmx1g}"
	# Each JVM gets few GC and compiler threads: several share 2 cores with the tests.
	nohup "$java" "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:ParallelGCThreads=1 \
		-XX:ConcGCThreads=1 -XX:CICompilerCount=2 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$repo/scripts/kafka/log4j2.properties" \
		-cp "$lib_dir/*" kafka.Kafka "$dir/server.properties" \
		</dev/null >>"$dir/broker.log" 2>&1 9>&- &
	pid=$!
	set_state "pid.$n" "$pid"
}

bootstrap_list() {
	local n count list=""
	count=$(node_count)
	for n in $(seq 1 "$count"); do
		list+="${list:+,}127.0.0.1:$(state_value "port.$n")"
	done
	echo "$list"
}

# Waits until node $1 answers and the metadata it serves lists every node.
wait_ready() {
	local n=$1 deadline=$2 port count m
	port=$(state_value "port.$n")
	while [ "$SECONDS" -lt "$deadline" ]; do
		node_pid "$n" >/dev/null || return 2
		# As many brokers in the metadata as nodes run (a node may be down on purpose).
		count=0
		for m in $(seq 1 "$(node_count)"); do
			if node_pid "$m" >/dev/null; then count=$((count + 1)); fi
		done
		if python3 "$probe" "127.0.0.1:$port" "$count" 2>/dev/null; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

fail_start() {
	local n count
	count=$(node_count)
	for n in $(seq 1 "$count"); do
		log "node $n's log ($nodes_dir/node-$n/broker.log), last lines:"
		tail -n 20 "$nodes_dir/node-$n/broker.log" >&2 2>/dev/null || true
	done
	do_stop
	die "$*"
}

do_start() {
	local count=${KAFKIT_BROKER_NODES:-1} n java cluster_id started=$SECONDS deadline rc
	[[ "$count" =~ ^[1-9][0-9]*$ ]] || die "KAFKIT_BROKER_NODES must be a positive number, not '$count'"
	if any_running; then
		die "Kafka nodes started from here already run ($(bootstrap_list)); run '$0 stop' first"
	fi
	do_install >/dev/null
	java=$(java_bin)
	rm -rf "$nodes_dir" "$state_file"
	mkdir -p "$nodes_dir"
	: >"$state_file"
	set_state nodes "$count"
	local sec_dir="" l
	if sec_dir=$(security_dir); then
		[ "$count" -eq 1 ] || die "KAFKIT_BROKER_SECURITY supports one node only (KAFKIT_BROKER_NODES=$count)"
		set_state security "$sec_dir"
	fi
	for n in $(seq 1 "$count"); do
		set_state "port.$n" "$(free_port)"
		set_state "cport.$n" "$(free_port)"
		if [ -n "$sec_dir" ]; then
			for l in "${secure_listeners[@]}"; do
				set_state "lport.$l.$n" "$(free_port)"
			done
		fi
	done
	# A random id in Kafka's form (16 bytes, URL-safe base64). Like Kafka's Uuid.randomUuid, never
	# one that starts with "-": the storage tool would read it as an option (1 run in 64 failed so).
	cluster_id=$(python3 -c 'import base64, os
while True:
    s = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break')
	set_state cluster_id "$cluster_id"
	for n in $(seq 1 "$count"); do
		write_config "$n"
	done
	# Format every node's log dir with the same cluster id (in parallel: each is a JVM start).
	local pids=() scram=()
	if [ -n "$sec_dir" ]; then
		mapfile -t scram < <(scram_args "$sec_dir")
	fi
	for n in $(seq 1 "$count"); do
		"$java" -Xmx256m -Dlog4j2.configurationFile="$repo/scripts/kafka/log4j2.properties" -cp "$lib_dir/*" \
			kafka.tools.StorageTool format -t "$cluster_id" -c "$nodes_dir/node-$n/server.properties" "${scram[@]}" \
			>"$nodes_dir/node-$n/format.log" 2>&1 &
		pids+=($!)
	done
	for n in $(seq 1 "$count"); do
		if ! wait "${pids[$((n - 1))]}"; then
			cat "$nodes_dir/node-$n/format.log" >&2
			die "formatting node $n's storage failed"
		fi
	done
	for n in $(seq 1 "$count"); do
		launch "$n"
	done
	deadline=$((SECONDS + start_timeout))
	for n in $(seq 1 "$count"); do
		set +e
		wait_ready "$n" "$deadline"
		rc=$?
		set -e
		case $rc in
		0) ;;
		2) fail_start "node $n exited during start-up (a port taken between choosing and binding?)" ;;
		*) fail_start "node $n did not become ready within ${start_timeout}s" ;;
		esac
	done
	set_state started_in "$((SECONDS - started))"
	log "Kafka $KAFKA_VERSION ready: $count node(s) at $(bootstrap_list) in $((SECONDS - started))s (state $state_dir)"
	bootstrap_list
}

stop_pid() {
	local pid=$1 what=$2 i
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 1 150); do
		alive "$pid" || return 0
		sleep 0.2
	done
	log "$what (pid $pid) ignored SIGTERM for 30s; killing it"
	kill -KILL "$pid" 2>/dev/null || true
}

do_stop() {
	local n count pid pids=()
	count=$(node_count 2>/dev/null || true)
	if [ -z "$count" ]; then
		return 0
	fi
	# SIGTERM to all at once: a controlled shutdown of the last voters cannot complete if the
	# others are already gone, so they stop together and the stragglers are killed.
	for n in $(seq 1 "$count"); do
		if pid=$(node_pid "$n"); then
			kill "$pid" 2>/dev/null || true
			pids+=("$pid")
		fi
	done
	for pid in "${pids[@]}"; do
		stop_pid "$pid" "a Kafka node"
	done
	[ "${#pids[@]}" -gt 0 ] && log "stopped ${#pids[@]} Kafka node(s)"
	rm -f "$state_file"
	return 0
}

check_node() {
	local count
	count=$(node_count) || die "no Kafka started from here ($state_dir)"
	[ -n "$count" ] || die "no Kafka started from here ($state_dir)"
	if ! [[ "$1" =~ ^[0-9]+$ ]] || [ "$1" -lt 1 ] || [ "$1" -gt "$count" ]; then
		die "no node '$1' (nodes are 1..$count)"
	fi
}

do_kill() {
	check_node "$1"
	local pid
	pid=$(node_pid "$1") || die "node $1 is not running"
	kill -KILL "$pid"
	while alive "$pid"; do sleep 0.05; done
	log "killed node $1 (pid $pid)"
}

do_stop_node() {
	check_node "$1"
	local pid
	pid=$(node_pid "$1") || die "node $1 is not running"
	stop_pid "$pid" "node $1"
	log "stopped node $1 (pid $pid)"
}

do_start_node() {
	check_node "$1"
	local rc
	node_pid "$1" >/dev/null && die "node $1 already runs"
	launch "$1"
	set +e
	wait_ready "$1" $((SECONDS + start_timeout))
	rc=$?
	set -e
	[ "$rc" -eq 0 ] || die "node $1 did not come back within ${start_timeout}s; see $nodes_dir/node-$1/broker.log"
	log "node $1 is back at 127.0.0.1:$(state_value "port.$1")"
}

do_topic() {
	[ $# -ge 2 ] || die "usage: $0 topic NAME PARTITIONS [REPLICAS]"
	any_running || die "no Kafka started from here is running (start one with '$0 start')"
	local java
	java=$(java_bin)
	timeout 120 "$java" -Xmx256m -Dlog4j2.configurationFile="$repo/scripts/kafka/log4j2.properties" \
		-cp "$lib_dir/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$(bootstrap_list)" \
		--create --topic "$1" --partitions "$2" --replication-factor "${3:-1}" >&2 ||
		die "creating topic '$1' failed"
}

do_status() {
	if any_running; then
		local n count
		count=$(node_count)
		for n in $(seq 1 "$count"); do
			if node_pid "$n" >/dev/null; then
				echo "node $n: running, pid $(node_pid "$n"), 127.0.0.1:$(state_value "port.$n"), log $nodes_dir/node-$n/broker.log"
			else
				echo "node $n: not running"
			fi
		done
	else
		echo "Kafka not running"
		return 1
	fi
}

usage() {
	sed -n '2,/^set -euo/p' "$0" | grep -v -e '^set -euo' -e '^# shellcheck' | sed 's/^# \{0,1\}//' >&2
	exit 2
}

main() {
	[ $# -ge 1 ] || usage
	local cmd=$1
	shift
	case "$cmd" in
	install) do_install ;;
	start) do_start ;;
	stop) do_stop ;;
	status) do_status ;;
	addr)
		any_running || die "no Kafka started from here is running (start one with '$0 start')"
		bootstrap_list
		;;
	bin)
		[ -f "$lib_dir/.complete" ] || die "Kafka is not installed (run '$0 install')"
		echo "$lib_dir"
		;;
	topic) do_topic "$@" ;;
	kill) do_kill "${1:-}" ;;
	stop-node) do_stop_node "${1:-}" ;;
	start-node) do_start_node "${1:-}" ;;
	node-addr)
		check_node "${1:-}"
		echo "127.0.0.1:$(state_value "port.$1")"
		;;
	pid)
		check_node "${1:-}"
		node_pid "$1"
		;;
	listeners)
		any_running || die "no Kafka started from here is running (start one with '$0 start')"
		[ -n "$(state_value security)" ] || die "this Kafka was started without KAFKIT_BROKER_SECURITY"
		local l
		for l in "${secure_listeners[@]}"; do
			echo "$l=127.0.0.1:$(state_value "lport.$l.1")"
		done
		;;
	-h | --help | help) usage ;;
	*)
		log "unknown command '$cmd'"
		usage
		;;
	esac
}

main "$@"
exit
