//! An example policy for a members-only install: accounts only for addresses
//! of one mail domain, and a per-user quota of images and bytes, decided by `admit`
//! from the usage the host passes (the owner's stored files plus the earlier files of
//! the same request). Settings:
//!
//! | setting | default | meaning |
//! |---|---|---|
//! | `members.domain` | `example.org` | the only mail domain that may register |
//! | `members.max_images` | 100 | images per user |
//! | `members.max_bytes` | 104857600 | bytes per user |

use imgbed_policy_sdk::kit::authz;
use imgbed_policy_sdk::{defaults, host, RequestedAction};
use imgbed_policy_sdk::{export_policy, Facts, Policy, PolicyInfo, Principal, Rejection, Upload, Usage};

fn setting_u64(key: &str, default: u64) -> u64 {
    host::setting(key).and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn domain() -> String {
    host::setting("members.domain").unwrap_or_else(|| "example.org".into()).trim().to_ascii_lowercase()
}

struct Members;

impl Policy for Members {
    fn info() -> PolicyInfo {
        PolicyInfo { name: "imgbed-members".into(), version: env!("CARGO_PKG_VERSION").into() }
    }

    fn configure(settings: Vec<(String, String)>) -> Result<(), String> {
        for (key, value) in &settings {
            if (key == "members.max_images" || key == "members.max_bytes") && value.trim().parse::<u64>().is_err() {
                return Err(format!("{key}: expected a whole number, got {value:?}"));
            }
        }
        defaults::configure(&settings)
    }

    fn self_test() -> Result<(), String> {
        if !authz::valid_mail(&format!("someone@{}", domain())) {
            return Err(format!("members.domain {:?} is not a mail domain", domain()));
        }
        defaults::self_test()
    }

    fn authorize(action: RequestedAction, principal: Principal, facts: Facts) -> Result<(), Rejection> {
        // The default rules, with registration limited to the members' domain.
        defaults::authorize_with_domains(&action, &principal, &facts, &[domain()])
    }

    fn admit(_who: Principal, file: Upload, usage: Usage) -> Result<(), Rejection> {
        let (max_images, max_bytes) =
            (setting_u64("members.max_images", 100), setting_u64("members.max_bytes", 100 << 20));
        if usage.images.saturating_add(1) > max_images || usage.bytes.saturating_add(file.size) > max_bytes {
            return Err(Rejection {
                status: 403,
                code: "quota_exceeded".into(),
                message: format!("超出配额: 每个用户最多 {max_images} 个文件, {max_bytes} 字节"),
            });
        }
        Ok(())
    }
}

export_policy!(Members);
