"""Open N idle TLS connections to a jxc hub, hold them, and probe /healthz
with curl once a second for SECONDS. Needs curl. See BENCHMARKS.md.

usage: python3 scripts/idle_flood.py PORT CA_PEM N SECONDS
"""
import socket, ssl, sys, time, subprocess
port, ca, n, secs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ctx = ssl.create_default_context(cafile=ca)
held, failed = [], 0
for _ in range(n):
    try:
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="localhost")
        held.append(s)
    except Exception:
        failed += 1
t0 = time.time(); first_ok = None; ok = 0; tries = 0
while time.time() - t0 < secs:
    tries += 1
    r = subprocess.run(["curl", "-s", "-m", "3", "--cacert", ca, f"https://localhost:{port}/healthz"], capture_output=True)
    if r.stdout == b"ok\n":
        ok += 1
        if first_ok is None: first_ok = time.time() - t0
    time.sleep(1)
print(f"idle TLS connections: {len(held)} handshaken, {failed} refused or timed out")
print(f"/healthz: {ok}/{tries} answered, first after {first_ok if first_ok is None else round(first_ok,1)} s")
