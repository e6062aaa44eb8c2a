#!/usr/bin/env python3
"""The storage floor of an upload on this machine: what imgbed's store does to the disk
for one 200 KB upload, and nothing else — write the received bytes to a temp file, fsync
it, hard-link it under its stored name, fsync the folder, then insert its record in
SQLite (WAL, synchronous=FULL, one writer, one transaction per record) — from N threads
at once, the way concurrent uploads do. No HTTP, no hashing, no validation: the rate
printed is an upper bound for durable uploads/s here.

    python3 scripts/storage-floor.py [DIR] [THREADS] [FILES] [BYTES]
"""
import os
import sqlite3
import sys
import tempfile
import threading
import time


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else None
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    files = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 200_000
    work = tempfile.mkdtemp(prefix="imgbed-floor.", dir=base)
    store, temp = os.path.join(work, "images"), os.path.join(work, ".tmp")
    os.mkdir(store)
    os.mkdir(temp)
    body = os.urandom(size)
    counter = iter(range(files))
    lock = threading.Lock()
    db = sqlite3.connect(os.path.join(work, "imgbed.db"), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE images (id INTEGER PRIMARY KEY, name TEXT UNIQUE, size INTEGER)")
    writer = threading.Lock()

    def worker():
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            part = os.path.join(temp, f"{i}.part")
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, body)
            os.fsync(fd)
            os.close(fd)
            os.link(part, os.path.join(store, f"{i}.png"))
            os.unlink(part)
            d = os.open(store, os.O_RDONLY)
            os.fsync(d)
            os.close(d)
            with writer:
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT INTO images (name, size) VALUES (?, ?)", (f"{i}.png", size))
                db.execute("COMMIT")

    started = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    took = time.monotonic() - started
    db.close()
    for name in os.listdir(work):
        if name.startswith("imgbed.db"):
            os.unlink(os.path.join(work, name))
    for name in os.listdir(store):
        os.unlink(os.path.join(store, name))
    os.rmdir(store)
    os.rmdir(temp)
    os.rmdir(work)
    print(f"storage floor: {files} files of {size} bytes, {threads} threads: {files / took:.0f} files/s ({took:.2f} s)")


if __name__ == "__main__":
    main()
