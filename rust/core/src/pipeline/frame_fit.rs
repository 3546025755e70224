//! Frames that are not at the output size: one resampler scales them to it (in linear light,
//! letterboxed), and the user is told once of each reason: the engine's frame size changed (a
//! resized window, also counted in the stats) or frames are enlarged. Apart from the worker
//! loop, which only asks whether a frame fits and has the others scaled.

use crossbeam_channel::Sender;

use super::messages::Event;
use crate::frame::RgbImage;
use crate::scale::{Linear, Resampler};

pub(super) struct FrameFit {
    /// The engine's frame size when the recording started.
    input: (u32, u32),
    /// The recording's size.
    output: (u32, u32),
    resampler: Resampler,
    warned_upscale: bool,
}

impl FrameFit {
    pub fn new(input: (u32, u32), output: (u32, u32)) -> Self {
        Self {
            input,
            output,
            resampler: Resampler::new(output.0, output.1),
            warned_upscale: false,
        }
    }

    /// Whether a frame of `size` goes to the encoder as it is.
    pub fn fits(&self, size: (u32, u32)) -> bool {
        size == self.output
    }

    /// `src` scaled to the output size.
    pub fn scale(&mut self, src: Linear<'_>) -> RgbImage<'_> {
        self.resampler.fit(src)
    }

    /// Warnings for a frame that is not at the output size: once when the engine's frame size
    /// changed (a resized window; counted in `frames_rescaled`), once when frames are enlarged.
    pub fn check(&mut self, width: u32, height: u32, frames_rescaled: &mut u64, events: &Sender<Event>) {
        let (ow, oh) = self.output;
        if (width, height) != self.input {
            if *frames_rescaled == 0 {
                let _ = events.send(Event::Warning(format!(
                    "frame size changed from {}x{} to {width}x{height} (window resized?): frames are scaled to the recording's size, {ow}x{oh}, with black bars; this is reported once",
                    self.input.0, self.input.1
                )));
            }
            *frames_rescaled += 1;
        }
        if (width, height) != (ow, oh) && !self.warned_upscale && self.resampler.upscales(width, height) {
            self.warned_upscale = true;
            let _ = events.send(Event::Warning(format!(
                "frames of {width}x{height} are upscaled to the output size {ow}x{oh}: a window at least that large gives a sharper picture (set display/window/size/window_width_override and window_height_override to {ow} and {oh} or more, in the project settings or override.cfg; on Godot 4.6.3 --resolution does not change the size Movie Maker records); this is reported once"
            )));
        }
    }
}
