//! The engine's mixed output, taken from an `AudioEffectCapture` put at the end of the Master
//! bus for the length of a recording (and removed after), so whatever the player hears is
//! recorded, at the mix rate of the audio device.

use godot::classes::audio_server::SpeakerMode;
use godot::classes::{AudioEffectCapture, AudioServer};
use godot::prelude::*;

/// Room for the audio of a long frame (a hitch): the capture drops what does not fit.
const BUFFER_SECONDS: f32 = 1.0;

pub struct AudioCapture {
    effect: Gd<AudioEffectCapture>,
    pub mix_rate: u32,
    discarded: i64,
    samples: Vec<f32>,
}

impl AudioCapture {
    /// `None` (and why) where the Master bus is not stereo: with surround output each channel
    /// pair's capture would write into the one buffer.
    pub fn start() -> Result<Self, String> {
        let mut server = AudioServer::singleton();
        if server.get_speaker_mode() != SpeakerMode::STEREO {
            return Err(format!(
                "the audio output is {:?}, not stereo; recording without audio",
                server.get_speaker_mode()
            ));
        }
        let mut effect = AudioEffectCapture::new_gd();
        effect.set_buffer_length(BUFFER_SECONDS);
        server.add_bus_effect(0, &effect);
        let mix_rate = server.get_mix_rate().round() as u32;
        Ok(Self {
            effect,
            mix_rate,
            discarded: 0,
            samples: Vec::new(),
        })
    }

    /// Everything mixed since the last call, as interleaved stereo f32. Audio the capture had
    /// to throw away (a frame longer than its buffer) comes back as silence in its place.
    pub fn take(&mut self) -> &[f32] {
        self.samples.clear();
        let discarded = self.effect.get_discarded_frames();
        let lost = (discarded - self.discarded).max(0) as usize;
        self.discarded = discarded;
        self.samples.resize(lost * 2, 0.0);
        let available = self.effect.get_frames_available();
        if available > 0 {
            let frames = self.effect.get_buffer(available);
            self.samples.extend(frames.as_slice().iter().flat_map(|v| [v.x, v.y]));
        }
        &self.samples
    }
}

impl Drop for AudioCapture {
    fn drop(&mut self) {
        let mut server = AudioServer::singleton();
        let count = server.get_bus_effect_count(0);
        let ours = (0..count).find(|&i| {
            server
                .get_bus_effect(0, i)
                .is_some_and(|e| e.instance_id() == self.effect.instance_id())
        });
        if let Some(index) = ours {
            server.remove_bus_effect(0, index);
        }
    }
}
