//! Movie Maker's encoder yields the CPU to the engine.
//!
//! The engine's frame waits on threads besides its own: the GPU driver's, and on a headless
//! node the X server that presents each frame. SVT-AV1 starts a worker per core and, with 4×
//! headroom at 1080p on 16 cores, runs them flat out in bursts between frames; at equal
//! priority those bursts delay the threads the engine waits on. On an H200 node (16 cores),
//! 1800 frames at 1080p: the engine's main thread waited 0.39–0.45 s for a CPU with the encoder
//! at nice 0 and 0.21 s at nice 10 (docs/gpu-node-bench-h200.txt, session 6). A lower priority
//! costs the encoder nothing while the machine has idle cores, and where it has none the
//! engine is the one that must not wait: the queue holds the engine back if the encoder falls
//! behind either way.
//!
//! Linux only: there a thread's nice value is its own, and the threads it starts inherit it, so
//! setting it on the encode thread before the encoder opens covers the encoder's threads too.

/// The encode thread's nice value: below the engine's (0), well above the lowest (19).
#[cfg(target_os = "linux")]
pub(super) const ENCODER_NICE: i32 = 10;

/// Lowers the calling thread's priority to [`ENCODER_NICE`]; threads it starts after inherit it.
/// Best effort: a sandbox that forbids it leaves the thread as it was.
#[cfg(target_os = "linux")]
pub(super) fn yield_to_the_engine() {
    // SAFETY: plain system calls on this thread's own id. gettid through syscall: glibc only
    // wraps it from 2.30, and the build targets 2.28.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, ENCODER_NICE);
    }
}

#[cfg(not(target_os = "linux"))]
pub(super) fn yield_to_the_engine() {}
