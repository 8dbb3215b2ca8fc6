#!/bin/sh
# Instructions per operation of every `magmactl bench` path, Magma and floor, counted with
# valgrind --tool=callgrind (repeatable where wall-clock times are not). Each side runs under
# callgrind twice, with 1 and 1+EXTRA untimed runs of the quick (tenth-size) work, child
# processes included; the difference divided by EXTRA runs' operations is one operation's cost,
# so set-up, the first (warm-up) run and exit cancel out. Only user-space instructions are counted,
# not the kernel's work in syscalls: rows whose floor is mostly syscalls get instruction ratios far
# above their time ratios.
#
#   scripts/bench-instructions.sh [MAGMACTL] [PATH-NAME-SUBSTRING]
#
# MAGMACTL defaults to .build/debug/magmactl (SoftGPU and MagmaBench are built with -O even in
# debug). Prints a Markdown table. Valgrind serializes threads, so counts cover every thread.
set -eu
magmactl=${1:-.build/debug/magmactl}
filter=${2:-}
extra=${EXTRA:-2}
command -v valgrind >/dev/null || { echo "valgrind not found" >&2; exit 1; }

# Valgrind cannot read the DWARF 5 that Swift emits ("unhandled dwarf2 abbrev form code 0x1b"):
# count a copy without debug information.
stripped=$(mktemp)
trap 'rm -f "$stripped"' EXIT
strip --strip-debug -o "$stripped" "$magmactl"
magmactl=$stripped

# Total instructions of every process of one callgrind run: count INDEX SIDE REPEATS. A run is
# stopped after LIMIT seconds (one baseline vector-add run once hung under valgrind).
# --fair-sched=yes: valgrind runs one thread at a time, and by default a thread that spins
# waiting for another (the timeline wake's floor) may keep the lock for long stretches: that
# floor's run took over 300 s (cut by LIMIT) and 10 s with fair scheduling. Spin loops still
# count the iterations they happen to make, so rows whose floor spins vary from run to run.
count() {
    timeout "${LIMIT:-600}" valgrind --tool=callgrind --fair-sched=yes --trace-children=yes --callgrind-out-file=/dev/null \
        "$magmactl" bench --quick --repeat-path "$1" --side "$2" --repeat "$3" 2>&1 >/dev/null </dev/null |
        awk '/Collected :/ { sum += $NF } END { printf "%d\n", sum }'
}

echo "| path | Magma instructions/op | floor instructions/op | ratio |"
echo "|---|---:|---:|---:|"
"$magmactl" bench --list | grep -F -- "$filter" | while IFS="$(printf '\t')" read -r index path; do
    set --
    for side in magma floor; do
        one=$(count "$index" "$side" 1)
        more=$(count "$index" "$side" $((1 + extra)))
        ops=$("$magmactl" bench --quick --repeat-path "$index" --side "$side" --repeat 0 2>/dev/null </dev/null | sed -n 's/^operations //p')
        set -- "$@" "$(awk -v a="$one" -v b="$more" -v n="$ops" -v k="$extra" 'BEGIN { printf "%.1f", (b - a) / (n * k) }')"
    done
    echo "| $path | $1 | $2 | $(awk -v m="$1" -v f="$2" 'BEGIN { if (f > 0) printf "%.1f", m / f; else printf "-" }') |"
done
