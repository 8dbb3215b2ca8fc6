#!/usr/bin/env bash
# Runs a test program inside a QEMU guest booted with a Debian kernel, vgem and virtio-gpu-pci,
# so it meets real kernel DRM drivers; see docs/vm.md.
#   scripts/vm/run-guest-tests.sh [options] [--] [COMMAND [ARG...]]
# Without a command it runs the harness's self-test, drm-probe.c. The command runs as root in the
# guest, chrooted into the host's / (shared read-only over 9p), in the current directory, with
# $MAGMA_VM_RESULTS a writable directory whose files land in <work>/results on the host.
# Exit status: 0 the test passed, 1 it failed, 2 bad usage, 3 the harness failed (set-up, boot,
# timeout, or the guest's three reports disagreeing).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$here/common.sh"

usage() {
    cat <<EOF
usage: scripts/vm/run-guest-tests.sh [options] [--] [COMMAND [ARG...]]
  --kernel 6.12|6.1      guest kernel: bookworm-backports 6.12 (default) or bookworm 6.1
  --swift-tests FILTER   run .build/debug/*PackageTests.xctest (Swift Testing) with --filter FILTER,
                         JUnit XML in <work>/results/junit.xml
  --env NAME=VALUE       set NAME in the command's environment in the guest (repeatable)
  --timeout SECONDS      bound on the guest run, boot to power-off (default 300)
  --accel auto|tcg|kvm   auto (default) uses KVM only with /dev/kvm and vmx/svm in /proc/cpuinfo
  --memory MIB           guest memory (default 1024)
  --work DIR             cache and results folder (default $repo/.build-vm)
  --results DIR          results folder instead of <work>/results; the run then holds <work>/lock
                         only while it readies the kernel and initramfs, so several guests boot at
                         once (each with a results folder of its own)
  --refresh              re-resolve and re-download the kernel
  --vhost-user-gpu SOCK  vhost-user-gpu-pci on the back-end listening at SOCK (guest RAM a shared
                         memfd) instead of virtio-gpu-pci (docs/vhost-user.md)
  --qemu PATH            the QEMU to run (default: the host's qemu-system-x86_64, Debian's 7.2);
                         scripts/vm/fetch-qemu.sh prints one of QEMU 10
Without COMMAND or --swift-tests: the DRM probe (scripts/vm/drm-probe.c).
EOF
}
bad_usage() { printf 'vm: %s\n' "$1" >&2; usage >&2; exit 2; }

series=6.12 timeout_s=300 accel=auto memory=1024 work="$repo/.build-vm" refresh=() swift_filter= environment=() vhost_gpu= qemu= results=
while [ $# -gt 0 ]; do
    case $1 in
        --kernel) [ $# -ge 2 ] || bad_usage "--kernel needs 6.12 or 6.1"; series=$2; shift 2 ;;
        --swift-tests) [ $# -ge 2 ] || bad_usage "--swift-tests needs a filter"; swift_filter=$2; shift 2 ;;
        --env) [[ ${2:-} =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || bad_usage "--env needs NAME=VALUE"; environment+=("$2"); shift 2 ;;
        --timeout) [[ ${2:-} =~ ^[0-9]+$ ]] || bad_usage "--timeout needs seconds"; timeout_s=$2; shift 2 ;;
        --accel) [[ ${2:-} =~ ^(auto|tcg|kvm)$ ]] || bad_usage "--accel needs auto, tcg or kvm"; accel=$2; shift 2 ;;
        --memory) [[ ${2:-} =~ ^[0-9]+$ ]] || bad_usage "--memory needs MiB"; memory=$2; shift 2 ;;
        --work) [ $# -ge 2 ] || bad_usage "--work needs a directory"; work=$2; shift 2 ;;
        --results) [ $# -ge 2 ] || bad_usage "--results needs a directory"; results=$2; shift 2 ;;
        --refresh) refresh=(--refresh); shift ;;
        --vhost-user-gpu) [ $# -ge 2 ] || bad_usage "--vhost-user-gpu needs a socket path"; vhost_gpu=$2; shift 2 ;;
        --qemu) [ $# -ge 2 ] || bad_usage "--qemu needs a path"; qemu=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) bad_usage "unknown option $1" ;;
        *) break ;;
    esac
done
case $series in 6.12|6.1) ;; *) bad_usage "unknown kernel series '$series' (known: 6.12, 6.1)" ;; esac
[ -z "$swift_filter" ] || [ $# -eq 0 ] || bad_usage "give either --swift-tests or a command"

if [ -n "$qemu" ]; then
    [ -x "$qemu" ] || bad_usage "--qemu: $qemu is not an executable file"
    vm_need_packages busybox-static cpio kmod xz-utils zstd gcc libc6-dev
else
    qemu=qemu-system-x86_64
    vm_need_packages qemu-system-x86 busybox-static cpio kmod xz-utils zstd gcc libc6-dev
fi
mkdir -p "$work"
work=$(cd "$work" && pwd)
exec 9>"$work/lock"
flock -n 9 || { vm_log "another guest run holds $work/lock; waiting"; flock 9; }

kdir=$("$here/fetch-kernel.sh" --kernel "$series" --work "$work" "${refresh[@]}")
ver=$(basename "$kdir")
initrd=$("$here/build-initramfs.sh" "$kdir")
[ -z "$results" ] || exec 9>&-   # a results folder of its own: the shared cache is ready

# The guest sees the host's / except /dev, /proc and /sys, which are its own, and /tmp and /run,
# fresh tmpfs but for the paths in "keep" (the repository, the current directory and the command's
# directory when they lie there).
cwd=$(pwd -P)
keep=()
visible() { # path what
    local p
    p=$(realpath -m "$1")
    [[ $p =~ ^/(dev|proc|sys)(/|$) ]] && vm_die "$2 $p is not the host's in the guest (it has its own /dev, /proc, /sys)"
    [[ $p =~ ^/(tmp|run)/?$ ]] && vm_die "$2 $p: the guest's /tmp and /run are its own; use a directory below them or elsewhere"
    [[ $p =~ ^/(tmp|run)/ ]] && keep+=("$p")
    return 0
}
visible "$repo" "the repository"
visible "$cwd" "the current directory"
if [ -n "$swift_filter" ]; then
    bundle=$(ls -d "$repo"/.build/debug/*PackageTests.xctest 2>/dev/null | head -n1)
    [ -n "$bundle" ] || vm_die "no test bundle in $repo/.build/debug: run 'swift build --build-tests' first"
    set -- "$bundle" --testing-library swift-testing --filter "$swift_filter" --xunit-output /run/magma-vm/junit.xml
elif [ $# -eq 0 ]; then
    probe="$kdir/drm-probe"
    if [ ! -x "$probe" ] || [ "$here/drm-probe.c" -nt "$probe" ]; then
        gcc -std=c11 -O2 -Wall -Wextra -Werror -D__user= -I"$kdir/uapi" "$here/drm-probe.c" -o "$probe" \
            || vm_die "compiling drm-probe.c against $kdir/uapi failed"
    fi
    set -- "$probe"
fi
if [[ $1 == */* ]]; then
    [[ $1 == /* ]] || set -- "$cwd/$1" "${@:2}"
    [ -x "$1" ] || vm_die "$1 is not an executable file"
    visible "$(dirname "$1")" "the command's directory"
fi

[ -n "$results" ] || results="$work/results"
rm -rf "$results"
mkdir -p "$results"
results=$(cd "$results" && pwd)
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
{
    echo "cd $(q "$cwd") || exit 125"
    for e in "${environment[@]}"; do echo "export $(q "$e")"; done
    printf 'exec'; for a in "$@"; do printf ' %s' "$(q "$a")"; done; echo
} >"$results/run.sh"
[ ${#keep[@]} -eq 0 ] || printf '%s\n' "${keep[@]}" | sort -u >"$results/keep"
touch "$results/keep"

# KVM only where it can work: a paravirtual /dev/kvm without vmx/svm aborts or crawls.
accel_why=requested
if [ "$accel" = auto ]; then
    if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then accel=tcg accel_why="no read-write /dev/kvm"
    elif ! grep -qE '^flags.*\b(vmx|svm)\b' /proc/cpuinfo; then accel=tcg accel_why="/dev/kvm, but no vmx/svm in /proc/cpuinfo"
    else accel=kvm accel_why="/dev/kvm and vmx/svm"; fi
fi
# TCG emulates "max" (every feature it can): host-built code that needs more than QEMU's default
# qemu64 model, as the thread sanitizer's runtime does (SIGILL there), runs in the guest.
accel_args=(-accel tcg -cpu max)
[ "$accel" = kvm ] && accel_args=(-accel kvm -cpu host)
tsc_khz=$(awk '/^cpu MHz/ { printf "%d", $4 * 1000; exit }' /proc/cpuinfo)
[ -n "$tsc_khz" ] || vm_die "no 'cpu MHz' in /proc/cpuinfo for tsc_early_khz"

# microvm's firmware is qboot: QEMU 10's default for it, SeaBIOS's bios-microvm.bin, puts the
# ACPI tables at the top of RAM, where QEMU loads the initrd for a PVH boot (the guest then finds
# a corrupt DSDT and no PCIe).

# The GPU: QEMU's own virtio-gpu-pci, or vhost-user-gpu-pci on a back-end, which maps the guest's
# RAM: a memfd shared with it.
machine=microvm,pcie=on,rtc=on gpu_args=(-device virtio-gpu-pci)
if [ -n "$vhost_gpu" ]; then
    [ -S "$vhost_gpu" ] || vm_die "--vhost-user-gpu: no socket at $vhost_gpu"
    machine+=,memory-backend=mem
    gpu_args=(-object memory-backend-memfd,id=mem,size="${memory}M",share=on
              -chardev socket,id=vgpu,path="$vhost_gpu" -device vhost-user-gpu-pci,chardev=vgpu,queue_reset=off)
fi

vm_log "guest: kernel $ver, $accel ($accel_why), ${memory} MiB, timeout ${timeout_s} s, $("$qemu" -version | head -n1); running: $*"

# Boots the guest once; sets qemu_rc, seconds and line (the guest's result line, or empty).
boot_guest() {
    rm -f "$results/rc"
    start=$(date +%s.%N)
    set +e
    timeout --kill-after=10 "$timeout_s" "$qemu" "${accel_args[@]}" \
        -M "$machine" -bios qboot.rom -m "$memory" -smp 2 -no-reboot -nic none -monitor none -display none \
        -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
        "${gpu_args[@]}" \
        -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
        -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
        -fsdev local,id=results,path="$results",security_model=none \
        -device virtio-9p-pci,fsdev=results,mount_tag=results \
        -kernel "$kdir/vmlinux" -initrd "$initrd" \
        -append "console=ttyS0 quiet panic=-1 tsc_early_khz=$tsc_khz" </dev/null 2>&1 \
        | sed -u 's/\r$//' | tee "$results/console.log"
    qemu_rc=${PIPESTATUS[0]}
    set -e
    seconds=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ] && vm_die "the guest did not finish within ${timeout_s} s (console: $results/console.log)"
    line=$(grep -a '^MAGMA-VM-RESULT ' "$results/console.log" | tail -n1 || true)
}

boot_guest
# A kernel that panics while it boots, before the guest's init has run anything (no
# "MAGMA-VM:" line: seen once under TCG, an int3 in sched_clock_cpu during the kernel's own
# code patching), ran none of the tests: boot once more, and say so. A panic after init
# started is the run's result, never retried.
if [ -z "$line" ] && ! grep -aq '^MAGMA-VM:' "$results/console.log" && grep -aq 'Kernel panic' "$results/console.log"; then
    cp "$results/console.log" "$results/console-panicked-boot.log"
    vm_log "the guest kernel panicked while booting, before init ran (console: $results/console-panicked-boot.log); booting once more"
    boot_guest
fi

# Cross-check the guest's three reports: serial line, results file, isa-debug-exit.
[ -n "$line" ] || vm_die "the guest printed no result line (QEMU exit $qemu_rc after $seconds s; console: $results/console.log)"
phase=$(sed -n 's/.*phase=\([a-z]*\).*/\1/p' <<<"$line")
serial_rc=$(sed -n 's/.* rc=\([0-9]*\).*/\1/p' <<<"$line")
[ "$phase" = test ] || vm_die "guest set-up failed: $(grep -a 'MAGMA-VM: setup failed' "$results/console.log" | tail -n1)"
[ -s "$results/rc" ] || vm_die "the guest wrote no $results/rc"
file_rc=$(cat "$results/rc")
[ "$file_rc" = "$serial_rc" ] || vm_die "the results file says rc $file_rc, the serial line rc $serial_rc"
port_rc=$((serial_rc > 127 ? 127 : serial_rc))
[ "$qemu_rc" -eq $(((port_rc << 1) | 1)) ] \
    || vm_die "QEMU exited $qemu_rc, but isa-debug-exit for rc $serial_rc gives $(((port_rc << 1) | 1)) (0: the guest never wrote the port)"

if [ -n "$swift_filter" ] && [ "$serial_rc" -eq 0 ]; then   # a passing run must have run tests
    [ -s "$results/junit.xml" ] || vm_die "the test bundle wrote no $results/junit.xml"
    ran=$(sed -n 's/.*<testsuite [^>]*tests="\([0-9]*\)".*/\1/p' "$results/junit.xml" | head -n1)
    [ "${ran:-0}" -gt 0 ] || vm_die "--swift-tests '$swift_filter' matched no tests"
    vm_log "$ran Swift tests ran in the guest (JUnit XML: $results/junit.xml)"
fi
if [ "$serial_rc" -eq 0 ]; then
    vm_log "PASS in the guest (kernel $ver, $accel, $seconds s boot to power-off); output: $results/output.log"
    exit 0
fi
vm_log "FAIL in the guest: exit status $serial_rc (kernel $ver, $accel, $seconds s); output: $results/output.log"
exit 1
