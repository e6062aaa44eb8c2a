//! The default access rules.
//!
//! Actions are strings such as `image.upload`, `image.delete`, `admin.init-db`.
//! The host resolves who is asking (it verifies tokens) and passes the facts.

use crate::refusal::Refusal;

/// Facts about the request, as key/value pairs.
pub struct Facts<'a>(pub &'a [(String, String)]);

impl Facts<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Allow or refuse `action` for a principal of `kind` ("anonymous", "user", "admin") and `id`.
pub fn authorize(action: &str, kind: &str, id: &str, facts: &Facts<'_>) -> Result<(), Refusal> {
    let is_admin = kind == "admin";
    if action.starts_with("admin.") {
        return match kind {
            "admin" => Ok(()),
            "anonymous" => Err(Refusal::no_authority()),
            _ => Err(Refusal::forbidden()),
        };
    }
    if action.starts_with("account.") {
        // Registration, recovery and removal prove themselves with mail, token or check code.
        return Ok(());
    }
    if action.starts_with("image.") {
        if kind == "anonymous" {
            return Err(Refusal::no_authority());
        }
        // Someone else's image is answered as missing, so its existence is not revealed.
        if let Some(owner) = facts.get("owner") {
            if owner != id && !is_admin {
                return Err(Refusal::not_found());
            }
        }
        return Ok(());
    }
    Err(Refusal::forbidden())
}
