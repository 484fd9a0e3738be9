#!/usr/bin/env bash
# A two-node cluster in a temporary directory: ds03 and ds04 share one
# control directory (standing in for the replicated DRBD control volume) and
# each has its own NFS state directory. Client mounts are made the way
# rpc.mountd makes them, under its lock (test/helpers/mountd_sim.py).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
T=$(mktemp -d /tmp/rmtabsync-demo.XXXXXX)
CLI=(node "$ROOT/dist/cli.js")
SIM=(python3 "$ROOT/test/helpers/mountd_sim.py")
mkdir -p "$T/control" "$T/ds03" "$T/ds04" "$T/sys"
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

for n in ds03 ds04; do
  cat > "$T/$n.yaml" <<YAML
# On a real cluster this file is identical on every node; here each node
# needs its own stateDir because both "nodes" live on one machine.
cluster: demo
controlDir: $T/control
controlDirIsMountpoint: false   # the demo's control "volume" is a plain directory
stateDir: $T/$n
nodes: [ds03, ds04]
exports:
  - name: vm0
    path: /srv/vm0
  - name: vm1
    path: /srv/vm1
system:
  nfsConf: $T/sys/nfs.conf
  nfsConfDir: $T/sys/nfs.conf.d
  exports: $T/sys/exports
  exportsDir: $T/sys/exports.d
  procExports: $T/sys/nfsd.export.content
  nfsdClients: $T/sys/nfsd-clients
  mountinfo: $T/sys/mountinfo
  nfsServerEnabled: $T/sys/nfs-server.service-enabled
YAML
done
rs() { local n=$1; shift; echo "+ [$n] rmtabsync $*" >&2; "${CLI[@]}" -c "$T/$n.yaml" -n "$n" "$@"; }
etab() { local n=$1; shift; : > "$T/$n/etab"; for p in "$@"; do printf '%s\t*(rw,sync,no_subtree_check,mountpoint,fsid=%s)\n' "$p" "${p: -1}1" >> "$T/$n/etab"; done; }
banner() { printf '\n=== %s ===\n' "$*"; }
rmtabs() { for n in ds03 ds04; do echo "--- $n rmtab"; cat "$T/$n/rmtab" 2>/dev/null || true; done; }

banner "1. init: control volume marker and one journal per node"
rs ds03 init
rs ds04 init

banner "2. ds03 exports vm0, ds04 exports vm1; clients mount through mountd"
etab ds03 /srv/vm0
etab ds04 /srv/vm1
"${SIM[@]}" "$T/ds03" mount 10.0.0.21 /srv/vm0
"${SIM[@]}" "$T/ds03" mount 10.0.0.22 /srv/vm0/images
"${SIM[@]}" "$T/ds03" mount 10.0.0.22 /srv/vm0/images
"${SIM[@]}" "$T/ds03" mount 2001:db8::5 /srv/vm0
"${SIM[@]}" "$T/ds04" mount 10.0.0.21 /srv/vm1
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
"${SIM[@]}" "$T/ds04" umount 10.0.0.22 /srv/vm0/images
"${SIM[@]}" "$T/ds04" umount 2001:db8::5 /srv/vm0
rs ds04 record
rs ds03 reconcile
rmtabs

banner "6. the cluster-wide table and its history, from the journals alone"
rs ds03 show
rs ds03 log

banner "7. doctor: will clients survive a failover? (no Pacemaker here: the CIB checks are skipped)"
rs ds03 doctor || true

banner "8. a planted fault: someone re-exports /srv/vm0 on ds04 by hand with another fsid"
printf '/srv/vm1\t*(rw,sync,no_subtree_check,mountpoint,fsid=11)\n/srv/vm0\t*(rw,sync,no_subtree_check,mountpoint,fsid=77)\n' > "$T/ds04/etab"
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

echo
echo "demo cluster left in $T"
