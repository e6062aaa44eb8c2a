//! Files made for the property tests: every format the policy reads, with random
//! sizes, pixels and (where the format has it) metadata, each declaring its own end.

use crate::metadata::exif;

/// A small deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next() % u64::from(hi - lo + 1)) as u32
    }
    pub fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    /// `lo..=hi` random bytes.
    pub fn some(&mut self, lo: u32, hi: u32) -> Vec<u8> {
        let n = self.range(lo, hi);
        self.bytes(n as usize)
    }
}

/// A TIFF block with the orientation and a few more tags (camera make, GPS pointer).
fn exif_block(rng: &mut Rng) -> Vec<u8> {
    let mut tiff = exif::minimal(rng.range(1, 8) as u16);
    // A second IFD0 entry: Make (ASCII, 4 bytes inline). Entry count 1 -> 2, then fix the next-IFD offset.
    tiff[8..10].copy_from_slice(&2u16.to_be_bytes());
    tiff.truncate(22);
    tiff.extend_from_slice(&[0x01, 0x0F, 0, 2, 0, 0, 0, 4]);
    tiff.extend_from_slice(b"ACME");
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
    out
}

/// A PNG with text, EXIF and private chunks around its image data.
/// `junk`: bytes after the end, which stripping drops (absent for the prefix tests).
pub fn png(rng: &mut Rng, junk: bool) -> Vec<u8> {
    let (w, h) = (rng.range(1, 16), rng.range(1, 16));
    let (color, channels) =
        [(png::ColorType::Rgb, 3), (png::ColorType::Rgba, 4), (png::ColorType::Grayscale, 1)][rng.range(0, 2) as usize];
    let mut plain = Vec::new();
    let mut enc = png::Encoder::new(&mut plain, w, h);
    enc.set_color(color);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().expect("png header");
    writer.write_image_data(&rng.bytes((w * h * channels) as usize)).expect("png data");
    writer.finish().expect("png end");
    // Signature and IHDR (8 + 25 bytes), then the rest.
    let (head, rest) = plain.split_at(33);
    let iend = rest.len() - 12;
    let mut bytes = head.to_vec();
    bytes.extend(png_chunk(b"tEXt", b"Comment\0made by a test"));
    if rng.coin() {
        bytes.extend(png_chunk(b"eXIf", &exif_block(rng)));
    }
    if rng.coin() {
        bytes.extend(png_chunk(b"gAMA", &45455u32.to_be_bytes()));
    }
    bytes.extend(png_chunk(b"prVt", &rng.some(0, 20)));
    bytes.extend_from_slice(&rest[..iend]);
    if rng.coin() {
        bytes.extend(png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta/>"));
    }
    bytes.extend_from_slice(&rest[iend..]);
    if junk {
        bytes.extend(rng.some(1, 9));
    }
    bytes
}

/// A baseline JPEG with Exif, XMP, Photoshop, MPF and comment segments.
pub fn jpeg(rng: &mut Rng, junk: bool) -> Vec<u8> {
    let (w, h) = (rng.range(1, 24) as u16, rng.range(1, 24) as u16);
    let gray = rng.coin();
    let (color, channels) = if gray { (jpeg_encoder::ColorType::Luma, 1) } else { (jpeg_encoder::ColorType::Rgb, 3) };
    let mut plain = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut plain, rng.range(40, 95) as u8);
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend(exif_block(rng));
    enc.add_app_segment(1, exif).expect("exif");
    enc.add_app_segment(1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>".to_vec()).expect("xmp");
    if rng.coin() {
        enc.add_app_segment(13, b"Photoshop 3.0\08BIM\x04\x04\0\0\0\0\0\0".to_vec()).expect("iptc");
    }
    if rng.coin() {
        enc.add_app_segment(2, b"MPF\0II*\0".to_vec()).expect("mpf");
    }
    if rng.coin() {
        enc.add_icc_profile(&rng.bytes(64)).expect("icc");
    }
    enc.encode(&rng.bytes(usize::from(w) * usize::from(h) * channels), w, h, color).expect("jpeg");
    // A comment right after SOI.
    let mut bytes = plain[..2].to_vec();
    bytes.extend_from_slice(&[0xFF, 0xFE, 0, 9]);
    bytes.extend_from_slice(b"comment");
    bytes.extend_from_slice(&plain[2..]);
    if junk {
        bytes.extend(rng.some(1, 9));
    }
    bytes
}

/// A lossless WebP, in the extended format with ICC, EXIF, XMP and a private chunk
/// when `extended`, else the simple one.
pub fn webp(rng: &mut Rng, extended: bool, junk: bool) -> Vec<u8> {
    let (w, h) = (rng.range(1, 16), rng.range(1, 16));
    let alpha = rng.coin();
    let (color, channels) = if alpha { (image_webp::ColorType::Rgba8, 4) } else { (image_webp::ColorType::Rgb8, 3) };
    let mut bytes = Vec::new();
    let mut enc = image_webp::WebPEncoder::new(&mut bytes);
    if extended {
        if rng.coin() {
            enc.set_icc_profile(rng.bytes(40));
        }
        enc.set_exif_metadata(exif_block(rng));
        enc.set_xmp_metadata(b"<x:xmpmeta/>".to_vec());
    }
    enc.encode(&rng.bytes((w * h * channels) as usize), w, h, color).expect("webp");
    if extended {
        let extra = rng.some(0, 9);
        bytes.extend_from_slice(b"prVt");
        bytes.extend_from_slice(&(extra.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&extra);
        if extra.len() % 2 == 1 {
            bytes.push(0);
        }
        let riff = (bytes.len() - 8) as u32;
        bytes[4..8].copy_from_slice(&riff.to_le_bytes());
    }
    if junk {
        bytes.extend(rng.some(1, 9));
    }
    bytes
}

/// A GIF of one to three frames, ended by its trailer.
pub fn gif(rng: &mut Rng) -> Vec<u8> {
    let (w, h) = (rng.range(1, 16) as u16, rng.range(1, 16) as u16);
    let palette = rng.bytes(3 * 4);
    let mut out = Vec::new();
    {
        let mut enc = gif::Encoder::new(&mut out, w, h, &palette).expect("gif");
        for _ in 0..rng.range(1, 3) {
            let delay = rng.range(1, 10) as u16;
            let buffer: Vec<u8> = (0..usize::from(w) * usize::from(h)).map(|_| rng.range(0, 3) as u8).collect();
            let frame = gif::Frame { width: w, height: h, delay, buffer: buffer.into(), ..Default::default() };
            enc.write_frame(&frame).expect("gif frame");
        }
    }
    out
}

fn mp4_box(kind: &[u8; 4], body: &[u8], large: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if large {
        out.extend_from_slice(&1u32.to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(&(16 + body.len() as u64).to_be_bytes());
    } else {
        out.extend_from_slice(&(8 + body.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
    }
    out.extend_from_slice(body);
    out
}

/// An mp4 or mov file with one video track, its last top-level box moov or mdat.
pub fn mp4(rng: &mut Rng) -> Vec<u8> {
    let b = |kind: &[u8; 4], body: &[u8]| mp4_box(kind, body, false);
    let (w, h) = (rng.range(1, 1920), rng.range(1, 1080));
    let mut ftyp = if rng.coin() { b"isom\0\0\x02\0isomavc1mp41".to_vec() } else { b"qt  \0\0\x02\0qt  ".to_vec() };
    ftyp.extend(rng.some(0, 2).repeat(4).iter().map(|c| b'a' + c % 26));
    let mut mvhd = vec![0u8; 100];
    mvhd[12..16].copy_from_slice(&1000u32.to_be_bytes());
    mvhd[16..20].copy_from_slice(&rng.range(1, 60_000).to_be_bytes());
    let mut tkhd = vec![0u8; 84];
    tkhd[76..80].copy_from_slice(&(w << 16).to_be_bytes());
    tkhd[80..84].copy_from_slice(&(h << 16).to_be_bytes());
    let mut mdhd = vec![0u8; 24];
    mdhd[12..16].copy_from_slice(&90_000u32.to_be_bytes());
    let hdlr = [&[0u8; 8][..], b"vide", &[0u8; 13]].concat();
    let mut entry = vec![0u8; 78];
    entry[24..26].copy_from_slice(&(w as u16).to_be_bytes());
    entry[26..28].copy_from_slice(&(h as u16).to_be_bytes());
    let codec: &[u8; 4] = [b"avc1", b"hvc1", b"vp09", b"av01"][rng.range(0, 3) as usize];
    let stsd = [&[0, 0, 0, 0, 0, 0, 0, 1][..], &b(codec, &entry)].concat();
    let stbl = b(b"stbl", &b(b"stsd", &stsd));
    let minf = b(b"minf", &[b(b"vmhd", &[0; 12]), stbl].concat());
    let mdia = b(b"mdia", &[b(b"mdhd", &mdhd), b(b"hdlr", &hdlr), minf].concat());
    let trak = b(b"trak", &[b(b"tkhd", &tkhd), mdia].concat());
    let moov = b(b"moov", &[b(b"mvhd", &mvhd), trak].concat());
    let mdat = mp4_box(b"mdat", &rng.some(0, 64), rng.coin());
    let free = b(b"free", &rng.some(0, 8));
    let mut out = b(b"ftyp", &ftyp);
    let tail = if rng.coin() { [moov, free, mdat] } else { [mdat, free, moov] };
    tail.iter().for_each(|x| out.extend_from_slice(x));
    out
}

/// An EBML element with its size written in `width` bytes (1..=8).
fn ebml(id: u32, body: &[u8], width: usize) -> Vec<u8> {
    let id = id.to_be_bytes();
    let mut out = id[id.iter().position(|&b| b != 0).expect("id")..].to_vec();
    let size = (body.len() as u64) | 1u64 << (7 * width);
    out.extend_from_slice(&size.to_be_bytes()[8 - width..]);
    out.extend_from_slice(body);
    out
}

/// A WebM file with one video track and one cluster in a segment of known size.
pub fn webm(rng: &mut Rng) -> Vec<u8> {
    let block = vec![0x81; rng.range(0, 40) as usize];
    // Each size field gets a random width; only the segment needs two bytes or more.
    let widths: Vec<usize> = (0..32).map(|_| rng.range(1, 8) as usize).collect();
    let next = std::cell::Cell::new(0);
    let e = |id: u32, body: &[u8]| {
        next.set(next.get() + 1);
        ebml(id, body, widths[next.get() - 1].max(if id == 0x1853_8067 { 2 } else { 1 }))
    };
    let header = e(0x1A45_DFA3, &[e(0x4286, &[1]), e(0x4282, b"webm"), e(0x4287, &[4])].concat());
    let info =
        e(0x1549_A966, &[e(0x2A_D7B1, &1_000_000u32.to_be_bytes()), e(0x4489, &1234.0f64.to_be_bytes())].concat());
    let video = e(0xE0, &[e(0xB0, &[1, 64]), e(0xBA, &[48])].concat());
    let entry = [e(0xD7, &[1]), e(0x83, &[1]), e(0x86, b"V_VP9"), video].concat();
    let tracks = e(0x1654_AE6B, &e(0xAE, &entry));
    let void = e(0xEC, &[0; 3]);
    let cluster = e(0x1F43_B675, &[e(0xE7, &[0]), e(0xA3, &block)].concat());
    let segment = e(0x1853_8067, &[info, void, tracks, cluster].concat());
    [header, segment].concat()
}
