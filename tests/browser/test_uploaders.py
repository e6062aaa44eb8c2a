"""The uploader configs (`GET /api/uploader_config`), each checked twice: its shape, and an
upload performed exactly as the config describes against the real server, after which
its link serves the file and its deletion link deletes it."""

import html
import json
import os
import re
import stat
import subprocess

import pytest
import requests

from conftest import Server, base_config, png

CLIENTS = ["sharex", "picgo", "upic", "flameshot"]


@pytest.fixture(scope="module")
def srv():
    s = Server(base_config())
    yield s
    s.stop()


@pytest.fixture(scope="module")
def token(srv):
    return srv.token_for("configs@example.org")


def config(srv, token, client):
    r = requests.get(srv.at("/api/uploader_config"), params={"client": client},
                     headers={"Authorization": "Bearer " + token}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    assert "attachment" in r.headers["Content-Disposition"]
    return r


def sharex_template(template, answer):
    """Resolves ShareX 14+ `{json:path}` syntax (`files[0].url`) against an answer."""
    def one(m):
        value = answer
        for key, index in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", m.group(1)):
            value = value[key] if key else value[int(index)]
        return str(value)
    return re.sub(r"\{json:([^}]+)\}", one, template)


def served(url, data):
    r = requests.get(url, timeout=10)
    assert r.status_code == 200, (url, r.status_code)
    assert r.content == data


def delete_by_link(srv, image_url, delete_url):
    """Opens the deletion link as a browser would (a page, nothing deleted yet), then sends
    the page's own form."""
    assert delete_url.startswith(srv.url + "/delete/"), delete_url
    page = requests.get(delete_url, timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html"), page.text
    assert "script-src 'none'" in page.headers["Content-Security-Policy"] or "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert requests.get(image_url, timeout=10).status_code == 200, "opening the link deleted the image"
    form = re.search(r'<form method="post" action="([^"]+)">(.*?)</form>', page.text, re.S)
    assert form, page.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(2)))
    fields = {k: html.unescape(v) for k, v in fields.items()}
    done = requests.post(srv.url + html.unescape(form.group(1)), data=fields, timeout=10)
    assert done.status_code == 200, done.text
    gone = requests.get(image_url, timeout=10)
    assert gone.status_code == 404, gone.status_code
    # The link is used up with its image.
    again = requests.post(srv.url + html.unescape(form.group(1)), data=fields, timeout=10)
    assert again.status_code == 404 and again.json()["type"] == "error", again.text


def test_sharex(srv, token, tmp_path):
    r = config(srv, token, "sharex")
    assert r.headers["Content-Disposition"].endswith('.sxcu"')
    sx = r.json()
    assert int(sx["Version"].split(".")[0]) >= 14
    assert sx["RequestMethod"] == "POST"
    assert sx["RequestURL"] == srv.at("/api/image_upload")
    assert sx["Body"] == "MultipartFormData"
    assert sx["FileFormName"] == "file"
    assert sx["Headers"] == {"Authorization": "Bearer " + token}
    assert "ImageUploader" in sx["DestinationType"]
    for key in ("URL", "ThumbnailURL", "DeletionURL"):
        assert sx[key].startswith("{json:"), sx[key]
    # As ShareX sends it.
    data = png(64, 40, 5001)
    answer = requests.request(sx["RequestMethod"], sx["RequestURL"], headers=sx["Headers"],
                              files={sx["FileFormName"]: ("Screenshot.png", data, "image/png")}, timeout=30)
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    url = sharex_template(sx["URL"], doc)
    thumb = sharex_template(sx["ThumbnailURL"], doc)
    deletion = sharex_template(sx["DeletionURL"], doc)
    served(url, data)
    t = requests.get(thumb, timeout=10)
    assert t.status_code == 200 and t.headers["Content-Type"] == "image/png"
    # A refusal shows the API's message.
    bad = requests.post(sx["RequestURL"], headers=sx["Headers"], files={"file": ("x.png", b"nope")}, timeout=10)
    assert sharex_template(sx["ErrorMessage"], bad.json()) == bad.json()["data"]
    delete_by_link(srv, url, deletion)


def test_picgo(srv, token):
    conf = config(srv, token, "picgo").json()
    assert conf["picBed"]["current"] == "web-uploader"
    web = conf["picBed"]["web-uploader"]
    assert web["url"] == srv.at("/api/image_upload")
    assert web["paramName"] == "file"
    headers = json.loads(web["customHeader"])
    assert headers == {"Authorization": "Bearer " + token}
    assert web["customBody"] == ""
    # As the web-uploader plugin does it: POST multipart, the file under paramName, the
    # custom headers, the link found by following jsonPath's dotted keys.
    data = png(33, 21, 5002)
    answer = requests.post(web["url"], headers=headers, files={web["paramName"]: ("picgo.png", data)}, timeout=30)
    assert answer.status_code == 200, answer.text
    value = answer.json()
    for key in web["jsonPath"].split("."):
        value = value[int(key)] if isinstance(value, list) else value[key]
    served(value, data)
    delete_by_link(srv, value, answer.json()["files"][0]["delete_url"])


