#!/usr/bin/env python3
"""Sends one SunRPC MOUNT v3 UMNT call (program 100005, version 3, procedure 3)
over UDP, as an NFS client's `umount` does, and waits for mountd's reply.

  rpc-umnt.py HOST PORT PATH [--reserved]

HOST is mountd's address (127.0.0.1 or ::1), PORT its MOUNT v3 UDP port as
`rpcinfo -p` lists it. Credentials are AUTH_UNIX (uid 0, gid 0). With
--reserved the call leaves from a port below 1024 (needs root), which
mountd requires for exports with the default `secure` option.

Prints one JSON object ({"xid": ..., "source_port": ...}) and exits 0 when
mountd accepted the call with SUCCESS; otherwise prints why on stderr and
exits 1. UMNT returns void, so SUCCESS says mountd ran the procedure, not
that an rmtab line was found: the caller checks rmtab itself.

The call is sent exactly once (no retransmission): a repeated UMNT would
decrement the count twice.
"""
import errno
import json
import os
import random
import socket
import struct
import sys

MOUNT_PROG = 100005
MOUNT_V3 = 3
MOUNTPROC3_UMNT = 3
CALL, REPLY = 0, 1
MSG_ACCEPTED = 0
AUTH_NONE, AUTH_UNIX = 0, 1
ACCEPT_STAT = {0: "SUCCESS", 1: "PROG_UNAVAIL", 2: "PROG_MISMATCH", 3: "PROC_UNAVAIL", 4: "GARBAGE_ARGS", 5: "SYSTEM_ERR"}


def xdr_opaque(b):
    return struct.pack(">I", len(b)) + b + b"\0" * ((4 - len(b) % 4) % 4)


def call_message(xid, path):
    # AUTH_UNIX body: stamp, machinename, uid, gid, gids<16>
    cred = struct.pack(">I", 0) + xdr_opaque(b"rmtabsync-test") + struct.pack(">III", 0, 0, 0)
    return (
        struct.pack(">IIIIII", xid, CALL, 2, MOUNT_PROG, MOUNT_V3, MOUNTPROC3_UMNT)
        + struct.pack(">I", AUTH_UNIX)
        + xdr_opaque(cred)
        + struct.pack(">II", AUTH_NONE, 0)
        + xdr_opaque(os.fsencode(path))
    )


def bind_socket(family, reserved):
    s = socket.socket(family, socket.SOCK_DGRAM)
    any_addr = "::" if family == socket.AF_INET6 else "0.0.0.0"
    if not reserved:
        s.bind((any_addr, 0))
        return s
    for port in range(1023, 511, -1):
        try:
            s.bind((any_addr, port))
            return s
        except OSError as e:
            if e.errno == errno.EACCES:
                raise SystemExit("rpc-umnt: binding a port below 1024 needs root (or export with 'insecure')")
            if e.errno != errno.EADDRINUSE:
                raise
    raise SystemExit("rpc-umnt: no free UDP port in 512..1023")


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    reserved = "--reserved" in argv
    if len(args) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    host, port, path = args[0], int(args[1]), args[2]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = bind_socket(family, reserved)
    s.settimeout(float(os.environ.get("RPC_UMNT_TIMEOUT", "45")))
    xid = random.getrandbits(32)
    s.sendto(call_message(xid, path), (host, port))
    while True:
        try:
            data, _ = s.recvfrom(65536)
        except socket.timeout:
            print("rpc-umnt: no reply from %s port %d" % (host, port), file=sys.stderr)
            return 1
        if len(data) >= 4 and struct.unpack(">I", data[:4])[0] == xid:
            break
    if len(data) < 12:
        print("rpc-umnt: short reply (%d bytes)" % len(data), file=sys.stderr)
        return 1
    _, mtype, rstat = struct.unpack(">III", data[:12])
    if mtype != REPLY or rstat != MSG_ACCEPTED:
        print("rpc-umnt: call denied (msg_type %d, reply_stat %d): %s" % (mtype, rstat, data.hex()), file=sys.stderr)
        return 1
    _, vlen = struct.unpack(">II", data[12:20])
    off = 20 + vlen + (4 - vlen % 4) % 4
    (astat,) = struct.unpack(">I", data[off : off + 4])
    if astat != 0:
        print("rpc-umnt: accept_stat %s" % ACCEPT_STAT.get(astat, astat), file=sys.stderr)
        return 1
    print(json.dumps({"xid": xid, "source_port": s.getsockname()[1]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
