#!/usr/bin/env bash
# A guest killed mid-work (docs/vhost-user.md): starts magma-vhost-user-gpu, boots the guest of
# vhost-user-gpu-probe.sh (QEMU 10, vhost-user-gpu-pci on the back-end) running the kernel
# device's fenced round trips in a loop, and once the guest has printed a round (the loop goes
# on: the kill lands in a later round or between two), kills QEMU with SIGKILL. Passes when the back-end then ends on its own within 10 s, exit status
# 0 ("the front-end has gone"), with its socket removed: the device model it served (contexts,
# resources, fences, mappings of guest RAM) went with the session.
#   scripts/vm/vhost-user-gpu-kill.sh [--timeout SECONDS]
# Needs `swift build --build-tests` first. Exit status: 0 passed, 1 failed, 3 the harness failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$here/common.sh"

timeout_s=180
[ "${1:-}" = --timeout ] && timeout_s=${2:?--timeout needs seconds}
backend="$repo/.build/debug/magma-vhost-user-gpu"
bundle=$(ls -d "$repo"/.build/debug/*PackageTests.xctest 2>/dev/null | head -n1)
[ -x "$backend" ] && [ -n "$bundle" ] || vm_die "build first: swift build --build-tests"
work="$repo/.build-vm"
mkdir -p "$work"
qemu=$("$here/fetch-qemu.sh" --work "$work")

kill_dir=$(mktemp -d "$work/kill.XXXXXX")
trap 'rm -rf "$kill_dir"' EXIT
# QEMU through a wrapper that records its process id (exec keeps it), so this script kills
# exactly the QEMU it started.
cat >"$kill_dir/qemu" <<EOF
#!/bin/sh
echo \$\$ >"$kill_dir/qemu.pid"
exec "$qemu" "\$@"
EOF
chmod +x "$kill_dir/qemu"

socket="$work/vhost-user-gpu-kill.sock"
log="$work/vhost-user-gpu-kill.log"
vm_start_vhost_user_backend "$backend" "$socket" "$log"

loop="while :; do $(printf %q "$bundle") --testing-library swift-testing --filter VirtGPUKernelDeviceTests/aFencedCallsRoundTripFigure || exit 1; done"
"$here/run-guest-tests.sh" --timeout "$timeout_s" --qemu "$kill_dir/qemu" --vhost-user-gpu "$socket" \
    --env MAGMA_TEST_VIRTGPU_MAGMA=1 -- sh -c "$loop" >"$kill_dir/guest.log" 2>&1 &
guest_pid=$!

# Mid-work: the guest has finished one round of the loop and is in the next.
for _ in $(seq "$((timeout_s * 10))"); do
    grep -q 'fenced flush round trip' "$kill_dir/guest.log" 2>/dev/null && break
    kill -0 "$guest_pid" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q 'fenced flush round trip' "$kill_dir/guest.log"; then
    kill "$backend_pid" 2>/dev/null || true
    cat "$kill_dir/guest.log" >&2
    vm_die "the guest never got to work (its output above; back-end log: $log)"
fi
qemu_pid=$(cat "$kill_dir/qemu.pid")
vm_log "the guest is mid-work: SIGKILL to QEMU ($qemu_pid)"
kill -KILL "$qemu_pid"
wait "$guest_pid" 2>/dev/null || true   # the harness reports the guest's death; expected

vm_wait_backend_exit
status=$backend_status
vm_log "back-end log ($log):"
grep -v 'setVring' "$log" | sed 's/^/    /' >&2
if [ "$status" = timeout ]; then
    kill "$backend_pid" 2>/dev/null || true
    vm_log "FAIL: the back-end still runs 10 s after its QEMU was killed"; exit 1
fi
[ "$status" -eq 0 ] || { vm_log "FAIL: the back-end exited with status $status"; exit 1; }
[ ! -e "$socket" ] || { vm_log "FAIL: the back-end left its socket $socket"; exit 1; }
grep -q 'the front-end has gone' "$log" || { vm_log "FAIL: the back-end did not see its front-end go"; exit 1; }
vm_log "PASS: QEMU killed mid-work, the back-end ended on its own (status 0, socket removed)"
