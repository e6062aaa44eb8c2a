//! What the default policy does, one function per export: the defaults of
//! [`crate::Policy`], and building blocks for policies that adjust them.

use imgbed_policy::{authz, inspect, metadata, naming, refusal::Refusal, thumbnail, variant};

use crate::{
    fixtures, host, Action, Body, Facts, Judgement, LogLevel, MadeVariant, Media, MediaKind, Principal, PrincipalKind,
    Proof, Rejection, RequestedAction, Thumbnail, Upload, VariantFormat, VariantRequest, Verdict, Wanted,
};

/// The decoding limits from the host's settings (`max_width`, `max_pixels`, `video`, ...).
pub fn limits() -> inspect::Limits {
    inspect::Limits::from_settings(host::setting)
}

/// The dotted name of an action, as the access rules (and 1.0 policies) know it:
/// `image.upload`, `admin.remove-user`, ...; an `other` action as the host sent it.
pub fn action_name(action: &RequestedAction) -> String {
    let known = match action {
        RequestedAction::Other(name) => return name.clone(),
        RequestedAction::Known(a) => a,
    };
    match known {
        Action::ImageUpload => "image.upload",
        Action::ImageList => "image.list",
        Action::ImageInfo => "image.info",
        Action::ImageFormat => "image.format",
        Action::ImageDelete => "image.delete",
        Action::ImageVariant => "image.variant",
        Action::AccountRegister => "account.register",
        Action::AccountRecover => "account.recover",
        Action::AccountRemove => "account.remove",
        Action::AccountUploaderConfig => "account.uploader-config",
        Action::AdminUsers => "admin.users",
        Action::AdminRemoveUser => "admin.remove-user",
        Action::AdminInitDb => "admin.init-db",
    }
    .into()
}

/// The name of a principal kind: "anonymous", "user" or "admin".
pub fn kind_name(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::Anonymous => "anonymous",
        PrincipalKind::User => "user",
        PrincipalKind::Admin => "admin",
    }
}

/// The facts as key/value pairs (`owner`, `name`, `mail`, `via`, `jwt`, then the extras),
/// as the access rules of the library read them.
pub fn fact_pairs(facts: &Facts) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut put = |k: &str, v: Option<&String>| {
        if let Some(v) = v {
            pairs.push((k.to_string(), v.clone()));
        }
    };
    put("owner", facts.owner.as_ref());
    put("name", facts.image.as_ref());
    put("mail", facts.mail.as_ref());
    if let Some(proof) = facts.proof {
        let via = match proof {
            Proof::Token => "token",
            Proof::CheckCode => "check",
        };
        pairs.push(("via".into(), via.into()));
    }
    pairs.push(("jwt".into(), facts.jwt.to_string()));
    pairs.extend(facts.extra.iter().cloned());
    pairs
}

/// The mail domains registration is limited to: the host's `mail_domains` setting
/// (comma-separated, trimmed, lower-cased); empty when any domain may register.
pub fn mail_domains() -> Vec<String> {
    authz::domains(host::setting("mail_domains"))
}

/// The default access rules (`imgbed_policy::authz`): admins administer, users manage
/// their own images (someone else's is "not found"), account actions are open to anyone
/// with an acceptable mail address (`mail_domains` restricts registration); actions the
/// contract does not name (`other`) are refused.
pub fn authorize(action: &RequestedAction, principal: &Principal, facts: &Facts) -> Result<(), Rejection> {
    authorize_with_domains(action, principal, facts, &mail_domains())
}

/// The default access rules of [`authorize`], with registration limited to `domains`
/// (case-insensitive; empty: any domain) instead of the `mail_domains` setting. To add
/// domains to the setting's rather than replace them, pass [`mail_domains`] extended.
pub fn authorize_with_domains(
    action: &RequestedAction,
    principal: &Principal,
    facts: &Facts,
    domains: &[String],
) -> Result<(), Rejection> {
    // An action this contract does not name: refused until a policy says otherwise.
    if let RequestedAction::Other(_) = action {
        return Err(Refusal::forbidden().into());
    }
    let pairs = fact_pairs(facts);
    authz::authorize(&action_name(action), kind_name(principal.kind), &principal.id, &authz::Facts(&pairs), domains)
        .map_err(Into::into)
}

