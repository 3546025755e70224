//! Fuzzing, as ordinary tests with a time bound: the render farm's chunk reader and check
//! (FFmpeg's matroska demuxer, the header limits, libaom) and the AV1 sequence-header parser
//! get mutations of a real chunk, recorded here by the pipeline as the writer's render range
//! records one. Nothing may panic or crash, and whatever passes must be within the recorder's
//! limits. Each target runs `MWAV1_FUZZ_SECONDS` (default 3 s; the seed is
//! `MWAV1_FUZZ_SEED`, default 1) and prints its executions and outcomes.
//!
//! cargo-fuzz would need a nightly toolchain and a sanitizer build of the static encoder stack;
//! a seeded mutation loop over a real chunk runs in every `./dev test` instead.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use movie_writer_av1_core::av1;
use movie_writer_av1_core::config::{MAX_HEIGHT, MAX_WIDTH};
use movie_writer_av1_core::{PixelFormat, Recorder, RecordingConfig, RgbImage};
use movie_writer_av1_tools::farm::chunk::{read_chunk, ChunkPacket};
use movie_writer_av1_tools::farm::{check_chunk, merge, Expected};
use movie_writer_av1_tools::scene::{Rng, TestScene};

const FRAMES: u64 = 12;
const JOB: &str = "fuzz0123:0:12";

