//! imgbed's default policy component.
//!
//! Validation (recognise and really decode jpg, png, webp, gif), naming (the
//! seed's `base64` and `md5` rules, plus `content`), and access rules. All
//! parsing of untrusted bytes happens here, inside the host's sandbox.

mod authz;
mod inspect;
mod naming;
mod reader;
mod refusal;

wit_bindgen::generate!({
    path: "../wit",
    world: "policy",
});

use exports::imgbed::policy::api::Guest;
use imgbed::policy::host::{self, Body, LogLevel};
use imgbed::policy::types::{Decision, Media, MediaKind, PolicyInfo, Principal, Rejection, Upload};

use refusal::Refusal;

struct Policy;

impl From<Refusal> for Rejection {
    fn from(r: Refusal) -> Self {
        Rejection { status: r.status, code: r.code.to_string(), message: r.message }
    }
}

impl reader::ReadAt for Body {
    fn size(&self) -> u64 {
        Body::size(self)
    }
    fn read_at(&self, offset: u64, len: u32) -> Vec<u8> {
        self.read(offset, len)
    }
}

fn number<T: std::str::FromStr>(key: &str, default: T) -> T {
    host::setting(key).and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn limits() -> inspect::Limits {
    let d = inspect::Limits::default();
    inspect::Limits {
        max_width: number("max_width", d.max_width),
        max_height: number("max_height", d.max_height),
        max_pixels: number("max_pixels", d.max_pixels),
        max_frames: number("max_frames", d.max_frames),
    }
}

fn media_of(found: inspect::Found) -> Media {
    Media {
        kind: match found.kind {
            inspect::Kind::Image => MediaKind::Image,
            inspect::Kind::Animation => MediaKind::Animation,
        },
        format: found.format.into(),
        extension: found.extension.into(),
        mime: found.mime.into(),
        width: found.width,
        height: found.height,
        frames: found.frames,
        duration_ms: found.duration_ms,
    }
}

/// A 1x1 PNG used by the self-test.
const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D,
    0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

impl Guest for Policy {
    fn info() -> PolicyInfo {
        PolicyInfo { name: "imgbed-default".into(), version: env!("CARGO_PKG_VERSION").into() }
    }

    fn configure(settings: Vec<(String, String)>) -> Result<(), String> {
        for (key, value) in &settings {
            match key.as_str() {
                "image_rule" if !naming::RULES.contains(&value.as_str()) => {
                    return Err(format!("image_rule: unknown rule {value:?}, expected one of {:?}", naming::RULES));
                }
                "max_width" | "max_height" | "max_frames" if value.parse::<u32>().is_err() => {
                    return Err(format!("{key}: expected a whole number, got {value:?}"));
                }
                "max_pixels" if value.parse::<u64>().is_err() => {
                    return Err(format!("{key}: expected a whole number, got {value:?}"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn self_test() -> Result<(), String> {
        // The seed's documented example, with the path-safe alphabet.
        let got = naming::name("base64", "Hello.PNG", 1795463366.4363468, 0, "", "png").map_err(|r| r.message)?;
        if got != "aGVsbG8ucG5nMTc5NTQ2MzM2Ni40MzYzNDY4.png" {
            return Err(format!("base64 rule gave {got}"));
        }
        let found = inspect::inspect(TINY_PNG, &inspect::Limits::default()).map_err(|r| r.message)?;
        if (found.width, found.height, found.format) != (1, 1, "png") {
            return Err(format!("tiny png inspected as {found:?}"));
        }
        if inspect::inspect(&TINY_PNG[..40], &inspect::Limits::default()).is_ok() {
            return Err("a truncated png was accepted".into());
        }
        Ok(())
    }

    fn inspect(upload: Upload, data: &Body) -> Result<Media, Rejection> {
        match inspect::inspect(data, &limits()) {
            Ok(found) => Ok(media_of(found)),
            Err(refusal) => {
                host::log(LogLevel::Info, &format!("refused {:?}: {}", upload.filename, refusal.message));
                Err(refusal.into())
            }
        }
    }

    fn name(upload: Upload, media: Media, rule: String) -> Result<String, Rejection> {
        naming::name(&rule, &upload.filename, upload.received_at, upload.attempt, &upload.digest, &media.extension)
            .map_err(Into::into)
    }

    fn authorize(action: String, principal: Principal, request: Vec<(String, String)>) -> Decision {
        let domains: Vec<String> = host::setting("mail_domains")
            .map(|v| v.split(',').map(|d| d.trim().to_ascii_lowercase()).filter(|d| !d.is_empty()).collect())
            .unwrap_or_default();
        match authz::authorize(&action, &principal.kind, &principal.id, &authz::Facts(&request), &domains) {
            Ok(()) => Decision::Allow,
            Err(refusal) => Decision::Deny(refusal.into()),
        }
    }

    fn thumbnail(_upload: Upload, _data: &Body, _max_width: u32) -> Result<Vec<u8>, Rejection> {
        Err(Refusal::unsupported_thumbnail().into())
    }
}

export!(Policy);
