# Lab library, sourced by scenarios.sh (busybox ash inside the guest).
# A "node" (ds03, ds04) or "client" (c1, c2) is a `sleep` in its own network,
# mount and UTS namespace; commands run in it through nsenter. Nodes and
# clients hang on one bridge. Export vm0 lives on /dev/vda, vm1 on /dev/vdb,
# the shared control volume on /dev/vdc; /dev/vdd is a spare filesystem;
# /dev/vde and /dev/vdf are the per-group control volumes of vm0's and vm1's
# groups (a second DRBD volume of each group's resource).
# CONTROL (set per case): "shared" (vdc mounted on every node) or "group"
# (each group's control volume mounted only where the group runs).

T=/tmp/lab
NET=10.0.0
CFG=/etc/rmtabsync/config.yaml
NFSD_GRACE=20               # NFSv4 grace (s): covers nfsd start -> exportfs -> IP -> the clients' reclaims under emulation
STEP_GAP=${STEP_GAP:-1}     # seconds between two resource operations (Pacemaker's op latency)
MOUNT_OPTS_V3="vers=3,proto=tcp,nolock,hard,timeo=10,retrans=2,actimeo=0,lookupcache=none"
MOUNT_OPTS_V4="vers=4.2,proto=tcp,hard,timeo=10,retrans=2,actimeo=0,lookupcache=none"
EXPORT_OPTS="rw,sync,no_root_squash,no_subtree_check"

say() { echo "lab: [$(now)] $*"; }
now() { cut -d' ' -f1 /proc/uptime; }
ip_of() { case $1 in ds03) echo $NET.3 ;; ds04) echo $NET.4 ;; c1) echo $NET.11 ;; c2) echo $NET.12 ;; esac; }
vip_of() { case $1 in vm0) echo $NET.100 ;; vm1) echo $NET.101 ;; esac; }
disk_of() { case $1 in vm0) echo /dev/vda ;; vm1) echo /dev/vdb ;; esac; }
ctl_disk_of() { case $1 in vm0) echo /dev/vde ;; vm1) echo /dev/vdf ;; esac; }
ctl_dir_of() { echo "/var/lib/rmtabsync/g-$1"; }
pid_of() { cat "$T/$1/pid"; }
# run a command inside a node's or client's namespaces
on() { _n=$1; shift; nsenter -t "$(pid_of "$_n")" -n -m -u -- "$@"; }

