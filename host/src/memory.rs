//! Memory the process no longer uses, given back to the system.

/// Returns freed heap to the system: a moment that needed tens of megabytes (compiling a
/// policy, reconciling a large store) would otherwise stay in the resident size for good.
pub fn give_back_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only releases free memory of the allocator; no pointers change.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Caps the allocator's arenas at `n` (glibc keeps up to eight per core, each holding on
/// to what it once needed): the heap then grows with the load, not with the core count.
/// Called once at start, before other threads exist. `MALLOC_ARENA_MAX` in the
/// environment wins.
pub fn limit_arenas(n: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let n = libc::c_int::try_from(n.max(1)).unwrap_or(libc::c_int::MAX);
        // SAFETY: sets an allocator parameter; no memory is touched.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, n);
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = n;
}
