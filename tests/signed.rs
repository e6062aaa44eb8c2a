//! Signed policies.
