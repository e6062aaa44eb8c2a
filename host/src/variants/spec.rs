//! What a variant URL asks for: `?w=` (an allowed width) and `?format=` (an allowed
//! format, or `auto` from the `Accept` header), checked against the config's allow-lists.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::config::VariantsConfig;
use crate::error::{ApiError, Code};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jpeg,
    Png,
    /// Lossless WebP.
    Webp,
}

impl Format {
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "jpeg" => Some(Format::Jpeg),
            "png" => Some(Format::Png),
            "webp" => Some(Format::Webp),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
        }
    }
    pub fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Webp => "webp",
        }
    }
    /// Whether `bytes` start the way this format's files start.
    pub fn starts(self, bytes: &[u8]) -> bool {
        match self {
            Format::Jpeg => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
            Format::Png => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            Format::Webp => bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        }
    }
}

/// One variant of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Spec {
    pub width: u32,
    pub format: Format,
}

/// A parsed variant request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asked {
    pub spec: Spec,
    /// The format came from `Accept` (`format=auto`): the answer varies by it.
    pub negotiated: bool,
}

fn not_allowed(detail: String) -> ApiError {
    ApiError::of(Code::VariantNotAllowed).with_detail(detail)
}

/// The variant a query asks for, or None when it asks for the original (no `w`, no
/// `format`). `source_format` is the stored image's format; `accept` the request's header.
pub fn parse(
    query: &HashMap<String, String>,
    accept: Option<&str>,
    source_format: &str,
    config: &VariantsConfig,
) -> Result<Option<Asked>, ApiError> {
    let (w, f) = (query.get("w").map(|v| v.trim()), query.get("format").map(|v| v.trim()));
    if w.is_none() && f.is_none() {
        return Ok(None);
    }
    if !config.enabled {
        return Err(not_allowed("variants are off on this server (variants.enabled)".into()));
    }
    let width = match w {
        None => *config.widths.iter().max().unwrap_or(&1),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if config.widths.contains(&n) => n,
            _ => return Err(not_allowed(format!("w must be one of {:?}, got {v:?}", config.widths))),
        },
    };
    let allowed = |f: Format| config.formats.iter().any(|a| a == f.name());
    let first_allowed = || config.formats.iter().find_map(|f| Format::parse(f)).unwrap_or(Format::Jpeg);
    // The source's own format when it may be asked for (a GIF's first frame goes to PNG).
    let own = match source_format {
        "jpeg" => Format::Jpeg,
        "webp" => Format::Webp,
        _ => Format::Png,
    };
    let (format, negotiated) = match f {
        None | Some("") => (if allowed(own) { own } else { first_allowed() }, false),
        Some("auto") => (negotiate(accept.unwrap_or(""), own, &allowed).unwrap_or_else(first_allowed), true),
        Some(name) => match Format::parse(name).filter(|f| allowed(*f)) {
            Some(f) => (f, false),
            None => {
                return Err(not_allowed(format!(
                    "format must be one of {:?} or \"auto\", got {name:?}",
                    config.formats
                )))
            }
        },
    };
    Ok(Some(Asked { spec: Spec { width, format }, negotiated }))
}

/// Whether `accept` takes `mime`: the quality of its most specific match (`mime`, then
/// `image/*`, then `*/*`) is above 0.
fn accepts(accept: &str, mime: &str) -> bool {
    let mut best: Option<(u8, f32)> = None;
    for item in accept.split(',').take(64) {
        let mut parts = item.split(';');
        let kind = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let specificity = match kind.as_str() {
            k if k == mime => 3,
            "image/*" => 2,
            "*/*" => 1,
            _ => continue,
        };
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()))
            .next()
            .unwrap_or(1.0);
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    best.is_some_and(|(_, q)| q > 0.0)
}

/// `format=auto`: for a photo (a JPEG source) JPEG, the WebP encoder being lossless (a
/// lossless WebP of a photo is several times its JPEG); for other sources (PNG, GIF, WebP)
/// lossless WebP when the client names it (browsers that take it say so), else the
/// source's own format; then whatever is allowed and accepted. No `Accept` (or one that
/// takes no image type) takes anything (RFC 9110): the source's own format, so a
/// transparent PNG never becomes a JPEG on white.
fn negotiate(accept: &str, own: Format, allowed: &dyn Fn(Format) -> bool) -> Option<Format> {
    let named = |f: Format| accept.to_ascii_lowercase().contains(f.mime());
    let photo = own == Format::Jpeg;
    // A photo falls back to JPEG first; anything else to PNG (it may have alpha).
    let formats = match photo {
        true => [own, Format::Jpeg, Format::Png, Format::Webp],
        false => [own, Format::Png, Format::Jpeg, Format::Webp],
    };
    if !formats.iter().any(|f| accepts(accept, f.mime())) {
        return formats.into_iter().find(|f| allowed(*f));
    }
    if !photo && allowed(Format::Webp) && named(Format::Webp) && accepts(accept, Format::Webp.mime()) {
        return Some(Format::Webp);
    }
    formats.into_iter().find(|f| allowed(*f) && accepts(accept, f.mime()))
}

/// The stem every variant of the stored name `name` starts with (names can be 200
/// bytes long: a hash keeps variant names short and safe).
pub fn stem(name: &str) -> String {
    hex::encode(stem_bytes(name))
}

/// The stem as bytes (what [`stem`] spells in hex).
pub fn stem_bytes(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&Sha256::digest(name.as_bytes())[..16]);
    out
}

