#!/usr/bin/env bash
# Extracts the uncompressed ELF kernel from a bzImage, for QEMU's PVH entry (under TCG, booting
# it takes about half the time of decompressing the bzImage in the guest):
#   scripts/vm/extract-vmlinux.sh BZIMAGE OUT
# Tries each compressed stream found in the image (xz, zstd, gzip) until one decompresses to ELF.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
[ $# -eq 2 ] || vm_die "usage: extract-vmlinux.sh BZIMAGE OUT"
image=$1 out=$2
[ -r "$image" ] || vm_die "no kernel image at $image"

try() { # magic (grep -P bytes), decompressor
    local off
    for off in $(LC_ALL=C grep -obUaP "$1" "$image" | cut -d: -f1); do
        tail -c +$((off + 1)) "$image" | $2 >"$out.tmp" 2>/dev/null || true
        if [ "$(head -c 4 "$out.tmp" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
            mv "$out.tmp" "$out"; return 0
        fi
    done
    return 1
}
try '\xfd7zXZ\x00' 'xz -dc' || try '\x28\xb5\x2f\xfd' 'zstd -dcq' || try '\x1f\x8b\x08' 'gzip -dc' \
    || { rm -f "$out.tmp"; vm_die "no ELF kernel found inside $image"; }
