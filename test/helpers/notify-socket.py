#!/usr/bin/env python3
"""Stands in for systemd's end of $NOTIFY_SOCKET in the daemon tests: binds a
unix datagram socket at PATH, prints "bound", then prints every datagram it
receives on one line (newlines shown as '|'). File descriptors sent along
(systemd-notify's BARRIER=1) are closed by the kernel because no ancillary
buffer is given, which is what releases the sender's barrier wait.

  notify-socket.py PATH
"""
import socket
import sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    data = s.recv(65536)
    print(data.decode("utf-8", "replace").strip("\n").replace("\n", "|"), flush=True)
