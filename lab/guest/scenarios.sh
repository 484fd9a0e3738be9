#!/bin/sh
# The lab's scenarios, run by init.sh with a comma-separated list of case ids
# (see CASES in lab/run.sh). Each case starts from fresh filesystems and fresh
# namespaces. Output lines the host reads:
#   CHECK <case> <what> <pass|fail> <observed>
#   RESULT <case> <doctor critical ids> <doctor warning ids> <client saw> <broke yes|no>
. /lab/lib.sh

tab() { printf '%s' "$1"; shift; for x in "$@"; do printf '\t%s' "$x"; done; printf '\n'; }
check() { tab CHECK "$CASE" "$1" "$2" "$3"; }
result() { tab RESULT "$CASE" "$DOC_CRIT" "$DOC_WARN" "$1" "$2"; }
is() { [ "$1" = "$2" ] && echo pass || echo fail; }
# what nfsd serves on both nodes; an NFSv3-only case ([nfsd] vers4=n) checks it
nfsd_versions() {
  v=$(for x in ds03 ds04; do printf '%s: %s (threads %s); ' "$x" "$(on "$x" cat /proc/fs/nfsd/versions)" "$(on "$x" cat /proc/fs/nfsd/threads)"; done)
  v=${v%; }
  if [ -n "$SERVE_V4" ]; then say "nfsd versions: $v"; return; fi
  case $v in *+4*) ok=fail ;; *) ok=pass ;; esac
  check "nfsd on ds03 and ds04 serves no NFSv4 (vers4=n)" "$ok" "$v"
}

# A CIB holding each export's group in $ORDER and the cluster's fsid
# (FSID_<export>), for doctor's order and fsid checks; the nfsserver
# primitive carries nfs_server_scope when the case starts nfsd with one
# (RA_SCOPE, see nfsd_start).
write_cib() {
  CIB=$T/cib.xml
  {
    echo '<cib><configuration><crm_config/><nodes><node id="1" uname="ds03"/><node id="2" uname="ds04"/></nodes><resources>'
    for e in vm0 vm1; do
      echo "<group id=\"g-$e\">"
      for r in $ORDER; do
        case $r in
        ctl) echo "<primitive id=\"fs-$e-control\" class=\"ocf\" provider=\"heartbeat\" type=\"Filesystem\"><instance_attributes id=\"fs-$e-control-ia\"><nvpair id=\"fs-$e-control-d\" name=\"device\" value=\"$(ctl_disk_of $e)\"/><nvpair id=\"fs-$e-control-dir\" name=\"directory\" value=\"$(ctl_dir_of $e)\"/><nvpair id=\"fs-$e-control-t\" name=\"fstype\" value=\"ext4\"/></instance_attributes></primitive>" ;;
        fs) echo "<primitive id=\"fs-$e\" class=\"ocf\" provider=\"heartbeat\" type=\"Filesystem\"><instance_attributes id=\"fs-$e-ia\"><nvpair id=\"fs-$e-d\" name=\"device\" value=\"$(disk_of $e)\"/><nvpair id=\"fs-$e-dir\" name=\"directory\" value=\"/srv/$e\"/><nvpair id=\"fs-$e-t\" name=\"fstype\" value=\"ext4\"/></instance_attributes></primitive>" ;;
        nfsd) echo "<primitive id=\"nfsd-$e\" class=\"ocf\" provider=\"heartbeat\" type=\"nfsserver\">${RA_SCOPE:+<instance_attributes id=\"nfsd-$e-ia\"><nvpair id=\"nfsd-$e-scope\" name=\"nfs_server_scope\" value=\"$RA_SCOPE\"/></instance_attributes>}</primitive>" ;;
        rmtabsync) echo "<primitive id=\"rmtabsync-$e\" class=\"ocf\" provider=\"rmtabsync\" type=\"rmtabsync\"><instance_attributes id=\"rmtabsync-$e-ia\"><nvpair id=\"rmtabsync-$e-x\" name=\"export\" value=\"$e\"/></instance_attributes></primitive>" ;;
        exportfs)
          f=$(eval echo "\${FSID_$e-}")
          echo "<primitive id=\"exportfs-$e\" class=\"ocf\" provider=\"heartbeat\" type=\"exportfs\"><instance_attributes id=\"exportfs-$e-ia\"><nvpair id=\"exportfs-$e-dir\" name=\"directory\" value=\"/srv/$e\"/><nvpair id=\"exportfs-$e-cs\" name=\"clientspec\" value=\"$NET.0/24\"/><nvpair id=\"exportfs-$e-o\" name=\"options\" value=\"$EXPORT_OPTS\"/>${f:+<nvpair id=\"exportfs-$e-f\" name=\"fsid\" value=\"$f\"/>}<nvpair id=\"exportfs-$e-rb\" name=\"rmtab_backup\" value=\"none\"/></instance_attributes></primitive>" ;;
        ip) echo "<primitive id=\"ip-$e\" class=\"ocf\" provider=\"heartbeat\" type=\"IPaddr2\"><instance_attributes id=\"ip-$e-ia\"><nvpair id=\"ip-$e-ip\" name=\"ip\" value=\"$(vip_of $e)\"/><nvpair id=\"ip-$e-m\" name=\"cidr_netmask\" value=\"24\"/></instance_attributes></primitive>" ;;
        esac
      done
      echo "</group>"
    done
    echo '</resources><constraints/></configuration><status/></cib>'
  } >"$CIB"
}

