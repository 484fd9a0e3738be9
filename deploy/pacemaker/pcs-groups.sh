#!/bin/sh
# rmtabsync example, per export group (the default): two nodes (ds03, ds04),
# two export groups (g-vm0, g-vm1), each on its own single-primary DRBD
# resource. No cluster filesystem, no dlm, no dual-primary: each group's
# control directory lives on the group's own volume and fails over with it.
# The same configuration as cib-groups.xml; rmtabsync's configuration is
# config.groups.example.yaml next to this file.
#
#   g-vm0: the control directory is a directory on vm0's filesystem
#          (/srv/vm0/rmtabsync, beside the exported /srv/vm0/export).
#   g-vm1: the control directory is volume 1 of vm1's DRBD resource,
#          mounted at /var/lib/rmtabsync/vm1 by its own Filesystem.
#
# Each group starts in this order (and stops in the reverse one):
#   DRBD promote -> Filesystem (data) -> Filesystem (control, or a subdirectory)
#   -> rmtabsync -> exportfs -> IPaddr2
#
# Prerequisites on both nodes (see README.md next to this file): DRBD
# resources "vm0" (one volume) and "vm1" (volume 0 data, volume 1 control),
# single-primary, the rmtabsync package, the same /etc/rmtabsync/config.yaml.
#
# Builds the configuration in a file, then pushes it in one step.
set -eu
CIB=${CIB:-rmtabsync-cib.xml}
pcs cluster cib "$CIB"
p() { pcs -f "$CIB" "$@"; }

p property set stonith-enabled=true
p resource defaults update resource-stickiness=200

# Fencing: DRBD's resource-level fencing and a failover after node loss rely on it.
p stonith create fence-ds03 fence_ipmilan pcmk_host_list=ds03 ip=192.0.2.101 username=admin password=CHANGE-ME lanplus=1 op monitor interval=60s
p stonith create fence-ds04 fence_ipmilan pcmk_host_list=ds04 ip=192.0.2.102 username=admin password=CHANGE-ME lanplus=1 op monitor interval=60s
p constraint location fence-ds03 avoids ds03
p constraint location fence-ds04 avoids ds04

# The NFS server runs on both nodes; each serves the groups it holds.
p resource create nfs-server systemd:nfs-server \
  op monitor interval=30s timeout=100s op start timeout=100s op stop timeout=100s \
  clone interleave=true

# One group per DRBD resource:
# Filesystem (data) [-> Filesystem (control)] -> rmtabsync -> exportfs -> IPaddr2.
export_group() { # name ip fsid preferred-node control-mount ("" = a directory on the data filesystem)
  n=$1 ip=$2 fsid=$3 home=$4 control=$5
  p resource create "drbd-$n" ocf:linbit:drbd drbd_resource="$n" \
    op monitor interval=29s timeout=20s role=Promoted op monitor interval=31s timeout=20s role=Unpromoted \
    op start timeout=240s op stop timeout=100s op promote timeout=90s op demote timeout=90s \
    promotable promoted-max=1 promoted-node-max=1 clone-max=2 clone-node-max=1 notify=true
  p resource create "fs-$n" ocf:heartbeat:Filesystem device="/dev/drbd/by-res/$n/0" directory="/srv/$n" fstype=ext4 \
    op monitor interval=20s timeout=40s op start timeout=60s op stop timeout=60s --group "g-$n"
  if [ -n "$control" ]; then
    p resource create "fs-$n-control" ocf:heartbeat:Filesystem device="/dev/drbd/by-res/$n/1" directory="$control" fstype=ext4 options=noatime \
      op monitor interval=20s timeout=40s op start timeout=60s op stop timeout=60s --group "g-$n"
  fi
  p resource create "rmtabsync-$n" ocf:rmtabsync:rmtabsync export="$n" config=/etc/rmtabsync/config.yaml lock_timeout=10 \
    op monitor interval=30s timeout=30s op start timeout=60s op stop timeout=60s --group "g-$n"
  # Export a subdirectory, never the filesystem's root, so that the control
  # directory beside it stays hidden from clients. rmtab_backup=none:
  # rmtabsync keeps rmtab; the agent's own backup would rewrite rmtab
  # without mountd's lock.
  p resource create "exportfs-$n" ocf:heartbeat:exportfs directory="/srv/$n/export" clientspec=192.0.2.0/24 \
    options=rw,sync,no_subtree_check,no_root_squash,mp fsid="$fsid" rmtab_backup=none \
    op monitor interval=30s timeout=20s op start timeout=40s op stop timeout=120s --group "g-$n"
  p resource create "ip-$n" ocf:heartbeat:IPaddr2 ip="$ip" cidr_netmask=24 \
    op monitor interval=10s timeout=20s op start timeout=20s op stop timeout=20s --group "g-$n"
  p constraint colocation add "g-$n" with Promoted "drbd-$n-clone" INFINITY
  p constraint order promote "drbd-$n-clone" then start "g-$n"
  p constraint order start nfs-server-clone then start "g-$n"
  p constraint location "g-$n" prefers "$home=100"
}
export_group vm0 192.0.2.10 1 ds03 ""
export_group vm1 192.0.2.11 2 ds04 /var/lib/rmtabsync/vm1

pcs cluster cib-push "$CIB" --config
