//! Known inputs for a policy's `self_test` and its native tests: the values the default
//! policy checks itself on, so a policy tests its own answers on them without building
//! the records by hand.
//!
//! ```ignore
//! use imgbed_policy_sdk::{defaults, fixtures};
//!
//! let name = defaults::name(&fixtures::sample_upload(), &fixtures::tiny_png(), "md5", 0)?;
//! assert_eq!(name, "5a173e2ca11125deab21cb4a50a2a543.png");
//! ```

use crate::{Media, MediaKind, Upload};

/// The seed's documented naming example: `Hello.PNG` received at 1795463366.4363468
/// (its `base64` name is `aGVsbG8ucG5nMTc5NTQ2MzM2Ni40MzYzNDY4.png`, its `md5` name
/// `5a173e2ca11125deab21cb4a50a2a543.png`); size 0, no declared type, digest or owner.
pub fn sample_upload() -> Upload {
    Upload {
        filename: "Hello.PNG".into(),
        declared_type: String::new(),
        size: 0,
        digest: String::new(),
        owner: String::new(),
        received_at: 1795463366.4363468,
    }
}

/// What a 1×1 still PNG (such as `kit::inspect::TINY_PNG`) is: `png`, `image/png`, one frame.
pub fn tiny_png() -> Media {
    Media {
        kind: MediaKind::Image,
        format: "png".into(),
        extension: "png".into(),
        mime: "image/png".into(),
        width: 1,
        height: 1,
        frames: 1,
        duration_ms: None,
        codec: None,
    }
}
