//! Property tests: audio re-chunking keeps exact sample accounting for any fps and any block
//! size, and every frame size from 1×1 to 8192×4320 is either encodable as is or refused with a
//! message that names the allowed range.

use movie_writer_av1_core::audio::AudioEncoder;
use movie_writer_av1_core::backend::{software_kind, BackendKind};
use movie_writer_av1_core::color::{rgb_to_i420, I420Buffer};
use movie_writer_av1_core::config::{AudioCodec, AudioConfig, MAX_HEIGHT, MAX_WIDTH};
use movie_writer_av1_core::{PixelFormat, RecordingConfig, RgbImage};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the engine hands over per frame (its usual 48000/fps block, or any other length),
    /// N frames become exactly ⌊N·48000/fps⌋ samples, in contiguous packets (Opus 960 samples,
    /// AAC 1024) whose codec delay and end trim account for every padded sample.
    #[test]
    fn audio_sample_accounting_is_exact(fps in 1u32..=1000, frames in 0u64..24, odd_block in proptest::option::of(0usize..3000), aac: bool) {
        let codec = if aac { AudioCodec::Aac } else { AudioCodec::Opus };
        let mut enc = AudioEncoder::new(codec, &AudioConfig::default(), fps).unwrap();
        let frame = enc.frame_samples() as u64;
        let block = odd_block.unwrap_or(AudioEncoder::engine_block_frames(48_000, fps));
        let pcm = vec![1 << 20; block * 2];
        let mut packets = 0u64;
        let mut trim = 0u64;
        let mut count = |p: movie_writer_av1_core::audio::AudioPacket<'_>| {
            assert_eq!(p.pts_samples, packets * frame, "packets are contiguous");
            packets += 1;
            trim += u64::from(p.end_trim_samples.unwrap_or(0));
            Ok(())
        };
        for _ in 0..frames {
            enc.push_frame(&pcm, &mut count).unwrap();
        }
        enc.finish(&mut count).unwrap();
        let expected = frames * 48_000 / u64::from(fps);
        prop_assert_eq!(enc.samples_in(), expected);
        if expected == 0 {
            prop_assert_eq!(packets, 0, "no samples, no packets");
        } else {
            prop_assert_eq!(packets * frame - u64::from(enc.delay()) - trim, expected);
            prop_assert!(trim < frame);
        }
    }

    /// Every size up to the limit validates and gets an encoder that codes it exactly; anything
    /// larger is refused naming the range.
    #[test]
    fn frame_sizes_are_coded_exactly_or_refused(w in 1u32..=MAX_WIDTH + 64, h in 1u32..=MAX_HEIGHT + 64) {
        let config = RecordingConfig::new("/tmp/p.webm", w, h, 60);
        if w > MAX_WIDTH || h > MAX_HEIGHT {
            let e = config.validate().unwrap_err().to_string();
            prop_assert!(e.contains(&format!("1 to {MAX_WIDTH}")) || e.contains(&format!("1 to {MAX_HEIGHT}")), "{}", e);
        } else {
            config.validate().unwrap();
            let svt_exact = w % 2 == 0 && h % 2 == 0 && w >= 64 && h >= 64;
            let expected = if svt_exact { BackendKind::SvtAv1 } else { BackendKind::Aom };
            prop_assert_eq!(software_kind(&config), expected);
        }
    }

    /// Colour conversion handles any size, odd or even, identically on one thread or many.
    #[test]
    fn conversion_of_any_small_size_is_deterministic(w in 1u32..80, h in 1u32..80, seed in any::<u8>()) {
        let data: Vec<u8> = (0..(w * h * 4) as usize).map(|i| (i as u8).wrapping_mul(seed | 1)).collect();
        let img = RgbImage::packed(w, h, PixelFormat::Rgba8, &data).unwrap();
        let (mut a, mut b) = (I420Buffer::new(w, h), I420Buffer::new(w, h));
        rgb_to_i420(&img, &mut a.planes(), false);
        rgb_to_i420(&img, &mut b.planes(), true);
        prop_assert!(a.y == b.y && a.u == b.u && a.v == b.v);
        prop_assert!(a.y.iter().all(|&v| (16..=235).contains(&v)), "limited-range luma");
    }
}
