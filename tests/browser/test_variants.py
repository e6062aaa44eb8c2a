"""The gallery asks for small variants: a tile of a large image loads a variant made in the
sandbox (`?w=…&format=auto`, lossless WebP for a PNG in Chromium), never the original."""

import requests
from playwright.sync_api import expect

from conftest import png

LOADED = "img => img.complete && img.naturalWidth > 0"


def test_gallery_tiles_load_small_variants(page, server):
    token = server.token_for("variants@example.org")
    [big] = server.upload(token, [("wide.png", png(1000, 500, 7))])
    assert big["srcset"].endswith(" 1000w") and "?w=320&format=auto 320w" in big["srcset"], big["srcset"]
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "/images/" + big["name"] in r.url else None)
    page.goto(server.at("/account"))
    page.fill("#token", token)
    page.click("#signin button")
    expect(page.locator("#me h2")).to_be_visible()
    page.goto(server.at("/gallery"))
    img = page.locator("#grid li.tile img").first
    expect(img).to_have_attribute("srcset", big["srcset"])
    img.scroll_into_view_if_needed()
    page.wait_for_function(LOADED, arg=img.element_handle(), timeout=30000)
    chosen = img.evaluate("img => img.currentSrc")
    assert "?w=" in chosen and "format=auto" in chosen, chosen
    assert int(chosen.split("?w=")[1].split("&")[0]) < 1000, chosen
    assert asked and all("?w=" in url for url in asked), f"the original was fetched: {asked}"
    # What the browser got: a WebP variant (the source is a PNG), not the 1000 px PNG.
    r = requests.get(chosen, headers={"Accept": "image/webp,*/*"}, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "image/webp", r.headers
    assert "accept" in [v.strip().lower() for v in r.headers["vary"].split(",")], r.headers
