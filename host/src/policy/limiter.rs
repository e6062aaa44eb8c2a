//! What one policy instance may take from the host: its memories together (not each
//! one) stay under the memory cap, tables and instances are bounded, and going over
//! is a trap, not a failed allocation the guest could keep retrying.

/// Entries one table may hold.
const MAX_TABLE_ELEMENTS: usize = 100_000;
/// Instances, tables and memories one store may create.
const MAX_INSTANCES: usize = 32;
const MAX_TABLES: usize = 64;
const MAX_MEMORIES: usize = 16;

/// The resource limiter of a policy store.
#[derive(Debug)]
pub struct SandboxLimits {
    /// Bytes all linear memories may take together.
    total: usize,
    /// Bytes they take now.
    used: usize,
}

impl SandboxLimits {
    pub fn new(total: usize) -> Self {
        SandboxLimits { total, used: 0 }
    }
}

impl wasmtime::ResourceLimiter for SandboxLimits {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let grown = desired.saturating_sub(current);
        if self.used.saturating_add(grown) > self.total {
            return Err(wasmtime::Error::msg(format!(
                "policy memory cap: {} bytes of {} in use, {grown} more asked for",
                self.used, self.total
            )));
        }
        self.used += grown;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Err(wasmtime::Error::msg(format!(
                "policy table cap: {desired} elements asked for, at most {MAX_TABLE_ELEMENTS}"
            )));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn memories_are_capped_together() {
        let mut l = SandboxLimits::new(10 << 20);
        assert!(l.memory_growing(0, 6 << 20, None).unwrap());
        // A second memory may not take what the first one holds.
        assert!(l.memory_growing(0, 6 << 20, None).is_err());
        assert!(l.memory_growing(0, 4 << 20, None).unwrap());
    }
}
