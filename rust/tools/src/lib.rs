//! What the `mwav1` CLI and the test suite use beside the recorder, kept out of the shipped
//! library (`movie_writer_av1_core` holds only what records):
//!
//! * [`farm`]: one recording rendered as frame-range chunks by many processes or machines, each
//!   chunk checked, and the chunks merged without re-encoding.
//! * [`conformance`]: every backend over the matrix of settings, each file judged.
//! * [`judge`]: the bitstream checks of a recorded file (crop, colours, av1C, sequence headers).
//! * [`scene`]: the built-in test scene the CLI and the tests record.
//!
//! It reaches the core only through the core's public API; what it needs beyond the recorder is
//! named there (`ffmpeg_log::capture`, `quiet::apply`, `pipeline::AudioShape`, `mux::demux`).

pub mod conformance;
pub mod farm;
pub mod judge;
pub mod scene;