def test_upic(srv, token):
    hosts = config(srv, token, "upic").json()
    assert isinstance(hosts, list) and len(hosts) == 1
    host = json.loads(hosts[0])
    assert host["type"] == "custom"
    data_conf = json.loads(host["data"])
    assert data_conf["method"] == "POST"
    assert data_conf["url"] == srv.at("/api/image_upload")
    assert data_conf["field"] == "file"
    assert data_conf["domain"] == srv.url
    headers = {h["key"]: h["value"] for h in json.loads(data_conf["headers"])}
    assert headers["Authorization"] == "Bearer " + token
    assert headers["Content-Type"] == "multipart/form-data"
    assert json.loads(data_conf["bodys"]) == []
    path = json.loads(data_conf["resultPath"])
    # As uPic sends it: a multipart form (the boundary is the client's own) with the
    # extra headers.
    data = png(18, 27, 5003)
    send_headers = {k: v for k, v in headers.items() if k != "Content-Type"}
    answer = requests.request(data_conf["method"], data_conf["url"], headers=send_headers,
                              files={data_conf["field"]: ("upic.png", data)}, timeout=30)
    assert answer.status_code == 200, answer.text
    value = answer.json()
    for key in path:
        value = value[key]
    served(value, data)
    delete_by_link(srv, value, answer.json()["files"][0]["delete_url"])


def run_script(script, args, env_path):
    env = {"PATH": env_path, "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(["/bin/sh", str(script), *args], capture_output=True, text=True, env=env, timeout=60)


def test_flameshot_script(srv, token, tmp_path):
    r = config(srv, token, "flameshot")
    assert r.headers["Content-Type"].startswith("text/x-shellscript")
    script = tmp_path / "imgbed-upload.sh"
    script.write_text(r.text)
    assert r.text.startswith("#!/bin/sh\n")
    # The script is valid sh.
    subprocess.run(["sh", "-n", str(script)], check=True)
    # A file given on the command line; only curl from the system (no clipboard tools).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("curl", "sed", "basename", "mktemp", "date", "rm", "cat"):
        found = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        assert found, f"{tool} is not installed"
        (bin_dir / tool).symlink_to(found)
    data = png(25, 25, 5004)
    picture = tmp_path / "shot one.png"
    picture.write_bytes(data)
    done = run_script(script, [str(picture)], str(bin_dir))
    assert done.returncode == 0, done.stderr
    url, deletion = done.stdout.split()
    served(url, data)
    delete_by_link(srv, url, deletion)
    # A screenshot: `flameshot gui --raw` writes the PNG to stdout (a stand-in here).
    shot = png(40, 30, 5005)
    (tmp_path / "shot.png").write_bytes(shot)
    fake = bin_dir / "flameshot"
    fake.write_text(f"#!/bin/sh\n[ \"$1 $2\" = 'gui --raw' ] || exit 9\ncat '{tmp_path / 'shot.png'}'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    done = run_script(script, [], str(bin_dir))
    assert done.returncode == 0, done.stderr
    url, deletion = done.stdout.split()
    served(url, shot)
    listed = requests.get(srv.at("/api/image_list?per_page=1"), headers={"Authorization": "Bearer " + token}).json()
    assert listed["data"][0]["original_name"].startswith("screenshot-")
    delete_by_link(srv, url, deletion)
    # A refusal: the API's message on stderr, a failing exit status.
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    done = run_script(script, [str(junk)], str(bin_dir))
    assert done.returncode == 1 and "unsupported_type" in done.stderr, (done.stdout, done.stderr)


def test_errors_are_the_api_envelope(srv, token):
    def get(params, headers=None):
        r = requests.get(srv.at("/api/uploader_config"), params=params, headers=headers or {}, timeout=10)
        assert r.headers["Content-Type"].startswith("application/json"), r.headers
        return r.status_code, r.json()

    status, body = get({"client": "sharex"})
    assert status == 401 and body["type"] == "forbidden" and body["code"] == "no_authority", body
    status, body = get({"client": "winscp"}, {"Authorization": "Bearer " + token})
    assert status == 400 and body["type"] == "error" and body["code"] == "bad_client", body
    assert isinstance(body["data"], str)
    status, body = get({}, {"Authorization": "Bearer " + token})
    assert status == 400 and body["code"] == "bad_client", body
    status, body = get({"client": "sharex"}, {"Authorization": "Bearer " + srv.admin_token()})
    assert status == 403 and body["type"] == "forbidden", body
    status, body = get({"client": "sharex"}, {"Authorization": "Bearer " + token + "x"})
    assert status == 401 and body["code"] == "invalid_token", body
    for client in CLIENTS:
        assert requests.get(srv.at("/api/uploader_config"), params={"client": client.upper()},
                            headers={"Authorization": "Bearer " + token}, timeout=10).status_code == 200
