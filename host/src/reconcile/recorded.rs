//! The names the metadata store has records for, read once per look at the stores and kept
//! compact: sorted (found by binary search, no hash table beside them), and, when there is a
//! variant store, the variant stems of those names as sorted 16-byte keys.

/// Record names, sorted, with their variant stems.
pub(super) struct Recorded {
    names: Vec<String>,
    stems: Vec<[u8; 16]>,
}

impl Recorded {
    /// From every record name (`stems`: work out the variant stems too).
    pub(super) fn new(mut names: Vec<String>, stems: bool) -> Self {
        names.sort_unstable();
        names.dedup();
        names.shrink_to_fit();
        let mut stems: Vec<[u8; 16]> =
            if stems { names.iter().map(|n| crate::variants::spec::stem_bytes(n)).collect() } else { Vec::new() };
        stems.sort_unstable();
        Recorded { names, stems }
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.names.binary_search_by(|n| n.as_str().cmp(name)).is_ok()
    }

    /// Whether some record has this variant stem (32 lower-case hex digits).
    pub(super) fn has_stem(&self, stem: &str) -> bool {
        let mut key = [0u8; 16];
        !stem.bytes().any(|b| b.is_ascii_uppercase())
            && hex::decode_to_slice(stem, &mut key).is_ok()
            && self.stems.binary_search(&key).is_ok()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variants::spec::stem;

    #[test]
    fn names_and_stems_are_found_and_nothing_else() {
        let r = Recorded::new(vec!["b.png".into(), "a.png".into(), "b.png".into()], true);
        assert_eq!(r.iter().collect::<Vec<_>>(), ["a.png", "b.png"]);
        assert!(r.has("a.png") && r.has("b.png") && !r.has("c.png") && !r.has(""));
        assert!(r.has_stem(&stem("a.png")) && !r.has_stem(&stem("c.png")));
        // Only the exact lower-case spelling of a stem is one.
        assert!(!r.has_stem(&stem("a.png").to_uppercase()) && !r.has_stem("zz") && !r.has_stem(""));
        assert!(!Recorded::new(vec!["a.png".into()], false).has_stem(&stem("a.png")));
    }
}
