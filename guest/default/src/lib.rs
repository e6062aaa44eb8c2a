//! imgbed's default policy: validation (jpg, png, webp, gif decoded for real; mp4 and
//! webm when video is on), metadata stripping, thumbnails, the seed's naming rules and
//! the default access rules — every default of the SDK's `Policy` trait.

use imgbed_policy_sdk::{export_policy, Policy, PolicyInfo};

struct DefaultPolicy;

impl Policy for DefaultPolicy {
    fn info() -> PolicyInfo {
        PolicyInfo { name: "imgbed-default".into(), version: env!("CARGO_PKG_VERSION").into() }
    }
}

export_policy!(DefaultPolicy);
