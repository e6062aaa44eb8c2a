"""The admin page's shadow mode: load a stricter candidate as the shadow, see the upload it
would have refused (while the upload itself succeeded), promote it; then it decides."""

import time

import requests
from playwright.sync_api import expect

from conftest import Browser, Server, base_config
from test_ui import check_a11y

# A 1x1 GIF: the default policy stores it, the strict example (PNG and WebP only) would not.
GIF = bytes.fromhex(
    "47494638396101000100800000ffffff00000021f90401000000002c00000000010001000002024401003b"
)


def shadow_state(server):
    r = requests.get(server.at("/api/admin/policy/shadow"),
                     headers={"Authorization": "Bearer " + server.admin_token()}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_a_shadow_is_loaded_compared_and_promoted_from_the_admin_page(playwright_instance, policies_dir):
    server = Server(base_config(policy={"shadow_sample": 1.0, "shadow_share": 1.0, "heavy_workers": 4}))
    browser = Browser(playwright_instance, server, "en-US")
    try:
        page = browser.page()
        page.goto(server.at("/admin"))
        page.fill("#admin-token", server.admin_token())
        page.click("#admin-signin button")
        expect(page.locator("#shadow h3")).to_have_text("Shadow")
        page.set_input_files("#shadow-file", str(policies_dir / "imgbed_policy_strict.wasm"))
        page.click("#shadow-upload button")
        expect(page.locator("#shadow-msg")).to_have_text("The candidate runs as the shadow.")
        expect(page.locator("#shadow .pname")).to_contain_text("imgbed-strict@")

        # The upload succeeds; the shadow, asked beside it, would have refused it.
        token = server.token_for("shadowed@example.org")
        stored = server.upload(token, [("tiny.gif", GIF)])
        assert stored[0]["format"] == "gif", stored
        deadline = time.monotonic() + 20
        while shadow_state(server)["shadow"]["counts"]["disagreements"] < 1:
            assert time.monotonic() < deadline, shadow_state(server)
            time.sleep(0.1)
        page.reload()
        row = page.locator("#shadow-recent tbody tr").first
        expect(row).to_contain_text("upload.judge")
        expect(row).to_contain_text(stored[0]["name"])
        expect(row).to_contain_text("refuse (unsupported_type)")
        expect(page.locator("#shadow-recent")).not_to_contain_text("shadowed@example.org")
        check_a11y(page, "admin page with a shadow")

        # Promoted: the strict policy is active and refuses what it only would have before.
        page.click("#shadow-promote")
        page.locator("dialog.confirm button[value=ok]").click()
        expect(page.locator("#policy-msg")).to_have_text("The shadow is now the active policy.")
        expect(page.locator("#policy .policy").first).to_contain_text("imgbed-strict@")
        other = server.token_for("second@example.org")
        r = requests.post(server.at("/api/image_upload"), files=[("file", ("again.gif", GIF, "image/gif"))],
                          headers={"Authorization": "Bearer " + other}, timeout=30)
        assert r.status_code == 415 and r.json()["code"] == "unsupported_type", r.text
        expect(page.locator("#shadow .pname")).to_have_count(0)
    finally:
        browser.close()
        server.stop()
