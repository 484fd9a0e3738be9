#!/usr/bin/env bash
# A two-node cluster (ds03, ds04) in a temporary directory, in either mode:
#
#   scripts/demo.sh [groups]  per export group (the default): each export
#                             group (g-vm0, g-vm1) has its own control
#                             directory, standing in for a volume of the
#                             group's own DRBD resource: it is "mounted"
#                             (moved into place) only on the node that serves
#                             the group. No cluster filesystem.
#   scripts/demo.sh shared    ds03 and ds04 share one control directory,
#                             standing in for a dual-primary DRBD control
#                             volume with GFS2.
#   scripts/demo.sh both      one after the other.
#
# Each node has its own NFS state directory. Client mounts are made the way
# rpc.mountd makes them, under its lock (test/helpers/mountd_sim.py).
set -euo pipefail
MODE=${1:-groups}
case $MODE in groups | shared | both) ;; *)
  echo "usage: npm run demo [-- groups|shared|both]" >&2
  exit 2
  ;;
esac
cd "$(dirname "$0")/.."
ROOT=$PWD
T=$(mktemp -d /tmp/rmtabsync-demo.XXXXXX)
CLI=(node "$ROOT/dist/cli.js")
SIM=(python3 "$ROOT/test/helpers/mountd_sim.py")
mkdir -p "$T/sys"
# Stand-ins for the system files node facts are read from (config `system:`):
# nfs.conf with a fixed scope and ports, the mounts of the DRBD filesystems.
cat > "$T/sys/nfs.conf" <<CONF
[nfsd]
scope=10.0.0.50
lease-time=90
[mountd]
port=20048
[statd]
port=32765
outgoing-port=32766
[lockd]
port=32768
udp-port=32768
CONF
printf '29 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n120 29 147:10 / /srv/vm0 rw,relatime shared:60 - ext4 /dev/drbd10 rw\n121 29 147:11 / /srv/vm1 rw,relatime shared:61 - ext4 /dev/drbd11 rw\n' > "$T/sys/mountinfo"
SYSTEM="system:
  nfsConf: $T/sys/nfs.conf
  nfsConfDir: $T/sys/nfs.conf.d
  exports: $T/sys/exports
  exportsDir: $T/sys/exports.d
  procExports: $T/sys/nfsd.export.content
  nfsdClients: $T/sys/nfsd-clients
  mountinfo: $T/sys/mountinfo
  nfsServerEnabled: $T/sys/nfs-server.service-enabled"

# B: the mode's directory; node N's NFS state directory is $B/N
rs() { local n=$1; shift; echo "+ [$n] rmtabsync $*" >&2; "${CLI[@]}" -c "$B/$n.yaml" -n "$n" "$@"; }
etab() { local n=$1; shift; : > "$B/$n/etab"; for p in "$@"; do printf '%s\t*(rw,sync,no_subtree_check,mountpoint,fsid=%s)\n' "$p" "${p: -1}1" >> "$B/$n/etab"; done; }
mnt() { echo "+ [$1] mountd: MNT $3 from $2" >&2; "${SIM[@]}" "$B/$1" mount "$2" "$3"; }
umnt() { echo "+ [$1] mountd: UMNT $3 from $2" >&2; "${SIM[@]}" "$B/$1" umount "$2" "$3"; }
banner() { printf '\n=== %s: %s ===\n' "$MODE_NOW" "$*"; }
rmtabs() { for n in ds03 ds04; do echo "--- $n rmtab"; cat "$B/$n/rmtab" 2>/dev/null || true; done; }

