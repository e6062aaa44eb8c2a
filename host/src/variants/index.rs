//! The variant cache's index: every variant this host knows with its size and when it
//! was last used, so the total stays under a bound by dropping the least recently used.

use std::collections::{BTreeMap, HashMap};

/// Least-recently-used bookkeeping of variant sizes.
#[derive(Debug, Default)]
pub struct Index {
    /// Key → (size, last use).
    entries: HashMap<String, (u64, u64)>,
    /// Last use → key, oldest first.
    order: BTreeMap<u64, String>,
    total: u64,
    clock: u64,
    max: u64,
}

impl Index {
    /// An index holding at most `max` bytes.
    pub fn new(max: u64) -> Self {
        Index { max, ..Index::default() }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Marks `key` used now; false if it is not known.
    pub fn touch(&mut self, key: &str) -> bool {
        let now = self.tick();
        let Some((_, used)) = self.entries.get_mut(key) else { return false };
        self.order.remove(used);
        *used = now;
        self.order.insert(now, key.to_string());
        true
    }

    /// Adds (or re-sizes) `key`, used now; returns the keys to evict to stay within the
    /// bound (never `key` itself, unless it alone is over the bound).
    pub fn insert(&mut self, key: &str, size: u64) -> Vec<String> {
        self.remove(key);
        let now = self.tick();
        self.entries.insert(key.to_string(), (size, now));
        self.order.insert(now, key.to_string());
        self.total += size;
        let mut evicted = Vec::new();
        while self.total > self.max {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            if let Some((size, _)) = self.entries.remove(&oldest) {
                self.total -= size;
            }
            evicted.push(oldest);
        }
        evicted
    }

    /// Adds the variants found in the store at start-up (key, size, age): the oldest count
    /// as the least recently used.
    pub fn load(&mut self, mut found: Vec<(String, u64, std::time::Duration)>) -> Vec<String> {
        found.sort_by_key(|f| std::cmp::Reverse(f.2));
        let mut evicted = Vec::new();
        for (key, size, _) in found {
            evicted.extend(self.insert(&key, size));
        }
        evicted
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: &str) -> bool {
        let Some((size, used)) = self.entries.remove(key) else { return false };
        self.order.remove(&used);
        self.total -= size;
        true
    }

    /// The keys starting with `prefix`.
    pub fn with_prefix(&self, prefix: &str) -> Vec<String> {
        self.entries.keys().filter(|k| k.starts_with(prefix)).cloned().collect()
    }

    /// (variants, bytes).
    pub fn usage(&self) -> (usize, u64) {
        (self.entries.len(), self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_go_first() {
        let mut index = Index::new(100);
        assert!(index.insert("a", 40).is_empty());
        assert!(index.insert("b", 40).is_empty());
        assert!(index.touch("a"));
        assert_eq!(index.insert("c", 40), vec!["b".to_string()], "b was used least recently");
        assert_eq!(index.usage(), (2, 80));
        assert!(!index.touch("b"));
        assert!(index.remove("a"));
        assert_eq!(index.usage(), (1, 40));
        assert_eq!(index.insert("huge", 500).len(), 2, "over the bound alone: everything goes, itself too");
        assert_eq!(index.usage(), (0, 0));
        let mut index = Index::new(100);
        index.insert("x1.a", 1);
        index.insert("x2.a", 1);
        assert_eq!(index.with_prefix("x1."), vec!["x1.a".to_string()]);
    }
}
