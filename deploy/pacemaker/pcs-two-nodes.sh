#!/bin/sh
# rmtabsync example: two nodes (ds03, ds04), two exports (vm0, vm1) on their
# own DRBD resources, and the rmtabsync control volume on dual-primary DRBD
# with GFS2 (dlm + fencing). The same configuration as cib-two-nodes.xml.
#
# Prerequisites on both nodes (see README.md next to this file): DRBD
# resources "control", "vm0", "vm1" in /etc/drbd.d (control with
# allow-two-primaries and fencing resource-and-stonith), a GFS2 filesystem on
# control made with the cluster name, the rmtabsync package, the same
# /etc/rmtabsync/config.yaml (controlDir: /var/lib/rmtabsync/control).
#
# Builds the configuration in a file, then pushes it in one step.
set -eu
CIB=${CIB:-rmtabsync-cib.xml}
pcs cluster cib "$CIB"
p() { pcs -f "$CIB" "$@"; }

p property set stonith-enabled=true no-quorum-policy=freeze
p resource defaults update resource-stickiness=200

# Fencing: GFS2, dlm and dual-primary DRBD are unsafe without it.
p stonith create fence-ds03 fence_ipmilan pcmk_host_list=ds03 ip=192.0.2.101 username=admin password=CHANGE-ME lanplus=1 op monitor interval=60s
p stonith create fence-ds04 fence_ipmilan pcmk_host_list=ds04 ip=192.0.2.102 username=admin password=CHANGE-ME lanplus=1 op monitor interval=60s
p constraint location fence-ds03 avoids ds03
p constraint location fence-ds04 avoids ds04

# The control volume: dlm, DRBD primary on both nodes, GFS2 mounted on both.
p resource create dlm ocf:pacemaker:controld \
  op monitor interval=30s timeout=20s op start timeout=90s op stop timeout=100s \
  clone interleave=true
p resource create drbd-control ocf:linbit:drbd drbd_resource=control \
  op monitor interval=29s timeout=20s role=Promoted op monitor interval=31s timeout=20s role=Unpromoted \
  op start timeout=240s op stop timeout=100s op promote timeout=90s op demote timeout=90s \
  promotable promoted-max=2 promoted-node-max=1 clone-max=2 clone-node-max=1 notify=true
p resource create fs-control ocf:heartbeat:Filesystem \
  device=/dev/drbd/by-res/control/0 directory=/var/lib/rmtabsync/control fstype=gfs2 options=noatime \
  op monitor interval=20s timeout=40s op start timeout=60s op stop timeout=60s \
  clone interleave=true
p constraint order start dlm-clone then start drbd-control-clone
p constraint order promote drbd-control-clone then start fs-control-clone
p constraint colocation add fs-control-clone with Promoted drbd-control-clone INFINITY
p constraint colocation add fs-control-clone with dlm-clone INFINITY

# The NFS server runs on both nodes; each serves the exports it holds.
p resource create nfs-server systemd:nfs-server \
  op monitor interval=30s timeout=100s op start timeout=100s op stop timeout=100s \
  clone interleave=true

# One group per export: Filesystem -> rmtabsync -> exportfs -> IPaddr2.
export_group() { # name directory ip fsid preferred-node
  n=$1 dir=$2 ip=$3 fsid=$4 home=$5
  p resource create "drbd-$n" ocf:linbit:drbd drbd_resource="$n" \
    op monitor interval=29s timeout=20s role=Promoted op monitor interval=31s timeout=20s role=Unpromoted \
    op start timeout=240s op stop timeout=100s op promote timeout=90s op demote timeout=90s \
    promotable promoted-max=1 promoted-node-max=1 clone-max=2 clone-node-max=1 notify=true
  p resource create "fs-$n" ocf:heartbeat:Filesystem device="/dev/drbd/by-res/$n/0" directory="$dir" fstype=ext4 \
    op monitor interval=20s timeout=40s op start timeout=60s op stop timeout=60s --group "g-$n"
  p resource create "rmtabsync-$n" ocf:rmtabsync:rmtabsync export="$n" config=/etc/rmtabsync/config.yaml lock_timeout=10 \
    op monitor interval=30s timeout=30s op start timeout=60s op stop timeout=60s --group "g-$n"
  # rmtab_backup=none: rmtabsync keeps rmtab; the agent's own backup would
  # rewrite rmtab without mountd's lock.
  p resource create "exportfs-$n" ocf:heartbeat:exportfs directory="$dir" clientspec=192.0.2.0/24 \
    options=rw,sync,no_subtree_check,no_root_squash,mp fsid="$fsid" rmtab_backup=none \
    op monitor interval=30s timeout=20s op start timeout=40s op stop timeout=120s --group "g-$n"
  p resource create "ip-$n" ocf:heartbeat:IPaddr2 ip="$ip" cidr_netmask=24 \
    op monitor interval=10s timeout=20s op start timeout=20s op stop timeout=20s --group "g-$n"
  p constraint colocation add "g-$n" with Promoted "drbd-$n-clone" INFINITY
  p constraint order promote "drbd-$n-clone" then start "g-$n"
  p constraint order start nfs-server-clone then start "g-$n"
  # Optional: an export must not stop because the control volume does.
  p constraint order start fs-control-clone then start "g-$n" kind=Optional
  p constraint location "g-$n" prefers "$home=100"
}
export_group vm0 /srv/vm0 192.0.2.10 1 ds03
export_group vm1 /srv/vm1 192.0.2.11 2 ds04

pcs cluster cib-push "$CIB" --config
