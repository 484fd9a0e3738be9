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
mkdir -p "$T/control" "$T/ds03" "$T/ds04"

for n in ds03 ds04; do
  cat > "$T/$n.yaml" <<YAML
# On a real cluster this file is identical on every node; here each node
# needs its own stateDir because both "nodes" live on one machine.
cluster: demo
controlDir: $T/control
stateDir: $T/$n
nodes: [ds03, ds04]
exports:
  - name: vm0
    path: /srv/vm0
  - name: vm1
    path: /srv/vm1
YAML
done
rs() { local n=$1; shift; echo "+ [$n] rmtabsync $*" >&2; "${CLI[@]}" -c "$T/$n.yaml" -n "$n" "$@"; }
etab() { local n=$1; shift; : > "$T/$n/etab"; for p in "$@"; do printf '%s\t*(rw,sync,no_subtree_check,fsid=%s)\n' "$p" "${p: -1}1" >> "$T/$n/etab"; done; }
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

echo
echo "demo cluster left in $T"
