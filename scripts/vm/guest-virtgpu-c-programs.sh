#!/bin/sh
# Runs in the vhost-user-gpu guest (scripts/vm/vhost-user-gpu-probe.sh -- scripts/vm/guest-virtgpu-c-programs.sh PREFIX):
# the two C example programs, built against PREFIX (scripts/install-libmagma.sh, then cc as
# .ci/run does), on the first device enumeration finds: there, the Magma device behind the guest
# kernel's virtio_gpu (`virtgpu:/dev/dri/renderD*`). Each checks its results on the CPU itself.
set -eu
prefix=${1:?usage: guest-virtgpu-c-programs.sh PREFIX}
out=/tmp/magma-c-programs
MAGMA_DEVICE_DIR="$prefix" "$prefix/fill_copy" | tee "$out"
grep -q '^device virtgpu:/dev/dri/renderD' "$out" || { echo "guest: fill_copy did not take the virtgpu device" >&2; exit 1; }
grep -q 'verified$' "$out" || { echo "guest: fill_copy did not verify" >&2; exit 1; }
MAGMA_DEVICE_DIR="$prefix" "$prefix/mesa_fill" | tee "$out"
grep -q 'filled and verified' "$out" || { echo "guest: mesa_fill did not verify" >&2; exit 1; }
