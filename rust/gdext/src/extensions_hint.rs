//! Works around a Godot 4.6 bug so the editor's movie-file picker offers *.webm and *.mkv.
//!
//! From 4.6 the engine calls the required virtual `MovieWriter::_get_supported_extensions` when
//! the Project Settings dialog opens, but 4.6 forgot to bind it (fixed upstream by
//! godotengine/godot#117479), so no extension can override it and the engine logs "Required
//! virtual method … must be overridden". The engine asks a script attached to the object first,
//! by name, so in the editor we attach a one-function script that answers. It is attached only
//! in the editor (games never open that dialog) and detached at main-loop shutdown, before the
//! engine shuts its script languages down.

use godot::classes::{ClassDb, Engine, GDScript, Script};
use godot::prelude::*;

use crate::MovieWriterAV1;

const SOURCE: &str = "extends MovieWriter\n\nfunc _get_supported_extensions() -> PackedStringArray:\n\treturn PackedStringArray([\"webm\", \"mkv\"])\n";

pub fn attach(writer: &Gd<MovieWriterAV1>) {
    // Lean engine builds may lack GDScript; then there is nothing to attach and nothing to fix.
    if !Engine::singleton().is_editor_hint() || !ClassDb::singleton().class_exists("GDScript") {
        return;
    }
    let mut script = GDScript::new_gd();
    script.set_source_code(SOURCE);
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
