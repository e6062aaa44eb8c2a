#!/usr/bin/env python3
"""Writes the benchmarks' test image: a 256 x 192 RGBA PNG of random pixels (~197 KB,
incompressible, so every byte is served and every row inflated).

    python3 scripts/noise-png.py OUT.png
"""
import os
import struct
import sys
import zlib

w, h = 256, 192
raw = b"".join(b"\0" + os.urandom(w * 4) for _ in range(h))


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
       + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
with open(sys.argv[1], "wb") as out:
    out.write(png)
