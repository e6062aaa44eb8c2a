//! The seam that makes a variant: the host hands the source file and the request to a
//! [`Maker`]: the sandboxed policy (`variants::sandbox`); [`Unsupported`] answers 501.

use std::fs::File;

use super::spec::Spec;
use crate::error::{ApiError, Code};

/// Largest variant the host accepts from a maker (as much as a thumbnail: the most the
/// host copies out of the sandbox in one answer).
pub const MAX_VARIANT_BYTES: usize = crate::policy::MAX_THUMBNAIL_BYTES;

/// One variant to make.
pub struct Job {
    /// The stored original, opened for reading.
    pub source: File,
    pub size: u64,
    /// The stored image's record (its original name, type, digest, owner, time).
    pub record: crate::store::ImageRecord,
    pub spec: Spec,
    /// JPEG quality, 1..=100.
    pub quality: u8,
    /// Most `pixels × frames decoded` the source may cost.
    pub max_cost: u64,
    /// Who asked (heavy capacity is shared between clients in turn).
    pub client: String,
}

/// What a maker answered (checked by [`check`] before it is stored).
#[derive(Debug, Clone)]
pub struct Made {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Makes variants.
#[async_trait::async_trait]
pub trait Maker: Send + Sync + 'static {
    async fn make(&self, job: Job) -> Result<Made, ApiError>;
}

/// No maker: every variant is a 501.
pub struct Unsupported;

#[async_trait::async_trait]
impl Maker for Unsupported {
    async fn make(&self, _job: Job) -> Result<Made, ApiError> {
        Err(ApiError::of(Code::VariantsUnsupported))
    }
}

/// The host's checks of a made variant: not empty, not over [`MAX_VARIANT_BYTES`], the
/// format asked for, no wider than asked.
pub fn check(made: &Made, spec: Spec) -> Result<(), String> {
    if made.bytes.is_empty() || made.bytes.len() > MAX_VARIANT_BYTES {
        return Err(format!("a variant of {} bytes", made.bytes.len()));
    }
    if !spec.format.starts(&made.bytes) {
        return Err(format!("the bytes are not {}", spec.format.name()));
    }
    if made.width == 0 || made.height == 0 || made.width > spec.width {
        return Err(format!("{}x{} for a variant at most {} wide", made.width, made.height, spec.width));
    }
    Ok(())
}
