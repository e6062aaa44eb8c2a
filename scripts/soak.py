#!/usr/bin/env python3
"""Soak test: normal clients beside hostile ones, against a running imgbed.

Usage: soak.py URL PID MINUTES OUT.csv [quiet]

With `quiet`, only the normal clients run (the baseline).

Normal clients list images and fetch a stored image and record latencies. Hostile
clients at the same time: connections that drip their headers (slow loris), requests
with oversized headers, uploads with 100,000-character file names, uploads that make
the hostile test policy sleep, loop, hog memory, flood stderr or answer with 64 MiB,
and multipart bodies with unterminated part headers. Every 10 s one CSV row: elapsed
seconds, RSS (kB), open descriptors, requests and p50/p99 (ms) of normal requests.
Loopback only; stops by itself after MINUTES.
"""
import http.client
import os
import random
import socket
import struct
import sys
import threading
import time
import zlib

URL, PID, MINUTES, OUT = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
QUIET = len(sys.argv) > 5 and sys.argv[5] == "quiet"
HOST, PORT = URL.removeprefix("http://").split(":")
PORT = int(PORT)
END = time.time() + MINUTES * 60
lock = threading.Lock()
latencies = []


def png(seed, side=8):
    rnd = random.Random(seed)
    raw = b"".join(b"\x00" + bytes(rnd.getrandbits(8) for _ in range(side * 4)) for _ in range(side))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def multipart(name, data, boundary="SoAkBoUnDaRy"):
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
    head += "Content-Type: image/png\r\n\r\n"
    return head.encode() + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def request(method, path, body=None, headers=None, timeout=30):
    c = http.client.HTTPConnection(HOST, PORT, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def upload(name, data):
    body, ctype = multipart(name, data)
    return request("POST", "/api/image_upload", body, {"Content-Type": ctype})


def normal(seed):
    status, body = upload(f"n{seed}.png", png(seed))
    name = body.split(b'"name":"')[1].split(b'"')[0].decode() if status == 200 else None
    while time.time() < END:
        for path in ["/api/image_list?per_page=20"] + ([f"/images/{name}"] if name else []):
            t = time.time()
            try:
                status, _ = request("GET", path)
            except OSError:
                status = 0
            with lock:
                latencies.append((time.time() - t) * 1000 if status == 200 else 10_000.0)
        time.sleep(0.02)


def slow_loris():
    while time.time() < END:
        socks = []
        for _ in range(40):
            try:
                s = socket.create_connection((HOST, PORT), timeout=5)
                s.sendall(b"GET /api/image_list HTTP/1.1\r\nHost: x\r\n")
                socks.append(s)
            except OSError:
                pass
        for _ in range(20):
            for s in socks:
                try:
                    s.sendall(b"X-a: b\r\n")
                except OSError:
                    pass
            time.sleep(1)
        for s in socks:
            s.close()


def hostile_requests():
    n = 0
    while time.time() < END:
        n += 1
        kind = n % 7
        try:
            if kind == 0:
                request("GET", "/api/image_list", headers={"X-Big": "a" * 200_000})
            elif kind == 1:
                upload("n" * 100_000 + ".png", png(10_000 + n))
            elif kind in (2, 3, 4, 5):
                mode = ["sleep", "loop", "hog", "strip-huge"][kind - 2]
                upload(f"{mode}-{n}.png", png(20_000 + n))
            else:
                s = socket.create_connection((HOST, PORT), timeout=10)
                s.sendall(b"POST /api/image_upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n"
                          b"Content-Type: multipart/form-data; boundary=B\r\n\r\n--B\r\nX: " + b"p" * 1_000_000)
                s.recv(100)
                s.close()
        except OSError:
            pass
        time.sleep(0.05)


def sample(writer):
    start = time.time()
    while time.time() < END:
        time.sleep(10)
        with lock:
            window = sorted(latencies)
            latencies.clear()
        rss = next(int(l.split()[1]) for l in open(f"/proc/{PID}/status") if l.startswith("VmRSS"))
        fds = len(os.listdir(f"/proc/{PID}/fd"))
        p50 = window[len(window) // 2] if window else 0
        p99 = window[min(len(window) - 1, int(len(window) * 0.99))] if window else 0
        row = f"{time.time() - start:.0f},{rss},{fds},{len(window)},{p50:.2f},{p99:.2f}"
        print(row, flush=True)
        writer.write(row + "\n")
        writer.flush()


def main():
    threads = [threading.Thread(target=normal, args=(i,), daemon=True) for i in range(4)]
    if not QUIET:
        threads += [threading.Thread(target=slow_loris, daemon=True)]
        threads += [threading.Thread(target=hostile_requests, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    with open(OUT, "w") as f:
        f.write("seconds,rss_kb,fds,requests,p50_ms,p99_ms\n")
        sample(f)


if __name__ == "__main__":
    main()
