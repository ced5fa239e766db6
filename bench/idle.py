#!/usr/bin/env python3
"""Hold N idle SMTP sessions open against a relay, then report the relay's
RSS and how long a new session takes (connect, banner, EHLO, QUIT) while
they stay open.  usage: idle.py N PORT PID"""
import resource
import selectors
import socket
import sys
import time


def rss_mib(pid):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def one_session(port):
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    f = s.makefile("rb")
    assert f.readline().startswith(b"220")
    s.sendall(b"EHLO probe.test\r\n")
    while True:
        line = f.readline()
        if line[3:4] != b"-":
            break
    s.sendall(b"QUIT\r\n")
    f.readline()
    dt = time.perf_counter() - t0
    s.close()
    return dt * 1000.0


def main():
    n, port, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    base = rss_mib(pid)
    sel = selectors.DefaultSelector()
    socks, greeted = [], 0
    t0 = time.time()
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
        sel.register(s, selectors.EVENT_READ)
        if i % 500 == 499:	# do not overflow the listen backlog
            while greeted < i - 1000:
                for key, _ in sel.select(1):
                    if key.fileobj.recv(512):
                        greeted += 1
                    sel.unregister(key.fileobj)
    while greeted < n and time.time() - t0 < 60:
        for key, _ in sel.select(1):
            if key.fileobj.recv(512):
                greeted += 1
            sel.unregister(key.fileobj)
    time.sleep(0.5)
    held = rss_mib(pid)
    lat = sorted(one_session(port) for _ in range(21))
    print("RESULT idle sessions: %d of %d greeted and held; relay RSS %.1f MiB "
          "(%.1f before); new session while held: median %.2f ms, max %.2f ms"
          % (greeted, n, held, base, lat[10], lat[-1]))
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