# fresh disks, nodes and clients; $1: the case's prepare function
setup() {
  lab_reset
  dmesg -c >/dev/null
  say "setup: reset done"
  lab_disks
  say "setup: disks done"
  write_config
  node_prepare ds03
  node_prepare ds04
  WITH=rmtabsync ORDER="fs rmtabsync exportfs ip" FSID_vm0=1 FSID_vm1=2 NFSD_LATER="" NODE_BOOT_EXPORTFS="" NFS_SCOPE=nfs-lab NFSDCLD_DIR="" RA_SCOPE="" SERVE_V4=""
  unset DISK_vm0_ds03 DISK_vm0_ds04 FSID_vm0_ds03 FSID_vm0_ds04 CIB
  "$@"
  # per-group control volumes: the group's control Filesystem right after its data Filesystem
  [ "$CONTROL" = group ] && ORDER=$(echo "$ORDER" | sed 's/^fs /fs ctl /')
  for n in ds03 ds04; do node_up "$n"; done
  say "setup: nodes up"
  client_up c1
  client_up c2
  if [ "$WITH" = rmtabsync ] && [ "$CONTROL" = group ]; then
    # once per group, where the group runs first (its volume mounted there
    # for the time of init); the other node joins at its first takeover
    for x in "vm0 ds03" "vm1 ds04"; do
      set -- $x
      on "$2" sh -c "mount $(ctl_disk_of "$1") $(ctl_dir_of "$1") && rmtabsync -c $CFG -n $2 init >/dev/null; umount $(ctl_dir_of "$1")" || say "init of $1's group failed on $2"
    done
  elif [ "$WITH" = rmtabsync ]; then
    for n in ds03 ds04; do on "$n" rmtabsync -c "$CFG" -n "$n" init >/dev/null || say "init failed on $n"; done
  fi
  write_cib
  say "setup: done"
  DOC_CRIT=- DOC_WARN=-
}

