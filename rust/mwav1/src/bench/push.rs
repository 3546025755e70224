//! Figures 1 and 5: what `Recorder::push_frame` costs the engine thread, and the Rust heap
//! allocations per frame once the pipeline is warm.
//!
//! The recording runs for real (SVT-AV1 at the default preset and CRF, default queue depth), so
//! the copy competes with the encoder for the CPU as it does in a game. The encoder cannot keep
//! up with a loop that only pushes, so most pushes find the queue full and wait; the pipeline
//! measures that wait itself (`Recorder::backpressure_wait`, timed around the blocking send
//! only), and the copy + enqueue cost is each push's time minus its wait. The waits are reported
//! on their own line: they are the encoder's speed, not the engine thread's work.

use std::path::Path;
use std::time::Instant;

use movie_writer_av1_core::config::{quality_to_qindex, VideoConfig};
use movie_writer_av1_core::Recorder;

use super::alloc_count::Count;
use super::{config, median, ms, percentile, Clip, PRESET};

/// Distinct frames replayed in a loop: at 720p these are 59 MB, more than the 32 MB L3 cache.
const DISTINCT_FRAMES: u64 = 16;

pub struct Size {
    width: u32,
    height: u32,
    /// Pushes before measuring, so the buffer pools, the encoder's look-ahead and the muxer's
    /// buffers have reached their steady state.
    warmup: u64,
    measured: u64,
}

impl Size {
    pub const fn new(width: u32, height: u32, warmup: u64, measured: u64) -> Self {
        Self {
            width,
            height,
            warmup,
            measured,
        }
    }
}

pub fn run(size: &Size, dir: &Path) -> Result<(), String> {
    let (w, h) = (size.width, size.height);
    let clip = Clip::render(w, h, size.warmup + size.measured, DISTINCT_FRAMES);
    let defaults = VideoConfig::default();
    let config = config(
        &dir.join(format!("push-{w}x{h}.webm")),
        &clip,
        PRESET,
        quality_to_qindex(defaults.quality),
    );
    let depth = config.max_queued_frames;
    let mut recorder = Recorder::start(config).map_err(|e| e.to_string())?;
    let n = size.measured as usize;
    // Allocated before the measured window, which must allocate nothing of its own.
    let (mut copy_ms, mut wait_ms) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut engine_allocs = 0;
    let mut window_start = Count::now();
    for i in 0..clip.frames {
        if i == size.warmup {
            window_start = Count::now();
        }
        let (image, audio) = (clip.image(i), clip.audio(i));
        let waited_before = recorder.backpressure_wait();
        let before = Count::now();
        let started = Instant::now();
        recorder.push_frame(&image, audio).map_err(|e| e.to_string())?;
        let took = started.elapsed();
        let allocs = Count::now().since(before).this_thread;
        let waited = recorder.backpressure_wait() - waited_before;
        if i >= size.warmup {
            copy_ms.push(ms(took.saturating_sub(waited)));
            wait_ms.push(ms(waited));
            engine_allocs += allocs;
        }
    }
    // Read before `finish`: the flush and the file's end are not per-frame work.
    let window = Count::now().since(window_start);
    recorder.finish().map_err(|e| e.to_string())?;

    println!(
        "push_frame {w}x{h}: copy+enqueue median {:.3} ms, p95 {:.3} ms ({n} frames after {} warm-up, queue depth {depth}, backpressure excluded)",
        median(&mut copy_ms),
        percentile(&mut copy_ms, 95.0),
        size.warmup,
    );
    let mut waits: Vec<f64> = wait_ms.into_iter().filter(|&t| t > 0.0).collect();
    if waits.is_empty() {
        println!("push_frame {w}x{h}: backpressure: no push waited for the encoder");
    } else {
        println!(
            "push_frame {w}x{h}: backpressure: {} of {n} pushes waited for the encoder, median wait {:.1} ms, {:.2} s in all",
            waits.len(),
            median(&mut waits),
            waits.iter().sum::<f64>() / 1000.0,
        );
    }
    let per_frame = |count: u64| count as f64 / n as f64;
    println!(
        "allocations {w}x{h}: engine thread {engine_allocs} in {n} push_frame calls ({:.3}/frame); all threads {} over those {n} frames ({:.3}/frame; Rust's allocator only, FFmpeg/SVT-AV1/libopus malloc is not seen)",
        per_frame(engine_allocs),
        window.all_threads,
        per_frame(window.all_threads),
    );
    Ok(())
}
