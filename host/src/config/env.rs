//! Parsing config text, with `IMGBED__SECTION__KEY` environment overrides.

use super::Config;

/// Prefix of environment variables that override config keys:
/// `IMGBED__SERVER__IMAGE_SIZE=1000` sets `server.image_size`.
pub const ENV_PREFIX: &str = "IMGBED__";

/// Parses config text; on failure gives the offending key path and the reason.
pub fn parse(text: &str) -> Result<Config, (String, String)> {
    parse_with_overrides(text, &[])
}

/// Parses config text with `IMGBED__SECTION__KEY=value` overrides applied. A value
/// is read as JSON when it parses as JSON (numbers, booleans, lists), else as a string.
pub fn parse_with_overrides(text: &str, overrides: &[(String, String)]) -> Result<Config, (String, String)> {
    let mut value: serde_json::Value = serde_json::from_str(text).map_err(|e| ("(file)".to_string(), e.to_string()))?;
    for (var, raw) in overrides {
        let Some(path) = var.strip_prefix(ENV_PREFIX) else { continue };
        let keys: Vec<String> = path.split("__").map(str::to_lowercase).collect();
        if keys.iter().any(String::is_empty) {
            return Err((var.clone(), "malformed override name".into()));
        }
        let parsed = serde_json::from_str(raw).unwrap_or_else(|_| serde_json::Value::String(raw.clone()));
        let mut slot = &mut value;
        for key in &keys {
            if !slot.is_object() {
                return Err((var.clone(), format!("{} is not a section", keys.join("."))));
            }
            slot = slot.as_object_mut().expect("checked").entry(key.clone()).or_insert(serde_json::json!({}));
        }
        *slot = parsed;
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { "(file)".to_string() } else { key };
        (key, e.into_inner().to_string())
    })
}
