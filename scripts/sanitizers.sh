#!/usr/bin/env bash
# Runs the whole test suite under the address sanitizer (with LeakSanitizer) and under the thread
# sanitizer, each in its own scratch path. Both must be clean: any report fails the run.
#
#   scripts/sanitizers.sh [address|thread]     (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-both}
if [[ $which == both || $which == address ]]; then
    echo "== address sanitizer"
    LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp" \
        swift test --sanitize=address --disable-xctest --scratch-path .build-asan
fi
if [[ $which == both || $which == thread ]]; then
    echo "== thread sanitizer"
    TSAN_OPTIONS="halt_on_error=1" swift test --sanitize=thread --disable-xctest --scratch-path .build-tsan
fi