ns_create() {
  n=$1
  mkdir -p "$T/$n"
  unshare -n -m -u --propagation private sleep 1000000 &
  p=$!
  echo "$p" >"$T/$n/pid"
  i=0
  while [ "$(readlink /proc/$p/ns/net)" = "$(readlink /proc/1/ns/net)" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  ip link add "h-$n" type veth peer name eth0 netns "$p"
  ip link set "h-$n" master br0 up
  on "$n" hostname "$n"
  on "$n" ip link set lo up
  on "$n" ip addr add "$(ip_of "$n")/24" dev eth0
  on "$n" ip link set eth0 up
}

lab_net() {
  ip link add br0 type bridge 2>/dev/null
  ip link set br0 up
  echo 10 >/proc/sys/fs/nfs/nlm_grace_period 2>/dev/null
}

# per-node files a case may change before node_up
node_prepare() {
  n=$1
  mkdir -p "$T/$n"
  : >"$T/$n/exports"
}

# A server node: own rpcbind, mountd, kernel nfsd, /run, /var/lib/nfs,
# /etc/exports and /etc/nfs.conf; the control volume mounted (control mode).
node_up() {
  n=$1
  # nfs.conf from the case's settings: [nfsd] scope (NFS_SCOPE; Debian 12's
  # rpc.nfsd ignores it, as doctor knows), vers4=n unless the case serves
  # NFSv4 (SERVE_V4; rpc.nfsd reads it) and nfsdcld's storagedir
  {
    echo '[nfsd]'
    [ -n "$NFS_SCOPE" ] && echo "scope=$NFS_SCOPE"
    [ -z "$SERVE_V4" ] && echo "vers4=n"
    [ -n "$NFSDCLD_DIR" ] && printf '[nfsdcld]\nstoragedir=%s\n' "$NFSDCLD_DIR"
  } >"$T/$n/nfs.conf"
  ns_create "$n"
  on "$n" sh -c "
    mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/lib/nfs &&
    mkdir -p /var/lib/nfs/sm /var/lib/nfs/v4recovery /run/rpc_pipefs /run/resource-agents &&
    : >/var/lib/nfs/rmtab && : >/var/lib/nfs/etab &&
    mount --bind $T/$n/exports /etc/exports && mount --bind $T/$n/nfs.conf /etc/nfs.conf &&
    mount -t nfsd nfsd /proc/fs/nfsd && mount -t rpc_pipefs sunrpc /run/rpc_pipefs" || say "node_up $n: mounts failed"
  control_mount "$n"
  on "$n" rpcbind || say "rpcbind failed on $n"
  on "$n" sh -c "rpc.mountd -F >$T/$n/mountd.log 2>&1 & echo \$! >$T/$n/mountd.pid"
  [ -n "${NODE_BOOT_EXPORTFS:-}" ] && on "$n" exportfs -r
  [ -z "${NFSD_LATER:-}" ] && nfsd_start "$n"
  return 0
}

# rpc.nfsd as the nfsserver agent starts it: with nfs_server_scope (RA_SCOPE)
# in a UTS namespace whose hostname is the scope, else under the node's own
# hostname. Debian 12's rpc.nfsd has no --scope and ignores [nfsd] scope:
# the server scope is the UTS hostname of the process starting nfsd.
nfsd_start() {
  n=$1
  h=${RA_SCOPE:-$n}
  on "$n" unshare -u sh -c "hostname $h; rpc.nfsd -L 10 -G $NFSD_GRACE 8" || say "rpc.nfsd failed on $n"
}

# the node-wide part of the control volume: in "shared" mode one volume
# mounted on every node; in "group" mode only the (empty) mount points of the
# groups' volumes, which the group's "ctl" resource mounts where it runs
control_mount() {
  n=$1
  case $CONTROL in
  shared) on "$n" sh -c "mkdir -p /var/lib/rmtabsync/control && mount /dev/vdc /var/lib/rmtabsync/control" ;;
  group) on "$n" mkdir -p "$(ctl_dir_of vm0)" "$(ctl_dir_of vm1)" ;;
  *) say "unknown control mode $CONTROL"; return 1 ;;
  esac
}

client_up() {
  c=$1
  ns_create "$c"
  on "$c" sh -c "mount -t tmpfs tmpfs /mnt && mount -t tmpfs tmpfs /run && mkdir -p /mnt/vm0 /mnt/vm1"
}

# fresh filesystems: vm0, vm1 with the same content shape, control, spare
lab_disks() {
  mkdir -p /srv/vm0 /srv/vm1
  mkfs.ext4 -q -F -F /dev/vda && mkfs.ext4 -q -F /dev/vdb && mkfs.ext4 -q -F /dev/vdc || say "mkfs failed"
  if [ "$CONTROL" = group ]; then mkfs.ext4 -q -F /dev/vde && mkfs.ext4 -q -F /dev/vdf || say "mkfs of the group control volumes failed"; fi
  for e in vm0 vm1; do
    mkdir -p /tmp/mk && mount "$(disk_of $e)" /tmp/mk
    fill_export /tmp/mk "$e"
    umount /tmp/mk
  done
}
fill_export() {
  d=$1
  echo "$2" >"$d/NAME"
  i=0
  while [ $i -lt 16 ]; do printf 'BLOCK%02d%4088s\n' $i x; i=$((i + 1)); done >"$d/data"
  : >"$d/lockfile"
}

