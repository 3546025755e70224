//! The engine's frame bytes, handed to the encode thread without a copy.
//!
//! `Image::get_data` returns a `PackedByteArray` that shares the image's buffer (Godot's
//! `Vector` is a reference-counted copy-on-write buffer), so taking it costs no copy. Holding it
//! until the frame is encoded, instead of copying the frame into a pooled buffer, takes the copy
//! off the engine's main thread. The recorder hands it back once encoded
//! (`Recorder::push_held_frame`), so it is released on the main thread: gdext refuses any
//! binding call, the destructor's included, from another thread.

use std::mem::ManuallyDrop;
use std::thread::{self, ThreadId};

use godot::prelude::*;
use movie_writer_av1_core::HeldPixels;

pub struct EngineFrame {
    /// Keeps the engine's buffer alive (one reference of its count) while the frame is queued.
    data: ManuallyDrop<PackedByteArray>,
    ptr: *const u8,
    len: usize,
    /// The engine's main thread, the only one that may release `data`.
    owner: ThreadId,
}

impl EngineFrame {
    pub fn boxed(data: PackedByteArray) -> Box<dyn HeldPixels> {
        let bytes = data.as_slice();
        let (ptr, len) = (bytes.as_ptr(), bytes.len());
        Box::new(Self {
            data: ManuallyDrop::new(data),
            ptr,
            len,
            owner: thread::current().id(),
        })
    }
}

// SAFETY: gdext marks Godot's builtin types !Send because most of them may hold objects or
// Variants and because its bindings are for the main thread; a PackedByteArray holds plain
// bytes, and the encode thread makes no binding call with it:
// - It reads `ptr`/`len`, taken on the main thread through the read-only accessor (which never
//   copies). The bytes cannot change while we hold a reference: Godot's CowData copies before
//   any write through a handle whose buffer is shared, and this handle never writes.
// - It never releases it: `Drop` releases only on the owner thread (see there).
unsafe impl Send for EngineFrame {}

impl HeldPixels for EngineFrame {
    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr`/`len` describe the buffer `data` keeps alive and unchanged (see above).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for EngineFrame {
    fn drop(&mut self) {
        // The recorder drops every frame on the main thread; only a frame stranded in the queue
        // by an encoder failure could end elsewhere, and leaking it beats a binding call there.
        if thread::current().id() == self.owner {
            // SAFETY: dropped once, here; `data` is not used after.
            unsafe { ManuallyDrop::drop(&mut self.data) };
        }
    }
}
