//! Contract 1.0 (`wit/v1/policy.wit`), adapted: a component built against
//! `imgbed:policy@1.0.0` still loads and behaves as it did. Each 2.0 call becomes the 1.0
//! calls that did the same work — `judge` is `strip-metadata`, then `inspect` and
//! `thumbnail` (a 1.0 policy enforced quotas in `inspect`, so `admit` always allows).

use wasmtime::component::Resource;
use wasmtime::Store;

use super::bindings::{self, BodyFile, State};

wasmtime::component::bindgen!({
    path: "../wit/v1",
    world: "policy",
    with: { "imgbed:policy/host.body": crate::policy::BodyFile },
});

use exports::imgbed::policy::api::Guest;
use imgbed::policy::host::LogLevel;
use imgbed::policy::types as old;

impl imgbed::policy::types::Host for State {}

impl imgbed::policy::host::Host for State {
    fn log(&mut self, level: LogLevel, message: String) {
        let level = match level {
            LogLevel::Trace => tracing::Level::TRACE,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Error => tracing::Level::ERROR,
        };
        self.log_line(level, message);
    }

    fn setting(&mut self, key: String) -> Option<String> {
        self.settings.get(&key).cloned()
    }

    fn image_exists(&mut self, name: String) -> bool {
        self.exists.image_exists(&name)
    }

    fn owner_usage(&mut self, owner: String) -> imgbed::policy::host::Usage {
        let (images, bytes) = self.exists.owner_usage(&owner);
        imgbed::policy::host::Usage { images, bytes }
    }
}

impl imgbed::policy::host::HostBody for State {
    fn size(&mut self, body: Resource<BodyFile>) -> u64 {
        self.body_size(&body)
    }

    fn read(&mut self, body: Resource<BodyFile>, offset: u64, len: u32) -> Vec<u8> {
        self.body_read(&body, offset, len)
    }

    fn drop(&mut self, body: Resource<BodyFile>) -> wasmtime::Result<()> {
        self.table.delete(body)?;
        Ok(())
    }
}

fn upload(u: &bindings::Upload, attempt: u32) -> old::Upload {
    old::Upload {
        filename: u.filename.clone(),
        declared_type: u.declared_type.clone(),
        size: u.size,
        digest: u.digest.clone(),
        owner: u.owner.clone(),
        received_at: u.received_at,
        attempt,
    }
}

fn principal(p: &bindings::Principal) -> old::Principal {
    old::Principal { kind: super::kind_name(p.kind).into(), id: p.id.clone(), attributes: p.attributes.clone() }
}

fn rejection(r: old::Rejection) -> bindings::Rejection {
    bindings::Rejection { status: r.status, code: r.code, message: r.message }
}

fn media_to_old(m: &bindings::Media) -> old::Media {
    let kind = match m.kind {
        bindings::MediaKind::Image => old::MediaKind::Image,
        bindings::MediaKind::Animation => old::MediaKind::Animation,
        bindings::MediaKind::Video => old::MediaKind::Video,
    };
    old::Media {
        kind,
        format: m.format.clone(),
        extension: m.extension.clone(),
        mime: m.mime.clone(),
        width: m.width,
        height: m.height,
        frames: m.frames,
        duration_ms: m.duration_ms,
        codec: m.codec.clone(),
    }
}

fn media_from_old(m: old::Media) -> bindings::Media {
    let kind = match m.kind {
        old::MediaKind::Image => bindings::MediaKind::Image,
        old::MediaKind::Animation => bindings::MediaKind::Animation,
        old::MediaKind::Video => bindings::MediaKind::Video,
    };
    bindings::Media {
        kind,
        format: m.format,
        extension: m.extension,
        mime: m.mime,
        width: m.width,
        height: m.height,
        frames: m.frames,
        duration_ms: m.duration_ms,
        codec: m.codec,
    }
}

fn piece(p: old::Piece) -> bindings::Piece {
    match p {
        old::Piece::Keep(s) => bindings::Piece::Keep(bindings::Span { offset: s.offset, len: s.len }),
        old::Piece::Insert(bytes) => bindings::Piece::Insert(bytes),
    }
}

