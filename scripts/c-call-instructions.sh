#!/bin/sh
# Instructions per iteration of C API calls (scripts/c-call-loop.c) on the embedded device,
# counted with valgrind --tool=callgrind: each call loops 1000 and 3000 times and the
# difference over 2000 is one iteration's cost (set-up and exit cancel out). User-space
# instructions only, every thread included.
#
#   scripts/c-call-instructions.sh [LIBDIR]      (default .build/debug, after `swift build`)
set -eu
cd "$(dirname "$0")/.."
lib=$(cd "${1:-.build/debug}" && pwd)
command -v valgrind >/dev/null || { echo "valgrind not found" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Valgrind cannot read the DWARF 5 that Swift emits: count a copy without debug information.
strip --strip-debug -o "$work/libmagma.so" "$lib/libmagma.so"
ln -s libmagma.so "$work/libmagma.so.1"
cc -O2 -std=c11 -Wall -Wextra -Werror -Iinclude scripts/c-call-loop.c -L"$work" -lmagma -o "$work/c-call-loop"
count() {
    LD_LIBRARY_PATH=$work valgrind --tool=callgrind --callgrind-out-file=/dev/null "$work/c-call-loop" "$1" "$2" 2>&1 |
        awk '/Collected :/ { print $NF }'
}
echo "| call | instructions/iteration |"
echo "|---|---:|"
for call in map error op info create; do
    one=$(count 1000 "$call")
    three=$(count 3000 "$call")
    awk -v c="$call" -v a="$one" -v b="$three" 'BEGIN { printf "| %s | %.0f |\n", c, (b - a) / 2000 }'
done
