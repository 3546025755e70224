//! Recording configuration; its validation is in `validate.rs`.
//!
//! Every knob a user can set lives here with its allowed range, so the Godot project settings,
//! the CLI and the tests share one definition. `validate()` names the Godot setting, the value and
//! the allowed range in its error.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::kinds::BackendPreference;
pub use crate::kinds::RateControl;
use crate::render_range::{RangeRequest, RenderRange};
pub use crate::speed_preset::SpeedPreset;

/// The output file's format, chosen by the path's extension (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// `.webm`: Matroska with DocType "webm", the subset browsers play; Opus only.
    WebM,
    /// `.mkv`: DocType "matroska"; Opus, AAC or PCM.
    Matroska,
    /// `.mp4`: ISO-BMFF for editors and upload sites; AAC (default) or Opus.
    Mp4,
}

impl Container {
    pub const EXTENSIONS: [&'static str; 3] = ["webm", "mkv", "mp4"];

    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "webm" => Some(Self::WebM),
            "mkv" => Some(Self::Matroska),
            "mp4" => Some(Self::Mp4),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        Self::EXTENSIONS[self as usize]
    }

    /// The Matroska DocType; `None` for MP4.
    pub fn doc_type(self) -> Option<&'static str> {
        match self {
            Self::WebM => Some("webm"),
            Self::Matroska => Some("matroska"),
            Self::Mp4 => None,
        }
    }

    /// The audio codec used when `editor/movie_writer/av1/audio_codec` is `auto` and no render
    /// range is set: AAC where editors expect it (MP4), Opus elsewhere.
    pub fn default_audio_codec(self) -> AudioCodec {
        match self {
            Self::Mp4 => AudioCodec::Aac,
            Self::WebM | Self::Matroska => AudioCodec::Opus,
        }
    }

    pub fn allows(self, codec: AudioCodec) -> bool {
        match self {
            Self::WebM => codec == AudioCodec::Opus,
            Self::Mp4 => codec != AudioCodec::Pcm,
            Self::Matroska => true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    Opus,
    /// AAC-LC from FFmpeg's native encoder.
    Aac,
    /// Uncompressed 32-bit float samples (Matroska only): what render-range chunks carry, so
    /// that joining them encodes the audio once and no codec delay lands mid-stream.
    Pcm,
}

impl AudioCodec {
    pub fn name(self) -> &'static str {
        match self {
            Self::Opus => "opus",
            Self::Aac => "aac",
            Self::Pcm => "pcm",
        }
    }

    /// `None` for anything else (the settings table's "auto").
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "opus" => Some(Self::Opus),
            "aac" => Some(Self::Aac),
            "pcm" => Some(Self::Pcm),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct VideoConfig {
    /// Size of the frames the engine hands over; the encoder may pad, the file shows exactly this.
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub rate_control: RateControl,
    /// 0–1, Godot's `editor/movie_writer/video_quality`. Mapped to CRF/QP by [`quality_to_qindex`].
    pub quality: f32,
    pub bitrate_kbps: u32,
    /// 0 = no cap.
    pub max_bitrate_kbps: u32,
    /// SVT-AV1 preset, fixed or chosen for the frame size, rate and cores ([`VideoConfig::preset`]).
    /// Hardware backends map it to their own.
    pub speed_preset: SpeedPreset,
    pub keyframe_interval_s: f32,
    pub tile_columns_log2: u8,
    pub tile_rows_log2: u8,
    /// AV1 film-grain synthesis denoising level, 0 = off.
    pub film_grain: u8,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AudioConfig {
    /// `None`: the container's default ([`Container::default_audio_codec`]).
    pub codec: Option<AudioCodec>,
    pub sample_rate: u32,
    pub channels: u32,
    pub bitrate_kbps: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecordingConfig {
    pub path: PathBuf,
    pub video: VideoConfig,
    pub audio: AudioConfig,
    pub backend: BackendPreference,
    /// Frames that may wait between the engine and the encoder before `write_frame` blocks.
    pub max_queued_frames: u32,
    /// Temporal supersampling: how many engine frames make one output frame, and how many of
    /// them are averaged. `video.fps` is the output (file) rate; the engine runs at
    /// [`RecordingConfig::engine_fps`].
    pub motion_blur: MotionBlur,
    /// The file's size (`editor/movie_writer/av1/output_size`); `None`: the engine's frame size,
    /// `video.width × video.height`. Frames of another size are scaled in linear light.
    pub output_size: Option<(u32, u32)>,
    /// The render range asked for by the settings and the engine's arguments; checked by
    /// [`RecordingConfig::validate`], read with [`RecordingConfig::render_range`].
    pub range: RangeRequest,
}

/// Temporal supersampling (motion blur): each output frame is the linear-light average of the
/// first [`MotionBlur::used`] of `samples` consecutive engine frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotionBlur {
    /// Engine frames per output frame; 1 = off.
    pub samples: u32,
    /// Fraction (0–1) of the `samples` frames that are averaged: 0.5 is film's 180° shutter.
    pub shutter: f32,
}

impl Default for MotionBlur {
    fn default() -> Self {
        Self {
            samples: 1,
            shutter: 0.5,
        }
    }
}

impl MotionBlur {
    pub const SETTING: &'static str = "editor/movie_writer/av1/motion_blur_samples";

    /// Engine frames averaged into each output frame: round(samples × shutter), at least 1.
    pub fn used(&self) -> u32 {
        ((self.samples as f32 * self.shutter).round() as u32).clamp(1, self.samples.max(1))
    }

    /// The output fps for an engine running at `engine_fps`, or an error that names both
    /// values and the nearest `--fixed-fps` values that work.
    pub fn output_fps(&self, engine_fps: u32) -> Result<u32, crate::error::Error> {
        let n = self.samples.max(1);
        if engine_fps.is_multiple_of(n) && engine_fps > 0 {
            return Ok(engine_fps / n);
        }
        let below = engine_fps / n * n;
        let above = below + n;
        let pass = if below > 0 {
            format!(
                "--fixed-fps {below} ({} fps out) or {above} ({} fps out)",
                below / n,
                above / n
            )
        } else {
            format!("--fixed-fps {above} ({} fps out)", above / n)
        };
        Err(crate::error::Error::Usage(format!(
            "{} = {n} needs --fixed-fps to be a multiple of {n}; {engine_fps} is not: pass {pass}",
            Self::SETTING
        )))
    }
}

/// Parses `output_size`: "" → `None`, "WIDTHxHEIGHT" → the size; anything else → what is
/// allowed, for the error message.
pub fn parse_output_size(text: &str) -> Result<Option<(u32, u32)>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let allowed = || {
        format!(
            "\"\" (the window's size) or WIDTHxHEIGHT with WIDTH 1 to {MAX_WIDTH} and HEIGHT 1 to {MAX_HEIGHT}, e.g. 1920x1080"
        )
    };
    let (w, h) = t.split_once(['x', 'X', '×']).ok_or_else(allowed)?;
    let (w, h): (u32, u32) = match (w.trim().parse(), h.trim().parse()) {
        (Ok(w), Ok(h)) => (w, h),
        _ => return Err(allowed()),
    };
    if !(1..=MAX_WIDTH).contains(&w) || !(1..=MAX_HEIGHT).contains(&h) {
        return Err(allowed());
    }
    Ok(Some((w, h)))
}

/// Largest frame we accept: 8K UHD-1 width by DCI 4K height, which every AV1 level-6.x decoder
/// handles and still fits comfortably in memory for a queue of a few frames.
pub const MAX_WIDTH: u32 = 8192;
pub const MAX_HEIGHT: u32 = 4320;

/// What `speed_preset = auto` means to a hardware encoder: the middle of the scale (the former
/// default), mapped by each backend to its own presets.
pub const HARDWARE_AUTO_PRESET: u8 = 10;

impl VideoConfig {
    /// The SVT-AV1 preset to encode with, 0 (slowest, smallest) – 13 (fastest): `auto` resolved
    /// for this size, rate and the cores this process may use.
    pub fn preset(&self) -> u8 {
        self.speed_preset.resolve(self.width, self.height, self.fps)
    }

    /// The preset a hardware encoder maps to its own: `auto` is [`HARDWARE_AUTO_PRESET`], since
    /// the CPU cost table `auto` reads says nothing about a GPU's encoder.
    pub fn hardware_preset(&self) -> u8 {
        match self.speed_preset {
            crate::speed_preset::SpeedPreset::Auto => HARDWARE_AUTO_PRESET,
            fixed => fixed.resolve(self.width, self.height, self.fps),
        }
    }
}

impl Default for VideoConfig {
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            fps: 60,
            rate_control: RateControl::Crf,
            quality: 0.75,
            bitrate_kbps: 6000,
            max_bitrate_kbps: 0,
            speed_preset: SpeedPreset::Auto,
            keyframe_interval_s: 2.0,
            tile_columns_log2: 0,
            tile_rows_log2: 0,
            film_grain: 0,
        }
    }
}

