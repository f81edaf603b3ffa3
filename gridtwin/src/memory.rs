//! Process-wide memory settings, made in `main` before anything starts a thread (every command
//! but the window).
//! Without them a run's peak grew with its length although no query holds more than a bounded
//! window: glibc kept what polars freed (its mmap threshold rises with each large buffer freed,
//! up to 32 MB, and its trim threshold to twice that), and polars' Parquet scans read ahead up
//! to 512 row groups or 64 MB (on 2 cores). With them the bench's PDU day and week peak alike.
#![allow(unsafe_code)]

/// Row groups a Parquet scan reads ahead (polars' default is up to 512, bounded by 64 MB).
#[cfg(feature = "report")]
const PREFETCH_ROW_GROUPS: &str = "4";

pub fn bound() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's parameters. Setting the trim threshold
    // also fixes the mmap threshold at its 128 kB default: large buffers are mapped and given
    // back whole when freed, and free memory above 1 MB at the heap's top is returned.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 20);
    }
    #[cfg(feature = "report")]
    if std::env::var_os("POLARS_ROW_GROUP_PREFETCH_SIZE").is_none() {
        // SAFETY: no other thread exists yet to read the environment while it is written.
        unsafe { std::env::set_var("POLARS_ROW_GROUP_PREFETCH_SIZE", PREFETCH_ROW_GROUPS) };
    }
}
