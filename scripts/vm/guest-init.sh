#!/bin/busybox sh
# /init of the test guest (busybox sh), put in the initramfs by build-initramfs.sh.
# Loads the modules in /modules in order, mounts the host's / read-only at /host, fresh tmpfs on
# /host/tmp and /host/run (keeping visible the host paths listed in the share's file "keep"), and
# the writable results share at /host/run/magma-vm; chroots into /host, runs /run/magma-vm/run.sh
# (written by run-guest-tests.sh) with its output on the console and in the share, and reports the
# exit code
# three ways: the files rc and output.log in the share, the serial line
# "MAGMA-VM-RESULT phase=<setup|test> rc=<n>", and the isa-debug-exit port (QEMU exits with
# (rc<<1)|1, rc capped at 127). Then powers off.
/bin/busybox --install -s /bin
export PATH=/bin

results=/results

# Reports rc for a phase on all three channels and powers the machine off.
finish() {
    phase=$1 rc=$2
    [ "$phase" = test ] && { echo "$rc" >"$results/rc"; sync; }
    echo "MAGMA-VM-RESULT phase=$phase rc=$rc"
    port=$rc; [ "$port" -gt 127 ] && port=127
    printf "\\$(printf %o "$port")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
    poweroff -f
}

# Reports a failure of the guest set-up (the test never ran).
setup_failed() { echo "MAGMA-VM: setup failed: $*"; finish setup 125; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev || setup_failed "devtmpfs"
mount -t tmpfs tmpfs /tmp
for m in /modules/*.ko; do
    insmod "$m" || setup_failed "insmod $m"
done

# Mounts a 9p share, retrying briefly while its virtio device binds.
mount9p() { # tag dir options
    i=0
    until mount -t 9p -o "trans=virtio,version=9p2000.L,msize=512000,$3" "$1" "$2" 2>/dev/null; do
        i=$((i + 1)); [ $i -ge 50 ] && setup_failed "mount 9p $1 on $2"
        sleep 0.1
    done
}
mkdir -p "$results" /keep /dev/shm
mount9p results "$results" cache=none
mount9p hostroot /host cache=loose,ro
[ -r "$results/run.sh" ] || setup_failed "no run.sh in the results share"
i=0
while read -r path; do
    i=$((i + 1)); mkdir -p "/keep/$i"; mount -o bind "/host$path" "/keep/$i" || setup_failed "bind $path"
done <"$results/keep"
mount -t tmpfs -o mode=755 tmpfs /host/run || setup_failed "tmpfs /host/run"
mount -t tmpfs -o mode=1777 tmpfs /host/tmp || setup_failed "tmpfs /host/tmp"
i=0
while read -r path; do
    i=$((i + 1)); mkdir -p "/host$path"; mount -o bind "/keep/$i" "/host$path" || setup_failed "rebind $path"
done <"$results/keep"
mkdir -p /host/run/magma-vm
mount -o bind "$results" /host/run/magma-vm || setup_failed "bind the results share"
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -o rbind /dev /host/dev || setup_failed "bind /dev"
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mkdir -p -m 700 /host/tmp/home /host/run/user
echo "MAGMA-VM: kernel $(uname -r); /dev/dri: $(ls /dev/dri 2>/dev/null | tr '\n' ' ')"

# The test, in the host's root: its output goes to the console and to output.log.
{
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp/home \
        TMPDIR=/tmp XDG_RUNTIME_DIR=/run/user LANG=C.UTF-8 MAGMA_VM=1 MAGMA_VM_RESULTS=/run/magma-vm \
        chroot /host /bin/sh /run/magma-vm/run.sh </dev/null 2>&1
    echo $? >/tmp/rc
} | tee "$results/output.log"
finish test "$(cat /tmp/rc)"
