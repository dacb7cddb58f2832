//! The global allocator and its one tuning.
//!
//! Ingest and scoring allocate many small strings from several threads;
//! mimalloc keeps that fast where the system allocator contends. By default
//! it returns emptied pages to the operating system a second after
//! they empty, and a batch run that frees and allocates millions of
//! records then spends a fifth of its time having the kernel zero the same
//! pages again. A `leadq` command is a short-lived batch, so it keeps freed
//! memory until it exits.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (mimalloc.h).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Never give freed pages back to the OS before exit.
#[allow(unsafe_code)]
pub fn keep_freed_memory() {
    // SAFETY: mi_option_set only writes an integer into mimalloc's option
    // table; it is valid at any time and from any thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

/// The current purge delay in milliseconds (-1: never).
#[cfg(test)]
#[allow(unsafe_code)]
pub fn purge_delay() -> i64 {
    // SAFETY: mi_option_get only reads mimalloc's option table.
    unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) as i64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_index_is_mimallocs_purge_delay() {
        // The bundled mimalloc (v3, src/options.c) defaults the purge delay
        // to 1000 ms; reading that here shows the index names the right
        // option before anything sets it.
        assert_eq!(purge_delay(), 1000);
        keep_freed_memory();
        assert_eq!(purge_delay(), -1);
    }
}
