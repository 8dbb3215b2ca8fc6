#!/usr/bin/env bash
# The vhost-user-gpu step (docs/vhost-user.md): starts magma-vhost-user-gpu (built by
# `swift build`) on a socket, boots the VM harness's guest with vhost-user-gpu-pci connected to
# it, and runs virtgpu-caps-probe.c inside: the guest's virtio_gpu binds to the back-end and
# DRM_IOCTL_VIRTGPU_GET_CAPS returns capset 7.
#   scripts/vm/vhost-user-gpu-probe.sh [--kernel 6.12|6.1] [--timeout SECONDS] [--accel auto|tcg|kvm]
#                                      [--env NAME=VALUE]... [--swift-tests FILTER | -- COMMAND...]
# With --swift-tests or a command, that runs in the guest instead of the probe (as
# run-guest-tests.sh runs it), with MAGMA_TEST_VIRTGPU_MAGMA=1 in its environment: the guest's
# virtio_gpu is the Magma device (VirtGPUKernelDeviceTests run only then).
# QEMU is bookworm-backports' QEMU 10 (fetch-qemu.sh): Debian 12's own QEMU 7.2 refuses
# vhost-user back-end devices without KVM ("vhost initialization failed: requires kvm").
# Exit status as run-guest-tests.sh's; 3 also when the back-end is missing or fails to start.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$here/common.sh"

series=6.12 timeout_s=300 accel=auto run=() envs=()
while [ $# -gt 0 ]; do
    case $1 in
        --kernel) series=$2; shift 2 ;;
        --timeout) timeout_s=$2; shift 2 ;;
        --accel) accel=$2; shift 2 ;;
        --swift-tests) run=(--swift-tests "${2:?--swift-tests needs a filter}"); shift 2 ;;
        --env) envs+=(--env "${2:?--env needs NAME=VALUE}"); shift 2 ;;
        --) shift; run=(-- "$@"); break ;;
        *) printf 'usage: %s [--kernel 6.12|6.1] [--timeout SECONDS] [--accel auto|tcg|kvm] [--env NAME=VALUE]... [--swift-tests FILTER | -- COMMAND...]\n' "$0" >&2; exit 2 ;;
    esac
done

backend="$repo/.build/debug/magma-vhost-user-gpu"
[ -x "$backend" ] || vm_die "no $backend: run 'swift build --product magma-vhost-user-gpu' first"
vm_need_packages busybox-static cpio kmod xz-utils zstd gcc libc6-dev
work="$repo/.build-vm"
mkdir -p "$work"
qemu=$("$here/fetch-qemu.sh" --work "$work")
kdir=$("$here/fetch-kernel.sh" --kernel "$series" --work "$work")
probe="$kdir/virtgpu-caps-probe"
gcc -std=c11 -O2 -Wall -Wextra -Werror -D__user= -I"$kdir/uapi" "$here/virtgpu-caps-probe.c" -o "$probe" \
    || vm_die "compiling virtgpu-caps-probe.c against $kdir/uapi failed"

socket="$work/vhost-user-gpu.sock"
vm_start_vhost_user_backend "$backend" "$socket" "$work/vhost-user-gpu.log"
trap 'kill "$backend_pid" 2>/dev/null || true; wait "$backend_pid" 2>/dev/null || true' EXIT

set +e
[ ${#run[@]} -gt 0 ] || run=(-- "$probe")
"$here/run-guest-tests.sh" --kernel "$series" --timeout "$timeout_s" --accel "$accel" --qemu "$qemu" --vhost-user-gpu "$socket" \
    --env MAGMA_TEST_VIRTGPU_MAGMA=1 ${envs[@]+"${envs[@]}"} "${run[@]}"
rc=$?
set -e
vm_log "back-end log ($work/vhost-user-gpu.log):"
sed 's/^/    /' "$work/vhost-user-gpu.log" >&2 || true
exit "$rc"
