"""The web UI in a real browser (Debian's Chromium, headless): accounts, uploads by file
picker, drag and drop and paste, copying links, the gallery, the admin pages, the
language switch, accessibility (axe-core) and screenshots."""

import base64
import json
import os
from pathlib import Path

import requests
from playwright.sync_api import expect

from conftest import Browser, png, wait_for

AXE = Path(os.environ.get("IMGBED_AXE_DIR") or Path.home() / ".cache/imgbed-axe") / "node_modules/axe-core/axe.min.js"


def sign_in(page, server, token):
    page.goto(server.at("/account"))
    page.fill("#token", token)
    page.click("#signin button")
    expect(page.locator("#me h2")).to_be_visible()


def check_a11y(page, what):
    """axe-core injected into the page: no serious or critical violations."""
    page.evaluate(AXE.read_text() + "\n;0")
    result = page.evaluate("async () => (await axe.run(document)).violations"
                           ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))")
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{what}: {json.dumps(bad, indent=1)}"


def drop_files(page, selector, files):
    """A synthesized drag and drop of files (name, bytes) onto `selector`."""
    payload = [{"name": n, "b64": base64.b64encode(d).decode()} for n, d in files]
    page.evaluate(
        """([selector, files]) => {
            const dt = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.b64), c => c.charCodeAt(0));
                dt.items.add(new File([bytes], f.name, {type: 'image/png'}));
            }
            const target = document.querySelector(selector);
            for (const type of ['dragenter', 'dragover', 'drop']) {
                target.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: dt}));
            }
        }""",
        [selector, payload],
    )


def paste_file(page, name, data):
    """A synthesized paste of an image file anywhere on the page."""
    page.evaluate(
        """([name, b64]) => {
            const dt = new DataTransfer();
            dt.items.add(new File([Uint8Array.from(atob(b64), c => c.charCodeAt(0))], name, {type: 'image/png'}));
            document.body.dispatchEvent(new ClipboardEvent('paste', {bubbles: true, cancelable: true, clipboardData: dt}));
        }""",
        [name, base64.b64encode(data).decode()],
    )


def test_account_get_token_sign_out_and_in(page, server):
    page.goto(server.at("/account"))
    expect(page.locator("#get-token")).to_be_visible()
    check_a11y(page, "account (signed out)")
    page.fill("#mail", "Browser.User@Example.org")
    page.click("#get-token button")
    expect(page.locator("#me h2")).to_have_text("Signed in as browser.user@example.org")
    token = page.input_value("#my-token")
    assert token.count(".") == 2
    assert page.evaluate("localStorage.getItem('imgbed.token')") == token
    # The token is never in a cookie.
    assert page.context.cookies() == []
    check_a11y(page, "account (signed in)")

    page.click("#signout")
    expect(page.locator("#signin")).to_be_visible()
    assert page.evaluate("localStorage.getItem('imgbed.token')") is None
    # The same address again: the API's own answer, explained.
    page.fill("#mail", "browser.user@example.org")
    page.click("#get-token button")
    expect(page.locator("#get-msg")).to_contain_text("already has a token")
    # A wrong token is refused with the API's message; the right one signs in.
    page.fill("#token", token[:-3] + "abc")
    page.click("#signin button")
    expect(page.locator("#signin-msg")).to_contain_text("无效的密钥")
    page.fill("#token", token)
    page.click("#signin button")
    expect(page.locator("#me h2")).to_have_text("Signed in as browser.user@example.org")
    # The uploader configs download from the page (the token inside, as the API made it).
    for client, suffix in [("sharex", ".sxcu"), ("picgo", "-picgo.json"), ("flameshot", "-upload.sh")]:
        with page.expect_download() as download:
            page.click(f"button[data-client={client}]")
        assert download.value.suggested_filename.endswith(suffix), download.value.suggested_filename
        saved = Path(download.value.path()).read_text()
        expected = requests.get(server.at(f"/api/uploader_config?client={client}"),
                                headers={"Authorization": "Bearer " + token}).text
        assert saved == expected and token in saved
    expect(page.locator("#config-msg")).to_contain_text("Saved imgbed-")
    # Without mail configured, the recovery form says so instead of failing later.
    page.click("#signout")
    expect(page.locator("#recover")).to_contain_text("sends no mail")


