//! imgbed's policy library: what the default policy does, as plain Rust that runs
//! natively in tests and fuzzers and inside the sandbox through the SDK (`guest/sdk`).
//!
//! Validation (recognise and really decode jpg, png, webp, gif), naming (the
//! seed's `base64` and `md5` rules, plus `content`), and access rules. All
//! parsing of untrusted bytes happens here, inside the host's sandbox.

pub mod authz;
#[cfg(any(test, feature = "check"))]
pub mod check;
pub mod inspect;
pub mod media;
pub mod metadata;
pub mod naming;
pub mod reader;
pub mod refusal;
pub mod thumbnail;
pub mod variant;
pub mod video;

/// Glue a policy built on this crate needs after its `wit_bindgen::generate!` (the SDK
/// uses it; so does the contract 1.0 test component):
/// refusals as WIT rejections, and the host's upload body as a [`reader::ReadAt`].
/// Expects `Rejection`, `Media`, `MediaKind`, `Piece`, `Span` and `Body` in scope, as the generated bindings name them.
#[macro_export]
macro_rules! policy_glue {
    () => {
        impl From<$crate::refusal::Refusal> for Rejection {
            fn from(r: $crate::refusal::Refusal) -> Self {
                Rejection { status: r.status, code: r.code.to_string(), message: r.message }
            }
        }

        impl From<$crate::inspect::Found> for Media {
            fn from(found: $crate::inspect::Found) -> Self {
                Media {
                    kind: match found.kind {
                        $crate::inspect::Kind::Image => MediaKind::Image,
                        $crate::inspect::Kind::Animation => MediaKind::Animation,
                        $crate::inspect::Kind::Video => MediaKind::Video,
                    },
                    format: found.format.into(),
                    extension: found.extension.into(),
                    mime: found.mime.into(),
                    width: found.width,
                    height: found.height,
                    frames: found.frames,
                    duration_ms: found.duration_ms,
                    codec: found.codec,
                }
            }
        }

        impl From<$crate::metadata::Piece> for Piece {
            fn from(p: $crate::metadata::Piece) -> Self {
                match p {
                    $crate::metadata::Piece::Keep { offset, len } => Piece::Keep(Span { offset, len }),
                    $crate::metadata::Piece::Insert(bytes) => Piece::Insert(bytes),
                }
            }
        }

        impl $crate::reader::ReadAt for Body {
            fn size(&self) -> u64 {
                Body::size(self)
            }
            fn read_at(&self, offset: u64, len: u32) -> Vec<u8> {
                self.read(offset, len)
            }
        }
    };
}