fn budget() -> Duration {
    let s = std::env::var("MWAV1_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(3.0);
    Duration::from_secs_f64(s)
}

fn seed() -> u64 {
    std::env::var("MWAV1_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chunk_fuzz").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A chunk as `--movie-range=0:12 --movie-job=…` records it: 96×64 at 30 fps, AV1 and PCM in
/// Matroska, tagged with its job.
fn real_chunk(d: &Path) -> Vec<u8> {
    let path = d.join("real.mkv");
    let (w, h, fps) = (96, 64, 30);
    let mut config = RecordingConfig::new(&path, w, h, fps);
    config
        .range
        .apply_args(&[format!("--movie-range=0:{FRAMES}"), format!("--movie-job={JOB}")])
        .unwrap();
    let mut recorder = Recorder::start(config).unwrap();
    let scene = TestScene::new(w, h, fps, 1);
    let (mut pixels, mut audio) = (Vec::new(), Vec::new());
    for i in 0..FRAMES {
        scene.render(i, &mut pixels);
        scene.audio_block(i, &mut audio);
        let image = RgbImage::packed(w, h, PixelFormat::Rgba8, &pixels).unwrap();
        recorder.push_frame(&image, &audio).unwrap();
    }
    recorder.finish().unwrap();
    let want = Expected {
        frames: Some(FRAMES),
        identity: Some(JOB.into()),
    };
    check_chunk(&path, &want).expect("the recorded chunk passes its check, with its job's tag");
    std::fs::read(&path).unwrap()
}

/// 1 to 4 mutations; half of them land before the first Cluster (the headers a reader
/// trusts), since most of a chunk is AV1 payload the decoder judges anyway.
fn mutate(rng: &mut Rng, data: &mut Vec<u8>, header_len: usize) {
    const INTERESTING: [u8; 6] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
    for _ in 0..=rng.below(4) {
        let len = data.len().max(1) as u64;
        let at = if rng.below(2) == 0 {
            rng.below((header_len as u64).clamp(1, len))
        } else {
            rng.below(len)
        } as usize;
        if data.is_empty() {
            data.push(0);
        }
        let at = at.min(data.len() - 1);
        match rng.below(7) {
            0 => data[at] ^= 1 << rng.below(8),
            1 => data[at] = INTERESTING[rng.below(6) as usize],
            2 => data[at] = rng.next_u64() as u8,
            3 => data.truncate(at),
            4 => {
                let n = 1 + rng.below(8) as usize;
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                data.splice(at..at, bytes);
            }
            5 => {
                let from = rng.below(len) as usize;
                let n = (1 + rng.below(64) as usize).min(data.len() - from.min(data.len()));
                let piece: Vec<u8> = data[from.min(data.len())..][..n].to_vec();
                let end = (at + piece.len()).min(data.len());
                data[at..end].copy_from_slice(&piece[..end - at]);
            }
            _ => {
                let word: [u8; 4] = [0xffff_ffff_u32, 0x7fff_ffff, 0x8000_0000, 1][rng.below(4) as usize].to_be_bytes();
                let end = (at + 4).min(data.len());
                data[at..end].copy_from_slice(&word[..end - at]);
            }
        }
    }
}

fn first_cluster(data: &[u8]) -> usize {
    data.windows(4)
        .position(|w| w == [0x1f, 0x43, 0xb6, 0x75])
        .unwrap_or(data.len())
}

#[test]
fn fuzz_the_chunk_reader_and_check() {
    let d = dir("reader");
    let real = real_chunk(&d);
    let header_len = first_cluster(&real);
    let (path, merged) = (d.join("mutated.mkv"), d.join("merged.mp4"));
    let mut rng = Rng::new(seed());
    let (started, budget) = (Instant::now(), budget());
    let (mut runs, mut passed, mut merges) = (0u64, 0u64, 0u64);
    while started.elapsed() < budget {
        let mut data = real.clone();
        mutate(&mut rng, &mut data, header_len);
        std::fs::write(&path, &data).unwrap();
        let expected = if rng.below(2) == 0 {
            Expected::default()
        } else {
            Expected {
                frames: Some(FRAMES),
                identity: Some(JOB.into()),
            }
        };
        runs += 1;
        let Ok(info) = check_chunk(&path, &expected) else {
            continue;
        };
        passed += 1;
        let f = &info.format;
        assert!(
            (1..=1000).contains(&f.fps)
                && (1..=MAX_WIDTH).contains(&f.width)
                && (1..=MAX_HEIGHT).contains(&f.height)
                && (f.sample_rate, f.channels) == (48_000, 2),
            "a chunk past the recorder's limits passed: {f:?} (seed {}, run {runs})",
            seed()
        );
        // What passes is merged, into MP4: its time base comes from the chunk's fps.
        if merge(std::slice::from_ref(&path), None, &merged).is_ok() {
            merges += 1;
        }
    }
    println!(
        "fuzz chunk reader: {runs} executions in {:.1} s (seed {}): {passed} passed the check, {merges} merged, {} refused, 0 crashes",
        started.elapsed().as_secs_f64(),
        seed(),
        runs - passed
    );
    assert!(runs > 0);
}

#[test]
fn fuzz_the_av1_sequence_header_parser() {
    let d = dir("parser");
    let real = real_chunk(&d);
    // The seeds: the CodecPrivate's sequence header and the first temporal unit.
    let mut seeds = Vec::new();
    read_chunk(&d.join("real.mkv"), &Expected::default(), |format, packet| {
        if seeds.is_empty() {
            seeds.push(format.av1c[4..].to_vec());
        }
        if let ChunkPacket::Video { data, .. } = packet {
            if seeds.len() < 2 {
                seeds.push(data.to_vec());
            }
        }
        Ok(())
    })
    .unwrap();
    drop(real);
    let mut rng = Rng::new(seed());
    let (started, budget) = (Instant::now(), budget());
    let (mut runs, mut parsed) = (0u64, 0u64);
    let mut out = Vec::new();
    while started.elapsed() < budget {
        for _ in 0..256 {
            let mut data = seeds[rng.below(seeds.len() as u64) as usize].clone();
            let len = data.len();
            mutate(&mut rng, &mut data, len);
            runs += 1;
            if let Some(s) = av1::parse_sequence_header(&data) {
                parsed += 1;
                assert!(
                    (1..=65536).contains(&s.max_width)
                        && (1..=65536).contains(&s.max_height)
                        && s.profile < 8
                        && s.level < 32,
                    "{s:?} from {data:02x?}"
                );
                let c = av1::av1c(&data).expect("av1c of a header that parses");
                assert!(c[0] == 0x81 && c[4..] == data[..], "{c:02x?}");
            }
            for size in av1::sequence_header_sizes(&data).flatten() {
                assert!(
                    size.0 >= 1 && size.1 >= 1 && size.0 <= 65536 && size.1 <= 65536,
                    "{size:?}"
                );
            }
            let _ = av1::find_sequence_header(&data);
            let _ = av1::normalize_sequence_header(&data);
            av1::strip_temporal_delimiters(&data, &mut out);
            assert!(out.len() <= data.len());
        }
    }
    println!(
        "fuzz AV1 sequence-header parser: {runs} executions in {:.1} s (seed {}): {parsed} parsed, 0 panics",
        started.elapsed().as_secs_f64(),
        seed()
    );
}
