//! A policy written against contract 1.0 (`wit/v1/policy.wit`), the way 1.0 policies were
//! written: the default policy's library behind the 1.0 exports, plus a quota enforced in
//! `inspect` through the 1.0 `owner-usage` import (setting `v1.max_images`), and a
//! `image-exists` probe. Tests swap it in and check it behaves as it did under a 1.0 host.

wit_bindgen::generate!({
    path: "../../../wit/v1",
    world: "policy",
});

use exports::imgbed::policy::api::Guest;
use imgbed::policy::host::{self, Body};
use imgbed::policy::types::{Decision, Media, MediaKind, Piece, PolicyInfo, Principal, Rejection, Span, Upload};
use imgbed_policy::{authz, inspect, naming};

imgbed_policy::policy_glue!();

fn limits() -> inspect::Limits {
    inspect::Limits::from_settings(host::setting)
}

struct V1;

impl Guest for V1 {
    fn info() -> PolicyInfo {
        PolicyInfo { name: "imgbed-v1-test".into(), version: env!("CARGO_PKG_VERSION").into() }
    }

    fn configure(_settings: Vec<(String, String)>) -> Result<(), String> {
        Ok(())
    }

    fn self_test() -> Result<(), String> {
        inspect::inspect(inspect::TINY_PNG, &inspect::Limits::default()).map(|_| ()).map_err(|r| r.message)
    }

    fn inspect(upload: Upload, data: &Body) -> Result<Media, Rejection> {
        let max: u64 = host::setting("v1.max_images").and_then(|v| v.parse().ok()).unwrap_or(u64::MAX);
        if host::owner_usage(&upload.owner).images >= max {
            return Err(Rejection { status: 403, code: "quota_exceeded".into(), message: format!("v1 quota: {max}") });
        }
        Ok(inspect::inspect(data, &limits())?.into())
    }

    fn name(upload: Upload, media: Media, rule: String) -> Result<String, Rejection> {
        if upload.filename.starts_with("exists-") && host::image_exists("anything.png") {
            return Err(Rejection { status: 409, code: "exists".into(), message: "image-exists said yes".into() });
        }
        Ok(naming::name(&rule, &upload.filename, upload.received_at, upload.attempt, &upload.digest, &media.extension)?)
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

    fn thumbnail(_upload: Upload, data: &Body, max_width: u32) -> Result<Vec<u8>, Rejection> {
        imgbed_policy::thumbnail::thumbnail(data, &limits(), max_width).map_err(Into::into)
    }
}

export!(V1);
