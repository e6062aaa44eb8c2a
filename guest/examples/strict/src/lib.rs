//! An example policy: the default decoding and access rules, but only PNG and
//! WebP, at most 2 MiB per file, and always the seed's `md5` names.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "policy",
});

use exports::imgbed::policy::api::Guest;
use imgbed::policy::host::{self, Body};
use imgbed::policy::types::{Decision, Media, MediaKind, Piece, PolicyInfo, Principal, Rejection, Span, Upload};
use imgbed_policy::{authz, inspect, naming, refusal::Refusal};

imgbed_policy::policy_glue!();

/// Largest accepted file.
const MAX_BYTES: u64 = 2 * 1024 * 1024;

fn reject(status: u16, code: &str, message: String) -> Rejection {
    Rejection { status, code: code.into(), message }
}

struct Strict;

impl Guest for Strict {
    fn info() -> PolicyInfo {
        PolicyInfo { name: "imgbed-strict".into(), version: env!("CARGO_PKG_VERSION").into() }
    }

    fn configure(_settings: Vec<(String, String)>) -> Result<(), String> {
        Ok(())
    }

    fn self_test() -> Result<(), String> {
        let name = naming::name("md5", "Hello.PNG", 1795463366.4363468, 0, "", "png").map_err(|r| r.message)?;
        if name != "5a173e2ca11125deab21cb4a50a2a543.png" {
            return Err(format!("md5 rule gave {name}"));
        }
        inspect::inspect(inspect::TINY_PNG, &inspect::Limits::default()).map(|_| ()).map_err(|r| r.message)
    }

    fn inspect(upload: Upload, data: &Body) -> Result<Media, Rejection> {
        if upload.size > MAX_BYTES {
            return Err(reject(413, "too_large", format!("文件过大: 上限 {MAX_BYTES} 字节")));
        }
        let found = inspect::inspect(data, &inspect::Limits::from_settings(host::setting))?;
        if !matches!(found.format, "png" | "webp") {
            return Err(reject(415, "unsupported_type", "不支持的文件类型: 仅支持 png, webp".into()));
        }
        Ok(found.into())
    }

    fn name(upload: Upload, media: Media, _rule: String) -> Result<String, Rejection> {
        Ok(naming::name("md5", &upload.filename, upload.received_at, upload.attempt, &upload.digest, &media.extension)?)
    }

    fn authorize(action: String, principal: Principal, request: Vec<(String, String)>) -> Decision {
        let domains = authz::domains(host::setting("mail_domains"));
        match authz::authorize(&action, &principal.kind, &principal.id, &authz::Facts(&request), &domains) {
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

export!(Strict);
