//! The user-facing settings, in one table: Godot project-setting name, type, allowed range,
//! default and documentation. The extension registers Project Settings from it, `apply`
//! validates raw values from any source against it, and the README's settings table mirrors it.

use crate::config::{parse_output_size, AudioCodec, RateControl, RecordingConfig};
use crate::error::ConfigError;
use crate::kinds::{BackendKind, BackendPreference};
use crate::render_range::parse_range_setting;
use crate::speed_preset::{self, SpeedPreset};

/// Where our settings live in Project Settings.
pub const PREFIX: &str = "editor/movie_writer/av1/";
/// Godot's own quality knob, which this writer honours as its default quality.
pub const VIDEO_QUALITY: &str = "editor/movie_writer/video_quality";

#[derive(Debug, Clone)]
pub enum Kind {
    Int {
        min: i64,
        max: i64,
        default: i64,
    },
    Float {
        min: f64,
        max: f64,
        default: f64,
    },
    Choice {
        options: Vec<&'static str>,
        default: &'static str,
    },
    /// Free text, checked by `parse`, which returns what is allowed when the text is not.
    Text {
        default: &'static str,
        /// What the empty field shows in the Project Settings dialog.
        placeholder: &'static str,
        parse: fn(&str) -> Result<(), String>,
    },
}

#[derive(Debug, Clone)]
pub struct Setting {
    /// Full Project Settings path.
    pub name: String,
    pub kind: Kind,
    pub doc: &'static str,
    /// Registered by the engine itself (we only read it).
    pub engine_owned: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Text(String),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Int(v) => write!(f, "{v}"),
            Self::Float(v) => write!(f, "{v}"),
            Self::Text(v) => write!(f, "\"{v}\""),
        }
    }
}

fn ours(name: &str, kind: Kind, doc: &'static str) -> Setting {
    Setting {
        name: format!("{PREFIX}{name}"),
        kind,
        doc,
        engine_owned: false,
    }
}

fn int(min: i64, max: i64, default: i64) -> Kind {
    Kind::Int { min, max, default }
}