groups_demo() {
  MODE_NOW="per export group"
  B=$T/groups
  mkdir -p "$B/ds03" "$B/ds04" "$B/drbd"
  # a group's volume: $B/drbd/G while no node has it, $B/N/ctl/G while N has it mounted
  vol_mount() { echo "+ [$1] Filesystem start: mount $2's volume" >&2; mkdir -p "$B/$1/ctl"; mv "$B/drbd/$2" "$B/$1/ctl/$2"; }
  vol_umount() { echo "+ [$1] Filesystem stop: unmount $2's volume" >&2; mv "$B/$1/ctl/$2" "$B/drbd/$2"; }
  for n in ds03 ds04; do
    cat > "$B/$n.yaml" <<YAML
# On a real cluster this file is identical on every node; here each node
# needs its own paths because both "nodes" live on one machine.
cluster: demo
stateDir: $B/$n
nodes: [ds03, ds04]
exports:
  - name: vm0
    path: /srv/vm0
  - name: vm1
    path: /srv/vm1
groups:
  - name: g-vm0
    controlDir: $B/$n/ctl/g-vm0
    controlDirIsMountpoint: false   # the demo's volumes are plain directories
    exports: [vm0]
  - name: g-vm1
    controlDir: $B/$n/ctl/g-vm1
    controlDirIsMountpoint: false
    exports: [vm1]
$SYSTEM
YAML
  done
  mkdir -p "$B/drbd/g-vm0" "$B/drbd/g-vm1"

  banner "1. ds03 runs g-vm0, ds04 runs g-vm1: init writes each group's marker and the node's journal on the group's volume"
  vol_mount ds03 g-vm0
  vol_mount ds04 g-vm1
  rs ds03 init
  rs ds04 init

  banner "2. clients mount through mountd; each node journals into the volume of the group it serves"
  etab ds03 /srv/vm0
  etab ds04 /srv/vm1
  mnt ds03 10.0.0.21 /srv/vm0
  mnt ds03 10.0.0.22 /srv/vm0/images
  mnt ds03 10.0.0.22 /srv/vm0/images
  mnt ds03 2001:db8::5 /srv/vm0
  mnt ds04 10.0.0.21 /srv/vm1
  rs ds03 record
  rs ds04 record
  rmtabs

  banner "3. failover of g-vm0 to ds04, in Pacemaker's order"
  echo "+ [ds03] exportfs stop" >&2
  etab ds03
  rs ds03 record --hosting vm0 # rmtabsync stop: last changes into g-vm0's volume, vm0's lines leave ds03
  vol_umount ds03 g-vm0
  vol_mount ds04 g-vm0
  rs ds04 reconcile --hosting vm0 # rmtabsync start: vm0's clients come back from g-vm0's journals
  echo "+ [ds04] exportfs start" >&2
  etab ds04 /srv/vm1 /srv/vm0
  echo "(ds03 serves nothing now: its rmtab lists no client; ds04 lists the clients of both groups)"
  rmtabs

  banner "4. on ds04, 10.0.0.22 unmounts /srv/vm0/images once, 2001:db8::5 unmounts /srv/vm0"
  umnt ds04 10.0.0.22 /srv/vm0/images
  umnt ds04 2001:db8::5 /srv/vm0
  rs ds04 record

  banner "5. failback of g-vm0 to ds03: the umounts made on ds04 come with the group's volume"
  etab ds04 /srv/vm1
  rs ds04 record --hosting vm0
  vol_umount ds04 g-vm0
  vol_mount ds03 g-vm0
  rs ds03 reconcile --hosting vm0
  etab ds03 /srv/vm0
  rmtabs

  banner "6. the table and history of the groups mounted here, from their journals alone"
  rs ds03 show
  rs ds03 log --group g-vm0

  banner "7. status (every group mounted here) and doctor against the example CIB (node facts from the group volumes mounted here)"
  rs ds03 status || true
  rs ds03 doctor --cib "$ROOT/deploy/pacemaker/cib-groups.xml" || true
}

shared_demo() {
  MODE_NOW="shared control volume"
  B=$T/shared
  mkdir -p "$B/control" "$B/ds03" "$B/ds04"
  for n in ds03 ds04; do
    cat > "$B/$n.yaml" <<YAML
# On a real cluster this file is identical on every node; here each node
# needs its own stateDir because both "nodes" live on one machine.
cluster: demo
controlDir: $B/control
controlDirIsMountpoint: false   # the demo's control "volume" is a plain directory
stateDir: $B/$n
nodes: [ds03, ds04]
exports:
  - name: vm0
    path: /srv/vm0
  - name: vm1
    path: /srv/vm1
$SYSTEM
YAML
  done

  banner "1. init: control volume marker and one journal per node"
  rs ds03 init
  rs ds04 init

  banner "2. ds03 exports vm0, ds04 exports vm1; clients mount through mountd"
  etab ds03 /srv/vm0
  etab ds04 /srv/vm1
  mnt ds03 10.0.0.21 /srv/vm0
  mnt ds03 10.0.0.22 /srv/vm0/images
  mnt ds03 10.0.0.22 /srv/vm0/images
  mnt ds03 2001:db8::5 /srv/vm0
  mnt ds04 10.0.0.21 /srv/vm1
  rs ds03 record
  rs ds04 record
  rmtabs

  banner "3. reconcile: every node holds the entries of the exports it may take over"
  rs ds03 reconcile
  rs ds04 reconcile
  rmtabs

  banner "4. failover: vm0 moves from ds03 to ds04 (Pacemaker runs reconcile at takeover)"
  etab ds03
  etab ds04 /srv/vm1 /srv/vm0
  rs ds04 reconcile
  rs ds03 reconcile

  banner "5. on ds04, 10.0.0.22 unmounts /srv/vm0/images once, 2001:db8::5 unmounts /srv/vm0"
  umnt ds04 10.0.0.22 /srv/vm0/images
  umnt ds04 2001:db8::5 /srv/vm0
  rs ds04 record
  rs ds03 reconcile
  rmtabs

  banner "6. the cluster-wide table and its history, from the journals alone"
  rs ds03 show
  rs ds03 log

  banner "7. doctor: will clients survive a failover? (no Pacemaker here: the CIB checks are skipped)"
  rs ds03 doctor || true

  banner "8. a planted fault: someone re-exports /srv/vm0 on ds04 by hand with another fsid"
  printf '/srv/vm1\t*(rw,sync,no_subtree_check,mountpoint,fsid=11)\n/srv/vm0\t*(rw,sync,no_subtree_check,mountpoint,fsid=77)\n' > "$B/ds04/etab"
  rs ds04 record
  echo "--- ds04's published facts (as every node sees them)"
  rs ds03 show --facts
  set +e
  rs ds03 doctor
  echo "(doctor exit code $?: 2 = CRITICAL)"
  set -e

  banner "9. the fix: export /srv/vm0 with fsid=01 on ds04 again; ds04 re-publishes, doctor is clean"
  etab ds04 /srv/vm1 /srv/vm0
  rs ds04 record
  rs ds03 doctor --json | head -3
}

case $MODE in
  groups) groups_demo ;;
  shared) shared_demo ;;
  both)
    groups_demo
    shared_demo
    ;;
esac

echo
echo "demo cluster left in $T"
[ "$MODE" = both ] || echo "(the other mode: npm run demo -- $([ "$MODE" = groups ] && echo shared || echo groups))"
