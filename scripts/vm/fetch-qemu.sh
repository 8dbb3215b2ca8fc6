#!/usr/bin/env bash
# Fetches QEMU 10 from bookworm-backports and prepares it to run from a work directory, without
# touching the host's apt configuration or installing anything system-wide:
#   scripts/vm/fetch-qemu.sh [--work DIR] [--refresh]
# Debian 12's own QEMU 7.2 refuses vhost-user-gpu-pci under TCG ("vhost initialization failed:
# requires kvm"); QEMU 10 does not. A private apt configuration in DIR/apt-qemu (bookworm, its
# updates and security, and bookworm-backports) resolves qemu-system-x86, qemu-system-data,
# qemu-system-common and seabios in bookworm-backports; `apt-get download` fetches them and
# `dpkg-deb -x` unpacks them into DIR/qemu-<version>/root (no maintainer scripts run). The shared
# libraries the binary and its modules lack on this host (`ldd`: "not found") are fetched the same way, by their
# Debian package name (libfoo.so.N is libfooN, libfoo2.so.N is libfoo2-N: Debian policy 8.1),
# each checked against the Depends of a package already unpacked, until `ldd` finds them all.
# Prints the path of a wrapper, DIR/qemu-<version>/qemu-system-x86_64, that runs it (the
# libraries on LD_LIBRARY_PATH, QEMU_MODULE_DIR at its own modules, -L at its firmware). A
# version already prepared is reused with no network access unless --refresh is given.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$here/common.sh"

work="$repo/.build-vm" refresh=0
mirror=${MAGMA_VM_MIRROR:-http://deb.debian.org/debian}
security_mirror=${MAGMA_VM_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
while [ $# -gt 0 ]; do
    case $1 in
        --work) work=${2:?--work needs a directory}; shift 2 ;;
        --refresh) refresh=1; shift ;;
        *) vm_die "fetch-qemu.sh: unknown argument '$1'" ;;
    esac
done
mkdir -p "$work"
work=$(cd "$work" && pwd)
pointer="$work/qemu-version"   # holds the resolved version
multiarch=usr/lib/x86_64-linux-gnu

if [ "$refresh" -eq 0 ] && [ -s "$pointer" ]; then
    ready=$work/qemu-$(cat "$pointer")
    if [ -f "$ready/.ready" ]; then echo "$ready/qemu-system-x86_64"; exit 0; fi
fi

command -v apt-get >/dev/null || vm_die "apt-get not found: this script needs a Debian host"
[ -r "$vm_keyring" ] || vm_die "$vm_keyring missing (package debian-archive-keyring)"
export APT_CONFIG
APT_CONFIG=$(vm_private_apt "$work/apt-qemu" \
    "deb [signed-by=$vm_keyring] $mirror bookworm main" \
    "deb [signed-by=$vm_keyring] $mirror bookworm-updates main" \
    "deb [signed-by=$vm_keyring] $security_mirror bookworm-security main" \
    "deb [signed-by=$vm_keyring] $mirror bookworm-backports main")
vm_log "resolving qemu-system-x86 in bookworm-backports (private apt in $work/apt-qemu)"
timeout 600 apt-get update -q >&2 || vm_die "apt-get update (private configuration) failed"
ver=$(apt-cache madison qemu-system-x86 | awk -F' [|] ' '$3 ~ /bookworm-backports/ { print $2; exit }')
[ -n "$ver" ] || vm_die "bookworm-backports has no qemu-system-x86"
dir="$work/qemu-${ver#*:}"   # no epoch in the folder name or the pointer
vm_log "QEMU $ver"

