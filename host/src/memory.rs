//! Memory the process no longer uses, given back to the system.

/// Allocations of a MiB or more get their own mapping, returned to the system when freed
/// (glibc would otherwise raise that threshold after the first large free, and the
/// artifact of a compiled policy, a policy upload or an S3 part would then stay in an
/// arena for good). Smaller ones (upload parts gathered in memory, at most 512 KiB) keep
/// reusing arena memory.
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only tunes the allocator; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Returns freed heap to the system: a moment that needed tens of megabytes (compiling a
/// policy, reconciling a large store) would otherwise stay in the resident size for good.
pub fn give_back_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only releases free memory of the allocator; no pointers change.
    unsafe {
        libc::malloc_trim(0);
    }
}