/// Every setting, in the order the Project Settings dialog shows them.
pub fn all() -> Vec<Setting> {
    let mut encoders = vec!["auto", "hardware", "software"];
    encoders.extend(BackendKind::ALL.iter().map(|k| k.id()));
    vec![
        Setting {
            name: VIDEO_QUALITY.into(),
            kind: Kind::Float { min: 0.0, max: 1.0, default: 0.75 },
            doc: "Godot's quality knob: 0.75 → CRF 32, 1.0 → CRF 10, 0.0 → CRF 63 (linear between). Used by crf and cqp.",
            engine_owned: true,
        },
        ours(
            "encoder",
            Kind::Choice { options: encoders, default: "auto" },
            "auto: best hardware encoder, else SVT-AV1. hardware: fail if no hardware encoder. software: SVT-AV1. Or one backend by id.",
        ),
        ours(
            "rate_control",
            Kind::Choice { options: RateControl::NAMES.to_vec(), default: "crf" },
            "crf: constant quality (best size for the look). cqp: constant quantizer. vbr: average bitrate. cbr: constant bitrate.",
        ),
        ours("bitrate_kbps", int(50, 500_000, 6000), "Target bitrate for vbr and cbr, in kbit/s."),
        ours("max_bitrate_kbps", int(0, 500_000, 0), "Peak bitrate cap for vbr (0 = no cap), in kbit/s."),
        ours(
            "speed_preset",
            Kind::Choice { options: speed_preset::NAMES.to_vec(), default: "auto" },
            "SVT-AV1 preset: 0 slowest/smallest … 11 fastest; SVT-AV1 2.3 runs 12 and 13 as 11 (the same file). auto: the slowest of 7–11 that encodes the frame size at the frame rate in real time on 40 % of the cores (720p30 on 2 cores: 10, 720p60: 11, 1080p60 on 16 cores: 8). Hardware encoders map it to their own presets.",
        ),
        ours(
            "keyframe_interval",
            Kind::Float { min: 0.0, max: 300.0, default: 2.0 },
            "Seconds between keyframes: seeking granularity in players. 0 = every frame a keyframe (all-intra: instant scrubbing in editors, several times the size).",
        ),
        ours("tile_columns", int(0, 4, 0), "log2 of AV1 tile columns (0 = 1 tile): more tiles, more encoder/decoder threads."),
        ours("tile_rows", int(0, 4, 0), "log2 of AV1 tile rows."),
        ours("film_grain", int(0, 50, 0), "AV1 film-grain synthesis denoising level (0 = off)."),
        ours(
            "audio_codec",
            Kind::Choice { options: vec!["auto", "aac", "opus", "pcm"], default: "auto" },
            "auto: AAC for .mp4 (what editors read), Opus for .webm and .mkv, but PCM for a render-range chunk in .mkv. .webm takes Opus only; .mp4 takes AAC or Opus; .mkv takes all three. pcm: uncompressed 32-bit float, for chunks that are joined and encoded later.",
        ),
        ours("audio_bitrate_kbps", int(6, 510, 128), "Audio bitrate (Opus or AAC) for the stereo track, in kbit/s."),
        ours("max_queued_frames", int(1, 120, 8), "Frames that may wait for the encoder before the game is held back."),
        ours(
            "motion_blur_samples",
            int(1, 64, 1),
            "Motion blur: engine frames averaged (in linear light) into each output frame; 1 = off. Run the engine at this many times the movie's fps: `--fixed-fps 240` with 4 gives a 60 fps file.",
        ),
        ours(
            "motion_blur_shutter",
            Kind::Float { min: 0.0, max: 1.0, default: 0.5 },
            "Fraction of each output frame's engine frames that are averaged (the first round(samples × shutter), at least 1): 0.5 is film's 180° shutter, 1 blurs the whole frame interval.",
        ),
        ours(
            "output_size",
            Kind::Text { default: "", placeholder: "WIDTHxHEIGHT, e.g. 1920x1080", parse: |t| parse_output_size(t).map(|_| ()) },
            "The file's size as WIDTHxHEIGHT; \"\" = the window's size. A larger window is downscaled by area averaging in linear light (supersampling), a smaller one upscaled (with a warning), another aspect letterboxed.",
        ),
        ours(
            "render_range",
            Kind::Text { default: "", placeholder: "START:END, e.g. 600:1200", parse: |t| parse_range_setting(t).map(|_| ()) },
            "Record only frames START to END (END excluded, frames from 0) as START:END, then quit; \"\" = the whole recording. The scene must seek to START − render_preroll (MovieWriterAV1.get_render_range()). `-- --movie-range=START:END` on the command line wins.",
        ),
        ours(
            "render_preroll",
            int(0, 1_000_000, 0),
            "Frames rendered before START and thrown away, video and audio, so particles, TAA and physics settle (at most START). `-- --movie-preroll=N` on the command line wins.",
        ),
    ]
}

/// Validates `value` for the setting `name` and stores it in `config`.
pub fn apply(config: &mut RecordingConfig, name: &str, value: Value) -> Result<(), ConfigError> {
    let settings = all();
    let Some(setting) = settings.iter().find(|s| s.name == name) else {
        return Err(ConfigError::new(
            "setting",
            name,
            "one of the names listed in the README",
        ));
    };
    let field = name.strip_prefix(PREFIX).unwrap_or(name);
    match check(setting, value)? {
        Value::Int(v) => store_int(config, field, v),
        Value::Float(v) => store_float(config, field, v),
        Value::Text(v) => store_text(config, field, &v),
    }
    Ok(())
}

/// Checks every table-backed field of `config` against the table (used by `validate`).
pub fn check_config(config: &RecordingConfig) -> Result<(), ConfigError> {
    for setting in all() {
        let field = setting.name.strip_prefix(PREFIX).unwrap_or(&setting.name);
        check(&setting, read(config, field))?;
    }
    Ok(())
}

