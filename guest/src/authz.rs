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
///
/// `allowed_domains` restricts registration to those mail domains (empty: any).
pub fn authorize(
    action: &str,
    kind: &str,
    id: &str,
    facts: &Facts<'_>,
    allowed_domains: &[String],
) -> Result<(), Refusal> {
    let is_admin = kind == "admin";
    if action.starts_with("admin.") {
        return match kind {
            "admin" => Ok(()),
            "anonymous" => Err(Refusal::no_authority()),
            _ => Err(Refusal::forbidden()),
        };
    }
    if action.starts_with("account.") {
        // Registration, recovery and removal prove themselves with mail, token or check code;
        // the policy decides which addresses are acceptable.
        if let Some(mail) = facts.get("mail") {
            if !valid_mail(mail) {
                return Err(Refusal::invalid_mail());
            }
            if action == "account.register" && !domain_allowed(mail, allowed_domains) {
                return Err(Refusal::mail_domain());
            }
        }
        return Ok(());
    }
    if action.starts_with("image.") {
        // Images are served to anyone with the link, and so are their variants.
        if action == "image.variant" {
            return Ok(());
        }
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

/// A plain ASCII address: `local@domain`, local part of atext and dots,
/// domain of at least two DNS labels.
pub fn valid_mail(mail: &str) -> bool {
    if mail.len() > 254 {
        return false;
    }
    let Some((local, domain)) = mail.split_once('@') else { return false };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels.last().is_some_and(|tld| tld.bytes().any(|b| b.is_ascii_alphabetic()));
    local_ok && domain_ok
}

fn domain_allowed(mail: &str, allowed: &[String]) -> bool {
    let domain = mail.rsplit_once('@').map_or("", |(_, d)| d);
    allowed.is_empty() || allowed.iter().any(|a| a.eq_ignore_ascii_case(domain))
}

/// The `mail_domains` setting as a list: comma-separated, trimmed, lower-cased.
pub fn domains(setting: Option<String>) -> Vec<String> {
    setting
        .map(|v| v.split(',').map(|d| d.trim().to_ascii_lowercase()).filter(|d| !d.is_empty()).collect())
        .unwrap_or_default()
}
