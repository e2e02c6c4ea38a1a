#!/usr/bin/env bash
# Fails if the kafkit library's normal or build dependencies include a -sys crate or a C build
# (cc, cmake, pkg-config). Dev and bench dependencies may use C; the library may not.
set -euo pipefail
cd "$(dirname "$0")/.."
found="$(cargo tree -p kafkit -e normal,build --prefix none | grep -E -- '-sys|\bcc\b|cmake|pkg-config' | sort -u || true)"
if [ -n "$found" ]; then
    echo "check-pure-rust: the kafkit library depends on C:" >&2
    echo "$found" >&2
    exit 1
fi
echo "check-pure-rust: no -sys crate and no C build in kafkit's dependencies"
