//! MovieWriterAV1 GDExtension: registers the writer with Godot's Movie Maker and translates
//! between the engine and the engine-independent core (`movie_writer_av1_core`).

mod capabilities;
mod errors;
mod extensions_hint;
mod recorder;
mod settings;
mod writer;

use std::cell::RefCell;

use godot::classes::{Engine, MovieWriter};
use godot::init::{gdextension, ExtensionLibrary, InitLevel, InitStage};
use godot::prelude::*;

pub use writer::MovieWriterAV1;

struct MovieWriterAV1Extension;

thread_local! {
    /// The one writer instance registered with the engine. Created and freed on the main thread.
    static WRITER: RefCell<Option<Gd<MovieWriterAV1>>> = const { RefCell::new(None) };
}

fn register_writer(editor: bool) {
    let writer = MovieWriterAV1::new_alloc();
    if editor {
        extensions_hint::attach(&writer);
    }
    MovieWriter::add_writer(&writer);
    if editor {
        extensions_hint::publish();
    }
    WRITER.with_borrow_mut(|w| *w = Some(writer));
}

#[gdextension]
unsafe impl ExtensionLibrary for MovieWriterAV1Extension {
    fn on_stage_init(stage: InitStage) {
        // Games look writers up right after the Scene level (for --write-movie), so they get it
        // there. The editor only lists writers' extensions, and 4.6 asks them before script
        // languages exist (see extensions_hint.rs), so there it comes once the main loop runs.
        let editor = Engine::singleton().is_editor_hint();
        match stage {
            InitStage::Scene => {
                settings::register();
                if !editor {
                    register_writer(false);
                }
            }
            InitStage::MainLoop if editor => register_writer(true),
            _ => {}
        }
    }

    fn on_stage_deinit(stage: InitStage) {
        match stage {
            InitStage::MainLoop => WRITER.with_borrow(|w| {
                if let Some(w) = w {
                    extensions_hint::detach(w);
                }
            }),
            InitStage::Scene => {
                if let Some(writer) = WRITER.with_borrow_mut(Option::take) {
                    writer.free();
                }
            }
            _ => {}
        }
    }

    fn min_level() -> InitLevel {
        InitLevel::Scene
    }
}