# remove every namespace of the last case
lab_reset() {
  for c in c1 c2; do
    [ -f "$T/$c/pid" ] || continue
    touch "$T/$c.stop"
    on "$c" sh -c 'umount -l /mnt/vm0; umount -l /mnt/vm1' 2>/dev/null
  done
  say "reset: clients unmounted"
  for n in ds03 ds04; do
    [ -f "$T/$n/pid" ] || continue
    on "$n" sh -c 'exportfs -ua; rpc.nfsd 0; umount /srv/vm0; umount /srv/vm1; umount /var/lib/rmtabsync/control; umount /var/lib/rmtabsync/g-vm0; umount /var/lib/rmtabsync/g-vm1; umount /var/lib/nfs/nfsdcld' 2>/dev/null
    killall_in "$n"
    say "reset: $n stopped"
  done
  for c in c1 c2; do [ -f "$T/$c/pid" ] && killall_in "$c"; done
  say "reset: clients killed"
  for x in ds03 ds04 c1 c2; do ip link del "h-$x" 2>/dev/null; done
  losetup -D 2>/dev/null
  sleep 0.5
  rm -rf "$T"
  mkdir -p "$T"
}
killall_in() {
  ns=$(readlink "/proc/$(pid_of "$1")/ns/net")
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$ns" ] && kill -9 "${p#/proc/}" 2>/dev/null
  done
}

# ---- resources of an export's group, one function per primitive ----
# The Pacemaker agent, run for real with the OCF environment.
agent() {
  n=$1 act=$2 e=$3 at0=$(now)
  on "$n" env OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE="rmtabsync_$e" OCF_RESOURCE_TYPE=rmtabsync \
    OCF_RESKEY_export="$e" OCF_RESKEY_config="$CFG" OCF_RESKEY_node="$n" \
    HA_RSCTMP=/run/resource-agents HA_LOGFACILITY=none HA_LOGFILE="$T/$n/ha.log" HA_DEBUGLOG="$T/$n/ha.log" \
    /usr/lib/ocf/resource.d/rmtabsync/rmtabsync "$act"
  rc=$?
  say "$n: rmtabsync agent $act $e: rc=$rc ($(awk "BEGIN{print $(now)-$at0}") s)"
  return $rc
}
# the device a node mounts for an export (a case may override: DISK_<export>_<node>)
disk_for() { eval "d=\${DISK_$2_$1:-}"; [ -n "$d" ] && echo "$d" || disk_of "$2"; }
fsid_for() { eval "f=\${FSID_$2_$1-\${FSID_$2-}}"; echo "$f"; }
res_start() {
  n=$1 r=$2 e=$3
  case $r in
  fs) on "$n" sh -c "mkdir -p /srv/$e && mount $(disk_for "$n" "$e") /srv/$e" || say "$n: mount of $e failed" ;;
  ctl) on "$n" mount "$(ctl_disk_of "$e")" "$(ctl_dir_of "$e")" || say "$n: mount of $e's control volume failed" ;;
  rmtabsync) [ "$WITH" = rmtabsync ] && agent "$n" start "$e" ;;
  nfsd)
    # nfsdcld reads its storagedir from nfs.conf, as doctor does
    on "$n" sh -c "mkdir -p $NFSDCLD_DIR && { nfsdcld -F -p /run/rpc_pipefs >>$T/$n/nfsdcld.log 2>&1 & echo \$! >$T/$n/nfsdcld.pid; }"
    sleep 1
    nfsd_start "$n" ;;
  exportfs)
    f=$(fsid_for "$n" "$e")
    on "$n" exportfs -o "$EXPORT_OPTS${f:+,fsid=$f}" "$NET.0/24:/srv/$e" || say "$n: exportfs $e failed" ;;
  ip)
    on "$n" ip addr add "$(vip_of "$e")/24" dev eth0
    on "$n" arping -U -c 1 -I eth0 -s "$(vip_of "$e")" "$(vip_of "$e")" >/dev/null 2>&1 ;;
  esac
  return 0
}
res_stop() {
  n=$1 r=$2 e=$3
  case $r in
  fs) on "$n" umount "/srv/$e" || say "$n: umount of $e failed" ;;
  ctl) on "$n" umount "$(ctl_dir_of "$e")" || say "$n: umount of $e's control volume failed" ;;
  rmtabsync) [ "$WITH" = rmtabsync ] && agent "$n" stop "$e" ;;
  nfsd) on "$n" rpc.nfsd 0; kill "$(cat "$T/$n/nfsdcld.pid")" 2>/dev/null ;;
  exportfs) on "$n" exportfs -u "$NET.0/24:/srv/$e" ;;
  ip) on "$n" ip addr del "$(vip_of "$e")/24" dev eth0 ;;
  esac
  return 0
}
ORDER="fs rmtabsync exportfs ip"   # the group's order; stop runs it backwards (group mode: "fs ctl rmtabsync ...")
group_start() {
  for r in $ORDER; do res_start "$1" "$r" "$2"; sleep "$STEP_GAP"; done
}
group_stop() {
  rev=""
  for r in $ORDER; do rev="$r $rev"; done
  for r in $rev; do res_stop "$1" "$r" "$2"; sleep "$STEP_GAP"; done
}
failover() {
  e=$1 from=$2 to=$3
  ft0=$(now)
  group_stop "$from" "$e"
  group_start "$to" "$e"
  say "failover $e $from -> $to took $(awk "BEGIN{print $(now)-$ft0}") s"
}
# the reconcile timer (rmtabsync-reconcile.timer) firing on a node
tick() { [ "$WITH" = rmtabsync ] && on "$1" rmtabsync -c "$CFG" -n "$1" reconcile >/dev/null 2>>"$T/$1/tick.err"; return 0; }

