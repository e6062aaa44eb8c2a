//! Why a policy call or load failed.

use wasmtime::Trap;

/// Why a policy call or load failed.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The call ran past its deadline.
    #[error("policy call exceeded its deadline")]
    Timeout,
    /// The guest trapped (including running out of its memory cap).
    #[error("policy trapped: {0}")]
    Trap(String),
    /// The guest returned something the host does not accept.
    #[error("policy returned an invalid answer: {0}")]
    Invalid(String),
    /// No sandbox slot could be had.
    #[error("policy unavailable: {0}")]
    Unavailable(String),
    /// A candidate component was refused.
    #[error("policy refused: {0}")]
    Refused(String),
    /// A candidate's signature is missing or does not verify (`policy.trusted_keys`).
    #[error("policy refused: {0}")]
    Signature(crate::signing::Refusal),
}

impl PolicyError {
    /// Stable code for answers and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::Timeout => "policy_timeout",
            PolicyError::Trap(_) => "policy_trap",
            PolicyError::Invalid(_) => "policy_invalid",
            PolicyError::Unavailable(_) => "policy_busy",
            PolicyError::Refused(_) => "policy_refused",
            PolicyError::Signature(crate::signing::Refusal::Missing) => "policy_unsigned",
            PolicyError::Signature(_) => "policy_bad_signature",
        }
    }

    pub(crate) fn from_call(e: wasmtime::Error) -> Self {
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => PolicyError::Timeout,
            Some(trap) => PolicyError::Trap(trap.to_string()),
            None => PolicyError::Trap(format!("{e:#}")),
        }
    }
}
