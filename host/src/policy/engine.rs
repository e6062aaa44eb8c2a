//! The wasmtime engine policies run on: the component model, epoch interruption for
//! deadlines, and a pooling allocator sized by the [`Limits`]. The server and its
//! compiler child (`compiler.rs`) build it the same way, so their artifacts fit.

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::{Limits, PolicyError};

/// Bytes of each instance's linear memory kept mapped between instances.
const KEEP_RESIDENT: usize = 1024 * 1024;

/// The engine for `limits`.
pub(super) fn engine(limits: &Limits) -> Result<Engine, PolicyError> {
    let slots = (limits.workers + limits.heavy_workers + 4) as u32;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(slots)
        .max_core_instances_per_component(16)
        .total_core_instances(slots * 16)
        .max_memories_per_component(4)
        .total_memories(slots * 4)
        .max_tables_per_component(8)
        .total_tables(slots * 8)
        .total_stacks(slots)
        .max_memory_size(limits.memory_bytes)
        // Idle slots that keep pages: no more than can be busy at once (a swapped-out
        // policy's slots are reused, not added to).
        .max_unused_warm_slots(slots);
    // With PAGEMAP_SCAN (Linux 6.7+), up to a MiB of the pages an instance touched stay
    // mapped and are reset in place: the next instance takes no page faults and no TLB
    // shoot-down for them. Without it, keeping pages would zero a whole MiB per instance
    // (more work than it saves), so memory is given back as before.
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(64 * 1024)
            .pagemap_scan(wasmtime::Enabled::Yes);
    }
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| PolicyError::Refused(format!("engine: {e:#}")))
}
