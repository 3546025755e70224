//! How much memory a recording may gain once it is warm, and the measure of it: the anonymous
//! resident memory (heap, stacks; `RssAnon`) of the `mwav1` process, read from outside it in
//! `/proc/PID/status`. It includes FFmpeg's, SVT-AV1's and libopus's own allocations, which the
//! process's Rust allocator does not see, and leaves out the pages of the binary itself, which
//! are paged in as code runs for the first time and are no leak.

use movie_writer_av1_core::RecordingConfig;

use crate::record::SceneSpec;

/// Anonymous resident memory of the running process `pid` in KiB; `None` once it has ended.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The largest rise of RSS after the warm-up over its value at the warm-up's end, in KiB, from
/// samples of (frames queued, RSS KiB). `None` when no sample was taken at or after `warmup`.
pub fn growth_after_kib(samples: &[(u64, u64)], warmup: u64) -> Option<u64> {
    let mut after = samples.iter().filter(|&&(frames, _)| frames >= warmup);
    let &(_, base) = after.next()?;
    Some(after.map(|&(_, rss)| rss.saturating_sub(base)).max().unwrap_or(0))
}

/// What glibc's allocator may keep resident beyond the live data: freed chunks it has not
/// returned yet (per thread arena, trimmed only past `M_TRIM_THRESHOLD`). Measured on this
/// scene after its warm-up: RssAnon moved by at most 0.2 MiB over 7.5 minutes of video at
/// 160×96; 1 MiB leaves room for scheduling noise.
const ALLOCATOR_SLACK_KIB: u64 = 1024;

/// Seconds of video before the pipeline's memory is at its steady state. The buffers that keep
/// their capacity (the encoder's packet buffer, the interleaver's recycled packet buffers, the
/// muxer's cluster buffer) grow to the largest packet and cluster seen so far, so they grow
/// until the scene's largest frames have been seen: measured, within 150 s of this scene
/// (RssAnon at 160×96: +3.9 MiB from 11 s to 150 s, +0.2 MiB from 150 s to 600 s).
pub const WARMUP_S: u32 = 150;

/// How much a recording of `spec` with `queue_depth` queued frames may gain after its warm-up.
///
/// By the end of the warm-up ([`WARMUP_S`]) every buffer of the pipeline exists at its steady
/// size: the frame queue and its two pools (`queue_depth + 2` RGBA frames and as many audio
/// blocks), the encoders', the interleaver's and the muxer's buffers. From then on only the cue
/// index grows: one 16-byte entry per keyframe, in a vector that doubles. The bound allows
/// that, one more full set of pooled buffers (the allocator need not reuse freed ones in
/// place), and the allocator's slack. A leak of a few hundred bytes per frame over a few
/// thousand frames breaks it.
pub fn allowed_growth_kib(spec: &SceneSpec, queue_depth: u64, keyframe_interval_s: f64) -> u64 {
    let frame = u64::from(spec.width) * u64::from(spec.height) * 4;
    let audio_block = u64::from(48_000 / spec.fps) * 2 * 4;
    let pooled = (queue_depth + 2) * (frame + audio_block);
    let keyframes = (spec.duration_s() / keyframe_interval_s).ceil() as u64 + 1;
    let cues = 2 * 16 * keyframes;
    (pooled + cues).div_ceil(1024) + ALLOCATOR_SLACK_KIB
}

/// Panics unless the RSS `samples` of an `mwav1 record` of `spec` with default settings rise
/// by no more than [`allowed_growth_kib`] after the warm-up ([`WARMUP_S`]).
pub fn assert_flat(samples: &[(u64, u64)], spec: &SceneSpec) {
    let warmup = u64::from(WARMUP_S * spec.fps);
    assert!(
        spec.frames >= 2 * warmup,
        "a memory check needs at least twice the warm-up of {WARMUP_S} s"
    );
    let defaults = RecordingConfig::new("", spec.width, spec.height, spec.fps);
    let allowed = allowed_growth_kib(
        spec,
        u64::from(defaults.max_queued_frames),
        f64::from(defaults.video.keyframe_interval_s),
    );
    let growth = growth_after_kib(samples, warmup)
        .unwrap_or_else(|| panic!("no RSS sample at or after frame {warmup}: {samples:?}"));
    let every = (samples.len() / 12).max(1);
    let trace: Vec<_> = samples.iter().step_by(every).collect();
    println!("RSS (frames queued, KiB): {trace:?}");
    println!("RSS growth after {warmup} warm-up frames: {growth} KiB (allowed {allowed} KiB)");
    assert!(
        growth <= allowed,
        "RSS grew by {growth} KiB after the warm-up, more than the {allowed} KiB the queue, the \
         pools, the cue index and the allocator account for: {trace:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_counts_from_the_warm_up_sample() {
        let samples = [(30, 9000), (60, 10_000), (90, 10_400), (120, 10_100)];
        assert_eq!(growth_after_kib(&samples, 60), Some(400));
        assert_eq!(growth_after_kib(&samples, 120), Some(0));
        assert_eq!(growth_after_kib(&samples, 150), None);
    }

    #[test]
    fn the_bound_grows_with_the_pools_and_the_length() {
        let spec = SceneSpec {
            width: 96,
            height: 64,
            fps: 60,
            frames: 60 * 60,
            seed: 1,
        };
        let base = allowed_growth_kib(&spec, 8, 2.0);
        // 10 × (24 576 + 6 400) bytes pooled, 31 cues: 303 KiB + 1 KiB, plus the slack.
        assert_eq!(base, 303 + 1 + ALLOCATOR_SLACK_KIB);
        assert!(allowed_growth_kib(&spec, 16, 2.0) > base);
        assert!(
            allowed_growth_kib(
                &SceneSpec {
                    frames: 30 * 3600,
                    ..spec
                },
                8,
                2.0
            ) > base
        );
    }
}
