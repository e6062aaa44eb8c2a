//! An example policy: the default decoding and access rules, but only PNG and
//! WebP, at most 2 MiB per file, and always the seed's `md5` names.

use imgbed_policy_sdk::{defaults, fixtures};
use imgbed_policy_sdk::{
    export_policy, Body, Judgement, Media, Policy, PolicyInfo, Principal, Rejection, Upload, Usage, Wanted,
};

/// Largest accepted file.
const MAX_BYTES: u64 = 2 * 1024 * 1024;

fn reject(status: u16, code: &str, message: String) -> Rejection {
    Rejection { status, code: code.into(), message }
}

struct Strict;

impl Policy for Strict {
    fn info() -> PolicyInfo {
        PolicyInfo { name: "imgbed-strict".into(), version: env!("CARGO_PKG_VERSION").into() }
    }

    fn self_test() -> Result<(), String> {
        // The seed's documented naming example, under the rule this policy always uses.
        let name =
            defaults::name(&fixtures::sample_upload(), &fixtures::tiny_png(), "md5", 0).map_err(|r| r.message)?;
        if name != "5a173e2ca11125deab21cb4a50a2a543.png" {
            return Err(format!("md5 rule gave {name}"));
        }
        defaults::self_test()
    }

    fn admit(_who: Principal, file: Upload, _usage: Usage) -> Result<(), Rejection> {
        if file.size > MAX_BYTES {
            return Err(reject(413, "too_large", format!("文件过大: 上限 {MAX_BYTES} 字节")));
        }
        Ok(())
    }

    fn judge(file: Upload, data: &Body, wanted: Wanted) -> Result<Judgement, Rejection> {
        let judgement = defaults::judge(&file, data, &wanted)?;
        if let Judgement::Judged(verdict) = &judgement {
            if !matches!(verdict.media.format.as_str(), "png" | "webp") {
                return Err(reject(415, "unsupported_type", "不支持的文件类型: 仅支持 png, webp".into()));
            }
        }
        Ok(judgement)
    }

    fn name(file: Upload, media: Media, _rule: String, attempt: u32) -> Result<String, Rejection> {
        defaults::name(&file, &media, "md5", attempt)
    }
}

export_policy!(Strict);