/// Strips metadata when asked (and there is any), else decodes the file and makes the
/// thumbnail if one is wanted (none for videos; a file the thumbnailer cannot shrink
/// gets none, and is still accepted).
pub fn judge(file: &Upload, data: &Body, wanted: &Wanted) -> Result<Judgement, Rejection> {
    if wanted.strip {
        if let Some(pieces) = metadata::strip(data)? {
            return Ok(Judgement::Stripped(pieces.into_iter().map(Into::into).collect()));
        }
    }
    let limits = limits();
    let found = inspect::inspect(data, &limits).map_err(|refusal| {
        host::log(LogLevel::Info, &format!("refused {:?}: {}", file.filename, refusal.message));
        Rejection::from(refusal)
    })?;
    let media: Media = found.into();
    let thumbnail = match wanted.thumbnail_width {
        None => Thumbnail::NotAsked,
        Some(_) if media.kind == MediaKind::Video => Thumbnail::NotSupported,
        Some(width) => match thumbnail::thumbnail(data, &limits, width) {
            Ok(png) => Thumbnail::Made(png),
            Err(refusal) => {
                host::log(LogLevel::Warn, &format!("no thumbnail of {:?}: {}", file.filename, refusal.message));
                Thumbnail::NotSupported
            }
        },
    };
    Ok(Judgement::Judged(Verdict { media, thumbnail }))
}

/// The library's variant maker (`imgbed_policy::variant`) within the host's decoding
/// limits: the first frame, turned by its EXIF orientation, shrunk with Lanczos3 (never
/// enlarged), the ICC profile carried over; JPEG, PNG or lossless WebP. A source costing
/// more than `request.max-cost` (pixels × frames decoded) is refused with a 422.
pub fn make_variant(_file: &Upload, data: &Body, request: &VariantRequest) -> Result<MadeVariant, Rejection> {
    let format = match request.format {
        VariantFormat::Jpeg => variant::Format::Jpeg,
        VariantFormat::Png => variant::Format::Png,
        VariantFormat::Webp => variant::Format::Webp,
    };
    let asked = variant::Request { width: request.width, format, quality: request.quality, max_cost: request.max_cost };
    let made = variant::make(data, &limits(), &asked)?;
    Ok(MadeVariant { bytes: made.bytes, width: made.width, height: made.height })
}

/// Names by `rule`: the seed's `base64` and `md5`, and `content` (the digest).
pub fn name(file: &Upload, media: &Media, rule: &str, attempt: u32) -> Result<String, Rejection> {
    naming::name(rule, &file.filename, file.received_at, attempt, &file.digest, &media.extension).map_err(Into::into)
}

/// Checks the host's settings the default policy reads.
pub fn configure(settings: &[(String, String)]) -> Result<(), String> {
    for (key, value) in settings {
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
                imgbed_policy::video::Formats::parse(value).map(|_| ()).map_err(|e| format!("{key}: {e}"))?
            }
            _ => {}
        }
    }
    Ok(())
}

/// The default policy's self-test: the seed's documented naming example
/// ([`fixtures::sample_upload`] as [`fixtures::tiny_png`]), a tiny PNG decodes, a
/// truncated one does not.
pub fn self_test() -> Result<(), String> {
    let got = name(&fixtures::sample_upload(), &fixtures::tiny_png(), "base64", 0).map_err(|r| r.message)?;
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

/// A refusal from the library's catalogue, as a rejection.
pub fn rejection(refusal: Refusal) -> Rejection {
    refusal.into()
}