impl Default for AudioConfig {
    fn default() -> Self {
        Self {
            codec: None,
            sample_rate: 48_000,
            channels: 2,
            bitrate_kbps: 128,
        }
    }
}

impl RecordingConfig {
    pub fn new(path: impl Into<PathBuf>, width: u32, height: u32, fps: u32) -> Self {
        Self {
            path: path.into(),
            video: VideoConfig {
                width,
                height,
                fps,
                ..VideoConfig::default()
            },
            audio: AudioConfig::default(),
            backend: BackendPreference::Auto,
            max_queued_frames: 8,
            motion_blur: MotionBlur::default(),
            output_size: None,
            range: RangeRequest::default(),
        }
    }

    /// The rate the engine renders at: the output fps × the motion-blur samples.
    pub fn engine_fps(&self) -> u32 {
        self.video.fps * self.motion_blur.samples.max(1)
    }

    /// The size of the file: `output_size`, else the engine's frame size.
    pub fn output_dims(&self) -> (u32, u32) {
        self.output_size.unwrap_or((self.video.width, self.video.height))
    }

    pub fn container(&self) -> Option<Container> {
        Container::from_path(&self.path)
    }

    /// The audio codec this recording uses: the setting, else PCM for a render-range chunk in
    /// Matroska (joined losslessly later), else the container's default.
    pub fn audio_codec(&self) -> AudioCodec {
        let container = self.container().unwrap_or(Container::WebM);
        let chunk = matches!(self.range.resolve(), Ok(Some(_)));
        self.audio
            .codec
            .unwrap_or(if chunk && container == Container::Matroska {
                AudioCodec::Pcm
            } else {
                container.default_audio_codec()
            })
    }

