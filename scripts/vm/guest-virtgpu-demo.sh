#!/bin/sh
# Runs in the vhost-user-gpu guest (scripts/vm/vhost-user-gpu-probe.sh -- scripts/vm/guest-virtgpu-demo.sh):
# `magmactl demo` on the Magma device behind the guest kernel's virtio_gpu render node
# (`virtgpu:/dev/dri/renderD*`, MagmaVirtio's VirtGPUKernelDevice on ONE fence timeline, no
# CONTEXT_INIT: docs/virtio.md). The render node is the one `magmactl devices` calls virtio_gpu
# (vgem is there too). The demo checks every sum and the copy against the CPU itself.
set -eu
bin=${MAGMA_BIN:-.build/debug}
devices=/tmp/magma-devices
"$bin/magmactl" devices >"$devices"
virtio=$(awk '/^drm\/renderD[0-9]*  driver virtio_gpu /{print $1; exit}' "$devices")
[ -n "$virtio" ] || { echo "guest: magmactl devices lists no virtio_gpu device" >&2; exit 1; }
"$bin/magmactl" demo --device "virtgpu:/dev/dri/${virtio#drm/}" | tee /tmp/magma-demo
grep -q '^verified ' /tmp/magma-demo || { echo "guest: the demo did not verify its results" >&2; exit 1; }
