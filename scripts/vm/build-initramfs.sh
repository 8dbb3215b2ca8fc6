#!/usr/bin/env bash
# Builds the test guest's initramfs for a kernel prepared by fetch-kernel.sh:
#   scripts/vm/build-initramfs.sh KERNEL_DIR
# Contents: a static busybox, /init (guest-init.sh), and the modules the guest loads, in the
# order `modprobe --show-depends` gives for virtio_pci, vgem, virtio_gpu, 9pnet_virtio and 9p,
# decompressed on the host (busybox insmod cannot read .ko.xz or .ko.zst). Prints the path of the
# gzip'd newc cpio on stdout: KERNEL_DIR/initrd-<hash>.gz, where the hash covers this script,
# guest-init.sh and busybox, so an unchanged initramfs is reused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
[ $# -eq 1 ] || vm_die "usage: build-initramfs.sh KERNEL_DIR"
kdir=$(cd "$1" && pwd)
ver=$(basename "$kdir")
busybox=/bin/busybox
[ -x "$busybox" ] && [[ $(ldd "$busybox" 2>&1) == *"not a dynamic executable"* ]] || vm_die "$busybox is not a static busybox (package busybox-static)"
modules="virtio_pci vgem virtio_gpu 9pnet_virtio 9p"

key=$(cat "$0" "$here/guest-init.sh" "$busybox" | sha256sum | cut -c1-16)
out="$kdir/initrd-$key.gz"
if [ -s "$out" ]; then echo "$out"; exit 0; fi

stage=$(mktemp -d "$kdir/initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,tmp,host,modules}
cp "$busybox" "$stage/bin/busybox"
cp "$here/guest-init.sh" "$stage/init"
chmod 755 "$stage/init"

paths=$(modprobe -C /dev/null -d "$kdir/root" -S "$ver" -a --show-depends $modules) \
    || vm_die "modprobe --show-depends failed for $modules in $kdir/root"
n=0 seen=" "
while read -r kind path _; do
    [ "$kind" = insmod ] || continue                     # "builtin NAME" needs no file
    name=$(basename "$path"); name=${name%.xz}; name=${name%.zst}; name=${name%.ko}; name=${name//-/_}
    case $seen in *" $name "*) continue ;; esac          # already listed for an earlier module
    seen="$seen$name "
    n=$((n + 1)); dest=$(printf '%s/modules/%02d-%s.ko' "$stage" "$n" "$name")
    case $path in
        *.ko.xz) xz -dc "$path" >"$dest" ;;
        *.ko.zst) zstd -dcq "$path" >"$dest" ;;
        *.ko) cp "$path" "$dest" ;;
        *) vm_die "unexpected module file $path" ;;
    esac
done <<<"$paths"
for m in $modules; do
    case $seen in *" $m "*) ;; *) grep -q "^builtin $m\$" <<<"$paths" || vm_die "module $m not found for $ver" ;; esac
done
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -6 >"$out.tmp"
mv "$out.tmp" "$out"
vm_log "initramfs for $ver: $n modules:$seen"
echo "$out"