# ---- the client's view ----
client_mount() {
  c=$1 e=$2 v=${3:-3}
  o=$MOUNT_OPTS_V3; [ "$v" = 4 ] && o=$MOUNT_OPTS_V4
  on "$c" timeout -s KILL 120 mount -t nfs -o "$o" "$(vip_of "$e"):/srv/$e" "/mnt/$e" || say "$c: mount $e failed"
  say "$c: mounted $e"
}
# A reader holding /mnt/<e>/data open across failovers: each request file
# $T/<c>.held.req.N makes it read the next 4 KiB block through the held fd.
held_open() {
  c=$1 e=$2
  on "$c" sh -c "exec 3</mnt/$e/data; i=0
    while [ ! -e $T/$c.stop ]; do
      if [ -e $T/$c.held.req.\$i ]; then
        if dd bs=4096 count=1 <&3 2>$T/$c.held.err.\$i | head -c 7 >$T/$c.held.out.\$i; then :; fi
        touch $T/$c.held.done.\$i; i=\$((i + 1))
      fi
      sleep 0.1
    done" &
  echo 0 >"$T/$c.held.n"
}
# read through the held fd (page cache dropped, so it asks the server)
held_read() {
  c=$1
  HELD_N=$(cat "$T/$c.held.n")   # a counter file: held_read often runs in $(...)
  echo $((HELD_N + 1)) >"$T/$c.held.n"
  echo 3 >/proc/sys/vm/drop_caches
  touch "$T/$c.held.req.$HELD_N"
  i=0
  while [ ! -e "$T/$c.held.done.$HELD_N" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  out=$(cat "$T/$c.held.out.$HELD_N" 2>/dev/null)
  err=$(errname "$(cat "$T/$c.held.err.$HELD_N" 2>/dev/null)")
  case $out in BLOCK*) echo ok ;; *) echo "${err:-HANG}" ;; esac
}
errname() {
  case $1 in
  *"Stale file handle"*) echo ESTALE ;;
  *"Input/output error"*) echo EIO ;;
  *"Permission denied"*) echo EACCES ;;
  *"No such file"*) echo ENOENT ;;
  *"Killed"* | *"Terminated"*) echo HANG ;;
  "") ;;
  *) echo "$1" | tr ' ' '_' | cut -c1-30 ;;
  esac
}
# stat, ls, create and the export's NAME through the mount: "ok" or what failed
probe() {
  c=$1 e=$2 r=""
  for op in "stat /mnt/$e/data" "ls /mnt/$e" "touch /mnt/$e/new-$c-$$" "cat /mnt/$e/NAME"; do
    out=$(on "$c" timeout -s KILL 30 $op 2>&1 >"$T/probe.out")
    rc=$?
    if [ $rc -ne 0 ]; then
      x=$(errname "$out"); [ $rc -eq 137 ] && x=HANG
      r="$r ${op%% *}=$x"
    elif [ "${op%% *}" = cat ] && [ "$(cat "$T/probe.out")" != "$e" ]; then
      r="$r wrong-fs=$(cat "$T/probe.out")"
    fi
  done
  echo "${r# }" | sed 's/^$/ok/'
}
# stat every 0.2 s while a failover runs; what failed goes to $T/<c>.during
during_start() {
  c=$1 e=$2
  rm -f "$T/$c.during.stop"
  on "$c" sh -c "while [ ! -e $T/$c.during.stop ]; do
      timeout -s KILL 600 stat /mnt/$e/data >/dev/null 2>$T/$c.during.tmp || cat $T/$c.during.tmp >>$T/$c.during
      sleep 0.2; done" &
}
during_stop() {
  touch "$T/$1.during.stop"
  sleep 0.5
  x=""
  # an error the kernel returned (a stat still blocked on the hard mount is no error)
  [ -s "$T/$1.during" ] && x=$(errname "$(grep -v -e Killed -e Terminated "$T/$1.during" | head -n 1)")
  echo "${x:-ok}"
}
showmount_on() { on "$1" showmount -a --no-headers 127.0.0.1 2>&1 | sort | tr '\n' ' ' | sed 's/ $//'; }
rmtab_on() { on "$1" cat /var/lib/nfs/rmtab | cut -d: -f1,2 | sort | tr '\n' ' ' | sed 's/ $//'; }

