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
