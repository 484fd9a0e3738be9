#!/bin/busybox sh
# PID 1 of the lab guest: mounts the kernel filesystems, loads the modules,
# runs the scenarios named on the kernel command line (lab.cases=...,
# lab.control=shared) and powers off. Everything goes to the serial console;
# lines starting with "RESULT" are what the host reads.
/bin/busybox mkdir -p /bb
/bin/busybox --install -s /bb
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/bb
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
echo "lab: boot done at $(cut -d' ' -f1 /proc/uptime) s"
for m in virtio_pci virtio_blk ext4 loop veth bridge af_packet nfsd nfs nfsv3 nfsv4; do
  modprobe "$m" 2>&1 | head -n 2
done
echo "lab: modules loaded at $(cut -d' ' -f1 /proc/uptime) s"
t=$(cut -d' ' -f1 /proc/uptime); node -e 0; echo "lab: node -e 0 from $t to $(cut -d' ' -f1 /proc/uptime) s"
t=$(cut -d' ' -f1 /proc/uptime); rmtabsync --version; echo "lab: rmtabsync --version from $t to $(cut -d' ' -f1 /proc/uptime) s"
CASES=$(sed -n 's/.*lab\.cases=\([^ ]*\).*/\1/p' /proc/cmdline)
CONTROL=$(sed -n 's/.*lab\.control=\([^ ]*\).*/\1/p' /proc/cmdline)
export LAB_CONTROL=${CONTROL:-shared}
/lab/scenarios.sh "${CASES:-s1}" 2>&1
echo "lab: done at $(cut -d' ' -f1 /proc/uptime) s"
sync
echo o >/proc/sysrq-trigger
sleep 60