# doctor on a node, from every node's facts on the control volume: the ids
# of its critical findings, "-" for none
doctor_on() {
  n=$1
  on "$n" rmtabsync -c "$CFG" -n "$n" doctor --json ${CIB:+--cib "$CIB"} >"$T/doctor.json" 2>"$T/doctor.err"
  node -e '
    const fs = require("fs");
    try {
      const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
      const c = [...new Set(r.findings.filter((f) => f.severity === "critical").map((f) => f.check))];
      const w = [...new Set(r.findings.filter((f) => f.severity === "warning").map((f) => f.check))];
      console.log((c.join(",") || "-") + " " + (w.join(",") || "-"));
    } catch (e) { console.log("UNKNOWN -"); }
  ' "$T/doctor.json"
}

# the lab's rmtabsync configuration (the same file for both nodes), for the
# case's control mode
write_config() {
  mkdir -p /etc/rmtabsync
  if [ "$CONTROL" = group ]; then
    cat >"$CFG" <<EOF
cluster: lab
stateDir: /var/lib/nfs
nodes: [ds03, ds04]
exports:
  - name: vm0
    path: /srv/vm0
  - name: vm1
    path: /srv/vm1
groups:
  - name: g-vm0
    controlDir: $(ctl_dir_of vm0)
    exports: [vm0]
  - name: g-vm1
    controlDir: $(ctl_dir_of vm1)
    exports: [vm1]
EOF
    return
  fi
  cat >"$CFG" <<EOF
cluster: lab
controlDir: /var/lib/rmtabsync/control
controlDirIsMountpoint: true
stateDir: /var/lib/nfs
nodes: [ds03, ds04]
exports:
  - name: vm0
    path: /srv/vm0
  - name: vm1
    path: /srv/vm1
EOF
}
