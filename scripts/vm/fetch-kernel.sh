#!/usr/bin/env bash
# Fetches a Debian kernel for the test guest and prepares it, without touching the host's apt
# configuration, /boot or /lib/modules:
#   scripts/vm/fetch-kernel.sh --kernel 6.12|6.1 --work DIR [--refresh]
# Resolves `linux-image-amd64` (bookworm-backports for 6.12, bookworm for 6.1) to its versioned
# package through a private apt configuration in DIR/apt-<series>, downloads it and its
# `linux-headers-<ver>-common` with `apt-get download`, unpacks both with `dpkg-deb -x` (no
# maintainer scripts run), runs depmod into the unpacked root, and extracts the ELF vmlinux from
# the bzImage (booted through QEMU's PVH entry). Prints the prepared directory, DIR/kernels/<ver>,
# on stdout. A series already prepared is reused with no network access unless --refresh is given.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

series=6.12 work= refresh=0
mirror=${MAGMA_VM_MIRROR:-http://deb.debian.org/debian}
security_mirror=${MAGMA_VM_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
while [ $# -gt 0 ]; do
    case $1 in
        --kernel) series=${2:?--kernel needs 6.12 or 6.1}; shift 2 ;;
        --work) work=${2:?--work needs a directory}; shift 2 ;;
        --refresh) refresh=1; shift ;;
        *) vm_die "fetch-kernel.sh: unknown argument '$1'" ;;
    esac
done
[ -n "$work" ] || vm_die "fetch-kernel.sh: --work DIR is required"
keyring=$vm_keyring
case $series in
    6.12) suites="bookworm-backports" ;;
    6.1) suites="bookworm bookworm-updates" ;;           # plus bookworm-security, below
    *) vm_die "unknown kernel series '$series' (known: 6.12, 6.1)" ;;
esac
mkdir -p "$work"
work=$(cd "$work" && pwd)
pointer="$work/kernel-$series"   # holds the resolved version of the series

# The suites' sources for the private apt configuration (vm_private_apt, common.sh).
sources=()
for s in $suites; do sources+=("deb [signed-by=$keyring] $mirror $s main"); done
[ "$series" = 6.1 ] && sources+=("deb [signed-by=$keyring] $security_mirror bookworm-security main")

if [ "$refresh" -eq 0 ] && [ -s "$pointer" ]; then
    ver=$(cat "$pointer")
    if [ -f "$work/kernels/$ver/.ready" ]; then echo "$work/kernels/$ver"; exit 0; fi
fi

command -v apt-get >/dev/null || vm_die "apt-get not found: this script needs a Debian host"
[ -r "$keyring" ] || vm_die "$keyring missing (package debian-archive-keyring)"
export APT_CONFIG
APT_CONFIG=$(vm_private_apt "$work/apt-$series" "${sources[@]}")
vm_log "resolving linux-image-amd64 in $(grep -o 'bookworm[a-z-]*' "$work/apt-$series/etc/sources.list" | tr '\n' ' ')(private apt in $work/apt-$series)"
timeout 600 apt-get update -q >&2 || vm_die "apt-get update (private configuration) failed"
image=$(apt-cache show --no-all-versions linux-image-amd64 | sed -n 's/^Depends: .*\(linux-image-[0-9][^ ,]*-amd64\).*/\1/p' | head -n1)
[ -n "$image" ] || vm_die "could not resolve linux-image-amd64 to a versioned package"
ver=${image#linux-image-}
common="linux-headers-${ver%-amd64}-common"
dir="$work/kernels/$ver"
vm_log "kernel $ver: $image, $common"

if [ ! -f "$dir/.ready" ]; then
    rm -rf "$dir"
    mkdir -p "$dir/debs" "$dir/root" "$dir/headers"
    (cd "$dir/debs" && timeout 900 apt-get download -q "$image" "$common" >&2) || vm_die "apt-get download $image $common failed"
    dpkg-deb -x "$dir"/debs/linux-image-*.deb "$dir/root"
    dpkg-deb -x "$dir"/debs/linux-headers-*.deb "$dir/headers"
    # depmod -b ROOT looks in ROOT/lib/modules; merged-/usr packages ship usr/lib/modules.
    if [ ! -d "$dir/root/lib/modules" ] && [ -d "$dir/root/usr/lib/modules" ]; then
        ln -s usr/lib "$dir/root/lib"
    fi
    [ -d "$dir/root/lib/modules/$ver" ] || vm_die "$image has no lib/modules/$ver"
    depmod -b "$dir/root" "$ver" || vm_die "depmod failed for $ver"
    "$here/extract-vmlinux.sh" "$dir/root/boot/vmlinuz-$ver" "$dir/vmlinux"
    uapi=$(ls -d "$dir"/headers/usr/src/linux-headers-*-common/include/uapi/drm 2>/dev/null | head -n1)
    [ -n "$uapi" ] || vm_die "$common has no include/uapi/drm"
    mkdir -p "$dir/uapi"
    ln -sfn ../"${uapi#"$dir/"}" "$dir/uapi/drm"
    rm -rf "$dir/debs"   # the unpacked trees are the cache
    touch "$dir/.ready"
fi
echo "$ver" >"$pointer"
echo "$dir"
