#!/usr/bin/env bash
# npm run lab [-- --cases LIST] [-- --control MODE]: builds the CLI and the
# guest (cached), boots it under qemu (TCG, 2 vCPUs), runs the scenarios and
# prints one table: case, doctor's critical findings, what the client saw,
# whether doctor predicted it; then doctor's precision and recall.
#   --cases all|ci|<id,id,...>   (default: all)
#   --control shared|group       (the control mode of cases without a suffix;
#                                 default shared: one control volume mounted on
#                                 every node; group: a control volume per export
#                                 group, mounted only where the group runs).
#                                 A case id ending in -group (s1-group,
#                                 s3-group) always runs in group mode, so one
#                                 boot can run both modes.
# Needs qemu-system-x86, cpio, kmod (depmod), e2fsprogs and a reachable apt
# mirror (apt-get download; no root needed for the lab itself).
# The serial log is kept in $LAB_CACHE/last.log.
set -euo pipefail
cd "$(dirname "$0")/.."
LAB_CACHE=${LAB_CACHE:-/var/tmp/rmtabsync-lab}
export LAB_CACHE
ALL="s1,s1-group,s1-none,ok,fsid_differ,nofsid_dev,nofsid_uuid,fsid_shared,ip_first,etc_exports,v4_ok,v4_norecovery,v4_scope,v4_scope_conf,s3,s3-group"
CI="s1,s1-group,fsid_differ,nofsid_dev,nofsid_uuid"
CASES=all CONTROL=shared
while [ $# -gt 0 ]; do
  case $1 in
  --cases) CASES=$2; shift 2 ;;
  --control) CONTROL=$2; shift 2 ;;
  *) echo "usage: lab/run.sh [--cases all|ci|ID,...] [--control shared|group]" >&2; exit 2 ;;
  esac
done
case $CONTROL in shared | group) ;; *) echo "lab: --control: expected shared or group, found \"$CONTROL\"" >&2; exit 2 ;; esac
case $CASES in all) CASES=$ALL ;; ci) CASES=$CI ;; esac

for tool in qemu-system-x86_64 cpio depmod mkfs.ext4; do
  command -v "$tool" >/dev/null || { echo "lab: $tool missing (apt-get install qemu-system-x86 cpio kmod e2fsprogs)" >&2; exit 2; }
done

T0=$(date +%s)
node scripts/build.mjs
eval "$(bash lab/build-guest.sh)"
T1=$(date +%s)

DISKS=$LAB_CACHE/disks
mkdir -p "$DISKS"
drives=()
# vda vm0, vdb vm1, vdc the shared control volume, vdd spare, vde/vdf the
# control volumes of vm0's and vm1's groups
for d in a b c d e f; do
  rm -f "$DISKS/vd$d.img"
  size=64M; case $d in e | f) size=16M ;; esac
  truncate -s "$size" "$DISKS/vd$d.img"
  drives+=(-drive "file=$DISKS/vd$d.img,format=raw,if=virtio,cache=unsafe")
done
LOG=$LAB_CACHE/last.log
echo "lab: booting (cases $CASES, control $CONTROL); serial log in $LOG" >&2
timeout 3000 qemu-system-x86_64 -machine q35 -accel tcg -m 1536 -smp 2 -nographic -no-reboot -nic none \
  -kernel "$KERNEL" -initrd "$INITRD" "${drives[@]}" \
  -append "console=ttyS0 quiet panic=-1 lab.cases=$CASES lab.control=$CONTROL" </dev/null >"$LOG" 2>&1 || true
T2=$(date +%s)
tr -d '\r' <"$LOG" >"$LOG.txt"
grep -E '^lab: (boot done|modules loaded|failover|case|done)' "$LOG.txt" >&2 || true

# the table (its exit status is the verdict; set -e must not end the script here)
rc=0
awk -F'\t' -v control="$CONTROL" '
  $1 == "CHECK" { checks++; if ($4 == "pass") cpass++; else cfail++
    printf "  %-14s %-58s %-4s %s\n", $2, $3, $4, $5 }
  $1 == "RESULT" {
    n++; crit = ($3 != "-"); broke = ($6 == "yes"); match_ = (crit == broke)
    if (crit && broke) tp++; else if (crit && !broke) fp++; else if (!crit && broke) fn++; else tn++
    rows[n] = sprintf("| %-14s | %-44s | %-44s | %-5s |", $2, $3, $5, match_ ? "yes" : "NO")
    if (!match_) mism++
  }
  END {
    print ""
    printf "| %-14s | %-44s | %-44s | %-5s |\n", "case", "doctor: critical", "client saw", "match"
    print "|----------------|----------------------------------------------|----------------------------------------------|-------|"
    for (i = 1; i <= n; i++) print rows[i]
    p = (tp + fp) ? sprintf("%.0f%%", 100 * tp / (tp + fp)) : "n/a"
    r = (tp + fn) ? sprintf("%.0f%%", 100 * tp / (tp + fn)) : "n/a"
    printf "\ndoctor over %d cases (default control mode %s; ids ending in -group: per-group): precision %s, recall %s (tp %d, fp %d, fn %d, tn %d)\n", n, control, p, r, tp, fp, fn, tn
    printf "checks: %d passed, %d failed\n", cpass, cfail
    exit (cfail > 0 || mism > 0) ? 1 : 0
  }' "$LOG.txt" || rc=$?
echo "lab: guest build $((T1 - T0)) s, boot+cases $((T2 - T1)) s" >&2
if ! grep -q '^lab: done' "$LOG.txt"; then echo "lab: the guest did not finish (see $LOG)" >&2; exit 1; fi
exit $rc
