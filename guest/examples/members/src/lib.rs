//! An example policy for a members-only install: accounts only for addresses
//! of one mail domain, and a per-user quota of images and bytes, read through
//! the host's `owner-usage` storage capability. Settings:
//!
//! | setting | default | meaning |
//! |---|---|---|
//! | `members.domain` | `example.org` | the only mail domain that may register |
//! | `members.max_images` | 100 | images per user |
//! | `members.max_bytes` | 104857600 | bytes per user |

wit_bindgen::generate!({
    path: "../../../wit",
    world: "policy",
});

use exports::imgbed::policy::api::Guest;
use imgbed::policy::host::{self, Body};
use imgbed::policy::types::{Decision, Media, MediaKind, Piece, PolicyInfo, Principal, Rejection, Span, Upload};
use imgbed_policy::{authz, inspect, naming, refusal::Refusal};

imgbed_policy::policy_glue!();

fn setting_u64(key: &str, default: u64) -> u64 {
    host::setting(key).and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn domain() -> String {
    host::setting("members.domain").unwrap_or_else(|| "example.org".into()).trim().to_ascii_lowercase()
}

struct Members;

impl Guest for Members {
    fn info() -> PolicyInfo {
        PolicyInfo { name: "imgbed-members".into(), version: env!("CARGO_PKG_VERSION").into() }
    }

    fn configure(settings: Vec<(String, String)>) -> Result<(), String> {
        for (key, value) in &settings {
            if (key == "members.max_images" || key == "members.max_bytes") && value.trim().parse::<u64>().is_err() {
                return Err(format!("{key}: expected a whole number, got {value:?}"));
            }
        }
        Ok(())
    }

    fn self_test() -> Result<(), String> {
        if !authz::valid_mail(&format!("someone@{}", domain())) {
            return Err(format!("members.domain {:?} is not a mail domain", domain()));
        }
        Ok(())
    }

    fn inspect(upload: Upload, data: &Body) -> Result<Media, Rejection> {
        let usage = host::owner_usage(&upload.owner);
        let (max_images, max_bytes) =
            (setting_u64("members.max_images", 100), setting_u64("members.max_bytes", 100 << 20));
        if usage.images.saturating_add(1) > max_images || usage.bytes.saturating_add(upload.size) > max_bytes {
            return Err(Rejection {
                status: 403,
                code: "quota_exceeded".into(),
                message: format!("超出配额: 每个用户最多 {max_images} 个文件, {max_bytes} 字节"),
            });
        }
        Ok(inspect::inspect(data, &inspect::Limits::from_settings(host::setting))?.into())
    }

    fn name(upload: Upload, media: Media, rule: String) -> Result<String, Rejection> {
        Ok(naming::name(&rule, &upload.filename, upload.received_at, upload.attempt, &upload.digest, &media.extension)?)
    }

    fn authorize(action: String, principal: Principal, request: Vec<(String, String)>) -> Decision {
        match authz::authorize(&action, &principal.kind, &principal.id, &authz::Facts(&request), &[domain()]) {
            Ok(()) => Decision::Allow,
            Err(refusal) => Decision::Deny(refusal.into()),
        }
    }

    fn strip_metadata(_upload: Upload, data: &Body) -> Result<Option<Vec<Piece>>, Rejection> {
        let pieces = imgbed_policy::metadata::strip(data)?;
        Ok(pieces.map(|p| p.into_iter().map(Into::into).collect()))
    }

    fn thumbnail(_upload: Upload, _data: &Body, _max_width: u32) -> Result<Vec<u8>, Rejection> {
        Err(Refusal::unsupported_thumbnail().into())
    }
}

export!(Members);
