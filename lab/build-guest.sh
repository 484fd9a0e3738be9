#!/usr/bin/env bash
# Builds the lab guest: a Debian 12 kernel and an initramfs unpacked from
# Debian packages (apt-get download + dpkg-deb, no maintainer scripts), with
# the project's bundled CLI, Node.js and its native modules, the OCF agent and
# the lab's guest scripts. Cached under $LAB_CACHE keyed by the package
# versions and the hashes of everything the project puts in: a second run
# with nothing changed only prints the paths.
#
# Prints two lines: KERNEL=<path> and INITRD=<path>.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOTDIR=$PWD
LAB_CACHE=${LAB_CACHE:-/var/tmp/rmtabsync-lab}
mkdir -p "$LAB_CACHE/debs"

log() { echo "lab: $*" >&2; }

# What the guest runs. The kernel is the versioned package behind
# linux-image-amd64; its modules are pruned to what MODULES needs.
KPKG=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1)
[ -n "$KPKG" ] || { log "cannot resolve linux-image-amd64 (apt-get update?)"; exit 1; }
KVER=${KPKG#linux-image-}
TOP=(busybox nfs-kernel-server nfs-common rpcbind iproute2 kmod util-linux mount e2fsprogs libstdc++6 procps)
# Dependencies the guest never runs (maintainer scripts, perl, python helpers).
SKIP='^(perl|perl-base|perl-modules-.*|libperl.*|python3.*|libpython3.*|debconf|cdebconf|libdebian-installer4|adduser|install-info|mailcap|media-types|mime-support|ucf|sensible-utils|libnewt.*|libslang2|libtextwrap1|passwd|dpkg|tar|lsb-base|sysvinit-utils|init-system-helpers)$'
mapfile -t PKGS < <(
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances "${TOP[@]}" 2>/dev/null |
    grep -v '^ ' | grep -v '^<' | grep -Ev "$SKIP" | sort -u
)
PKGS+=("$KPKG" resource-agents)
# one "name=version" line per package: the cache key and the download list
VERS=$(apt-cache policy "${PKGS[@]}" | awk '/^[^ ].*:$/ { p = substr($0, 1, length($0) - 1) } /^ *Candidate:/ { print p "=" $2 }' | sort -u)
if grep -q '=(none)$' <<<"$VERS"; then log "no candidate for: $(grep '=(none)$' <<<"$VERS" | tr '\n' ' ')"; exit 1; fi

# The project's part: the bundle, the agent, the guest scripts, Node and the
# native modules it loads.
[ -f dist/cli.js ] || { log "dist/cli.js missing: npm run build first"; exit 1; }
NODE_BIN=$(readlink -f "$(command -v node)")
NATIVE=(node_modules/better-sqlite3/build/Release/better_sqlite3.node node_modules/os-lock/build/Release/addon.node)
KEY=$({
  echo "$VERS"
  sha256sum dist/cli.js dist/rmtabsync.js deploy/ocf/rmtabsync lab/guest/* lab/build-guest.sh "$NODE_BIN" "${NATIVE[@]}" | cut -d' ' -f1
} | sha256sum | cut -c1-16)
OUT=$LAB_CACHE/guest-$KEY
if [ -f "$OUT/initrd.img" ] && [ -f "$OUT/vmlinuz" ]; then
  log "guest cached: $OUT"
  echo "KERNEL=$OUT/vmlinuz"
  echo "INITRD=$OUT/initrd.img"
  exit 0
fi

t0=$(date +%s)
log "downloading ${#PKGS[@]} packages (cached in $LAB_CACHE/debs)"
want=()
while IFS='=' read -r p v; do
  vv=${v//:/%3a}
  ls "$LAB_CACHE/debs/${p}_${vv}_"*.deb >/dev/null 2>&1 || want+=("$p=$v")
done <<<"$VERS"
if [ "${#want[@]}" -gt 0 ]; then
  (cd "$LAB_CACHE/debs" && apt-get download -q "${want[@]}" >&2)
fi

STAGE=$(mktemp -d "$LAB_CACHE/stage.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
R=$STAGE/root
mkdir -p "$R/usr/bin" "$R/usr/sbin" "$R/usr/lib" "$R/usr/lib64"
# merged /usr, as a Debian 12 install has it
ln -s usr/bin "$R/bin"; ln -s usr/sbin "$R/sbin"; ln -s usr/lib "$R/lib"; ln -s usr/lib64 "$R/lib64"
while IFS='=' read -r p v; do
  [ "$p" = "$KPKG" ] && continue
  vv=${v//:/%3a}
  deb=$(ls "$LAB_CACHE/debs/${p}_${vv}_"*.deb | head -n1)
  dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$R"
done <<<"$VERS"
rm -rf "$R/usr/share/doc" "$R/usr/share/man" "$R/usr/share/locale" "$R/usr/share/info" "$R/usr/share/zoneinfo" \
  "$R/usr/share/i18n" "$R/usr/lib/x86_64-linux-gnu/gconv"

# kernel: unpack apart, keep vmlinuz and the modules the lab loads (with deps)
K=$STAGE/kernel
mkdir -p "$K"
deb=$(ls "$LAB_CACHE/debs/${KPKG}_"*.deb | head -n1)
dpkg-deb -x "$deb" "$K"
depmod -b "$K" "$KVER"
MODULES=(virtio_pci virtio_blk virtio_net ext4 loop veth bridge af_packet nfsd nfs nfsv3 nfsv4 lockd sunrpc auth_rpcgss rpcsec_gss_krb5 nfs_acl grace)
mkdir -p "$R/usr/lib/modules/$KVER"
for m in "${MODULES[@]}"; do
  modprobe -d "$K" -S "$KVER" --show-depends "$m" 2>/dev/null | awk '$1 == "insmod" { print $2 }'
done | sort -u | while read -r ko; do
  rel=${ko#"$K"}
  mkdir -p "$R/$(dirname "$rel")"
  cp "$ko" "$R/$rel"
done
cp "$K/lib/modules/$KVER/modules.order" "$K/lib/modules/$KVER/modules.builtin"* "$R/usr/lib/modules/$KVER/"
depmod -b "$R" "$KVER"

# Node.js: Debian 12's nodejs is 18; the project needs >= 20.19, so the guest
# carries the host's node binary (its shared libraries come from the Debian
# packages above).
cp "$NODE_BIN" "$R/usr/bin/node"
A=$R/opt/rmtabsync
mkdir -p "$A/dist" "$A/node_modules"
cp dist/cli.js dist/rmtabsync.js dist/rmtabsync.cache dist/package.json "$A/dist/"
for m in better-sqlite3 os-lock bindings file-uri-to-path; do
  mkdir -p "$A/node_modules/$m"
  (cd "node_modules/$m" && find . -path ./deps -prune -o -path ./src -prune -o -name obj.target -prune -o -name obj -prune -o \
    \( -name '*.js' -o -name '*.json' -o -name '*.node' \) -print | cpio -pdm --quiet "$A/node_modules/$m")
done
rm -f "$A/node_modules/better-sqlite3/build/Release/test_extension.node"
cat >"$R/usr/bin/rmtabsync" <<'EOF'
#!/bin/sh
exec /usr/bin/node /opt/rmtabsync/dist/cli.js "$@"
EOF
chmod 755 "$R/usr/bin/rmtabsync"
mkdir -p "$R/usr/lib/ocf/resource.d/rmtabsync"
cp deploy/ocf/rmtabsync "$R/usr/lib/ocf/resource.d/rmtabsync/rmtabsync"

# the lab: PID 1 and the scenarios
mkdir -p "$R/lab"
cp lab/guest/* "$R/lab/"
chmod 755 "$R/lab/"*.sh
ln -sf lab/init.sh "$R/init"
mkdir -p "$R/etc" "$R/proc" "$R/sys" "$R/dev" "$R/run" "$R/tmp" "$R/var/lib/nfs" "$R/var/tmp" "$R/root" "$R/mnt" "$R/srv"
cat >"$R/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
_rpc:x:100:65534::/run/rpcbind:/usr/sbin/nologin
statd:x:101:65534::/var/lib/nfs:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$R/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
printf 'passwd: files\ngroup: files\nhosts: files\n' >"$R/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n' >"$R/etc/hosts"
: >"$R/etc/exports"; : >"$R/etc/fstab"; [ -e "$R/etc/nfs.conf" ] || : >"$R/etc/nfs.conf"
[ -e "$R/usr/bin/sh" ] || ln -s busybox "$R/usr/bin/sh"
ldconfig -r "$R" 2>/dev/null || true

mkdir -p "$OUT.tmp"
cp "$K/boot/vmlinuz-$KVER" "$OUT.tmp/vmlinuz"
(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) >"$OUT.tmp/initrd.img"
echo "$VERS" >"$OUT.tmp/packages"
rm -rf "$OUT"; mv "$OUT.tmp" "$OUT"
log "guest built in $(($(date +%s) - t0)) s: $OUT ($(du -h "$OUT/initrd.img" | cut -f1) initrd)"
echo "KERNEL=$OUT/vmlinuz"
echo "INITRD=$OUT/initrd.img"
