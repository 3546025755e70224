//! Works around a Godot 4.6 bug so the editor's movie-file picker offers *.webm, *.mkv and
//! *.mp4 without an error in the log.
//!
//! From 4.6 the engine calls the required virtual `MovieWriter::_get_supported_extensions` for
//! every registered writer when the editor builds its Project Settings dialog, but 4.6 forgot to
//! bind it (fixed upstream by godotengine/godot#117479), so no extension can override it and the
//! engine logs "Required virtual method … must be overridden". The engine asks a script attached
//! to the object first, by name, so in the editor the writer carries a one-function script that
//! answers. Script languages start only after the dialog is built, so in the editor the writer
//! is registered once the main loop runs (lib.rs), with the script attached, and our extensions
//! are added to the picker's hint directly. The script is detached at main-loop shutdown, before
//! the engine shuts its script languages down.

use godot::classes::{ClassDb, GDScript, ProjectSettings, Script};
use godot::prelude::*;
use movie_writer_av1_core::Container;

use crate::MovieWriterAV1;

/// The one-function script: returns [`Container::EXTENSIONS`].
fn source() -> String {
    let list: Vec<String> = Container::EXTENSIONS.iter().map(|e| format!("\"{e}\"")).collect();
    format!(
        "extends MovieWriter\n\nfunc _get_supported_extensions() -> PackedStringArray:\n\treturn PackedStringArray([{}])\n",
        list.join(", ")
    )
}
const MOVIE_FILE: &str = "editor/movie_writer/movie_file";

pub fn attach(writer: &Gd<MovieWriterAV1>) {
    // Lean engine builds may lack GDScript; then the engine logs its error once, nothing worse.
    if !ClassDb::singleton().class_exists("GDScript") {
        return;
    }
    let mut script = GDScript::new_gd();
    script.set_source_code(&source());
    if script.reload() == godot::global::Error::OK {
        writer.clone().upcast::<Object>().set_script(&script.upcast::<Script>());
    }
}

pub fn detach(writer: &Gd<MovieWriterAV1>) {
    let mut object = writer.clone().upcast::<Object>();
    if object.get_script().is_some() {
        object.set_script(Option::<Gd<Script>>::None.as_ref());
    }
}

/// Adds `*.webm,*.mkv,*.mp4` to the movie-file picker's filter, which the engine built before our
/// writer existed.
pub fn publish() {
    let mut settings = ProjectSettings::singleton();
    let current = settings
        .get_property_list()
        .iter_shared()
        .find(|p| p.get("name").is_some_and(|n| n.to_string() == MOVIE_FILE))
        .and_then(|p| p.get("hint_string"))
        .map(|h| h.to_string())
        .unwrap_or_default();
    let mut filters: Vec<String> = current
        .split(',')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    for ext in Container::EXTENSIONS {
        let filter = format!("*.{ext}");
        if !filters.contains(&filter) {
            filters.push(filter);
        }
    }
    let info = vdict! {
        "name" => MOVIE_FILE,
        "type" => VariantType::STRING,
        "hint" => godot::register::info::PropertyHint::GLOBAL_SAVE_FILE,
        "hint_string" => filters.join(",").as_str(),
    };
    settings.add_property_info(&info);
}
