//! Bench only (feature `bench-null-writer`, never shipped): a MovieWriter that does nothing.
//!
//! With no writer at all the engine skips its synchronous frame read-back, which every writer
//! pays, so a run without a writer is no writer's ceiling. This one claims `*.nullmovie` and
//! returns at once: a run with it measures the engine with its read-back, audio mix and writer
//! calls, the fastest any writer can record (scripts/gpu-node-bench.sh).

use std::ffi::c_void;

use godot::classes::audio_server::SpeakerMode;
use godot::classes::{IMovieWriter, Image, MovieWriter};
use godot::global::Error as GdError;
use godot::prelude::*;
use godot_core::meta::RawPtr;

#[derive(GodotClass)]
#[class(base=MovieWriter, init)]
pub struct NullMovieWriter {
    base: Base<MovieWriter>,
}

#[godot_api]
impl IMovieWriter for NullMovieWriter {
    // The same audio format as MovieWriterAV1 asks for, so the engine mixes the same audio.
    fn get_audio_mix_rate(&self) -> u32 {
        48_000
    }

    fn get_audio_speaker_mode(&self) -> SpeakerMode {
        SpeakerMode::STEREO
    }

    fn handles_file(&self, path: GString) -> bool {
        path.to_string().ends_with(".nullmovie")
    }

    #[cfg(feature = "godot-4-7")]
    fn get_supported_extensions(&self) -> PackedStringArray {
        ["nullmovie"].into_iter().map(GString::from).collect()
    }

    fn write_begin(&mut self, _size: Vector2i, _fps: u32, _path: GString) -> GdError {
        GdError::OK
    }

    unsafe fn write_frame_rawptr(&mut self, _image: Option<Gd<Image>>, _audio: RawPtr<*const c_void>) -> GdError {
        GdError::OK
    }

    fn write_end(&mut self) {}
}
