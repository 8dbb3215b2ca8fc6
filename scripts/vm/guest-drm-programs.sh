#!/bin/sh
# Runs in the QEMU guest (.ci/run: scripts/vm/run-guest-tests.sh -- scripts/vm/guest-drm-programs.sh):
# the project's programs against the guest's DRM devices, from a `swift build` in .build/debug.
#  1. `magmactl devices`, which must list vgem and virtio_gpu, and `magmactl info` on each DRM device;
#  2. magma-mesa-c-tests (Mesa's C API) on every device enumeration finds: the DRM devices (no
#     queue families: the checks they support) and the embedded device;
#  3. magma-c-dmabuf-tests (Fuchsia's C API) with vgem's and with virtio_gpu's buffer: its dma-buf
#     imported into the embedded device and used by GPU work there.
# Exits non-zero at the first failure.
set -eu
bin=.build/debug
devices=/tmp/devices
"$bin/magmactl" devices >"$devices"
cat "$devices"
vgem=$(awk '/^drm\/renderD[0-9]*  driver vgem /{print $1; exit}' "$devices")
virtio=$(awk '/^drm\/renderD[0-9]*  driver virtio_gpu /{print $1; exit}' "$devices")
[ -n "$vgem" ] || { echo "guest: magmactl devices lists no vgem device" >&2; exit 1; }
[ -n "$virtio" ] || { echo "guest: magmactl devices lists no virtio_gpu device" >&2; exit 1; }
grep -q "^$virtio  driver virtio_gpu .* pci 1af4:1050 at [0-9a-f]*:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]\.[0-7]  " "$devices" ||
    { echo "guest: magmactl devices gives virtio_gpu no PCI address" >&2; exit 1; }
grep -q "^$vgem  driver vgem .* platform  " "$devices" || { echo "guest: magmactl devices does not call vgem a platform device" >&2; exit 1; }
for name in $(awk '/^drm\//{print $1}' "$devices"); do "$bin/magmactl" info --device "$name"; done

# An empty runtime directory: no magmad, so enumeration finds the DRM devices and the embedded one.
mkdir -p /tmp/no-magmad
count=$(( $(grep -c '^drm/' "$devices") + 1 ))
MAGMA_DEVICE_DIR=/tmp/no-magmad "$bin/magma-mesa-c-tests" "$count" | tee /tmp/mesa-c
grep -q "(drm/renderD[0-9]*, virtio_gpu, bus pci [0-9a-f:.]*): 0 failures; queue checks skipped" /tmp/mesa-c
grep -q "(drm/renderD[0-9]*, vgem, bus platform): 0 failures; queue checks skipped" /tmp/mesa-c
grep -q "(SoftGPU[^)]*, bus unknown): 0 failures$" /tmp/mesa-c

"$bin/magma-c-dmabuf-tests" "$vgem"
"$bin/magma-c-dmabuf-tests" "$virtio"
echo "guest: DRM programs passed"