def test_upload_by_picker_drop_and_paste_then_copy(page, server, artifacts, tmp_path):
    token = server.token_for("uploader@example.org")
    sign_in(page, server, token)
    page.goto(server.at("/"))
    check_a11y(page, "upload (empty)")
    good = [tmp_path / "cat.png", tmp_path / "dog.png"]
    good[0].write_bytes(png(64, 48, 1))
    good[1].write_bytes(png(40, 40, 2))
    evil = tmp_path / "evil.png"
    evil.write_bytes(b"<?php system($_GET['c']); ?>")
    page.set_input_files("#file-input", [str(p) for p in good] + [str(evil)])
    cards = page.locator("#results li.card")
    expect(cards).to_have_count(2)
    refused = page.locator("#results li.refused")
    expect(refused).to_have_count(1)
    expect(refused.locator(".fname")).to_have_text("evil.png")
    expect(refused.locator(".msg")).to_contain_text("不支持的文件类型")

    drop_files(page, "#drop", [("dropped.png", png(30, 20, 3))])
    expect(cards).to_have_count(3)
    expect(page.locator("#results li.card .fname").first).to_have_text("dropped.png")
    paste_file(page, "pasted.png", png(20, 30, 4))
    expect(cards).to_have_count(4)
    expect(page.locator("#results li.card .fname").first).to_have_text("pasted.png")

    # Every card shows its preview (the thumbnail) loaded.
    imgs = page.locator("#results li.card img")
    expect(imgs).to_have_count(4)
    wait_for(lambda: page.evaluate("[...document.querySelectorAll('#results img')].every(i => i.complete && i.naturalWidth > 0)"),
             "the previews are loaded")

    # Copy the Markdown of the pasted image: the clipboard holds the API's snippet, whose
    # link serves the uploaded bytes.
    first = page.locator("#results li.card").first
    first.locator("button[data-copy=markdown]").click()
    expect(page.locator("#status")).to_have_text("Copied to the clipboard")
    markdown = page.evaluate("navigator.clipboard.readText()")
    listed = requests.get(server.at("/api/image_list?per_page=1"), headers={"Authorization": "Bearer " + token}).json()
    url = listed["data"][0]["url"]
    assert markdown == f"![image]({url})"
    assert requests.get(url).content == png(20, 30, 4)
    first.locator("button[data-copy=url]").click()
    wait_for(lambda: page.evaluate("navigator.clipboard.readText()") == url, "the URL is copied")

    check_a11y(page, "upload (cards)")
    page.screenshot(path=str(artifacts / "upload-desktop.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(artifacts / "upload-phone.png"))
    # Nothing is wider than a phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_gallery_pages_details_and_delete(page, server, artifacts):
    token = server.token_for("gallery@example.org")
    for batch in range(2):
        server.upload(token, [(f"img{batch * 15 + i:02}.png", png(50 + i, 30, 100 + batch * 15 + i)) for i in range(15)])
    sign_in(page, server, token)
    page.goto(server.at("/gallery"))
    tiles = page.locator("#grid li.tile")
    expect(tiles).to_have_count(24)
    expect(page.locator(".pageno")).to_have_text("Page 1 of 2")
    expect(page.locator(".count")).to_have_text("30 in all")
    # Newest first; thumbnails, lazily loaded, not the originals.
    expect(tiles.first.locator(".cap span")).to_have_text("img29.png")
    src = tiles.first.locator("img").get_attribute("src")
    assert "/thumbs/" in src and src.endswith(".png"), src
    assert tiles.first.locator("img").get_attribute("loading") == "lazy"
    check_a11y(page, "gallery")
    page.screenshot(path=str(artifacts / "gallery-desktop.png"))

    page.click("#next")
    expect(page.locator(".pageno")).to_have_text("Page 2 of 2")
    expect(tiles).to_have_count(6)
    assert page.url.endswith("?page=2")
    expect(tiles.first.locator(".cap span")).to_have_text("img05.png")
    page.go_back()
    expect(page.locator(".pageno")).to_have_text("Page 1 of 2")

    # The detail view: facts and links.
    tiles.nth(1).locator(".thumb").click()
    dialog = page.locator("dialog.detail")
    expect(dialog).to_be_visible()
    expect(dialog.locator("h2")).to_have_text("img28.png")
    expect(dialog.locator(".facts")).to_contain_text("63 × 30")
    expect(dialog.locator(".facts")).to_contain_text("png (image/png)")
    check_a11y(page, "gallery detail")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)

    # Select two and delete them, after a confirmation (cancel first: nothing goes).
    tiles.nth(0).locator(".pick").check()
    tiles.nth(2).locator(".pick").check()
    expect(page.locator("#delete-selected")).to_have_text("Delete selected (2)")
    page.click("#delete-selected")
    page.locator("dialog.confirm button[value=cancel]").click()
    expect(page.locator(".count")).to_have_text("30 in all")
    page.click("#delete-selected")
    page.locator("dialog.confirm button[value=ok]").click()
    expect(page.locator(".count")).to_have_text("28 in all")
    names = [r["original_name"] for r in requests.get(
        server.at("/api/image_list?per_page=100"), headers={"Authorization": "Bearer " + token}).json()["data"]]
    assert "img29.png" not in names and "img27.png" not in names and "img28.png" in names

    # One from the detail view.
    tiles.first.locator(".thumb").click()
    page.locator("dialog.detail button.danger").click()
    page.locator("dialog.confirm button[value=ok]").click()
    expect(page.locator(".count")).to_have_text("27 in all")


def test_gallery_empty_state(page, server):
    sign_in(page, server, server.token_for("empty@example.org"))
    page.goto(server.at("/gallery"))
    expect(page.locator("#grid .empty")).to_contain_text("Nothing here yet")
    expect(page.locator("#grid .empty a")).to_have_attribute("href", "/")


def test_admin_accounts_and_policy(page, server, policies_dir, tmp_path):
    victim = server.token_for("victim@example.org")
    server.upload(victim, [("v.png", png(10, 10, 999))])
    page.goto(server.at("/admin"))
    page.fill("#admin-token", "not-the-admin-token")
    page.click("#admin-signin button")
    expect(page.locator("#admin-msg")).not_to_be_empty()
    page.fill("#admin-token", server.admin_token())
    page.click("#admin-signin button")
    expect(page.locator("#policy .policy").first).to_contain_text("imgbed-default@")
    row = page.locator("#users tr", has_text="victim@example.org")
    expect(row).to_contain_text("1")
    check_a11y(page, "admin")

    # A bad component is refused with the reason; the running policy stays.
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"\0asm\x01\0\0\0 this is not a component")
    page.set_input_files("#policy-file", str(bad))
    page.click("#policy-upload button")
    expect(page.locator("#policy-msg")).to_contain_text("策略被拒绝")
    expect(page.locator("#rollback")).to_be_disabled()
    # A good one (the built default policy) is activated; then roll back.
    page.set_input_files("#policy-file", str(policies_dir / "imgbed_policy_default.wasm"))
    page.click("#policy-upload button")
    expect(page.locator("#policy-msg")).to_have_text("The new policy is active.")
    expect(page.locator("#policy .policy").first).to_contain_text("admin-api")
    expect(page.locator("#rollback")).to_be_enabled()
    page.click("#rollback")
    page.locator("dialog.confirm button[value=ok]").click()
    expect(page.locator("#policy-msg")).to_have_text("Back to the previous policy.")
    described = requests.get(server.at("/api/admin/policy"),
                             headers={"Authorization": "Bearer " + server.admin_token()}).json()["data"]
    assert described["active"]["source"] != "admin-api", described

    # Ban the account: it goes with its images, and the address cannot register again.
    row.locator("button.danger").click()
    page.locator("dialog.confirm button[value=ok]").click()
    expect(page.locator("#users tr", has_text="victim@example.org")).to_have_count(0)
    r = requests.post(server.at("/api/get_token"), json={"mail": "victim@example.org"})
    assert r.status_code == 403 and r.json()["code"] == "banned", r.text


