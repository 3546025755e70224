//! SVT-AV1 2.3 keeps one block-geometry table per process (`svt_aom_blk_geom_mds`), which every
//! encoder it opens rebuilds for its own geometry (`svt_aom_build_blk_geom` in `enc_handle.c`;
//! the geometry follows from the preset and the frame size). An encoder opened with another
//! geometry while one is running rewrites the table under it, and the running one can loop
//! forever in its entropy coder: seen twice in the test suite, in `tx_size_to_depth`, at the
//! real-time priority SVT-AV1 gives its threads when run as root. So the SVT-AV1 encoders that
//! run at once in a process all share one geometry: an encoder whose geometry differs from the
//! running ones' waits for them to close (a Movie Maker recording opens its encoder on its
//! encode thread, so the game is not held), for at most [`WAIT`].

use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// How long an encoder waits for encoders of another geometry to close before it gives up.
pub const WAIT: Duration = Duration::from_secs(60);

/// What decides an encoder's block geometry, kept coarse on purpose: two encoders that differ
/// in any of it are taken to differ in geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub preset: u8,
    pub width: u32,
    pub height: u32,
    pub all_intra: bool,
}

/// The geometry in use by a process's encoders, and how many use it.
#[derive(Debug)]
struct InUse {
    geometry: Mutex<Option<(Geometry, usize)>>,
    released: Condvar,
}

static IN_USE: InUse = InUse {
    geometry: Mutex::new(None),
    released: Condvar::new(),
};

/// Held by an open encoder; dropped after the encoder is closed.
#[derive(Debug)]
pub struct Claim(&'static InUse);

impl Drop for Claim {
    fn drop(&mut self) {
        let mut in_use = self.0.geometry.lock();
        if let Some((_, count)) = in_use.as_mut() {
            *count -= 1;
            if *count == 0 {
                *in_use = None;
                self.0.released.notify_all();
            }
        }
    }
}

/// A claim on `geometry`: at once when no encoder runs or the running ones share it, else once
/// they have closed; `Err` with the geometry in use after waiting `wait` in vain.
pub fn claim(geometry: Geometry, wait: Duration) -> Result<Claim, Geometry> {
    IN_USE.claim(geometry, wait)
}

impl InUse {
    fn claim(&'static self, geometry: Geometry, wait: Duration) -> Result<Claim, Geometry> {
        let deadline = Instant::now() + wait;
        let mut in_use = self.geometry.lock();
        loop {
            match in_use.as_mut() {
                None => {
                    *in_use = Some((geometry, 1));
                    return Ok(Claim(self));
                }
                Some((g, count)) if *g == geometry => {
                    *count += 1;
                    return Ok(Claim(self));
                }
                Some((g, _)) => {
                    let other = *g;
                    if self.released.wait_until(&mut in_use, deadline).timed_out() && in_use.is_some() {
                        return Err(other);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(preset: u8) -> Geometry {
        Geometry {
            preset,
            width: 64,
            height: 64,
            all_intra: false,
        }
    }

    /// Encoders of one geometry run together; one of another waits until they have closed, and
    /// gives up after its wait. A table of its own: the process's is used by other tests' encoders.
    #[test]
    fn encoders_of_another_geometry_wait_for_the_running_ones() {
        static TABLE: InUse = InUse {
            geometry: Mutex::new(None),
            released: Condvar::new(),
        };
        let a = TABLE.claim(geometry(10), Duration::ZERO).unwrap();
        let b = TABLE
            .claim(geometry(10), Duration::ZERO)
            .expect("the same geometry runs alongside");
        assert_eq!(
            TABLE.claim(geometry(7), Duration::from_millis(50)).unwrap_err(),
            geometry(10)
        );
        let waiter = std::thread::spawn(|| TABLE.claim(geometry(7), Duration::from_secs(10)).map(|_| ()));
        drop(a);
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "one encoder of the other geometry still runs");
        drop(b);
        assert_eq!(waiter.join().unwrap(), Ok(()), "it opens once both have closed");
        assert!(TABLE.geometry.lock().is_none(), "its claim ended with its thread");
    }
}
