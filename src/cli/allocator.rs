//! The memory allocator's settings for a command that runs once and exits.

/// How much glibc's malloc adds each time it grows a heap, and leaves in place each time it
/// could shrink one (`M_TOP_PAD`; 128 KiB unless set). At the default, a `check` of 2,000
/// prompts on two threads grew and shrank its second thread's heap 2,878 times, each an
/// `mprotect` holding the process's memory map against the other thread's page faults; at
/// 8 MiB it does so 18 times, and the `check` takes 3–6% less time (docs/design.md). The
/// pad is address space until it is written to, so a run's peak memory does not grow.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TOP_PAD: libc::c_int = 8 << 20;

/// Sets the allocator for a run of one command: not for `serve`, whose heaps should give
/// back what a burst of requests took.
pub fn tune_for_one_run() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` sets one parameter of glibc's allocator, which takes its own lock;
    // it is called before any other thread starts, with a valid parameter and value, and
    // its answer (0 when the value is refused) leaves the allocator as it was.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, TOP_PAD);
    }
}