def test_language_follows_the_browser_and_the_switch(playwright_instance, server, page):
    page.goto(server.at("/"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("[data-nav=upload]")).to_have_text("Upload")
    chinese = Browser(playwright_instance, server, "zh-CN")
    try:
        zh = chinese.page()
        zh.goto(server.at("/gallery"))
        expect(zh.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(zh.locator("[data-nav=gallery]")).to_have_text("图库")
        expect(zh.locator("h1")).to_have_text("图库")
        zh.click("#lang-switch")
        expect(zh.locator("[data-nav=gallery]")).to_have_text("Gallery")
        expect(zh.locator("h1")).to_have_text("Gallery")
        expect(zh.locator("html")).to_have_attribute("lang", "en")
        # The choice is kept across pages, whatever the browser asks for.
        zh.goto(server.at("/account"))
        expect(zh.locator("h1")).to_have_text("Account")
        zh.click("#lang-switch")
        expect(zh.locator("#get-token h2")).to_have_text("获取密钥")
        expect(zh.locator("#lang-switch")).to_have_text("English")
        check_a11y(zh, "account in Chinese")
    finally:
        chinese.close()


def test_keyboard_only_upload_flow(page, server, tmp_path):
    sign_in(page, server, server.token_for("keys@example.org"))
    page.goto(server.at("/"))
    # The first Tab reaches the skip link, then the page's controls in order.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    f = tmp_path / "k.png"
    f.write_bytes(png(12, 12, 77))
    with page.expect_file_chooser() as chooser:
        page.focus("#choose")
        page.keyboard.press("Enter")
    chooser.value.set_files(str(f))
    expect(page.locator("#results li.card")).to_have_count(1)


def test_deletion_link_in_the_browser(page, server, tmp_path):
    sign_in(page, server, server.token_for("links@example.org"))
    page.goto(server.at("/"))
    f = tmp_path / "gone-soon.png"
    f.write_bytes(png(16, 16, 4242))
    page.set_input_files("#file-input", str(f))
    card = page.locator("#results li.card")
    expect(card).to_have_count(1)
    card.locator("button[data-copy=delete]").click()
    wait_for(lambda: page.evaluate("navigator.clipboard.readText()").startswith(server.url + "/delete/"),
             "the deletion link is copied")
    link = page.evaluate("navigator.clipboard.readText()")
    image_url = card.locator("input.link").input_value()
    # Opened as ShareX opens it: a page that asks first.
    page.goto(link)
    expect(page.locator("h1")).to_contain_text("Delete this image?")
    assert requests.get(image_url).status_code == 200
    check_a11y(page, "deletion page")
    page.click("form button")
    expect(page.locator("h1")).to_contain_text("Deleted")
    assert requests.get(image_url).status_code == 404


def test_screenshots_desktop_and_phone(page, server, artifacts, tmp_path):
    """The pictures in the README: the upload page with a few cards and a refusal, at
    desktop and at phone width, in the dark and light scheme."""
    sign_in(page, server, server.token_for("screenshots@example.org"))
    page.set_viewport_size({"width": 1100, "height": 760})
    page.goto(server.at("/"))
    files = []
    for i, (w, h) in enumerate([(480, 300), (360, 360), (420, 280)]):
        f = tmp_path / ["holiday.png", "diagram.png", "screenshot.png"][i]
        f.write_bytes(png(w, h, 7000 + i))
        files.append(str(f))
    bad = tmp_path / "notes.txt.png"
    bad.write_bytes(b"just some text, not an image")
    page.set_input_files("#file-input", files + [str(bad)])
    expect(page.locator("#results li.card")).to_have_count(3)
    expect(page.locator("#results li.refused")).to_have_count(1)
    wait_for(lambda: page.evaluate("[...document.querySelectorAll('#results img')].every(i => i.complete && i.naturalWidth > 0)"),
             "the previews are loaded")
    page.screenshot(path=str(artifacts / "ui-desktop.png"))
    page.emulate_media(color_scheme="dark", reduced_motion="reduce")
    page.set_viewport_size({"width": 390, "height": 760})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(artifacts / "ui-phone-dark.png"))
    page.emulate_media(color_scheme="light")


def test_video_upload_gets_a_player(page, server):
    sign_in(page, server, server.token_for("video@example.org"))
    page.goto(server.at("/"))
    clip = Path(__file__).resolve().parent.parent / "fixtures" / "tiny.mp4"
    page.set_input_files("#file-input", str(clip))
    card = page.locator("#results li.card")
    expect(card).to_have_count(1)
    video = card.locator("video")
    expect(video).to_have_count(1)
    assert video.get_attribute("src").endswith(".mp4")
    assert video.get_attribute("controls") is not None
    card.locator("button[data-copy=html]").click()
    wait_for(lambda: page.evaluate("navigator.clipboard.readText()").startswith("<video src="), "the HTML is copied")
