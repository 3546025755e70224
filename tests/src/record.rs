//! Records the core's seeded test scene in-process; the scene's frames are also the source
//! that `ssim` scores recordings against.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use movie_writer_av1_core::{Container, PixelFormat, Recorder, RecordingConfig, RecordingStats, RgbImage};
use movie_writer_av1_tools::scene::TestScene;

/// What to record: the scene is fully determined by size, rate and seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SceneSpec {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub frames: u64,
    pub seed: u64,
}

impl SceneSpec {
    pub fn duration_s(&self) -> f64 {
        self.frames as f64 / f64::from(self.fps)
    }

    pub(crate) fn scene(&self) -> TestScene {
        TestScene::new(self.width, self.height, self.fps, self.seed)
    }

    /// When the source's tone starts, in seconds.
    pub fn tone_start_s(&self) -> f64 {
        self.scene().tone_start_frame() as f64 / f64::from(self.fps)
    }

    /// A file name that says what is in the file.
    pub fn file_name(&self, container: Container) -> String {
        let ext = container.extension();
        format!(
            "scene_{}x{}_{}fps_{}f_seed{}.{ext}",
            self.width, self.height, self.fps, self.frames, self.seed
        )
    }
}

/// Held for the whole of each in-process recording, so that parallel test threads record one
/// at a time. The core itself serialises SVT-AV1's set-up and tear-down (`OPEN_CLOSE` in
/// `backend/software.rs`: its process-global state once corrupted the heap with two recorders
/// starting together); this lock keeps the 2-core machine's encoders from competing, and an
/// SVT-AV1 2.3 hang seen when encoders that never got a frame were dropped in parallel from
/// recurring here. Recordings in separate processes (the `mwav1` CLI) are not affected.
pub(crate) static ONE_RECORDER_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Records `spec` to `path` (the extension picks WebM, Matroska or MP4) through the same
/// [`Recorder`] the Godot extension drives, with default settings.
pub fn record_scene(path: &Path, spec: &SceneSpec) -> movie_writer_av1_core::Result<RecordingStats> {
    record_scene_with(path, spec, |_| {})
}

/// [`record_scene`] with settings changed by `configure`.
pub fn record_scene_with(
    path: &Path,
    spec: &SceneSpec,
    configure: impl FnOnce(&mut RecordingConfig),
) -> movie_writer_av1_core::Result<RecordingStats> {
    let _one = ONE_RECORDER_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let scene = spec.scene();
    let mut config = RecordingConfig::new(path, spec.width, spec.height, spec.fps);
    configure(&mut config);
    let mut recorder = Recorder::start(config)?;
    let (mut pixels, mut audio) = (Vec::new(), Vec::new());
    for i in 0..spec.frames {
        scene.render(i, &mut pixels);
        scene.audio_block(i, &mut audio);
        recorder.push_frame(
            &RgbImage::packed(spec.width, spec.height, PixelFormat::Rgba8, &pixels)?,
            &audio,
        )?;
    }
    recorder.finish()
}