/// The 1.0 facts: `owner`, `name`, `mail`, `via`, `jwt` as text, then the extras.
fn facts(f: &bindings::Facts) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let fields = [("owner", &f.owner), ("name", &f.image), ("mail", &f.mail)];
    out.extend(fields.into_iter().filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v))));
    if let Some(proof) = f.proof {
        let via = match proof {
            bindings::Proof::Token => "token",
            bindings::Proof::CheckCode => "check",
        };
        out.push(("via".into(), via.into()));
    }
    out.push(("jwt".into(), f.jwt.to_string()));
    out.extend(f.extra.iter().cloned());
    out
}

/// The 1.0 exports of one instance.
pub struct Owned(Policy);

impl Owned {
    pub(super) fn adapter(&self) -> Adapter<'_> {
        Adapter(self.0.imgbed_policy_api())
    }
}

/// The 1.0 exports, answering the 2.0 calls.
pub(super) struct Adapter<'a>(&'a Guest);

impl Adapter<'_> {
    pub(super) fn owned(policy: Policy) -> Owned {
        Owned(policy)
    }
}

impl Adapter<'_> {
    pub fn info(&self, store: &mut Store<State>) -> wasmtime::Result<bindings::PolicyInfo> {
        let i = self.0.call_info(store)?;
        Ok(bindings::PolicyInfo { name: i.name, version: i.version })
    }

    pub fn authorize(
        &self,
        store: &mut Store<State>,
        action: &bindings::RequestedAction,
        who: &bindings::Principal,
        f: &bindings::Facts,
    ) -> wasmtime::Result<Result<(), bindings::Rejection>> {
        let name = super::action_name(action);
        Ok(match self.0.call_authorize(store, &name, &principal(who), &facts(f))? {
            old::Decision::Allow => Ok(()),
            old::Decision::Deny(r) => Err(rejection(r)),
        })
    }

    /// `strip-metadata` when asked (pieces end the call: the host judges the stripped
    /// file again), else `inspect`, then `thumbnail` when wanted (not for videos; a 1.0
    /// refusal there means no thumbnail). `rearm` gives each 1.0 call its own deadline.
    pub fn judge(
        &self,
        store: &mut Store<State>,
        file: &bindings::Upload,
        body: u32,
        wanted: &bindings::Wanted,
        rearm: &dyn Fn(&mut Store<State>),
    ) -> wasmtime::Result<Result<bindings::Judgement, bindings::Rejection>> {
        let up = upload(file, 0);
        let borrow = || Resource::<BodyFile>::new_borrow(body);
        if wanted.strip {
            match self.0.call_strip_metadata(&mut *store, &up, borrow())? {
                Err(r) => return Ok(Err(rejection(r))),
                Ok(Some(pieces)) => {
                    return Ok(Ok(bindings::Judgement::Stripped(pieces.into_iter().map(piece).collect())))
                }
                Ok(None) => rearm(store),
            }
        }
        let media = match self.0.call_inspect(&mut *store, &up, borrow())? {
            Err(r) => return Ok(Err(rejection(r))),
            Ok(m) => media_from_old(m),
        };
        let thumbnail = match wanted.thumbnail_width {
            None => bindings::Thumbnail::NotAsked,
            Some(_) if media.kind == bindings::MediaKind::Video => bindings::Thumbnail::NotSupported,
            Some(width) => {
                rearm(store);
                match self.0.call_thumbnail(&mut *store, &up, borrow(), width)? {
                    Ok(png) => bindings::Thumbnail::Made(png),
                    Err(r) => {
                        tracing::warn!(code = %r.code, "no thumbnail: {}", r.message);
                        bindings::Thumbnail::NotSupported
                    }
                }
            }
        };
        Ok(Ok(bindings::Judgement::Judged(bindings::Verdict { media, thumbnail })))
    }

    pub fn name(
        &self,
        store: &mut Store<State>,
        file: &bindings::Upload,
        media: &bindings::Media,
        rule: &str,
        attempt: u32,
    ) -> wasmtime::Result<Result<String, bindings::Rejection>> {
        Ok(self.0.call_name(store, &upload(file, attempt), &media_to_old(media), rule)?.map_err(rejection))
    }

    pub fn configure(
        &self,
        store: &mut Store<State>,
        settings: &[(String, String)],
    ) -> wasmtime::Result<Result<(), String>> {
        self.0.call_configure(store, settings)
    }

    pub fn self_test(&self, store: &mut Store<State>) -> wasmtime::Result<Result<(), String>> {
        self.0.call_self_test(store)
    }
}
