"""The admin page of a server with signed policies (policy.trusted_keys): the page asks for
the detached signature beside the component and sends it along; a component without a
trusted signature is refused with the reason and the running policy stays."""

import json
import subprocess

import pytest
from playwright.sync_api import expect

from conftest import Browser, Server, base_config, need_env


def imgbed(*args):
    out = subprocess.run([need_env("IMGBED_BIN"), *map(str, args)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.fixture()
def keys(tmp_path):
    """Two key pairs from the real `imgbed policy keygen`: the trusted one and another."""
    return imgbed("policy", "keygen", "--out", tmp_path, "--name", "trusted"), \
        imgbed("policy", "keygen", "--out", tmp_path, "--name", "other")


def test_the_admin_page_sends_the_signature_along(playwright_instance, policies_dir, tmp_path, keys):
    trusted, other = keys
    server = Server(base_config(policy={"trusted_keys": [trusted["public_key"]]}))
    browser = Browser(playwright_instance, server, "en-US")
    try:
        component = tmp_path / "test.wasm"
        component.write_bytes((policies_dir / "imgbed_test_policy.wasm").read_bytes())
        forged, good = tmp_path / "forged.sig", tmp_path / "good.sig"
        imgbed("policy", "sign", "--key", other["private_key"], component, "--out", forged)
        imgbed("policy", "sign", "--key", trusted["private_key"], component, "--out", good)

        page = browser.page()
        page.goto(server.at("/admin"))
        page.fill("#admin-token", server.admin_token())
        page.click("#admin-signin button")
        expect(page.locator("#policy .policy").first).to_contain_text("imgbed-default@")
        # Signed by another key: refused with the reason; the running policy stays.
        page.set_input_files("#policy-file", str(component))
        page.set_input_files("#policy-sig", str(forged))
        page.click("#policy-upload button")
        expect(page.locator("#policy-msg")).to_contain_text("策略签名无效")
        expect(page.locator("#policy .policy").first).to_contain_text("imgbed-default@")
        # Signed by the trusted key: active, and the card says by which key.
        page.set_input_files("#policy-sig", str(good))
        page.click("#policy-upload button")
        expect(page.locator("#policy-msg")).to_have_text("The new policy is active.")
        card = page.locator("#policy .policy").first
        expect(card).to_contain_text("imgbed-test@")
        expect(card).to_contain_text("Signed by")
        expect(card.locator("dd[title]", has_text=trusted["public_key"][:16])).to_have_count(1)
    finally:
        browser.close()
        server.stop()
