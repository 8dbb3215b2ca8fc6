#!/usr/bin/env bash
# Two guests at once on one back-end (docs/vhost-user.md): starts magma-vhost-user-gpu for two
# front-ends (a device model each over the one host SoftGPU device) and boots two QEMU 10
# guests on it, running TwoGuestIsolationTests (Tests/MagmaDRMTests) with the same seed:
#   1. the holder puts a seeded secret in a buffer of its guest's RAM, mapped on the host GPU,
#      and says so (the file "holding" in its results folder);
#   2. the looker boots while the holder waits, makes resources of its own (its kernel numbers
#      them from 1, as the holder's did), and must find the secret in none of them nor through
#      its GPU at the holder's address, and cannot name a resource it never made;
#   3. then a hostile guest boots beside the holder: seeded command lists naming what it never
#      made, mutated, through EXECBUFFER (200 submissions; every fenced one must complete), and
#      its device must still run a verified fill afterwards;
#   4. once that guest has powered off, a worker guest boots, holds a context, buffers
#      and resources on the host and loops over fenced fills ("working"): this script kills its
#      QEMU with SIGKILL mid-work;
#   5. then it creates "looked" in the holder's results folder: the holder, which ran on through
#      all three, checks its secret intact, CPU and GPU (a copy on the host GPU).
# Then the back-end must end on its own (status 0), the killed worker's device model having
# held objects when its front-end vanished and none after its close, and every device model
# empty after its close. The seed is MAGMA_TEST_SEED if set, else random, and printed.
#   scripts/vm/vhost-user-gpu-two-guests.sh [--timeout SECONDS]
# Needs `swift build --build-tests` first. Exit status: 0 passed, 1 failed, 3 the harness failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$here/common.sh"

timeout_s=300
[ "${1:-}" = --timeout ] && timeout_s=${2:?--timeout needs seconds}
backend="$repo/.build/debug/magma-vhost-user-gpu"
[ -x "$backend" ] || vm_die "build first: swift build --build-tests"
work="$repo/.build-vm"
mkdir -p "$work"
qemu=$("$here/fetch-qemu.sh" --work "$work")
seed=${MAGMA_TEST_SEED:-$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')}
vm_log "seed $seed (MAGMA_TEST_SEED=$seed repeats this run)"

dir=$(mktemp -d "$work/two-guests.XXXXXX")
socket="$dir/vhost-user-gpu.sock"
log="$dir/back-end.log"
vm_start_vhost_user_backend "$backend" "$socket" "$log" --front-ends 4
# The worker's QEMU through a wrapper that records its process id, so the kill is exact.
printf '#!/bin/sh\necho $$ >"%s"\nexec "%s" "$@"\n' "$dir/worker-qemu.pid" "$qemu" >"$dir/qemu-worker"
chmod +x "$dir/qemu-worker"
holder_pid=
cleanup() {
    [ -z "$holder_pid" ] || kill "$holder_pid" 2>/dev/null || true
    kill "$backend_pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

guest() { # role [qemu]
    "$here/run-guest-tests.sh" --timeout "$timeout_s" --qemu "${2:-$qemu}" --vhost-user-gpu "$socket" --results "$dir/$1" \
        --env MAGMA_TEST_VIRTGPU_MAGMA=1 --env MAGMA_TEST_GUEST_ROLE="$1" --env MAGMA_TEST_SEED="$seed" \
        --swift-tests TwoGuestIsolationTests
}
show() { # role
    vm_log "the $1's guest output:"
    sed 's/^/    /' "$dir/$1.log" >&2 || true
}

# Waits until FILE exists, or PID has ended, or the timeout has passed; true if FILE exists.
wait_for() { # file pid
    for _ in $(seq "$((timeout_s * 10))"); do
        [ -e "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    [ -e "$1" ]
}

guest holder >"$dir/holder.log" 2>&1 &
holder_pid=$!
if ! wait_for "$dir/holder/holding" "$holder_pid"; then
    show holder
    vm_die "the holder never said it holds its secret (back-end log: $log)"
fi
vm_log "the holder holds its secret (resource $(cat "$dir/holder/holding")); booting the looker"

set +e
guest looker >"$dir/looker.log" 2>&1
looker_rc=$?
guest hostile >"$dir/hostile.log" 2>&1
hostile_rc=$?
set -e
guest worker "$dir/qemu-worker" >"$dir/worker.log" 2>&1 &
worker_pid=$!
wait_for "$dir/worker/working" "$worker_pid" || { show worker; vm_die "the worker never got to work (back-end log: $log)"; }
vm_log "the worker is mid-work: SIGKILL to its QEMU ($(cat "$dir/worker-qemu.pid"))"
kill -KILL "$(cat "$dir/worker-qemu.pid")"
wait "$worker_pid" 2>/dev/null || true   # the harness reports the guest's death; expected
set +e
touch "$dir/holder/looked"
wait "$holder_pid"
holder_rc=$?
holder_pid=
set -e
show looker
show hostile
show holder

vm_wait_backend_exit
status=$backend_status
vm_log "back-end log (front-ends and their device models):"
grep -E 'front-end|serving' "$log" | sed 's/^/    /' >&2 || true
[ "$looker_rc" -eq 0 ] || { vm_log "FAIL: the looker's run ended with $looker_rc"; exit 1; }
[ "$hostile_rc" -eq 0 ] || { vm_log "FAIL: the hostile guest's run ended with $hostile_rc"; exit 1; }
[ "$holder_rc" -eq 0 ] || { vm_log "FAIL: the holder's run ended with $holder_rc"; exit 1; }
[ "$status" != timeout ] || { vm_log "FAIL: the back-end still runs 10 s after every guest powered off"; exit 1; }
[ "$status" -eq 0 ] || { vm_log "FAIL: the back-end exited with status $status"; exit 1; }
grep -q "front-end 4's device model held [1-9][0-9]* contexts, [1-9][0-9]* resources" "$log" \
    || { vm_log "FAIL: the killed worker's device model held nothing when its front-end vanished (was it mid-work?)"; exit 1; }
for n in 1 2 3 4; do
    grep -q "front-end $n has gone" "$log" || { vm_log "FAIL: the back-end did not see front-end $n go"; exit 1; }
    grep -q "front-end $n's device model held .*; after its close 0, 0, 0" "$log" \
        || { vm_log "FAIL: front-end $n's device model kept something after its close"; exit 1; }
done
vm_log "PASS: two guests at once on one back-end: the looker never saw the holder's secret; the hostile guest broke only its own contexts; the worker, killed mid-work, left nothing held; the holder kept its secret through all three (seed $seed)"