# ---- scenario 1: the seed, two exports active/active, NFSv3 ----
# In "group" mode (per-group control volumes) each showmount -a must be
# exact: the clients of the exports the node serves, nothing else (shared
# mode pre-populates the exports a node may take over, so it only checks
# the node that serves everything).
s1() {
  mode=$1
  CASE=s1-$mode
  [ "$CONTROL" = group ] && CASE=s1-group
  [ "$CONTROL" = group ] && [ "$mode" = none ] && CASE=s1-none-group
  exact=""; [ "$CONTROL" = group ] && [ "$mode" = rmtabsync ] && exact=1
  ct0=$(now)
  setup s1_prepare
  group_start ds03 vm0
  group_start ds04 vm1
  client_mount c1 vm0; client_mount c1 vm1; client_mount c2 vm0
  held_open c1 vm0
  pre=$(held_read c1)
  check "held fd before" "$(is "$pre" ok)" "$pre"
  if [ -n "$exact" ]; then
    sm=$(showmount_on ds03); check "showmount -a on ds03 before (serves vm0)" "$(is "$sm" "$NET.11:/srv/vm0 $NET.12:/srv/vm0")" "$sm"
    sm=$(showmount_on ds04); check "showmount -a on ds04 before (serves vm1)" "$(is "$sm" "$NET.11:/srv/vm1")" "$sm"
  fi
  failover vm0 ds03 ds04
  h=$(held_read c1); p=$(probe c1 vm0)
  check "held fd after move" "$(is "$h" ok)" "$h"
  check "stat ls create after move" "$(is "$p" ok)" "$p"
  want="$NET.11:/srv/vm0 $NET.11:/srv/vm1 $NET.12:/srv/vm0"
  sm=$(showmount_on ds04)
  if [ "$mode" = rmtabsync ]; then check "showmount -a on ds04 after move (serves vm0 vm1)" "$(is "$sm" "$want")" "$sm"
  else check "showmount -a on ds04 after move (seed: vm0 clients missing)" "$(is "$sm" "$NET.11:/srv/vm1")" "$sm"; fi
  if [ -n "$exact" ]; then
    sm=$(showmount_on ds03); check "showmount -a on ds03 after move (serves nothing)" "$(is "$sm" "")" "$sm"
  fi
  on c2 umount /mnt/vm0 || say "c2: umount failed"
  failover vm0 ds04 ds03
  h=$(held_read c1); p=$(probe c1 vm0)
  check "held fd after failback" "$(is "$h" ok)" "$h"
  check "stat ls create after failback" "$(is "$p" ok)" "$p"
  rt=$(rmtab_on ds03)
  case " $rt " in *" $NET.12:/srv/vm0 "*) gone=no ;; *) gone=yes ;; esac
  if [ "$mode" = rmtabsync ]; then check "c2's umount on ds04 gone from ds03's rmtab" "$(is "$gone" yes)" "$rt"
  else check "c2's umount on ds04 still in ds03's rmtab (seed)" "$(is "$gone" no)" "$rt"; fi
  sm=$(showmount_on ds03)
  if [ -n "$exact" ]; then
    check "showmount -a on ds03 after failback (serves vm0)" "$(is "$sm" "$NET.11:/srv/vm0")" "$sm"
    sm=$(showmount_on ds04); check "showmount -a on ds04 after failback (serves vm1)" "$(is "$sm" "$NET.11:/srv/vm1")" "$sm"
  else
    case " $sm " in *" $NET.11:/srv/vm0 "*) c1in=yes ;; *) c1in=no ;; esac
    check "c1 in showmount -a on ds03 after failback" "$(is "$c1in" yes)" "$sm"
  fi
  say "case $CASE took $(awk "BEGIN{print $(now)-$ct0}") s"
}
s1_prepare() { WITH=$mode; }

