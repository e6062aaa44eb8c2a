//! The default policy as a component: bindings, and the WIT exports wired to
//! the library modules.

wit_bindgen::generate!({
    path: "../wit",
    world: "policy",
});

use exports::imgbed::policy::api::Guest;
use imgbed::policy::host::{self, Body, LogLevel};
use imgbed::policy::types::{Decision, Media, MediaKind, Piece, PolicyInfo, Principal, Rejection, Span, Upload};

use crate::{authz, inspect, naming};

struct Policy;

crate::policy_glue!();

fn limits() -> inspect::Limits {
    inspect::Limits::from_settings(host::setting)
}

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
                "max_width" | "max_height" | "max_frames" | "video_max_width" | "video_max_height"
                    if value.parse::<u32>().is_err() =>
                {
                    return Err(format!("{key}: expected a whole number, got {value:?}"));
                }
                "max_pixels" | "video_max_duration_s" if value.parse::<u64>().is_err() => {
                    return Err(format!("{key}: expected a whole number, got {value:?}"));
                }
                "video" if value.parse::<bool>().is_err() => {
                    return Err(format!("{key}: expected true or false, got {value:?}"));
                }
                "video_formats" => {
                    crate::video::Formats::parse(value).map(|_| ()).map_err(|e| format!("{key}: {e}"))?
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
        let found = inspect::inspect(inspect::TINY_PNG, &inspect::Limits::default()).map_err(|r| r.message)?;
        if (found.width, found.height, found.format) != (1, 1, "png") {
            return Err(format!("tiny png inspected as {found:?}"));
        }
        if inspect::inspect(&inspect::TINY_PNG[..40], &inspect::Limits::default()).is_ok() {
            return Err("a truncated png was accepted".into());
        }
        Ok(())
    }

    fn inspect(upload: Upload, data: &Body) -> Result<Media, Rejection> {
        match inspect::inspect(data, &limits()) {
            Ok(found) => Ok(found.into()),
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
        let domains = authz::domains(host::setting("mail_domains"));
        match authz::authorize(&action, &principal.kind, &principal.id, &authz::Facts(&request), &domains) {
            Ok(()) => Decision::Allow,
            Err(refusal) => Decision::Deny(refusal.into()),
        }
    }

    fn strip_metadata(_upload: Upload, data: &Body) -> Result<Option<Vec<Piece>>, Rejection> {
        let pieces = crate::metadata::strip(data)?;
        Ok(pieces.map(|p| p.into_iter().map(Into::into).collect()))
    }

    fn thumbnail(_upload: Upload, data: &Body, max_width: u32) -> Result<Vec<u8>, Rejection> {
        crate::thumbnail::thumbnail(data, &limits(), max_width).map_err(Into::into)
    }
}

export!(Policy);
