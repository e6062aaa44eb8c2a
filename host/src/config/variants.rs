//! Checks of the `variants` section: the allow-lists bound what clients can make.

use super::{Rule, VariantsConfig};

/// The formats variants can be made in.
pub const VARIANT_FORMATS: &[&str] = &["jpeg", "png", "webp"];
/// Widest variant that may be allowed.
const MAX_WIDTH: u32 = 8192;
/// Most widths in the allow-list (each width × format is a file per image).
const MAX_WIDTHS: usize = 16;

pub fn validate(v: &VariantsConfig) -> Result<(), (String, String)> {
    let bad = |key: &str, message: String| Err((format!("variants.{key}"), message));
    if v.widths.is_empty() || v.widths.len() > MAX_WIDTHS {
        return bad("widths", format!("must list 1 to {MAX_WIDTHS} widths"));
    }
    if let Some(w) = v.widths.iter().find(|w| !(1..=MAX_WIDTH).contains(*w)) {
        return bad("widths", format!("each width must be 1 to {MAX_WIDTH}, got {w}"));
    }
    if v.formats.is_empty() {
        return bad("formats", format!("must list at least one of {VARIANT_FORMATS:?}"));
    }
    if let Some(f) = v.formats.iter().find(|f| !VARIANT_FORMATS.contains(&f.as_str())) {
        return bad("formats", format!("unknown format {f:?}; use any of {VARIANT_FORMATS:?}"));
    }
    if !(1..=100).contains(&v.quality) {
        return bad("quality", format!("must be 1 to 100, got {}", v.quality));
    }
    if v.cache_mb == 0 || v.cache_mb > 1 << 20 {
        return bad("cache_mb", "must be 1 to 1048576 (1 TiB)".into());
    }
    if v.max_cost == 0 {
        return bad("max_cost", "must be greater than 0".into());
    }
    if let Err(e) = v.miss_rate.parse::<Rule>() {
        return bad("miss_rate", e);
    }
    for e in &v.eager {
        if !v.widths.contains(&e.width) || !v.formats.contains(&e.format) {
            return bad("eager", format!("{} px {} is not in variants.widths and variants.formats", e.width, e.format));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_pass_and_lists_outside_the_bounds_do_not() {
        let ok = VariantsConfig::default();
        assert_eq!(validate(&ok), Ok(()));
        let mut v = ok.clone();
        v.widths.push(10_000);
        assert_eq!(validate(&v).unwrap_err().0, "variants.widths");
        let mut v = ok.clone();
        v.formats = vec!["avif".into()];
        assert_eq!(validate(&v).unwrap_err().0, "variants.formats");
        let mut v = ok.clone();
        v.eager = vec![super::super::EagerVariant { width: 333, format: "webp".into() }];
        assert_eq!(validate(&v).unwrap_err().0, "variants.eager");
        let mut v = ok;
        v.miss_rate = "fast".into();
        assert_eq!(validate(&v).unwrap_err().0, "variants.miss_rate");
    }
}