# ---- scenario 2: misconfigurations; doctor before, the client after ----
# Common flow: (optionally) the export ran on ds04 earlier with ds04's
# settings ("history"), so ds04's facts know them; then vm0 runs on ds03,
# c1 mounts and holds a file open, every node's timer publishes facts,
# doctor runs on ds03, vm0 fails over to ds04, the client probes.
s2() {
  CASE=$1
  [ "$CONTROL" = group ] && CASE=$1-group
  ct0=$(now)
  V=3 HISTORY="" VM1=""
  setup "c_$CASE"
  if [ -n "$HISTORY" ]; then
    # the export ran on ds04 before, with ds04's settings; its reconcile timer
    # published them (the agent is left out here only to save time)
    w=$WITH WITH=none
    group_start ds04 vm0; WITH=$w; tick ds04; WITH=none; group_stop ds04 vm0; WITH=$w
  fi
  group_start ds03 vm0
  [ -n "$VM1" ] && group_start ds04 vm1
  if [ "$V" = 4 ]; then sleep $((NFSD_GRACE + 1)); fi   # past ds03's grace period
  client_mount c1 vm0 "$V"
  [ -n "$VM1" ] && client_mount c2 vm1
  held_open c1 vm0
  pre=$(held_read c1)
  [ "$pre" = ok ] || say "$CASE: held fd failed before the failover: $pre"
  if [ "$V" = 4 ]; then
    client_mount c2 vm0 4
    on c1 sh -c "flock /mnt/vm0/lockfile sleep 100000 >/dev/null 2>&1 &"
    sleep 2
    on c2 timeout -s KILL 20 flock -n /mnt/vm0/lockfile true && say "$CASE: c2 got the lock c1 holds before the failover"
  fi
  nfsd_versions
  tick ds03; tick ds04
  set -- $(doctor_on ds03)
  DOC_CRIT=$1 DOC_WARN=$2
  during_start c1 vm0
  failover vm0 ds03 ds04
  d=$(during_stop c1)
  h=$(held_read c1)
  p=$(probe c1 vm0)
  saw=""
  [ "$d" != ok ] && saw="$saw during:$d"
  [ "$h" != ok ] && saw="$saw held-fd:$h"
  [ "$p" != ok ] && saw="$saw $p"
  if [ -n "$VM1" ]; then p=$(probe c2 vm1); [ "$p" != ok ] && saw="$saw c2-vm1:$p"; fi
  if [ "$V" = 4 ]; then
    sleep $((NFSD_GRACE + 4))   # past ds04's grace period and lockd's (10 s)
    if on c2 timeout -s KILL 30 flock -n /mnt/vm0/lockfile true; then saw="$saw lock-lost(c2 got c1's lock)"; fi
    dmesg | grep -q "lost .* locks" && saw="$saw kernel:lost-locks"
  fi
  saw=${saw# }
  broke=yes; [ -z "$saw" ] && broke=no
  result "${saw:-ok}" "$broke"
  say "case $CASE took $(awk "BEGIN{print $(now)-$ct0}") s"
}

c_ok() { :; }
c_fsid_differ() { HISTORY=1; FSID_vm0_ds04=2; FSID_vm1=3; }
c_nofsid_dev() {
  HISTORY=1; FSID_vm0=""; DISK_vm0_ds04=/dev/loop0
  losetup /dev/loop0 /dev/vda
}
c_nofsid_uuid() {
  HISTORY=1; FSID_vm0=""; DISK_vm0_ds04=/dev/vdd
  # the same files on another filesystem (another UUID)
  mkfs.ext4 -q -F /dev/vdd && mkdir -p /tmp/mk && mount /dev/vdd /tmp/mk && fill_export /tmp/mk vm0 && umount /tmp/mk
}
c_fsid_shared() { VM1=1; FSID_vm0=1; FSID_vm1=1; }
c_ip_first() { ORDER="fs rmtabsync ip exportfs"; }
c_etc_exports() {
  # an old line for the cluster path in ds04's /etc/exports, loaded at boot
  # by nfs-server's exportfs -r
  echo "/srv/vm0 $NET.0/24($EXPORT_OPTS,fsid=7)" >"$T/ds04/exports"
  NODE_BOOT_EXPORTFS=1
}
c_v4_norecovery() { V=4; v4_common; NFSDCLD_DIR=/var/lib/nfs/nfsdcld; }
# no scope anywhere: nfsd under each node's hostname
c_v4_scope() { V=4; v4_common; RA_SCOPE="" NFS_SCOPE=""; }
c_v4_ok() { V=4; v4_common; }
# [nfsd] scope set alike in nfs.conf, no nfs_server_scope: nfsd under each
# node's hostname (Debian 12's rpc.nfsd does not read [nfsd] scope)
c_v4_scope_conf() { V=4; v4_common; RA_SCOPE=""; }
# NFSv4: an active/passive nfsserver in the group, so the new node starts
# nfsd (a grace period) after the filesystem, right before exportfs: the
# grace period must still run when the IP is up and the clients reclaim
# (a first run with nfsd before rmtabsync, whose start takes 10-30 s under
# emulation, lost the locks of the correct configuration: reclaims came
# after a 10 s grace). nfsdcld's database on the export's filesystem
# (shared) unless a case says otherwise; the nfsserver resource's
# nfs_server_scope=nfs-lab (nfsd started under that hostname) unless a case
# says otherwise. Every other case serves NFSv3 only ([nfsd] vers4=n).
v4_common() {
  NFSD_LATER=1 SERVE_V4=1
  ORDER="fs rmtabsync nfsd exportfs ip"
  NFSDCLD_DIR=/srv/vm0/.nfsdcld
  RA_SCOPE=nfs-lab
}

# ---- scenario 3: the serving node crashes, no stop action runs ----
s3() {
  CASE=s3-crash
  [ "$CONTROL" = group ] && CASE=s3-group
  ct0=$(now)
  setup :
  group_start ds03 vm0
  group_start ds04 vm1
  client_mount c1 vm0; client_mount c2 vm0; client_mount c1 vm1
  held_open c1 vm0
  held_read c1 >/dev/null
  nfsd_versions
  tick ds03; tick ds04
  set -- $(doctor_on ds03)
  DOC_CRIT=$1 DOC_WARN=$2
  during_start c1 vm0
  # the crash: the node drops off the network and its processes die; no
  # agent stop, no exportfs -u, no umount
  on ds03 ip link set eth0 down
  ns=$(readlink "/proc/$(pid_of ds03)/ns/net")
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$ns" ] && [ "${p#/proc/}" != "$(pid_of ds03)" ] && kill -9 "${p#/proc/}" 2>/dev/null
  done
  sleep 2
  group_start ds04 vm0
  d=$(during_stop c1); h=$(held_read c1); p=$(probe c1 vm0)
  sm=$(showmount_on ds04)
  want="$NET.11:/srv/vm0 $NET.11:/srv/vm1 $NET.12:/srv/vm0"
  check "showmount -a on ds04 after the takeover" "$(is "$sm" "$want")" "$sm"
  check "stat ls create after the takeover" "$(is "$p" ok)" "$p"
  saw=""
  [ "$d" != ok ] && saw="$saw during:$d"
  [ "$h" != ok ] && saw="$saw held-fd:$h"
  [ "$p" != ok ] && saw="$saw $p"
  saw=${saw# }
  broke=yes; [ -z "$saw" ] && broke=no
  result "${saw:-ok}" "$broke"
  say "case $CASE took $(awk "BEGIN{print $(now)-$ct0}") s"
}

lab_net
mkdir -p "$T"
# a case id ending in -group runs with per-group control volumes, any
# other in the boot's default mode (lab.control, --control)
for c in $(echo "$1" | tr ',' ' '); do
  say "=== case $c at $(now) s"
  case $c in
  *-group) CONTROL=group; c=${c%-group} ;;
  *) CONTROL=$LAB_CONTROL ;;
  esac
  case $c in
  s1) s1 rmtabsync ;;
  s1-none) s1 none ;;
  s3) s3 ;;
  *) s2 "$c" ;;
  esac
done
lab_reset
