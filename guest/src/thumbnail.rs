//! Thumbnails: decode the first frame to RGBA, shrink by area averaging (never
//! enlarge), encode as PNG. Runs in the sandbox like every other parse.

use crate::inspect::{self, Limits};
use crate::reader::{OffsetReader, ReadAt};
use crate::refusal::Refusal;

/// An RGBA8 image.
pub struct Rgba {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// A PNG thumbnail at most `max_width` wide (aspect kept, never enlarged), turned
/// the way the EXIF orientation says the image is shown.
pub fn thumbnail<S: ReadAt + ?Sized>(source: &S, limits: &Limits, max_width: u32) -> Result<Vec<u8>, Refusal> {
    // Videos (no decoder here) and unknown bytes are refused by the probe.
    let found = inspect::probe(source, limits).map_err(|r| match r.status {
        415 => Refusal::unsupported_thumbnail(),
        _ => r,
    })?;
    let image = decode(source, found.format)?;
    let transposed = matches!(found.orientation, 5..=8);
    // Fit the shown (possibly turned) size, then resize the stored pixels to match.
    let (shown_w, shown_h) = if transposed { (image.height, image.width) } else { (image.width, image.height) };
    let (tw, th) = fit(shown_w, shown_h, max_width.max(1));
    let small = if transposed { resize(&image, th, tw) } else { resize(&image, tw, th) };
    encode_png(&orient(&small, found.orientation))
}

/// Size at most `max_width` wide with the aspect kept; never larger than the original.
pub fn fit(width: u32, height: u32, max_width: u32) -> (u32, u32) {
    if width <= max_width {
        return (width, height);
    }
    let h = ((u64::from(height) * u64::from(max_width) + u64::from(width) / 2) / u64::from(width)).max(1) as u32;
    (max_width, h)
}

/// Turns stored pixels into shown pixels for an EXIF orientation (1..=8).
pub fn orient(img: &Rgba, orientation: u16) -> Rgba {
    let (w, h) = (img.width as usize, img.height as usize);
    if !(2..=8).contains(&orientation) {
        return Rgba { width: img.width, height: img.height, pixels: img.pixels.clone() };
    }
    let transposed = orientation >= 5;
    let (ow, oh) = if transposed { (h, w) } else { (w, h) };
    let mut pixels = vec![0u8; w * h * 4];
    for y in 0..oh {
        for x in 0..ow {
            // Where the shown pixel (x, y) comes from in the stored image.
            let (sx, sy) = match orientation {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                _ => (w - 1 - y, x),
            };
            let src = (sy * w + sx) * 4;
            let dst = (y * ow + x) * 4;
            pixels[dst..dst + 4].copy_from_slice(&img.pixels[src..src + 4]);
        }
    }
    Rgba { width: ow as u32, height: oh as u32, pixels }
}

fn bad(format: &str, e: impl std::fmt::Display) -> Refusal {
    Refusal::corrupt(format, e)
}

fn decode<S: ReadAt + ?Sized>(source: &S, format: &str) -> Result<Rgba, Refusal> {
    let reader = OffsetReader::new(source);
    match format {
        "png" => {
            let mut d = png::Decoder::new(reader);
            d.set_transformations(png::Transformations::normalize_to_color8());
            let mut r = d.read_info().map_err(|e| bad("png", e))?;
            let mut buf = vec![0; r.output_buffer_size().ok_or_else(|| Refusal::too_big("png"))?];
            let info = r.next_frame(&mut buf).map_err(|e| bad("png", e))?;
            let channels = match info.color_type {
                png::ColorType::Grayscale => 1,
                png::ColorType::GrayscaleAlpha => 2,
                png::ColorType::Rgb => 3,
                _ => 4,
            };
            let mut pixels = Vec::with_capacity(info.width as usize * info.height as usize * 4);
            for row in buf.chunks(info.line_size).take(info.height as usize) {
                for px in row[..info.width as usize * channels].chunks(channels) {
                    pixels.extend_from_slice(&match channels {
                        1 => [px[0], px[0], px[0], 255],
                        2 => [px[0], px[0], px[0], px[1]],
                        3 => [px[0], px[1], px[2], 255],
                        _ => [px[0], px[1], px[2], px[3]],
                    });
                }
            }
            Ok(Rgba { width: info.width, height: info.height, pixels })
        }
        "jpeg" => {
            let mut d = jpeg_decoder::Decoder::new(reader);
            let data = d.decode().map_err(|e| bad("jpeg", e))?;
            let info = d.info().ok_or_else(|| bad("jpeg", "no header"))?;
            let pixels: Vec<u8> = match info.pixel_format {
                jpeg_decoder::PixelFormat::L8 => data.iter().flat_map(|&l| [l, l, l, 255]).collect(),
                jpeg_decoder::PixelFormat::L16 => data.chunks(2).flat_map(|l| [l[0], l[0], l[0], 255]).collect(),
                jpeg_decoder::PixelFormat::RGB24 => data.chunks(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
                jpeg_decoder::PixelFormat::CMYK32 => data
                    .chunks(4)
                    .flat_map(|p| {
                        let k = u16::from(p[3]);
                        let ch = |c: u8| (u16::from(c) * k / 255) as u8;
                        [ch(p[0]), ch(p[1]), ch(p[2]), 255]
                    })
                    .collect(),
            };
            Ok(Rgba { width: u32::from(info.width), height: u32::from(info.height), pixels })
        }
        "gif" => {
            let mut options = gif::DecodeOptions::new();
            options.set_color_output(gif::ColorOutput::RGBA);
            let mut d = options.read_info(reader).map_err(|e| bad("gif", e))?;
            let (width, height) = (u32::from(d.width()), u32::from(d.height()));
            let mut pixels = vec![0u8; width as usize * height as usize * 4];
            if let Some(frame) = d.read_next_frame().map_err(|e| bad("gif", e))? {
                let (fw, fh) = (usize::from(frame.width), usize::from(frame.height));
                for y in 0..fh {
                    let cy = y + usize::from(frame.top);
                    if cy >= height as usize {
                        break;
                    }
                    for x in 0..fw {
                        let cx = x + usize::from(frame.left);
                        if cx >= width as usize {
                            break;
                        }
                        let src = (y * fw + x) * 4;
                        let dst = (cy * width as usize + cx) * 4;
                        pixels[dst..dst + 4].copy_from_slice(&frame.buffer[src..src + 4]);
                    }
                }
            }
            Ok(Rgba { width, height, pixels })
        }
        "webp" => {
            let riff = crate::metadata::webp::check(source)?;
            let mut d = image_webp::WebPDecoder::new(OffsetReader::new(&riff)).map_err(|e| bad("webp", e))?;
            let (width, height) = d.dimensions();
            let alpha = d.has_alpha();
            let mut buf = vec![0u8; d.output_buffer_size().ok_or_else(|| Refusal::too_big("webp"))?];
            if d.is_animated() {
                d.read_frame(&mut buf).map_err(|e| bad("webp", e))?;
            } else {
                d.read_image(&mut buf).map_err(|e| bad("webp", e))?;
            }
            let pixels = if alpha { buf } else { buf.chunks(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect() };
            Ok(Rgba { width, height, pixels })
        }
        other => Err(Refusal::corrupt(other, "no thumbnail for this format")),
    }
}

/// Resizes to `tw` x `th` (not larger) by averaging each target pixel's source area.
pub fn resize(img: &Rgba, tw: u32, th: u32) -> Rgba {
    if tw >= img.width && th >= img.height {
        return Rgba { width: img.width, height: img.height, pixels: img.pixels.clone() };
    }
    let (sw, sh) = (img.width as usize, img.height as usize);
    let mut out = vec![0u8; tw as usize * th as usize * 4];
    for ty in 0..th as usize {
        let y0 = ty * sh / th as usize;
        let y1 = ((ty + 1) * sh / th as usize).max(y0 + 1);
        for tx in 0..tw as usize {
            let x0 = tx * sw / tw as usize;
            let x1 = ((tx + 1) * sw / tw as usize).max(x0 + 1);
            let mut acc = [0u64; 4];
            for y in y0..y1 {
                let row = &img.pixels[(y * sw + x0) * 4..(y * sw + x1) * 4];
                for px in row.chunks(4) {
                    for c in 0..4 {
                        acc[c] += u64::from(px[c]);
                    }
                }
            }
            let n = ((y1 - y0) * (x1 - x0)) as u64;
            let dst = (ty * tw as usize + tx) * 4;
            for c in 0..4 {
                out[dst + c] = (acc[c] / n) as u8;
            }
        }
    }
    Rgba { width: tw, height: th, pixels: out }
}

fn encode_png(img: &Rgba) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::new();
    let fail = |e: png::EncodingError| Refusal::corrupt("png", e);
    let mut enc = png::Encoder::new(&mut out, img.width, img.height);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(fail)?;
    w.write_image_data(&img.pixels).map_err(fail)?;
    w.finish().map_err(fail)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2x1 image: red then blue.
    fn red_blue() -> Rgba {
        Rgba { width: 2, height: 1, pixels: vec![255, 0, 0, 255, 0, 0, 255, 255] }
    }

    #[test]
    fn orientations_turn_the_pixels() {
        let img = red_blue();
        let red = [255, 0, 0, 255];
        let blue = [0, 0, 255, 255];
        type Case = (u16, (u32, u32), [[u8; 4]; 2]);
        let cases: [Case; 8] = [
            (1, (2, 1), [red, blue]),
            (2, (2, 1), [blue, red]),
            (3, (2, 1), [blue, red]),
            (4, (2, 1), [red, blue]),
            (5, (1, 2), [red, blue]),
            (6, (1, 2), [red, blue]),
            (7, (1, 2), [blue, red]),
            (8, (1, 2), [blue, red]),
        ];
        for (o, size, order) in cases {
            let out = orient(&img, o);
            assert_eq!((out.width, out.height), size, "orientation {o}");
            assert_eq!(&out.pixels[0..4], &order[0], "orientation {o}");
            assert_eq!(&out.pixels[4..8], &order[1], "orientation {o}");
        }
    }

    #[test]
    fn fit_never_enlarges() {
        assert_eq!(fit(100, 50, 300), (100, 50));
        assert_eq!(fit(600, 400, 300), (300, 200));
        assert_eq!(fit(60000, 1, 300), (300, 1));
    }
}
