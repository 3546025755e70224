//! MovieWriterAV1 GDExtension: registers the writer with Godot's Movie Maker and translates
//! between the engine and the engine-independent core (`movie_writer_av1_core`).
//!
//! ## Cargo features
//!
//! * **`godot-4-6`** (default) or **`godot-4-7`**: the engine API built against, exactly one
//!   (Cargo.toml says more). 4.6 is the shipped build; it loads on 4.6 and newer.
//! * **`experimental-vulkan`**: builds in the core's Vulkan Video backend (see the core's
//!   "Cargo features"). Off in the shipped library, whose capability report then lists `vulkan`
//!   as "not compiled in".
//! * **`bench-null-writer`** (bench only, never shipped): also registers a writer for
//!   `*.nullmovie` that does nothing (null_writer.rs), the ceiling scripts/gpu-node-bench.sh
//!   measures.

mod capabilities;
mod engine_frame;
mod errors;
#[cfg(feature = "godot-4-6")]
mod extensions_hint;
mod guard;
mod main_thread_time;
#[cfg(feature = "bench-null-writer")]
mod null_writer;
mod progress_line;
mod range;
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
    #[cfg(feature = "bench-null-writer")]
    static NULL_WRITER: RefCell<Option<Gd<null_writer::NullMovieWriter>>> = const { RefCell::new(None) };
}

fn register_writer(editor: bool) {
    let writer = MovieWriterAV1::new_alloc();
    #[cfg(feature = "godot-4-6")]
    if editor {
        extensions_hint::attach(&writer);
    }
    MovieWriter::add_writer(&writer);
    #[cfg(feature = "godot-4-6")]
    if editor {
        extensions_hint::publish();
    }
    #[cfg(not(feature = "godot-4-6"))]
    let _ = editor;
    WRITER.with_borrow_mut(|w| *w = Some(writer));
    #[cfg(feature = "bench-null-writer")]
    NULL_WRITER.with_borrow_mut(|w| {
        let null = null_writer::NullMovieWriter::new_alloc();
        MovieWriter::add_writer(&null);
        *w = Some(null);
    });
}

/// Whether the writer must wait for the main loop in the editor: 4.6 asks writers for their
/// extensions before script languages exist (extensions_hint.rs); 4.7 binds the call.
const EDITOR_REGISTERS_AT_MAIN_LOOP: bool = cfg!(feature = "godot-4-6");

// SAFETY: this is the library's only ExtensionLibrary, so gdext exports one entry point.
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
                    capabilities::probe_early_for_movie_maker();
                }
                if !(editor && EDITOR_REGISTERS_AT_MAIN_LOOP) {
                    register_writer(editor);
                }
            }
            InitStage::MainLoop if editor && EDITOR_REGISTERS_AT_MAIN_LOOP => register_writer(true),
            _ => {}
        }
    }

    fn on_stage_deinit(stage: InitStage) {
        match stage {
            #[cfg(feature = "godot-4-6")]
            InitStage::MainLoop => WRITER.with_borrow(|w| {
                if let Some(w) = w {
                    extensions_hint::detach(w);
                }
            }),
            InitStage::Scene => {
                if let Some(writer) = WRITER.with_borrow_mut(Option::take) {
                    writer.free();
                }
                #[cfg(feature = "bench-null-writer")]
                if let Some(null) = NULL_WRITER.with_borrow_mut(Option::take) {
                    null.free();
                }
            }
            _ => {}
        }
    }

    fn min_level() -> InitLevel {
        InitLevel::Scene
    }
}
