//! The render range as the engine gives it: the `render_range` / `render_preroll` Project
//! Settings, then the user arguments after `--` (`--movie-range=START:END`,
//! `--movie-preroll=N`). The writer and `MovieWriterAV1.get_render_range()` read it the same way.

use godot::classes::{Engine, Os, SceneTree};
use godot::prelude::*;
use movie_writer_av1_core::render_range::{PREROLL_SETTING, RANGE_SETTING};
use movie_writer_av1_core::{Error, RecordingConfig, RenderRange};

use crate::settings;

/// Puts the command line's range arguments over what the settings gave `config`.
pub fn apply_args(config: &mut RecordingConfig) -> Result<(), Error> {
    let args: Vec<String> = Os::singleton()
        .get_cmdline_user_args()
        .as_slice()
        .iter()
        .map(GString::to_string)
        .collect();
    Ok(config.range.apply_args(&args)?)
}

/// The range this run asks for, checked; `None`: the whole recording.
pub fn from_engine() -> Result<Option<RenderRange>, Error> {
    // Only the two range settings: another bad setting is the recording's error, not this one's.
    let mut config = RecordingConfig::new("range.mkv", 1, 1, 1);
    settings::apply_named(&mut config, &[RANGE_SETTING, PREROLL_SETTING])?;
    apply_args(&mut config)?;
    config.render_range()
}

/// `{active, start, end, preroll, seek_frame}` for GDScript; zeros and `active: false` without
/// a range.
pub fn to_dictionary(range: Option<RenderRange>) -> VarDictionary {
    let r = range.unwrap_or(RenderRange {
        start: 0,
        end: 0,
        preroll: 0,
    });
    let int = |v: u64| v.min(i64::MAX as u64) as i64;
    vdict! {
        "active" => range.is_some(),
        "start" => int(r.start),
        "end" => int(r.end),
        "preroll" => int(r.preroll),
        "seek_frame" => int(r.start - r.preroll),
    }
}

/// Asks the engine to end the run after the current frame, as `get_tree().quit(code)` does.
pub fn quit_engine(exit_code: i32) {
    let tree = Engine::singleton()
        .get_main_loop()
        .and_then(|main_loop| main_loop.try_cast::<SceneTree>().ok());
    if let Some(mut tree) = tree {
        tree.quit_ex().exit_code(exit_code).done();
    }
}