/// The value normalised to the setting's type (ints accepted for floats, choices lowercased),
/// or an error naming the setting, the value and what is allowed.
fn check(setting: &Setting, value: Value) -> Result<Value, ConfigError> {
    let err = |allowed: String| ConfigError::new(&setting.name, &value, allowed);
    match &setting.kind {
        Kind::Int { min, max, .. } => {
            let Value::Int(v) = value else {
                return Err(err("must be a whole number".into()));
            };
            if v < *min || v > *max {
                return Err(err(format!("{min} to {max}")));
            }
            Ok(Value::Int(v))
        }
        Kind::Float { min, max, .. } => {
            let v = match value {
                Value::Float(v) => v,
                Value::Int(v) => v as f64,
                Value::Text(_) => return Err(err("must be a number".into())),
            };
            if !(v >= *min && v <= *max) {
                return Err(err(format!("{min} to {max}")));
            }
            Ok(Value::Float(v))
        }
        Kind::Choice { options, .. } => {
            // A number is taken as its text: speed_preset's choices are "auto" and 0–13, and
            // projects saved before it had "auto" hold a whole number.
            let v = match &value {
                Value::Text(v) => v.to_ascii_lowercase(),
                Value::Int(v) => v.to_string(),
                Value::Float(_) => return Err(err("must be text".into())),
            };
            if !options.contains(&v.as_str()) {
                return Err(err(format!("one of {}", options.join(", "))));
            }
            Ok(Value::Text(v))
        }
        Kind::Text { parse, .. } => {
            let Value::Text(v) = &value else {
                return Err(err("must be text".into()));
            };
            parse(v).map_err(err)?;
            Ok(Value::Text(v.trim().to_string()))
        }
    }
}

fn read(c: &RecordingConfig, field: &str) -> Value {
    let v = &c.video;
    match field {
        "bitrate_kbps" => Value::Int(v.bitrate_kbps.into()),
        "max_bitrate_kbps" => Value::Int(v.max_bitrate_kbps.into()),
        "tile_columns" => Value::Int(v.tile_columns_log2.into()),
        "tile_rows" => Value::Int(v.tile_rows_log2.into()),
        "film_grain" => Value::Int(v.film_grain.into()),
        "audio_bitrate_kbps" => Value::Int(c.audio.bitrate_kbps.into()),
        "max_queued_frames" => Value::Int(c.max_queued_frames.into()),
        "motion_blur_samples" => Value::Int(c.motion_blur.samples.into()),
        "keyframe_interval" => Value::Float(v.keyframe_interval_s.into()),
        "motion_blur_shutter" => Value::Float(c.motion_blur.shutter.into()),
        "output_size" => Value::Text(c.output_size.map_or(String::new(), |(w, h)| format!("{w}x{h}"))),
        "render_range" => Value::Text(c.range.range.map_or(String::new(), |(s, e)| format!("{s}:{e}"))),
        "render_preroll" => Value::Int(c.range.preroll.min(i64::MAX as u64) as i64),
        VIDEO_QUALITY => Value::Float(v.quality.into()),
        "encoder" => Value::Text(c.backend.id().into()),
        "rate_control" => Value::Text(v.rate_control.name().into()),
        "speed_preset" => Value::Text(v.speed_preset.name()),
        "audio_codec" => Value::Text(c.audio.codec.map_or("auto", AudioCodec::name).into()),
        other => unreachable!("setting {other} has no field"),
    }
}

// The ranges were checked by `apply`, so the narrowing casts below cannot truncate.
fn store_int(c: &mut RecordingConfig, field: &str, v: i64) {
    match field {
        "bitrate_kbps" => c.video.bitrate_kbps = v as u32,
        "max_bitrate_kbps" => c.video.max_bitrate_kbps = v as u32,
        "tile_columns" => c.video.tile_columns_log2 = v as u8,
        "tile_rows" => c.video.tile_rows_log2 = v as u8,
        "film_grain" => c.video.film_grain = v as u8,
        "audio_bitrate_kbps" => c.audio.bitrate_kbps = v as u32,
        "max_queued_frames" => c.max_queued_frames = v as u32,
        "motion_blur_samples" => c.motion_blur.samples = v as u32,
        "render_preroll" => c.range.set_preroll_setting(v as u64),
        other => unreachable!("integer setting {other} has no field"),
    }
}

fn store_float(c: &mut RecordingConfig, field: &str, v: f64) {
    match field {
        "keyframe_interval" => c.video.keyframe_interval_s = v as f32,
        VIDEO_QUALITY => c.video.quality = v as f32,
        "motion_blur_shutter" => c.motion_blur.shutter = v as f32,
        other => unreachable!("float setting {other} has no field"),
    }
}

