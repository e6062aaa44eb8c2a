//! Ed25519 signatures of policy components (`policy.trusted_keys`), and the text
//! forms of keys and signatures.
//!
//! Every key and signature is base64 (standard alphabet, padded; read with or
//! without padding) of its raw bytes: a public key is 32 bytes, a private key file
//! holds the 32-byte seed (after `#` comment lines), a signature is 64 bytes. A
//! signature covers the exact bytes of the component — no hash first, no framing —
//! so any Ed25519 tool can make one (`openssl pkeyutl -sign -rawin`). Verification
//! is strict (RFC 8032 with the small-order and malleability checks). A leaf: the
//! config validates keys with it, the policy runtime verifies with it, the CLI signs.

use std::io::Read;
use std::path::{Path, PathBuf};

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The extension of a detached signature file beside a component (`policy.wasm.sig`).
pub const SIG_EXTENSION: &str = "sig";

/// Longest signature text read (a signature is 88 characters of base64).
const MAX_SIGNATURE_TEXT: usize = 1024;

/// Why a component's signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no signature: policy.trusted_keys is set, so a policy needs a detached signature by one of those keys")]
    Missing,
    #[error("the signature is not valid: {0}")]
    Malformed(String),
    #[error(
        "the signature does not verify with any of the {0} trusted key(s): signed with another key, or the component changed"
    )]
    Untrusted(usize),
}

fn decode(text: &str, what: &str, len: usize) -> Result<Vec<u8>, String> {
    let text = text.trim();
    if text.len() > MAX_SIGNATURE_TEXT {
        return Err(format!("{what}: {} characters is too long", text.len()));
    }
    let bytes = B64.decode(text).map_err(|e| format!("{what}: not base64 ({e})"))?;
    if bytes.len() != len {
        return Err(format!("{what}: {} bytes, expected {len}", bytes.len()));
    }
    Ok(bytes)
}

/// A public key from its text (base64 of 32 bytes, a valid curve point).
pub fn public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = decode(text, "public key", 32)?.try_into().expect("length checked");
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| "public key: not an Ed25519 public key".to_string())?;
    if key.is_weak() {
        return Err("public key: a weak (small-order) key, which would accept forged signatures".into());
    }
    Ok(key)
}

/// A public key as text.
pub fn public_text(key: &VerifyingKey) -> String {
    B64.encode(key.as_bytes())
}

/// A signature from its text (base64 of 64 bytes).
pub fn signature(text: &str) -> Result<Signature, String> {
    let bytes: [u8; 64] = decode(text, "signature", 64)?.try_into().expect("length checked");
    Ok(Signature::from_bytes(&bytes))
}

/// A signature as text.
pub fn signature_text(sig: &Signature) -> String {
    B64.encode(sig.to_bytes())
}

/// The public keys whose signatures are accepted (`policy.trusted_keys`).
#[derive(Clone, Default)]
pub struct TrustedKeys(Vec<(String, VerifyingKey)>);

impl std::fmt::Debug for TrustedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(text, _)| text)).finish()
    }
}

impl TrustedKeys {
    /// Parses `policy.trusted_keys`; the error names the entry.
    pub fn parse(list: &[String]) -> Result<Self, String> {
        let mut keys = Vec::with_capacity(list.len());
        for (i, text) in list.iter().enumerate() {
            let key = public_key(text).map_err(|e| format!("entry {i}: {e}"))?;
            keys.push((public_text(&key), key));
        }
        Ok(TrustedKeys(keys))
    }

    /// No keys: signatures are not checked.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks `signature` (its text) over exactly `bytes`; the trusted key (its text) that
    /// made it.
    pub fn verify(&self, bytes: &[u8], signature_text: Option<&str>) -> Result<&str, Refusal> {
        let text = signature_text.filter(|t| !t.trim().is_empty()).ok_or(Refusal::Missing)?;
        let sig = signature(text).map_err(Refusal::Malformed)?;
        self.0
            .iter()
            .find(|(_, key)| key.verify_strict(bytes, &sig).is_ok())
            .map(|(text, _)| text.as_str())
            .ok_or(Refusal::Untrusted(self.0.len()))
    }
}

/// A new key pair: the private key file's text and the public key's text.
pub fn generate() -> (String, String) {
    let seed: [u8; 32] = rand::random();
    let key = SigningKey::from_bytes(&seed);
    let private = format!(
        "# imgbed policy signing key (Ed25519 private seed, base64). Keep it secret:\n\
         # whoever holds it can sign policies that servers trusting its public key load.\n{}\n",
        B64.encode(key.to_bytes())
    );
    (private, public_text(&key.verifying_key()))
}

/// The signing key in a private key file's text (lines starting with `#` are comments).
pub fn private_key(text: &str) -> Result<SigningKey, String> {
    let body: String = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    let seed: [u8; 32] = decode(&body, "private key", 32)?.try_into().expect("length checked");
    Ok(SigningKey::from_bytes(&seed))
}

/// The signature (text) of exactly `bytes` with `key`.
pub fn sign(key: &SigningKey, bytes: &[u8]) -> String {
    signature_text(&key.sign(bytes))
}

/// Where the detached signature of the component at `path` lives: `path` + `.sig`.
pub fn sig_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(SIG_EXTENSION);
    PathBuf::from(s)
}

/// The detached signature beside the component at `path`, if there is one (its text,
/// at most a little more than a signature's length).
pub fn read_beside(path: &Path) -> std::io::Result<Option<String>> {
    let file = match std::fs::File::open(sig_path(path)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut text = String::new();
    file.take(MAX_SIGNATURE_TEXT as u64 + 1).read_to_string(&mut text)?;
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_its_key_only_and_over_the_exact_bytes() {
        let (private, public) = generate();
        let (_, other) = generate();
        let key = private_key(&private).unwrap();
        let sig = sign(&key, b"component");
        let trusted = TrustedKeys::parse(&[other.clone(), public.clone()]).unwrap();
        assert_eq!(trusted.verify(b"component", Some(&sig)), Ok(public.as_str()));
        assert_eq!(trusted.verify(b"component!", Some(&sig)), Err(Refusal::Untrusted(2)));
        let only_other = TrustedKeys::parse(&[other]).unwrap();
        assert_eq!(only_other.verify(b"component", Some(&sig)), Err(Refusal::Untrusted(1)));
        assert_eq!(trusted.verify(b"component", None), Err(Refusal::Missing));
        assert_eq!(trusted.verify(b"component", Some(" \n")), Err(Refusal::Missing));
        assert!(matches!(trusted.verify(b"component", Some("nope")), Err(Refusal::Malformed(_))));
        // Whitespace and a missing padding are fine (a .sig file ends with a newline).
        let loose = format!("  {}\n", sig.trim_end_matches('='));
        assert!(trusted.verify(b"component", Some(&loose)).is_ok());
    }

    #[test]
    fn key_texts_are_checked() {
        let (private, public) = generate();
        assert_eq!(public_text(&private_key(&private).unwrap().verifying_key()), public);
        assert!(public_key(&public).is_ok());
        assert!(public_key(&B64.encode([0u8; 31])).unwrap_err().contains("31 bytes"));
        assert!(TrustedKeys::parse(&[public, "%%%".into()]).unwrap_err().starts_with("entry 1:"));
        assert!(private_key("# only a comment\n").is_err());
        // The identity point: small order, refused.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(public_key(&B64.encode(identity)).unwrap_err().contains("weak"));
    }
}
