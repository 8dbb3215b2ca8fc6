#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz-decoder, fuzz-server, fuzz-gpu-program, fuzz-virtio, fuzz-vhost-user; with the address
# sanitizer) and runs each for SECONDS seconds, starting from the committed seed corpus in
# Fuzz/corpus/<target>. fuzz-gpu-program traps when GPU work runs away: when it neither finishes,
# faults nor is stopped by the watchdog in bounded time, or goes on after its connection closed.
# fuzz-virtio plays a hostile guest against one virtio device model (VirtioTarget) and traps on
# a malformed response, or a fence that has not completed once the model closed. fuzz-vhost-user
# plays a hostile front-end and guest against one vhost-user-gpu back-end (VhostUserTarget):
# messages, descriptor tables and rings; it traps on a close that hangs or leaves anything held.
# New inputs go to a scratch corpus, not the repository.
#
#   Fuzz/run.sh [SECONDS]        (default 60)
#
# A crash leaves crash-* in Fuzz/artifacts/ and exits non-zero. Copy it into Fuzz/corpus/<target>
# (Tests/MagmaTests/FuzzCorpusTests.swift replays that corpus on every swift test) and fix it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
# SwiftPM builds the SonameLink plugin's tool (a C program with its own main) with these flags
# too, and libFuzzer's runtime brings a second main: the tool keeps its own (the first
# definition; its source also answers libFuzzer's call of LLVMFuzzerTestOneInput), and the fuzz
# targets, which define none, get libFuzzer's.
flags=(-c debug --sanitize=fuzzer --sanitize=address -Xswiftc -DFUZZING
       -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp
       -Xlinker --allow-multiple-definition --scratch-path .build-fuzz)
targets="decoder server gpu-program virtio vhost-user"
for target in $targets; do
    swift build "${flags[@]}" --product "fuzz-$target"
done
bin=$(swift build "${flags[@]}" --show-bin-path)
mkdir -p Fuzz/artifacts
for target in $targets; do
    scratch=$(mktemp -d)
    echo "== fuzz-$target for ${seconds}s"
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$bin/fuzz-$target" "$scratch" "Fuzz/corpus/$target" \
        -max_total_time="$seconds" -max_len=65537 -artifact_prefix=Fuzz/artifacts/ -print_final_stats=1 2>&1 | tail -n 8
    rm -rf "$scratch"
done
