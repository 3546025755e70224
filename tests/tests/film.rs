//! Motion blur (temporal supersampling) and output size (supersampling, letterbox, upscale),
//! measured on decoded output: synthetic frames go through the core's `Recorder`, as the
//! engine's would, and FFmpeg + libdav1d read the files back. Run with `--nocapture` for the
//! figures; the files stay in the target folder's tmp/film/.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use movie_writer_av1_core::scale::{Linear, Resampler};
use movie_writer_av1_core::settings::{self, Value};
use movie_writer_av1_core::{MotionBlur, PixelFormat, Recorder, RecordingConfig, RgbImage};
use movie_writer_av1_tests::film::{self, linear_of_luma, luma_frames, record_frames};
use movie_writer_av1_tests::skip::{self, Need};
use movie_writer_av1_tests::{check_recording, with_time_limit, Expected};
use movie_writer_av1_tools::scene::TestScene;

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("film");
    std::fs::create_dir_all(&dir).expect("create the output folder");
    dir
}

/// Set `MWAV1_WRITE_DOCS=1` to refresh the README's still images in docs/.
fn docs_dir() -> Option<PathBuf> {
    std::env::var_os("MWAV1_WRITE_DOCS").map(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs"))
}

// The moving square: 32 px wide, 4 px per engine frame, on a 256×96 frame, 30 fps out.
const W: u32 = 256;
const H: u32 = 96;
const SIDE: i64 = 32;
const SPEED: i64 = 4;
const OUT_FPS: u32 = 30;
const ROW: usize = 48;

fn square_at(i: u64, rgba: &mut Vec<u8>) {
    film::square(W, H, 8 + SPEED * i as i64, 32, SIDE, rgba);
}

/// Records the square with `samples`/`shutter` and returns the decoded luma of every frame.
fn record_square(name: &str, samples: u32, shutter: f32, groups: u64) -> (PathBuf, Vec<Vec<u8>>) {
    let path = out_dir().join(name);
    let mut config = RecordingConfig::new(&path, W, H, OUT_FPS);
    config.video.quality = 1.0;
    config.motion_blur = MotionBlur { samples, shutter };
    let stats = record_frames(config, W, H, groups * u64::from(samples), square_at).unwrap();
    assert_eq!(stats.frames, groups, "one output frame per group of {samples}");
    assert_eq!(
        stats.audio_samples,
        groups * u64::from(samples) * 48_000 / u64::from(OUT_FPS * samples),
        "every engine frame's audio is in"
    );
    let report = check_recording(&path, &Expected::unknown_source(W, H, OUT_FPS, Some(groups))).unwrap();
    report.assert_ok();
    let frames = luma_frames(&path, W, H).unwrap();
    assert_eq!(frames.len() as u64, groups);
    (path, frames)
}

/// Streak edges where linear light crosses `level`, interpolated between pixels.
fn streak(row: &[f64], level: f64) -> (f64, f64) {
    let first = row.iter().position(|&v| v > level).expect("a streak");
    let last = row.iter().rposition(|&v| v > level).unwrap();
    let cross = |a: usize, b: usize| a as f64 + (level - row[a]) / (row[b] - row[a]) * (b as f64 - a as f64);
    (cross(first - 1, first), cross(last, last + 1))
}

#[test]
fn motion_blur_streak_has_the_expected_length_and_a_linear_light_ramp() {
    with_time_limit(Duration::from_secs(900), || {
        let groups = 4;
        let (_, blurred) = record_square("blur_n8_shutter1.webm", 8, 1.0, groups);
        let (_, half) = record_square("blur_n8_shutter05.webm", 8, 0.5, groups);
        let (_, sharp) = record_square("blur_n1.webm", 1, 0.5, groups * 8);
        // Output frame 2 averages engine frames 16..24: the square's left edge from 72 to 100.
        let linear = |luma: &[u8]| -> Vec<f64> {
            luma[ROW * W as usize..][..W as usize]
                .iter()
                .map(|&y| linear_of_luma(y))
                .collect()
        };
        let row = linear(&blurred[2]);
        let (a, b) = streak(&row, 1.0 / 16.0);
        let expected = (SIDE + SPEED * 7) as f64;
        println!(
            "N=8, shutter 1.0: streak {a:.2} to {b:.2}, length {:.2} px (expected {expected})",
            b - a
        );
        assert!(((b - a) - expected).abs() <= 1.5, "streak length {}", b - a);
        assert!((a - 71.5).abs() <= 1.0, "streak starts at {a}");
        // The leading ramp: 7 steps of 4 px at 1/8, 2/8 … 7/8 of full white in linear light.
        let steps: Vec<f64> = (0..8)
            .map(|j| {
                let x = 72 + 4 * j;
                (row[x + 1] + row[x + 2]) / 2.0
            })
            .collect();
        let rises: Vec<f64> = std::iter::once(steps[0])
            .chain(steps.windows(2).map(|w| w[1] - w[0]))
            .collect();
        println!("leading ramp, linear light per 4-px step: {steps:.3?}");
        println!("rises between steps (linear-light averaging gives 0.125 each): {rises:.3?}");
        let srgb_of = |l: f64| {
            if l <= 0.0031308 {
                12.92 * l
            } else {
                1.055 * l.powf(1.0 / 2.4) - 0.055
            }
        };
        println!(
            "the same steps in sRGB: {:.3?} (averaging sRGB values would have made these rise evenly)",
            steps.iter().map(|&l| srgb_of(l)).collect::<Vec<_>>()
        );
        for (j, r) in rises.iter().enumerate() {
            assert!(
                (r - 0.125).abs() < 0.03,
                "step {j} rises {r:.3} in linear light, not 0.125"
            );
        }

        let row = linear(&half[2]);
        let (a, b) = streak(&row, 1.0 / 8.0);
        let expected_half = (SIDE + SPEED * 3) as f64;
        println!(
            "N=8, shutter 0.5: streak length {:.2} px (expected {expected_half}): added length {:.2} px against {:.2} px at shutter 1.0",
            b - a,
            b - a - SIDE as f64,
            expected - SIDE as f64
        );
        assert!(
            ((b - a) - expected_half).abs() <= 1.5,
            "half-shutter streak length {}",
            b - a
        );

        let row = linear(&sharp[16]);
        let (a, b) = streak(&row, 0.5);
        println!("N=1: square {:.2} px wide", b - a);
        assert!(((b - a) - SIDE as f64).abs() <= 1.0);

        if let Some(docs) = docs_dir() {
            let crop = (48, 16, 160, 64);
            film::save_luma_png(&sharp[16], W, H, crop, &docs.join("motion_blur_off.png")).unwrap();
            film::save_luma_png(&blurred[2], W, H, crop, &docs.join("motion_blur_on.png")).unwrap();
        }
    });
}

/// With motion blur at 1 (whatever the shutter) and no output size, frames bypass the new code:
/// the packets are those of a default recording, and, with `MWAV1_BASELINE` naming an `mwav1`
/// built before the feature, those of that build's recording of the same scene.
#[test]
fn one_sample_gives_the_same_packets_as_before() {
    with_time_limit(Duration::from_secs(900), || {
        let spec = movie_writer_av1_tests::SceneSpec {
            width: 320,
            height: 180,
            fps: 30,
            frames: 30,
            seed: 7,
        };
        let default = out_dir().join("n1_default.webm");
        let explicit = out_dir().join("n1_explicit.webm");
        movie_writer_av1_tests::record_scene(&default, &spec).unwrap();
        movie_writer_av1_tests::record_scene_with(&explicit, &spec, |c| {
            c.motion_blur = MotionBlur {
                samples: 1,
                shutter: 0.2,
            };
            c.output_size = Some((320, 180));
        })
        .unwrap();
        let (a, b) = (
            film::packet_md5s(&default).unwrap(),
            film::packet_md5s(&explicit).unwrap(),
        );
        assert_eq!(a.len(), 30);
        assert_eq!(a, b, "samples = 1 changed the packets");
        println!("samples = 1: {} packets identical to the default recording's", a.len());

        let Some(baseline) = std::env::var_os("MWAV1_BASELINE") else {
            skip::skip(
                "one_sample_gives_the_same_packets_as_before (baseline part)",
                Need::Tool("MWAV1_BASELINE"),
                "set MWAV1_BASELINE to an mwav1 built before motion blur to compare with it",
            );
            return;
        };
        let mine = out_dir().join("n1_cli.webm");
        let theirs = out_dir().join("n1_baseline.webm");
        for (bin, out) in [
            (movie_writer_av1_tests::mwav1::binary(), &mine),
            (PathBuf::from(baseline), &theirs),
        ] {
            let status = std::process::Command::new(bin)
                .args([
                    "record", "--size", "320x180", "--fps", "30", "--frames", "30", "--seed", "7", "--out",
                ])
                .arg(out)
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let (a, b) = (film::packet_md5s(&mine).unwrap(), film::packet_md5s(&theirs).unwrap());
        assert_eq!(a, b, "this build's packets differ from the baseline build's");
        println!("samples = 1: {} packets identical to the baseline build's", a.len());
    });
}

#[test]
fn rendering_at_twice_the_output_size_is_closer_to_the_4x_reference() {
    with_time_limit(Duration::from_secs(1200), || {
        let (w, h, fps, frames) = (320u32, 180u32, 30u32, 30u64);
        // The reference: 4× renders, area-averaged to 1× by the recorder's own filter, unencoded.
        let reference = out_dir().join("spokes_reference_4x.rgba");
        let mut raw = Vec::new();
        let mut rs = Resampler::new(w, h);
        let mut big = Vec::new();
        for i in 0..frames {
            film::spokes(w, h, 4, i, &mut big);
            let img = RgbImage::packed(w * 4, h * 4, PixelFormat::Rgba8, &big).unwrap();
            raw.extend_from_slice(rs.fit(Linear::Srgb(&img)).data);
        }
        std::fs::write(&reference, &raw).unwrap();
        let mut scores = Vec::new();
        for scale in [1u32, 2] {
            let path = out_dir().join(format!("spokes_{scale}x.webm"));
            let mut config = RecordingConfig::new(&path, w * scale, h * scale, fps);
            config.video.quality = 1.0;
            config.output_size = Some((w, h));
            let stats = record_frames(config, w * scale, h * scale, frames, |i, px| {
                film::spokes(w, h, scale, i, px)
            })
            .unwrap();
            assert_eq!(stats.frames_rescaled, 0, "an intended output size is not a resize");
            check_recording(&path, &Expected::unknown_source(w, h, fps, Some(frames)))
                .unwrap()
                .assert_ok();
            let ssim = film::ssim_against_raw(&path, &reference, w, h, fps).unwrap();
            println!(
                "rendered at {scale}x ({}x{}) into {w}x{h}: mean luma SSIM against the 4x reference {ssim:.4}",
                w * scale,
                h * scale
            );
            scores.push(ssim);
            if let Some(docs) = docs_dir() {
                let luma = luma_frames(&path, w, h).unwrap();
                let name = if scale == 1 {
                    "supersampling_off.png"
                } else {
                    "supersampling_on.png"
                };
                film::save_luma_png(&luma[10], w, h, (40, 0, 240, 180), &docs.join(name)).unwrap();
            }
        }
        assert!(
            scores[1] > scores[0],
            "2x SSIM {} is not above 1x SSIM {}",
            scores[1],
            scores[0]
        );
    });
}

/// Records the test scene at `input` size into `output` and runs every file check.
fn scaled_recording(name: &str, input: (u32, u32), output: (u32, u32), samples: u32) -> Vec<String> {
    let path = out_dir().join(name);
    let fps = 30;
    let scene = TestScene::new(input.0, input.1, fps * samples, 3);
    let mut config = RecordingConfig::new(&path, input.0, input.1, fps);
    config.output_size = Some(output);
    config.motion_blur.samples = samples;
    let engine_frames = 45 * u64::from(samples);
    let block = (48_000 / (fps * samples)) as usize * 2;
    let mut recorder = Recorder::start(config).unwrap();
    let (mut px, mut pcm) = (Vec::new(), Vec::new());
    let mut warnings = Vec::new();
    for i in 0..engine_frames {
        scene.render(i, &mut px);
        scene.audio_block(i, &mut pcm);
        pcm.resize(block, 0);
        recorder
            .push_frame(
                &RgbImage::packed(input.0, input.1, PixelFormat::Rgba8, &px).unwrap(),
                &pcm,
            )
            .unwrap();
        warnings.extend(recorder.take_warnings());
    }
    warnings.extend(recorder.take_warnings());
    let stats = recorder.finish().unwrap();
    assert_eq!(stats.frames, 45);
    assert_eq!(stats.frames_rescaled, 0);
    let report = check_recording(&path, &Expected::unknown_source(output.0, output.1, fps, Some(45))).unwrap();
    println!(
        "{name}: {}x{} into {}x{}, samples {samples}\n{report}",
        input.0, input.1, output.0, output.1
    );
    report.assert_ok();
    warnings
}

#[test]
fn odd_output_size_passes_every_check() {
    with_time_limit(Duration::from_secs(900), || {
        let warnings = scaled_recording("odd_output.webm", (640, 360), (319, 181), 1);
        assert!(warnings.is_empty(), "{warnings:?}");
        let warnings = scaled_recording("odd_output_blur.mkv", (640, 360), (321, 179), 4);
        assert!(warnings.is_empty(), "{warnings:?}");
    });
}

#[test]
fn another_aspect_is_letterboxed_and_passes_every_check() {
    with_time_limit(Duration::from_secs(900), || {
        let warnings = scaled_recording("letterbox.mp4", (640, 360), (320, 240), 1);
        assert!(warnings.is_empty(), "{warnings:?}");
        let luma = luma_frames(&out_dir().join("letterbox.mp4"), 320, 240).unwrap();
        // 640×360 into 320×240: a 320×180 picture with 30-row bars above and below.
        let bar = |y: usize| luma[5][y * 320..][..320].iter().all(|&v| v <= 20);
        assert!(bar(2) && bar(20) && bar(220) && bar(237), "black bars");
        assert!(!bar(120), "picture in the middle");
    });
}

#[test]
fn upscaling_passes_every_check_with_one_warning() {
    with_time_limit(Duration::from_secs(900), || {
        let warnings = scaled_recording("upscale.webm", (320, 180), (640, 360), 1);
        println!("{warnings:?}");
        assert_eq!(warnings.len(), 1, "one warning: {warnings:?}");
        assert!(warnings[0].contains("upscaled"), "{warnings:?}");
    });
}

#[test]
fn bad_values_are_refused_with_clear_messages() {
    let mut c = RecordingConfig::new("/tmp/x.webm", 640, 360, 60);
    let e = settings::apply(
        &mut c,
        "editor/movie_writer/av1/output_size",
        Value::Text("1920*1080".into()),
    )
    .unwrap_err();
    println!("{e}");
    assert_eq!(
        e.to_string(),
        "editor/movie_writer/av1/output_size = \"1920*1080\" is not allowed: \"\" (the window's size) or WIDTHxHEIGHT with WIDTH 1 to 8192 and HEIGHT 1 to 4320, e.g. 1920x1080"
    );
    let e = settings::apply(&mut c, "editor/movie_writer/av1/motion_blur_samples", Value::Int(65)).unwrap_err();
    println!("{e}");
    assert_eq!(
        e.to_string(),
        "editor/movie_writer/av1/motion_blur_samples = 65 is not allowed: 1 to 64"
    );
    let e = MotionBlur {
        samples: 4,
        shutter: 0.5,
    }
    .output_fps(250)
    .unwrap_err();
    println!("{e}");
    assert_eq!(
        e.to_string(),
        "editor/movie_writer/av1/motion_blur_samples = 4 needs --fixed-fps to be a multiple of 4; 250 is not: pass --fixed-fps 248 (62 fps out) or 252 (63 fps out)"
    );
}

/// Main-thread cost per engine frame (`push_frame`, with the time blocked on a full queue told
/// apart) and the encode thread's rate, with and without the features. Printed, not asserted.
#[test]
fn benchmark_main_thread_and_encode_thread_cost() {
    with_time_limit(Duration::from_secs(1500), || {
        // Shutter 1.0: every engine frame is accumulated, the most work blur can take.
        type Size = (u32, u32);
        let cases: [(&str, Size, Size, u32, u64); 5] = [
            ("720p, motion blur off", (1280, 720), (1280, 720), 1, 240),
            ("720p, motion blur 4 samples", (1280, 720), (1280, 720), 4, 480),
            ("1080p, blur off, no scaling", (1920, 1080), (1920, 1080), 1, 60),
            ("3840x2160 into 1080p, blur off", (3840, 2160), (1920, 1080), 1, 60),
            (
                "3840x2160 into 1080p, blur 4 samples",
                (3840, 2160),
                (1920, 1080),
                4,
                120,
            ),
        ];
        println!("| case | engine frames | push_frame mean (copy) | blocked on the queue | encode thread: output frames/s | engine frames/s | encode-thread ms per output frame |");
        println!("|---|---|---|---|---|---|---|");
        for (label, input, output, samples, frames) in cases {
            let path = out_dir().join(format!("bench_{}x{}_{}_{samples}.webm", input.0, input.1, output.0));
            let mut config = RecordingConfig::new(&path, input.0, input.1, 30);
            config.output_size = (input != output).then_some(output);
            config.motion_blur = MotionBlur { samples, shutter: 1.0 };
            config.video.speed_preset = movie_writer_av1_core::config::SpeedPreset::Fixed(12);
            let block = (48_000 / config.engine_fps()) as usize * 2;
            let scene = TestScene::new(input.0, input.1, 30 * samples, 1);
            let mut recorder = Recorder::start(config).unwrap();
            // Rendered before timing: only the recorder's own work is measured.
            let images: Vec<Vec<u8>> = (0..4)
                .map(|i| {
                    let mut px = Vec::new();
                    scene.render(i, &mut px);
                    px
                })
                .collect();
            let pcm = vec![0i32; block];
            let mut push = Duration::ZERO;
            for i in 0..frames {
                let img = RgbImage::packed(input.0, input.1, PixelFormat::Rgba8, &images[(i % 4) as usize]).unwrap();
                let t = Instant::now();
                recorder.push_frame(&img, &pcm).unwrap();
                push += t.elapsed();
            }
            let blocked = recorder.backpressure_wait();
            let stats = recorder.finish().unwrap();
            let per = |d: Duration| d.as_secs_f64() * 1000.0 / frames as f64;
            println!(
                "| {label} | {frames} | {:.2} ms | {:.2} ms | {:.1} | {:.1} | {:.2} |",
                per(push - blocked),
                per(blocked),
                stats.encode_fps,
                stats.encode_fps * f64::from(samples),
                1000.0 / stats.encode_fps
            );
        }
    });
}