# The names a package lists in Depends (alternatives and versions dropped).
depends_of() { dpkg-deb -f "$1" Depends | tr ',|' '\n\n' | sed 's/(.*)//; s/:any//; s/ //g' | sed '/^$/d'; }
# Debian's package name for a shared library's soname (policy 8.1).
package_for_soname() {
    local base=${1%%.so.*} n=${1##*.so.}
    [ "$base" != "$1" ] || return 1
    if [[ $base =~ [0-9]$ ]]; then echo "${base,,}-$n"; else echo "${base,,}$n"; fi
}
download() { # packages...
    (cd "$dir/debs" && timeout 900 apt-get download -q "$@" >&2) || vm_die "apt-get download $* failed"
    local p
    for p in "$@"; do
        p=${p%/*}
        dpkg-deb -x "$dir"/debs/"$p"_*.deb "$dir/root" || vm_die "dpkg-deb -x $p failed"
        depends_of "$dir"/debs/"$p"_*.deb >>"$dir/depends"
    done
}
# The sonames the binary or one of its modules needs and the host and the unpacked tree lack.
missing_libraries() {
    local f
    for f in "$dir/root/usr/bin/qemu-system-x86_64" "$dir/root/$multiarch"/qemu/*.so; do
        LD_LIBRARY_PATH="$dir/root/$multiarch:$dir/root/lib/x86_64-linux-gnu" ldd "$f"
    done | awk '/not found/ { print $1 }' | sort -u
}

if [ ! -f "$dir/.ready" ]; then
    rm -rf "$dir"
    mkdir -p "$dir/debs" "$dir/root"
    : >"$dir/depends"
    download qemu-system-x86/bookworm-backports qemu-system-data/bookworm-backports \
        qemu-system-common/bookworm-backports seabios/bookworm-backports
    for round in 1 2 3 4 5 6; do
        libs=$(missing_libraries)
        [ -n "$libs" ] || break
        [ "$round" -lt 6 ] || vm_die "libraries still missing after $round rounds: $(echo $libs)"
        packages=()
        for lib in $libs; do
            p=$(package_for_soname "$lib") || vm_die "cannot name the package of $lib"
            grep -qx "$p" "$dir/depends" || vm_die "$lib is missing, but no unpacked package depends on $p"
            packages+=("$p")
        done
        vm_log "libraries missing on this host: $(echo $libs); fetching ${packages[*]}"
        download "${packages[@]}"
    done
    if LD_LIBRARY_PATH="$dir/root/$multiarch" ldd "$dir/root/usr/bin/qemu-system-x86_64" | grep -q 'version .* not found'; then
        vm_die "the host's libraries are too old for QEMU $ver: $(LD_LIBRARY_PATH="$dir/root/$multiarch" ldd "$dir/root/usr/bin/qemu-system-x86_64" 2>&1 | grep 'not found' | head -n3)"
    fi
    cat >"$dir/qemu-system-x86_64" <<'EOF'
#!/bin/sh
# Runs the QEMU that scripts/vm/fetch-qemu.sh unpacked here: its own libraries, modules and
# firmware (the host's dynamic loader and the libraries the host already has).
d=$(dirname "$(readlink -f "$0")")
export LD_LIBRARY_PATH="$d/root/usr/lib/x86_64-linux-gnu:$d/root/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export QEMU_MODULE_DIR="$d/root/usr/lib/x86_64-linux-gnu/qemu"
exec "$d/root/usr/bin/qemu-system-x86_64" -L "$d/root/usr/share/qemu" -L "$d/root/usr/share/seabios" "$@"
EOF
    chmod +x "$dir/qemu-system-x86_64"
    "$dir/qemu-system-x86_64" -version >&2 || vm_die "the unpacked QEMU does not run"
    # Asks for the one device, not `-device help`: that loads every module QEMU knows of, and where
    # Debian's own QEMU (7.2) is installed it finds modules QEMU 10's packages here do not ship
    # (GL, spice) in the system's module folder, refuses them ("Only modules from the same build")
    # and then fails an assertion. A boot loads only the modules its devices need, all found here.
    "$dir/qemu-system-x86_64" -device vhost-user-gpu-pci,help 2>/dev/null | grep -q '^vhost-user-gpu-pci options' \
        || vm_die "the unpacked QEMU has no vhost-user-gpu-pci device (its modules: $dir/root/$multiarch/qemu)"
    rm -rf "$dir/debs"   # the unpacked tree is the cache
    touch "$dir/.ready"
fi
echo "${ver#*:}" >"$pointer"
echo "$dir/qemu-system-x86_64"
