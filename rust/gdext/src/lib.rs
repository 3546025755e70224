//! MovieWriterAV1 GDExtension: registers the writer with Godot's Movie Maker and translates
//! between the engine and the engine-independent core (`movie_writer_av1_core`).

mod capabilities;
mod errors;
mod extensions_hint;
mod settings;
mod writer;

use std::cell::RefCell;

use godot::classes::MovieWriter;
use godot::init::{gdextension, ExtensionLibrary, InitLevel, InitStage};
use godot::prelude::*;

pub use writer::MovieWriterAV1;

struct MovieWriterAV1Extension;

thread_local! {
    /// The one writer instance registered with the engine. Created and freed on the main thread.
    static WRITER: RefCell<Option<Gd<MovieWriterAV1>>> = const { RefCell::new(None) };
}

#[gdextension]
unsafe impl ExtensionLibrary for MovieWriterAV1Extension {
    fn on_stage_init(stage: InitStage) {
        match stage {
            // The engine looks writers up right after the Scene level, so register there.
            InitStage::Scene => {
                settings::register();
                let writer = MovieWriterAV1::new_alloc();
                MovieWriter::add_writer(&writer);
                WRITER.with_borrow_mut(|w| *w = Some(writer));
            }
            InitStage::MainLoop => WRITER.with_borrow(|w| {
                if let Some(w) = w {
                    extensions_hint::attach(w);
                }
            }),
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
