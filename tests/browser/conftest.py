"""Fixtures of the browser tests: the real imgbed binary on a free loopback port with a
temp config (stopped by PID), and Debian's Chromium driven headless by Playwright.

Run through `cargo test --test browser` (scripts/test.sh), which passes the paths of the
binary under test (IMGBED_BIN) and of the built policy components (IMGBED_POLICIES_DIR).
"""

import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import zlib
from pathlib import Path

import pytest
import requests

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def need_env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run the browser tests with scripts/test.sh (cargo test --test browser)")
    return value


class Server:
    """A running imgbed with its folder."""

    def __init__(self, config, jwt_token_mail=None):
        self.dir = Path(tempfile.mkdtemp(prefix="imgbed-browser-"))
        path = self.dir / "config.json"
        path.write_text(json.dumps(config))
        path.chmod(0o600)
        self.out = open(self.dir / "out.log", "w+")
        self.err = open(self.dir / "err.log", "w+")
        self.proc = subprocess.Popen(
            [need_env("IMGBED_BIN"), "--config", str(path)], stdout=self.out, stderr=self.err
        )
        self.url = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.proc.poll() is None:
            self.out.seek(0)
            m = re.search(r"imgbed listening on (http://\S+)", self.out.read())
            if m:
                self.url = m.group(1)
                break
            time.sleep(0.05)
        if not self.url:
            self.stop()
            raise RuntimeError("imgbed did not start: " + (self.dir / "err.log").read_text())
        # The listening line comes once the socket is bound; wait until it answers.
        wait_for(lambda: requests.get(self.url + "/healthz", timeout=2).ok, "the server answers")

    def at(self, path):
        return self.url + path

    def admin_token(self):
        return json.loads((self.dir / "secrets.json").read_text())["admin_token"]

    def token_for(self, mail):
        r = requests.post(self.at("/api/get_token"), json={"mail": mail}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["token"]

    def upload(self, token, files):
        """Uploads [(name, bytes)] in one request; returns the answer's files."""
        parts = [("file", (name, data, "application/octet-stream")) for name, data in files]
        r = requests.post(
            self.at("/api/image_upload"), files=parts, headers={"Authorization": "Bearer " + token}, timeout=60
        )
        assert r.status_code == 200, r.text
        return r.json()["files"]

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.out.close()
        self.err.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_for(check, what, timeout=30):
    """Polls `check` until it is true (exceptions count as false)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not ready yet
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def png(width, height, seed):
    """A real, decodable RGB PNG, different for every seed."""
    rows = b""
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            row += bytes(((x * 7 + seed * 31) % 256, (y * 5 + seed * 17) % 256, (seed * 97 + x + y) % 256))
        rows += bytes(row)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def base_config(**more):
    config = {
        "port": 0,
        "server": {"image_zip": True},
        "video": {"enabled": True},
        "auth": {"jwt": True},
        "log": {"level": "warn", "files": False},
    }
    for key, value in more.items():
        if isinstance(value, dict):
            config.setdefault(key, {}).update(value)
        else:
            config[key] = value
    return config


@pytest.fixture(scope="session")
def server():
    # The default IP filter (120 requests a minute per client): the UI must get by with it.
    # Only registration's own stricter rule (10 a minute) is raised: the tests make an
    # account for each test, from the same address, within a minute.
    s = Server(base_config(ip_filter={"routes": {"/api/get_token": "100/60", "/api/mail_for_reset": "5/300"}}))
    yield s
    metrics = requests.get(s.at("/metrics"), timeout=10).text
    api_calls = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                    if line.startswith("imgbed_http_requests_total{") and 'route="/api/' in line)
    print(f"\nbrowser tests: {api_calls:.0f} API requests in all")
    s.stop()
    assert "imgbed_rate_limited_total 0" in metrics, "the UI was rate limited"



@pytest.fixture(scope="session")
def policies_dir():
    return Path(need_env("IMGBED_POLICIES_DIR"))


@pytest.fixture(scope="session")
def artifacts():
    d = Path(os.environ.get("IMGBED_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="imgbed-shots-"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


class Browser:
    """A fresh Chromium (its own profile folder) with clipboard permissions for the server,
    collecting Content-Security-Policy violations and script errors of its pages."""

    def __init__(self, playwright, server, lang):
        self.profile = tempfile.mkdtemp(prefix="imgbed-chromium-")
        self.ctx = playwright.chromium.launch_persistent_context(
            self.profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS + [f"--lang={lang}"],
            viewport={"width": 1280, "height": 860},
            locale=lang,
            extra_http_headers={"Accept-Language": f"{lang},{lang.split('-')[0]};q=0.9"},
        )
        self.ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        self.errors = []
        self.ctx.on("page", self.watch)
        for p in self.ctx.pages:
            self.watch(p)

    def watch(self, page):
        page.on("console", lambda m: self.errors.append(m.text) if "Content Security Policy" in m.text else None)
        page.on("pageerror", lambda e: self.errors.append("page error: " + str(e)))

    def page(self):
        return self.ctx.pages[0] if self.ctx.pages else self.ctx.new_page()

    def close(self):
        self.ctx.close()
        shutil.rmtree(self.profile, ignore_errors=True)
        assert self.errors == [], self.errors


@pytest.fixture()
def browser(playwright_instance, server):
    b = Browser(playwright_instance, server, "en-US")
    yield b
    b.close()


@pytest.fixture()
def context(browser):
    return browser.ctx


@pytest.fixture()
def page(browser):
    return browser.page()