    /// The checked render range; `None` records everything.
    pub fn render_range(&self) -> Result<Option<RenderRange>, Error> {
        let range = self.range.resolve()?;
        if let Some(r) = range {
            self.range.check_engine_frames(r, self.motion_blur.samples)?;
        }
        Ok(range)
    }
}

/// Maps Godot's 0–1 `video_quality` to an AV1 quantizer index on SVT-AV1's 0–63 CRF/QP scale.
///
/// Two straight segments meeting at Godot's default: 0.75 → 32 (visually clean for game
/// footage at a fraction of MJPEG's size), 1.0 → 10 (near-transparent), 0.0 → 63 (smallest).
/// The steeper top segment gives the last quarter of the slider the range where quality is
/// still visibly gained.
pub fn quality_to_qindex(quality: f32) -> u8 {
    let q = quality.clamp(0.0, 1.0);
    let crf = if q >= 0.75 {
        32.0 - (q - 0.75) / 0.25 * 22.0
    } else {
        63.0 - q / 0.75 * 31.0
    };
    crf.round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> RecordingConfig {
        RecordingConfig::new("/tmp/x.webm", 1281, 721, 144)
    }

    #[test]
    fn defaults_validate() {
        cfg().validate().unwrap();
    }

    #[test]
    fn audio_codec_follows_the_container_unless_set() {
        let mut c = cfg();
        assert_eq!(c.audio_codec(), AudioCodec::Opus);
        c.path = "/tmp/x.Mp4".into();
        assert_eq!(c.container(), Some(Container::Mp4));
        assert_eq!(c.audio_codec(), AudioCodec::Aac);
        c.audio.codec = Some(AudioCodec::Opus);
        assert_eq!(c.audio_codec(), AudioCodec::Opus);
    }

    #[test]
    fn a_render_range_records_pcm_in_matroska_and_the_usual_codec_elsewhere() {
        let mut c = cfg();
        c.range.apply_args(&["--movie-range=0:60"]).unwrap();
        assert_eq!(c.audio_codec(), AudioCodec::Opus, ".webm");
        c.path = "/tmp/x.mp4".into();
        assert_eq!(c.audio_codec(), AudioCodec::Aac, ".mp4");
        c.path = "/tmp/x.mkv".into();
        assert_eq!(c.audio_codec(), AudioCodec::Pcm, ".mkv");
        c.audio.codec = Some(AudioCodec::Opus);
        assert_eq!(c.audio_codec(), AudioCodec::Opus, "a codec set by name wins");
        c.range.apply_args(&["--movie-preroll=1"]).unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.starts_with("--movie-preroll=1 is more than START (0)"), "{e}");
    }

    /// Issue 25, item 7: a range whose engine frames (file frames × motion-blur samples) pass
    /// 2^64 is refused, naming the argument; before, the gate's `preroll * n`, `frames() * n`
    /// and `skip + take` wrapped in a release build.
    #[test]
    fn a_render_range_past_2_64_engine_frames_is_refused_by_name() {
        let mut c = cfg();
        c.motion_blur.samples = 4;
        c.range
            .apply_args(&[
                "--movie-range=4611686018427387904:4611686018427387905",
                "--movie-preroll=5",
            ])
            .unwrap();
        let e = c.render_range().unwrap_err().to_string();
        assert_eq!(
            e,
            "--movie-range=4611686018427387904:4611686018427387905: with 4 engine frames per file frame (motion blur), END may be at most 4611686018427387903"
        );
        c.motion_blur.samples = 1;
        assert!(c.render_range().unwrap().is_some());
    }

    #[test]
    fn container_from_extension_is_case_insensitive() {
        assert_eq!(Container::from_path(Path::new("a/B.WebM")), Some(Container::WebM));
        assert_eq!(Container::from_path(Path::new("c.MKV")), Some(Container::Matroska));
        assert_eq!(Container::from_path(Path::new("c.avi")), None);
        assert_eq!(Container::from_path(Path::new("webm")), None);
    }

    #[test]
    fn errors_name_setting_value_and_range() {
        let mut c = cfg();
        c.video.speed_preset = SpeedPreset::Fixed(14);
        let Error::Config(e) = c.validate().unwrap_err() else {
            panic!("not a setting error");
        };
        assert_eq!(e.setting, "editor/movie_writer/av1/speed_preset");
        assert_eq!(
            e.to_string(),
            "editor/movie_writer/av1/speed_preset = \"14\" is not allowed: one of auto, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13"
        );

        let mut c = cfg();
        c.path = "/tmp/out.avi".into();
        assert!(c.validate().unwrap_err().to_string().contains(".webm, .mkv or .mp4"));

        let mut c = cfg();
        c.audio.codec = Some(AudioCodec::Aac);
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "editor/movie_writer/av1/audio_codec = aac is not allowed: opus for .webm (WebM holds Opus only); aac or opus for .mp4; aac, opus or pcm for .mkv"
        );
        for path in ["/tmp/x.mp4", "/tmp/x.MKV"] {
            c.path = path.into();
            c.validate().unwrap();
        }
        c.audio.codec = Some(AudioCodec::Pcm);
        c.validate().unwrap();
        for path in ["/tmp/x.webm", "/tmp/x.mp4"] {
            c.path = path.into();
            let e = c.validate().unwrap_err().to_string();
            assert!(
                e.starts_with("editor/movie_writer/av1/audio_codec = pcm is not allowed: opus for .webm"),
                "{e}"
            );
        }

        let mut c = cfg();
        c.video.width = MAX_WIDTH + 1;
        assert!(c.validate().unwrap_err().to_string().contains("1 to 8192"));
    }

    #[test]
    fn every_bound_is_checked() {
        type Mutation = Box<dyn Fn(&mut RecordingConfig)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("video_quality", Box::new(|c| c.video.quality = 1.5)),
            ("keyframe_interval", Box::new(|c| c.video.keyframe_interval_s = -0.5)),
            (
                "speed_preset",
                Box::new(|c| c.video.speed_preset = SpeedPreset::Fixed(14)),
            ),
            ("tile_columns", Box::new(|c| c.video.tile_columns_log2 = 5)),
            ("tile_rows", Box::new(|c| c.video.tile_rows_log2 = 5)),
            ("film_grain", Box::new(|c| c.video.film_grain = 51)),
            ("audio_bitrate_kbps", Box::new(|c| c.audio.bitrate_kbps = 5)),
            ("max_queued_frames", Box::new(|c| c.max_queued_frames = 0)),
            ("mix_rate", Box::new(|c| c.audio.sample_rate = 44_100)),
            ("fixed fps", Box::new(|c| c.video.fps = 0)),
            ("bitrate_kbps", Box::new(|c| c.video.bitrate_kbps = 10)),
            (
                "max_bitrate_kbps",
                Box::new(|c| {
                    c.video.rate_control = RateControl::Vbr;
                    c.video.bitrate_kbps = 4000;
                    c.video.max_bitrate_kbps = 3000;
                }),
            ),
        ];
        for (name, mutate) in cases {
            let mut c = cfg();
            mutate(&mut c);
            let Error::Config(e) = c.validate().expect_err(name) else {
                panic!("{name}: not a setting error");
            };
            assert!(e.setting.ends_with(name), "{name}: {e}");
        }
    }

    #[test]
    fn quality_mapping_is_monotonic_with_documented_anchors() {
        assert_eq!(quality_to_qindex(0.0), 63);
        assert_eq!(quality_to_qindex(0.75), 32);
        assert_eq!(quality_to_qindex(1.0), 10);
        let mut last = u8::MAX;
        for i in 0..=100 {
            let q = quality_to_qindex(i as f32 / 100.0);
            assert!(q <= last);
            last = q;
        }
    }
}
