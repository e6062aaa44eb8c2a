"""Writes the small seed corpus (corpus-seeds/<target>/) from real encoders (Pillow)
and the repository's video fixtures. Run: python3 make-seeds.py (needs Pillow)."""
import io, os, shutil
from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "corpus-seeds")
FIXTURES = os.path.join(HERE, "..", "..", "tests", "fixtures")


def picture(mode, size=(24, 16)):
    img = Image.new("RGB", size, (200, 40, 40))
    d = ImageDraw.Draw(img)
    d.rectangle((3, 3, size[0] - 5, size[1] - 4), fill=(20, 90, 220))
    d.line((0, 0, size[0], size[1]), fill=(250, 250, 0))
    if mode == "RGBA":
        img = img.convert("RGBA")
        img.putpixel((0, 0), (0, 0, 0, 0))
        return img
    return img.convert(mode)


def exif(orientation):
    e = Image.Exif()
    e[0x0112] = orientation
    e[0x010F] = "ACME"
    return e.tobytes()


def save(target, name, img, **opts):
    buf = io.BytesIO()
    img.save(buf, **opts)
    write(target, name, buf.getvalue())


def write(target, name, data):
    os.makedirs(os.path.join(SEEDS, target), exist_ok=True)
    with open(os.path.join(SEEDS, target, name), "wb") as f:
        f.write(data)


def frames(n, mode="RGB"):
    return [picture(mode).rotate(30 * i) for i in range(n)]


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)
    from PIL import PngImagePlugin
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "seed")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta/>")
    save("png", "rgb.png", picture("RGB"), format="PNG")
    save("png", "rgba-meta.png", picture("RGBA"), format="PNG", pnginfo=info, exif=exif(6))
    save("png", "palette.png", picture("P"), format="PNG", transparency=0)
    save("png", "gray16.png", picture("I;16"), format="PNG")
    save("png", "interlaced.png", picture("L"), format="PNG", interlace=1)
    f = frames(3)
    save("png", "anim.png", f[0], format="PNG", save_all=True, append_images=f[1:], duration=50)
    save("jpeg", "baseline-exif.jpg", picture("RGB"), format="JPEG", exif=exif(6), comment=b"seed")
    save("jpeg", "progressive.jpg", picture("RGB"), format="JPEG", progressive=True, quality=60)
    save("jpeg", "gray.jpg", picture("L"), format="JPEG")
    save("jpeg", "cmyk.jpg", picture("CMYK"), format="JPEG")
    save("jpeg", "subsampled-444.jpg", picture("RGB"), format="JPEG", subsampling=0, restart_marker_blocks=1)
    save("gif", "still.gif", picture("P"), format="GIF")
    f = frames(3, "P")
    save("gif", "anim.gif", f[0], format="GIF", save_all=True, append_images=f[1:], duration=40, loop=0,
         transparency=0)
    save("webp", "lossy.webp", picture("RGB"), format="WEBP", quality=50)
    save("webp", "lossless-alpha.webp", picture("RGBA"), format="WEBP", lossless=True)
    save("webp", "lossy-alpha-exif.webp", picture("RGBA"), format="WEBP", exif=exif(3), xmp=b"<x:xmpmeta/>")
    f = frames(3, "RGBA")
    save("webp", "anim.webp", f[0], format="WEBP", save_all=True, append_images=f[1:], duration=40)
    for name in ("tiny.mp4", "tiny.mov"):
        with open(os.path.join(FIXTURES, name), "rb") as src:
            write("mp4", name, src.read())
    with open(os.path.join(FIXTURES, "tiny.webm"), "rb") as src:
        write("webm", "tiny.webm", src.read())
    for target in ("png", "jpeg", "webp"):
        for name in os.listdir(os.path.join(SEEDS, target)):
            with open(os.path.join(SEEDS, target, name), "rb") as src:
                data = src.read()
            write("strip", name, data)
            write("thumbnail", name, bytes([63]) + data)
            # 64 px wide, each format in turn, a cost limit over any seed's pixels.
            write("variant", name, bytes([63, 255 - len(name) % 3]) + data)
    for name in os.listdir(os.path.join(SEEDS, "gif")):
        with open(os.path.join(SEEDS, "gif", name), "rb") as src:
            data = src.read()
            write("thumbnail", name, bytes([15]) + data)
            write("variant", name, bytes([15, 254]) + data)
    t = (1_700_000_000.123).hex()
    for i, (head, name) in enumerate([(0, "IMG_0001.JPG"), (1, "photo.png"), (2, "Ünïcödé 名前.webp"), (7, "x" * 300)]):
        import struct
        write("naming", f"seed{i}", bytes([head]) + struct.pack("<d", 1_700_000_000.5 + i) + name.encode()
              + b"\n" + bytes.fromhex("9f86d081884c7d659a2feaa0c55ad015").hex().encode())


main()
