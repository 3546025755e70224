//! Figure 2: RGBA→I420 (BT.709) throughput, on the calling thread and split over rayon's pool,
//! which is how the SVT-AV1 backend runs it. The two run in alternating rounds so that load
//! from other processes hits both alike; each figure is the median of the rounds.

use std::time::{Duration, Instant};

use movie_writer_av1_core::color::{rgb_to_i420, I420Buffer};

use super::{median, Clip};

const ROUNDS: usize = 3;
/// Distinct source frames: four 720p frames (15 MB) already exceed the 2 × 1 MB of L2.
const DISTINCT_FRAMES: u64 = 4;

pub fn run(width: u32, height: u32, quick: bool) {
    let clip = Clip::render(width, height, DISTINCT_FRAMES, DISTINCT_FRAMES);
    let mut out = I420Buffer::new(width, height);
    let span = if quick {
        Duration::from_millis(50)
    } else {
        Duration::from_millis(700)
    };
    let (mut serial, mut parallel, mut speedup) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let one = frames_per_second(&clip, &mut out, false, span);
        let pool = frames_per_second(&clip, &mut out, true, span);
        serial.push(one);
        parallel.push(pool);
        speedup.push(pool / one);
    }
    let (one, pool) = (median(&mut serial), median(&mut parallel));
    println!(
        "colour {width}x{height}: 1 thread {one:.0} fps ({:.2} ms/frame), rayon {} threads {pool:.0} fps ({:.2} ms/frame), speed-up x{:.2} (median of {ROUNDS} rounds)",
        1000.0 / one,
        rayon::current_num_threads(),
        1000.0 / pool,
        median(&mut speedup),
    );
}

/// Converts frames for at least `span` and returns the rate.
fn frames_per_second(clip: &Clip, out: &mut I420Buffer, parallel: bool, span: Duration) -> f64 {
    let started = Instant::now();
    let mut frames = 0;
    while frames < DISTINCT_FRAMES || started.elapsed() < span {
        rgb_to_i420(&clip.image(frames), &mut out.planes(), parallel);
        frames += 1;
    }
    frames as f64 / started.elapsed().as_secs_f64()
}
