//! The record of a stored image, declared once: [`ImageFacts`] are what answers show
//! (the OpenAPI schema of `http::view::ImageView` embeds them) and what both engines
//! keep under the same field names (MongoDB through serde); [`ImageRecord`] adds what
//! only the server sees.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The public facts of one stored image or video. Holds names, never URLs or server
/// paths: URLs are computed per answer from the configured base URL.
/// Read leniently, as documents written by hand may be (a number typed in a shell is a
/// double; a missing field is its default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ImageFacts {
    /// Stored name (unique, path-safe, checked by the host).
    pub name: String,
    /// Receive time, seconds since the epoch (the original's `time`).
    pub time: f64,
    /// Size in bytes of the stored file.
    #[serde(deserialize_with = "lenient::number")]
    pub size: u64,
    /// "image", "animation" or "video".
    pub kind: String,
    /// Format as the policy found it, e.g. "png".
    pub format: String,
    /// MIME type served.
    pub mime: String,
    #[serde(deserialize_with = "lenient::number")]
    pub width: u32,
    #[serde(deserialize_with = "lenient::number")]
    pub height: u32,
    #[serde(deserialize_with = "lenient::number")]
    pub frames: u32,
    /// SHA-256 of the stored bytes (lower-case hex).
    pub digest: String,
    /// The client's file name (untrusted; only ever shown back, never used as a path).
    pub original_name: String,
    /// Length of a video or animation, when known.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient::optional")]
    pub duration_ms: Option<u64>,
    /// Video codec, e.g. "h264" (videos only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
}

/// One stored image or video: its facts, and what only the server sees. Reads of the
/// facts go through `Deref` (`record.name`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageRecord {
    #[serde(flatten)]
    pub facts: ImageFacts,
    /// Owner id (the principal that uploaded it). Never shown.
    pub owner: String,
    /// SHA-256 (hex) of the image's deletion key (its deletion link); `None` for records
    /// made before deletion links. Never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_key: Option<String>,
    /// Where the blob store put the file, for a store that keeps each file under a key of
    /// its own (S3: the object's key below the store's prefix), so a read goes straight
    /// to it; `None` for the other stores and for records made before keys. Never shown
    /// (only as part of a public link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_key: Option<String>,
    /// Whether a thumbnail was stored with the file; `None` for records made before this
    /// was recorded (the thumbnail store is asked). Lets a listing link thumbnails
    /// without asking the store once per image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb: Option<bool>,
}

impl std::ops::Deref for ImageRecord {
    type Target = ImageFacts;
    fn deref(&self) -> &ImageFacts {
        &self.facts
    }
}

impl std::ops::DerefMut for ImageRecord {
    fn deref_mut(&mut self) -> &mut ImageFacts {
        &mut self.facts
    }
}

impl ImageRecord {
    /// A record of `facts` owned by `owner`, with nothing else known yet.
    pub fn new(facts: ImageFacts, owner: String) -> Self {
        ImageRecord { facts, owner, delete_key: None, blob_key: None, thumb: None }
    }

    /// The record's file as the blob store is asked for it.
    pub fn blob(&self) -> crate::blob::Located<'_> {
        crate::blob::Located { name: &self.name, key: self.blob_key.as_deref(), size: self.size }
    }
}

/// Numbers as stored documents may hold them: any integer type, or a double.
mod lenient {
    use serde::de::{Deserializer, Error, Visitor};

    struct Number;

    impl Visitor<'_> for Number {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a non-negative number")
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("{v} is negative")))
        }
        fn visit_f64<E: Error>(self, v: f64) -> Result<u64, E> {
            match v.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&v) {
                true => Ok(v as u64),
                false => Err(E::custom(format!("{v} is not a whole non-negative number"))),
            }
        }
    }

    pub fn number<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<T, D::Error> {
        let n = d.deserialize_any(Number)?;
        T::try_from(n).map_err(|_| D::Error::custom(format!("{n} is out of range")))
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        struct Maybe;
        impl<'de> Visitor<'de> for Maybe {
            type Value = Option<u64>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a non-negative number or nothing")
            }
            fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                number(d).map(Some)
            }
        }
        d.deserialize_option(Maybe)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::{doc, from_document, to_document};

    #[test]
    fn documents_written_elsewhere_still_read() {
        // Numbers as a shell types them (doubles, 32-bit), fields left out: as before.
        let d = doc! {"name": "a.png", "owner": "o@x", "size": 123.0, "width": 4_i32, "height": 3_i64, "time": 5_i32};
        let r: ImageRecord = from_document(d).unwrap();
        assert_eq!((r.name.as_str(), r.size, r.width, r.height, r.frames, r.time), ("a.png", 123, 4, 3, 0, 5.0));
        assert_eq!((r.owner.as_str(), r.duration_ms, r.thumb), ("o@x", None, None));
        for bad in [doc! {"size": -1_i64}, doc! {"width": 1.5}, doc! {"frames": 5_000_000_000_i64}] {
            assert!(from_document::<ImageRecord>(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_record_round_trips_with_its_options_left_out_when_absent() {
        let mut r = ImageRecord::new(
            ImageFacts {
                name: "v.mp4".into(),
                size: u64::from(u32::MAX) + 7,
                duration_ms: Some(1234),
                ..Default::default()
            },
            "o@x".into(),
        );
        r.thumb = Some(false);
        let d = to_document(&r).unwrap();
        assert!(!d.contains_key("codec") && !d.contains_key("delete_key") && !d.contains_key("blob_key"), "{d}");
        assert_eq!(d.get_i64("size").unwrap(), i64::from(u32::MAX) + 7);
        assert_eq!(from_document::<ImageRecord>(d).unwrap(), r);
    }
}
