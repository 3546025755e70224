//! Counts heap allocations made through Rust's global allocator, for the "allocations" figure.
//!
//! Installed for the whole `mwav1` binary: two relaxed atomic/thread-local increments per
//! allocation cost nothing a recording would notice. What it cannot see: FFmpeg, SVT-AV1 and
//! libopus allocate with the C library's `malloc`, which never passes through here.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALL_THREADS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // A `const`-initialised `Cell<u64>` needs no destructor and no lazy set-up, so touching it
    // from inside the allocator cannot allocate or recurse.
    static THIS_THREAD: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    ALL_THREADS.fetch_add(1, Ordering::Relaxed);
    // `try_with`: a thread being torn down still frees and allocates after its locals are gone.
    let _ = THIS_THREAD.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded unchanged to `System`; counting touches no heap memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's guarantees for `layout` are passed on as they are.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    /// A growing `Vec` reallocates: that is heap traffic a steady state must not have, so it
    /// counts as an allocation.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations so far: in the whole process, and on the calling thread.
#[derive(Debug, Clone, Copy)]
pub struct Count {
    pub all_threads: u64,
    pub this_thread: u64,
}

impl Count {
    pub fn now() -> Self {
        Self {
            all_threads: ALL_THREADS.load(Ordering::Relaxed),
            this_thread: THIS_THREAD.with(Cell::get),
        }
    }

    /// Allocations between `earlier` and `self`.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            all_threads: self.all_threads - earlier.all_threads,
            this_thread: self.this_thread - earlier.this_thread,
        }
    }
}