/// The variant's name in the variant store: the name's stem, the digest of the bytes it
/// was made from (a name reused after a delete never meets an old variant), width, format.
pub fn key(name: &str, digest: &str, spec: Spec) -> String {
    let tag = &digest[..digest.len().min(16)];
    format!("{}.{tag}.{}.{}", stem(name), spec.width, spec.format.extension())
}

/// The stem of a variant key, if the name has a variant key's whole shape: 32 hex
/// digits, a digest tag of 1 to 16 hex digits, a width, an extension (`jpg`, `png`,
/// `webp`), joined by dots. Nothing else in a variant folder is ever taken for one.
pub fn stem_of(key: &str) -> Option<&str> {
    let mut parts = key.split('.');
    let (stem, tag, width, ext) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    let shaped = parts.next().is_none()
        && stem.len() == 32
        && hex(stem)
        && (1..=16).contains(&tag.len())
        && hex(tag)
        && !width.is_empty()
        && width.len() <= 10
        && width.bytes().all(|b| b.is_ascii_digit())
        && ["jpg", "png", "webp"].contains(&ext);
    shaped.then_some(stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn allow_lists_and_defaults() {
        let c = VariantsConfig::default();
        assert_eq!(parse(&q(&[]), None, "png", &c).unwrap(), None);
        let a = parse(&q(&[("w", "640")]), None, "jpeg", &c).unwrap().unwrap();
        assert_eq!((a.spec, a.negotiated), (Spec { width: 640, format: Format::Jpeg }, false));
        let a = parse(&q(&[("w", "320")]), None, "gif", &c).unwrap().unwrap();
        assert_eq!(a.spec.format, Format::Png);
        let a = parse(&q(&[("format", "webp")]), None, "png", &c).unwrap().unwrap();
        assert_eq!(a.spec, Spec { width: 1920, format: Format::Webp });
        for bad in [&[("w", "641")][..], &[("w", "-1")], &[("w", "640"), ("format", "avif")], &[("format", "gif")]] {
            let e = parse(&q(bad), None, "png", &c).unwrap_err();
            assert_eq!((e.status.as_u16(), e.code.as_str()), (400, "variant_not_allowed"), "{bad:?}");
        }
        let mut off = c.clone();
        off.enabled = false;
        assert!(parse(&q(&[("w", "640")]), None, "png", &off).is_err());
    }

    #[test]
    fn auto_picks_from_accept() {
        let c = VariantsConfig::default();
        let auto = |accept: &str, src: &str| parse(&q(&[("w", "640"), ("format", "auto")]), Some(accept), src, &c);
        let chrome = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
        assert_eq!(auto(chrome, "png").unwrap().unwrap().spec.format, Format::Webp);
        assert_eq!(auto(chrome, "gif").unwrap().unwrap().spec.format, Format::Webp);
        assert_eq!(auto(chrome, "jpeg").unwrap().unwrap().spec.format, Format::Jpeg, "photos stay lossy");
        assert!(auto(chrome, "jpeg").unwrap().unwrap().negotiated);
        assert_eq!(auto("image/png,image/*;q=0.8", "jpeg").unwrap().unwrap().spec.format, Format::Jpeg);
        assert_eq!(auto("image/png", "jpeg").unwrap().unwrap().spec.format, Format::Png, "only PNG taken");
        assert_eq!(auto("image/webp;q=0, image/*", "png").unwrap().unwrap().spec.format, Format::Png);
        // No Accept, or none for an image: anything goes, so the source's own format.
        assert_eq!(auto("", "png").unwrap().unwrap().spec.format, Format::Png);
        assert_eq!(auto("text/html", "gif").unwrap().unwrap().spec.format, Format::Png, "a GIF's still");
        assert_eq!(auto("", "jpeg").unwrap().unwrap().spec.format, Format::Jpeg);
        assert_eq!(auto("image/webp", "jpeg").unwrap().unwrap().spec.format, Format::Webp, "only WebP taken");
        let mut no_webp = c.clone();
        no_webp.formats = vec!["jpeg".into()];
        let a = parse(&q(&[("w", "640"), ("format", "auto")]), Some(chrome), "png", &no_webp).unwrap().unwrap();
        assert_eq!(a.spec.format, Format::Jpeg);
        // A WebP (maybe transparent) where WebP is not allowed: PNG before JPEG.
        no_webp.formats = vec!["jpeg".into(), "png".into()];
        let a = parse(&q(&[("w", "640"), ("format", "auto")]), Some(chrome), "webp", &no_webp).unwrap().unwrap();
        assert_eq!(a.spec.format, Format::Png);
    }

    #[test]
    fn keys_are_safe_short_and_tied_to_the_bytes() {
        let spec = Spec { width: 640, format: Format::Webp };
        let long = "a".repeat(200);
        let k = key(&long, &"f".repeat(64), spec);
        assert!(crate::names::is_safe_name(&k), "{k}");
        assert!(k.len() < 64);
        assert_ne!(k, key(&long, &"e".repeat(64), spec));
        assert_eq!(stem_of(&k), Some(stem(&long).as_str()));
        assert_eq!(stem_of("photo.png"), None);
        // Only the whole shape: not an MD5-named photo, nor a variant name with more after it.
        let md5 = "5a173e2ca11125deab21cb4a50a2a543";
        assert_eq!(stem_of(&format!("{md5}.jpg")), None);
        assert_eq!(stem_of(&format!("{md5}.0123.160.gif")), None);
        assert_eq!(stem_of(&format!("{k}.bak")), None);
        assert_eq!(stem_of(&format!("{md5}.0123.160.webp")), Some(md5));
    }
}
