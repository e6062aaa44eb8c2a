//! The sandboxed maker: the active policy's `make-variant` (contract 2.1), run on the
//! heavy, fair capacity of the policy scheduler with the policy's deadline and memory cap.
//! A policy without the export answers 501.

use std::sync::Arc;

use super::maker::{Job, Made, Maker};
use super::spec::Format;
use crate::error::{ApiError, Code};
use crate::policy::{PolicyRuntime, Upload, VariantFormat, VariantRequest};

/// Variants made by the active policy.
pub struct Sandboxed(pub Arc<PolicyRuntime>);

#[async_trait::async_trait]
impl Maker for Sandboxed {
    async fn make(&self, job: Job) -> Result<Made, ApiError> {
        let r = &job.record;
        // The stored image, described as the file it was.
        let upload = Upload {
            filename: r.original_name.clone(),
            declared_type: r.mime.clone(),
            size: job.size,
            digest: r.digest.clone(),
            owner: r.owner.clone(),
            received_at: r.time,
        };
        let format = match job.spec.format {
            Format::Jpeg => VariantFormat::Jpeg,
            Format::Png => VariantFormat::Png,
            Format::Webp => VariantFormat::Webp,
        };
        let request = VariantRequest { width: job.spec.width, format, quality: job.quality, max_cost: job.max_cost };
        let source = job.source;
        let answer = self.0.run_heavy(&job.client, move |s| s.make_variant(&upload, &source, request)).await?;
        match answer {
            None => Err(ApiError::of(Code::VariantsUnsupported)),
            Some(Err(rejection)) => Err(rejection.into()),
            Some(Ok(made)) => Ok(Made { bytes: made.bytes, width: made.width, height: made.height }),
        }
    }
}
