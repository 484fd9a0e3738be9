#!/usr/bin/env python3
"""Changes rmtab exactly the way rpc.mountd does (nfs-utils mountd/rmtab.c),
under mountd's real lock: a POSIX fcntl write lock on STATEDIR/.rmtab.lock.

  mountd_sim.py STATEDIR mount HOST PATH        MNT: count+1 in place, or append 0x00000001
  mountd_sim.py STATEDIR umount HOST PATH       UMNT: count-1, line dropped at 0 (rmtab.tmp + rename)
  mountd_sim.py STATEDIR umountall HOST         UMNTALL: every line of HOST dropped
  mountd_sim.py STATEDIR hold SECONDS           hold the write lock; prints "locked" once held
  mountd_sim.py STATEDIR loop N PREFIX PATH     N mounts of PREFIX.1 .. PREFIX.N, one lock each

HOST is given with real ':' (IPv6); it is stored with ';' as mountd does.
With $MOUNTD_SIM_CALLOUT set, mount and umount run that program the way
mountd runs its --ha-callout (mountd/rmtab.c): `PROG mount|unmount HOST PATH
NEWCOUNT`, under the lock, before rmtab is written; UMNTALL runs none.
Used by the tests and the demo: the real rpc.mountd cannot serve MNT
without a kernel nfsd, so this stands in for its MNT path only.
"""
import fcntl
import os
import subprocess
import sys
import time


def lock(statedir):
    fd = os.open(os.path.join(statedir, ".rmtab.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.lockf(fd, fcntl.LOCK_EX)
    return fd


def unlock(fd):
    fcntl.lockf(fd, fcntl.LOCK_UN)
    os.close(fd)


def encode(host):
    return host.replace(":", ";")


def entries(path):
    """(offset, host, path, count) per line, stopping where mountd stops."""
    out = []
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return out
    with f:
        while True:
            pos = f.tell()
            line = f.readline(2046)
            if not line:
                break
            line = line.rstrip(b"\n")
            if b":" not in line:
                break  # malformed entry: mountd stops here
            host, rest = line.split(b":", 1)
            if b":" in rest:
                p, c = rest.split(b":", 1)
                try:
                    count = int(c.decode(), 0)
                except ValueError:
                    count = 0
            else:
                p, count = rest, 1
            out.append((pos, host.decode().replace(";", ":"), p.decode(), count))
    return out


def fmt(host, path, count):
    return ("%s:%s:0x%.8x\n" % (encode(host), path, count)).encode()


def callout(event, host, path, count):
    prog = os.environ.get("MOUNTD_SIM_CALLOUT")
    if prog:
        subprocess.run([prog, event, host, path, str(count)], check=False)


def mount(statedir, host, path):
    rmtab = os.path.join(statedir, "rmtab")
    for pos, h, p, c in entries(rmtab):
        if h == host and p == path:
            callout("mount", h, p, c + 1)
            with open(rmtab, "r+b") as f:
                f.seek(pos)
                f.write(fmt(h, p, c + 1))
            return
    callout("mount", host, path, 1)
    with open(rmtab, "ab") as f:
        f.write(fmt(host, path, 1))


def rewrite(statedir, keep):
    rmtab = os.path.join(statedir, "rmtab")
    tmp = os.path.join(statedir, "rmtab.tmp")
    with open(tmp, "wb") as f:
        for h, p, c in keep:
            f.write(fmt(h, p, c))
    os.rename(tmp, rmtab)


def umount(statedir, host, path):
    keep = []
    for _, h, p, c in entries(os.path.join(statedir, "rmtab")):
        if h == host and p == path:
            c -= 1
            callout("unmount", h, p, c)
            if c <= 0:
                continue
        keep.append((h, p, c))
    rewrite(statedir, keep)


def umountall(statedir, host):
    rewrite(statedir, [(h, p, c) for _, h, p, c in entries(os.path.join(statedir, "rmtab")) if h != host])


def main(argv):
    statedir, op, args = argv[1], argv[2], argv[3:]
    if op == "hold":
        fd = lock(statedir)
        print("locked", flush=True)
        time.sleep(float(args[0]))
        unlock(fd)
        return 0
    if op == "loop":
        n, prefix, path = int(args[0]), args[1], args[2]
        for i in range(1, n + 1):
            fd = lock(statedir)
            mount(statedir, "%s.%d" % (prefix, i), path)
            unlock(fd)
        return 0
    fd = lock(statedir)
    try:
        if op == "mount":
            mount(statedir, args[0], args[1])
        elif op == "umount":
            umount(statedir, args[0], args[1])
        elif op == "umountall":
            umountall(statedir, args[0])
        else:
            print("unknown op %s" % op, file=sys.stderr)
            return 2
    finally:
        unlock(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
