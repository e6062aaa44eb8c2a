//! The upload judgement, with the shadow policy (when one is loaded and this file is
//! sampled) asked about the same file afterwards, in the background: the upload never
//! waits for it, and what it decides is only compared and recorded.

use std::sync::Arc;

use super::judge::{decide, judge, JudgeError, Judged, Options, Received, Verdict};
use crate::blob::TempArea;
use crate::policy::{Observed, Outcome, PolicyRuntime, ShadowAnswer};

/// The action shadow disagreements about a file's judgement are recorded under.
pub const JUDGE_ACTION: &str = "upload.judge";

/// Judges like [`judge`] for a principal of `principal_kind`; a sampled file is then
/// judged again by the shadow (admitting, judging and naming, no thumbnail) from a
/// link to the received bytes, on the shadow's share of the heavy capacity.
pub async fn judge_shadowed(
    policy: &Arc<PolicyRuntime>,
    temp: &TempArea,
    client: &str,
    principal_kind: crate::policy::PrincipalKind,
    received: Received,
    options: Options,
) -> Result<Judged, JudgeError> {
    // A second name for the received bytes: the request may store (and so remove) its
    // temp file before the shadow gets to read it.
    let sampled = policy.shadow_sampled().and_then(|shadow| {
        let copy = temp.temp();
        match std::fs::hard_link(received.temp.path(), copy.path()) {
            Ok(()) => Some((shadow, copy)),
            Err(e) => {
                tracing::warn!(error = %e, "the shadow policy skips a file: no link to it");
                None
            }
        }
    });
    let upload = received.upload.clone();
    let shadow_options = options.clone();
    let out = judge(policy, temp, client, received, options).await;
    let Some((shadow, copy)) = sampled else { return out };
    let (active, image) = match &out {
        Ok(j) => (Outcome::allow(), j.name.clone()),
        Err(JudgeError::Refused(r)) => (Outcome::refuse(&r.code), upload.filename.clone()),
        Err(JudgeError::Policy(e)) => (Outcome::error(e), upload.filename.clone()),
        // Not a decision of the policy: nothing to compare.
        Err(JudgeError::Io(_)) => return out,
    };
    let observed = Observed {
        action: JUDGE_ACTION.into(),
        principal_kind: crate::policy::kind_name(principal_kind).into(),
        principal_id: upload.owner.clone(),
        image: Some(image),
        active,
    };
    let stripped = shadow_options.strip.then(|| temp.temp());
    policy.consult_shadow(shadow, true, observed, move |s| {
        let stripped_path = stripped.as_ref().map(|t| t.path().to_path_buf());
        let options = Options { thumb_width: None, ..shadow_options };
        let verdict = decide(s, upload, copy.path(), stripped_path.as_deref(), &options)?;
        // The links go when the shadow is done.
        drop((copy, stripped));
        Ok(match verdict {
            Verdict::Accepted(a) => ShadowAnswer { outcome: Outcome::allow(), name: Some(a.name) },
            Verdict::Refused(r) => ShadowAnswer { outcome: Outcome::refuse(&r.code), name: None },
            Verdict::Io(_) => {
                ShadowAnswer { outcome: Outcome { outcome: "error", code: Some("io".into()) }, name: None }
            }
        })
    });
    out
}
