//! Buffer recycling between the engine thread and the encode thread.
//!
//! Buffers travel to the encode thread inside queued jobs and come back through a bounded
//! (array-backed, so allocation-free) channel. With a queue of depth N, at most N + 2 buffers
//! ever exist, and steady-state recording allocates nothing.

use crossbeam_channel::{bounded, Receiver, Sender};

pub struct Pool<T> {
    back: Sender<Vec<T>>,
    free: Receiver<Vec<T>>,
}

impl<T> Clone for Pool<T> {
    fn clone(&self) -> Self {
        Self {
            back: self.back.clone(),
            free: self.free.clone(),
        }
    }
}

impl<T> Pool<T> {
    pub fn new(capacity: usize) -> Self {
        let (back, free) = bounded(capacity);
        Self { back, free }
    }

    /// An empty buffer, recycled if one is free (its capacity is kept).
    pub fn take(&self) -> Vec<T> {
        self.free.try_recv().unwrap_or_default()
    }

    /// Returns a buffer for reuse; dropped if the pool is already full.
    pub fn give(&self, mut buf: Vec<T>) {
        buf.clear();
        let _ = self.back.try_send(buf);
    }
}