fn store_text(c: &mut RecordingConfig, field: &str, v: &str) {
    match field {
        "output_size" => c.output_size = parse_output_size(v).expect("checked by the table's parse"),
        "render_range" => c.range.set_range_setting(v),
        "encoder" => c.backend = BackendPreference::from_id(v).expect("the option list comes from from_id's ids"),
        "rate_control" => {
            c.video.rate_control = RateControl::from_name(v).expect("the option list is RateControl::NAMES")
        }
        "audio_codec" => c.audio.codec = AudioCodec::from_name(v),
        "speed_preset" => {
            c.video.speed_preset = SpeedPreset::from_name(v).expect("the option list is speed_preset::NAMES")
        }
        other => unreachable!("choice setting {other} has no field"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> RecordingConfig {
        RecordingConfig::new("/tmp/x.webm", 640, 360, 60)
    }

    #[test]
    fn defaults_apply_and_match_the_config_defaults() {
        let mut c = cfg();
        for s in all() {
            let v = match &s.kind {
                Kind::Int { default, .. } => Value::Int(*default),
                Kind::Float { default, .. } => Value::Float(*default),
                Kind::Choice { default, .. } | Kind::Text { default, .. } => Value::Text(default.to_string()),
            };
            apply(&mut c, &s.name, v).unwrap();
        }
        assert_eq!(c, cfg(), "the table's defaults are the config's defaults");
        c.validate().unwrap();
    }

    #[test]
    fn out_of_range_values_name_setting_value_and_range() {
        for s in all() {
            let mut c = cfg();
            let bad = match &s.kind {
                Kind::Int { max, .. } => Value::Int(max + 1),
                Kind::Float { max, .. } => Value::Float(max + 1.0),
                Kind::Choice { .. } | Kind::Text { .. } => Value::Text("warp_drive".into()),
            };
            let e = apply(&mut c, &s.name, bad.clone()).unwrap_err();
            assert_eq!(e.setting, s.name);
            assert_eq!(e.value, bad.to_string());
            assert!(!e.allowed.is_empty());
        }
        let e = apply(&mut cfg(), "editor/movie_writer/av1/speed_preset", Value::Int(-1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "editor/movie_writer/av1/speed_preset = -1 is not allowed: one of auto, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13"
        );
        let e = apply(&mut cfg(), "editor/movie_writer/av1/encoder", Value::Text("vp9".into())).unwrap_err();
        let ids: Vec<&str> = BackendKind::ALL.iter().map(|k| k.id()).collect();
        assert!(
            e.to_string()
                .ends_with(&format!("one of auto, hardware, software, {}", ids.join(", "))),
            "{e}"
        );
        let e = apply(&mut cfg(), "editor/movie_writer/av1/rate_control", Value::Int(2)).unwrap_err();
        assert!(e.to_string().ends_with("one of crf, cqp, vbr, cbr"), "{e}");
        let e = apply(&mut cfg(), "editor/movie_writer/av1/rate_control", Value::Float(2.0)).unwrap_err();
        assert!(e.to_string().ends_with("must be text"), "{e}");
    }

    #[test]
    fn speed_preset_takes_auto_or_a_number_saved_as_text_or_int() {
        let mut c = cfg();
        assert_eq!(c.video.speed_preset, SpeedPreset::Auto, "auto is the default");
        // A project saved before `auto` existed holds the preset as a whole number.
        apply(&mut c, "editor/movie_writer/av1/speed_preset", Value::Int(12)).unwrap();
        assert_eq!((c.video.speed_preset, c.video.preset()), (SpeedPreset::Fixed(12), 12));
        apply(
            &mut c,
            "editor/movie_writer/av1/speed_preset",
            Value::Text("AUTO".into()),
        )
        .unwrap();
        assert_eq!(c.video.speed_preset, SpeedPreset::Auto);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(c.video.preset(), speed_preset::auto_preset(640, 360, 60, cores));
        // Hardware encoders: auto is the middle of the scale, not a CPU cost.
        assert_eq!(c.video.hardware_preset(), crate::config::HARDWARE_AUTO_PRESET);
        apply(&mut c, "editor/movie_writer/av1/speed_preset", Value::Text("7".into())).unwrap();
        assert_eq!(c.video.speed_preset, SpeedPreset::Fixed(7));
        assert_eq!(c.video.hardware_preset(), 7);
        check_config(&c).unwrap();
    }

    #[test]
    fn values_land_in_the_config() {
        let mut c = cfg();
        apply(
            &mut c,
            "editor/movie_writer/av1/rate_control",
            Value::Text("VBR".into()),
        )
        .unwrap();
        apply(&mut c, "editor/movie_writer/av1/bitrate_kbps", Value::Int(2500)).unwrap();
        apply(&mut c, "editor/movie_writer/av1/keyframe_interval", Value::Int(5)).unwrap();
        apply(&mut c, VIDEO_QUALITY, Value::Float(0.5)).unwrap();
        assert_eq!(c.video.rate_control, RateControl::Vbr);
        assert_eq!(c.video.bitrate_kbps, 2500);
        assert_eq!(c.video.keyframe_interval_s, 5.0);
        assert_eq!(c.video.quality, 0.5);
        apply(
            &mut c,
            "editor/movie_writer/av1/output_size",
            Value::Text(" 1919x1079 ".into()),
        )
        .unwrap();
        assert_eq!(c.output_size, Some((1919, 1079)));
        apply(
            &mut c,
            "editor/movie_writer/av1/output_size",
            Value::Text(String::new()),
        )
        .unwrap();
        assert_eq!(c.output_size, None);
        apply(&mut c, "editor/movie_writer/av1/motion_blur_samples", Value::Int(8)).unwrap();
        apply(&mut c, "editor/movie_writer/av1/motion_blur_shutter", Value::Float(1.0)).unwrap();
        assert_eq!((c.motion_blur.samples, c.motion_blur.used()), (8, 8));
        c.validate().unwrap();
    }

    #[test]
    fn the_render_range_settings_land_in_the_config() {
        let mut c = RecordingConfig::new("/tmp/x.mkv", 640, 360, 60);
        apply(
            &mut c,
            "editor/movie_writer/av1/render_range",
            Value::Text(" 60:120 ".into()),
        )
        .unwrap();
        apply(&mut c, "editor/movie_writer/av1/render_preroll", Value::Int(10)).unwrap();
        let r = c.render_range().unwrap().unwrap();
        assert_eq!((r.start, r.end, r.preroll, r.seek_frame()), (60, 120, 10, 50));
        assert_eq!(c.audio_codec(), AudioCodec::Pcm);
        c.validate().unwrap();
        let e = apply(
            &mut c,
            "editor/movie_writer/av1/render_range",
            Value::Text("120:60".into()),
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with(
                "editor/movie_writer/av1/render_range = \"120:60\" is not allowed: \"\" (the whole recording) or START:END; END must be greater than START"
            ),
            "{e}"
        );
        apply(&mut c, "editor/movie_writer/av1/render_preroll", Value::Int(61)).unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.starts_with("editor/movie_writer/av1/render_preroll = 61 is more than START (60)"),
            "{e}"
        );
        apply(
            &mut c,
            "editor/movie_writer/av1/render_range",
            Value::Text(String::new()),
        )
        .unwrap();
        assert_eq!(c.render_range().unwrap(), None);
    }

    #[test]
    fn bad_output_sizes_name_the_setting_the_value_and_the_form() {
        for bad in [
            "1920",
            "1920x",
            "x1080",
            "0x1080",
            "1920x0",
            "9000x1080",
            "1920x5000",
            "abcxdef",
            "-5x10",
        ] {
            let e = apply(
                &mut cfg(),
                "editor/movie_writer/av1/output_size",
                Value::Text(bad.into()),
            )
            .unwrap_err();
            let text = e.to_string();
            assert!(
                text.starts_with(&format!(
                    "editor/movie_writer/av1/output_size = \"{bad}\" is not allowed:"
                )),
                "{text}"
            );
            assert!(
                text.contains("WIDTHxHEIGHT with WIDTH 1 to 8192 and HEIGHT 1 to 4320"),
                "{text}"
            );
        }
    }

    #[test]
    fn engine_fps_not_divisible_by_the_samples_is_refused_with_what_to_pass() {
        let blur = crate::config::MotionBlur {
            samples: 4,
            shutter: 0.5,
        };
        assert_eq!(blur.output_fps(240).unwrap(), 60);
        assert_eq!(
            blur.output_fps(250).unwrap_err().to_string(),
            "editor/movie_writer/av1/motion_blur_samples = 4 needs --fixed-fps to be a multiple of 4; 250 is not: pass --fixed-fps 248 (62 fps out) or 252 (63 fps out)"
        );
        assert!(blur
            .output_fps(3)
            .unwrap_err()
            .to_string()
            .ends_with("pass --fixed-fps 4 (1 fps out)"));
        for (samples, shutter, used) in [(8, 0.5, 4), (8, 1.0, 8), (4, 0.0, 1), (1, 0.5, 1), (3, 0.5, 2)] {
            assert_eq!(crate::config::MotionBlur { samples, shutter }.used(), used);
        }
    }
}
