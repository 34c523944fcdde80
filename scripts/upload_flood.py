"""Flood a jxc hub's /v1/sync with unauthenticated uploads, each sending up to
3,999,999 of the 4,000,000 bytes it declares, and report the hub's RSS
before, at its peak and after the connections close. See BENCHMARKS.md.

usage: python3 scripts/upload_flood.py PORT HUB_PID CA_PEM [CONNECTIONS]
"""
import socket, ssl, sys, threading, time
port, pid, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 150
def rss():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"):
            return int(l.split()[1]) // 1024
ctx = ssl.create_default_context(cafile=ca)
ctx.set_alpn_protocols(["http/1.1"])
head = (b"POST /v1/sync HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-jxc-sync\r\n"
        b"x-jxc-protocol: 1\r\nContent-Length: 4000000\r\n\r\n")
answered, sent, done_at, reset = [0], [0], [], [0]
lock = threading.Lock()
hold = threading.Event()
def one():
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    s.settimeout(60)
    got = [b""]
    def reader():
        try: got[0] = s.recv(64)
        except Exception: got[0] = b"reset"
        with lock: done_at.append(time.time())
    r = threading.Thread(target=reader); r.start()
    total, chunk = 0, b"\0" * 65536
    try:
        s.sendall(head)
        while total < 3999999:
            k = min(len(chunk), 3999999 - total)
            s.sendall(chunk[:k]); total += k
    except Exception:
        pass
    r.join()
    with lock:
        sent[0] += total
        if got[0].startswith(b"HTTP/1.1 401"): answered[0] += 1
        elif got[0] == b"reset": reset[0] += 1
    hold.wait()
    s.close()
before = rss()
t0 = time.time()
threads = [threading.Thread(target=one) for _ in range(n)]
for t in threads: t.start()
peak = before
while time.time() - t0 < 40 and len(done_at) < n:
    peak = max(peak, rss()); time.sleep(0.2)
peak = max(peak, rss())
during = time.time() - t0
hold.set()
for t in threads: t.join()
time.sleep(2)
last = f"{max(done_at) - t0:.1f} s" if len(done_at) == n else f"not all within 40 s ({len(done_at)} did)"
print(f"connections {n}: answered 401 {answered[0]}, no answer (reset, or none in 60 s) {reset[0]}; every one answered or closed after {last}; body bytes sent {sent[0]/n/1e6:.2f} MB per connection of 4.00")
print(f"hub RSS MiB: before {before}, peak {peak}, after close {rss()}")
