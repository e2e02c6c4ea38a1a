#!/usr/bin/env bash
# Proves the kafkit library and the `kafkit` CLI (package kafkit-cli) are free of C and FFI: fails if
# their normal+build dependency graphs hold any `*-sys` crate, `cc`, `cmake` or `pkg-config`, naming
# each such crate and the path that pulls it in. Dev-dependencies (tests, benches) may use C; the
# library and the CLI may not.
#
# The graph is checked for the host and for the two musl targets the library promises to build
# for. (`--target all` would also list e.g. `windows-sys`, which tokio uses only on Windows.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly forbidden='-sys$|^cc$|^cmake$|^pkg-config$'
readonly targets=(host x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
readonly packages=(kafkit kafkit-cli)

failed=0
declare -A seen=()
for package in "${packages[@]}"; do
	for target in "${targets[@]}"; do
		args=(-p "$package" -e "normal,build")
		[ "$target" = host ] || args+=(--target "$target")
		if ! tree=$(cargo tree "${args[@]}" --prefix none); then
			echo "check-ffi: 'cargo tree ${args[*]}' failed" >&2
			exit 1
		fi
		# Lines look like "name v1.2.3", "name v1.2.3 (*)", "name v1.2.3 (/path)" or "... (proc-macro)".
		while read -r name version; do
			[ -n "${seen[$name@$version]:-}" ] && continue
			seen[$name@$version]=1
			failed=1
			{
				echo "check-ffi: FAIL: $package depends on C/FFI crate '$name' $version (target: $target)."
				echo "check-ffi: this is the path that pulls it in (cargo tree -i $name@${version#v}):"
				cargo tree "${args[@]}" -i "$name@${version#v}" | sed 's/^/    /'
			} >&2
		done < <(awk -v re="$forbidden" '$1 ~ re {print $1, $2}' <<<"$tree" | sort -u)
		echo "check-ffi: $package: $target: $(awk '{print $1, $2}' <<<"$tree" | sort -u | wc -l) crates checked"
	done
done

if [ "$failed" -ne 0 ]; then
	echo "check-ffi: the library and the CLI must build with rustup alone: remove these crates, or disable the features" \
		"that pull them in, or move them to dev-dependencies." >&2
	exit 1
fi
echo "check-ffi: ok: no -sys, cc, cmake or pkg-config crate in the normal+build dependency graphs of ${packages[*]}"
