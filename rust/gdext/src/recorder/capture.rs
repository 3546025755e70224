//! The viewport's frame grab, once per drawn frame: the `fps_cap` deadline, the Master bus's
//! audio since the last frame, and the frame itself, converted to I420 on the engine's
//! RenderingDevice and read back asynchronously (its callback, a frame or two later, queues
//! the planes), or read back and scaled on the CPU where there is no RenderingDevice. Apart
//! from the session because this is the per-frame path that must never make the game wait.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use godot::classes::image::{Format, Interpolation};
use godot::classes::{RenderingServer, Viewport};
use godot::prelude::*;
use movie_writer_av1_core::{Error, I420Image, LiveRecorder, PixelFormat, RgbImage, VideoFrame};

use super::audio_capture::AudioCapture;
use super::gpu_convert::GpuConverter;

/// Read-backs in flight at once: the engine keeps two frames queued, so three slots let every
/// frame be captured when the GPU keeps up.
const SLOTS: usize = 3;

/// Said once per run: the Compatibility renderer's CPU path.
static CPU_PATH_NOTED: AtomicBool = AtomicBool::new(false);

/// State shared with the read-back callbacks, which run after the frame that asked for them.
pub(super) struct Shared {
    pub recorder: Option<LiveRecorder>,
    pub in_flight: usize,
    /// Main-thread time spent in callbacks (copying the planes into the queue).
    pub callback_time: Duration,
    pub error: Option<Error>,
}

/// What the grab keeps between frames.
pub(super) struct Capture {
    period: Duration,
    /// The recording's size.
    size: (u32, u32),
    /// When the next frame may be captured (the `fps_cap` deadline).
    next_due: Option<Instant>,
    converter: Option<GpuConverter>,
    next_slot: usize,
    audio: Option<AudioCapture>,
}

impl Capture {
    /// Frames of `size` at most every `period` (zero: every frame), converted by `converter`
    /// (`None`: the CPU path); the Master bus recorded when `capture_audio`.
    pub fn new(size: (u32, u32), period: Duration, converter: Option<GpuConverter>, capture_audio: bool) -> Self {
        Self {
            period,
            size,
            next_due: None,
            converter,
            next_slot: 0,
            audio: capture_audio
                .then(AudioCapture::start)
                .and_then(|a| a.map_err(|why| godot_warn!("AV1Recorder: {why}")).ok()),
        }
    }

    /// Whether frames are converted on the GPU.
    pub fn on_gpu(&self) -> bool {
        self.converter.is_some()
    }

    /// Hands this frame (and the audio mixed since the last one), captured `at` after the
    /// recording started, to the recorder.
    pub fn frame(
        &mut self,
        shared: &Rc<RefCell<Shared>>,
        viewport: Option<Gd<Viewport>>,
        now: Instant,
        at: Duration,
    ) -> Result<(), Error> {
        // Every frame, with no samples when there is no audio, so the audio keeps up.
        let (samples, rate): (&[f32], u32) = match self.audio.as_mut() {
            Some(audio) => {
                let rate = audio.mix_rate;
                (audio.take(), rate)
            }
            None => (&[], 48_000),
        };
        if let Some(r) = shared.borrow_mut().recorder.as_mut() {
            r.push_audio(samples, rate, at)?;
        }
        // The cap keeps a deadline, so the rate holds on average whatever the display's rate.
        if self.next_due.is_some_and(|due| now < due) {
            return Ok(());
        }
        let next = self.next_due.unwrap_or(now) + self.period;
        self.next_due = Some(if next < now { now + self.period } else { next });
        let Some(texture) = viewport.and_then(|v| v.get_texture()) else {
            return Ok(());
        };
        let Some(converter) = self.converter.as_mut() else {
            // CPU path: the engine reads the frame back (and waits for it).
            let Some(mut image) = texture.get_image() else {
                return Ok(());
            };
            if image.get_format() != Format::RGBA8 {
                image.convert(Format::RGBA8);
            }
            // To the recording's size (the scale, and 4:2:0's even sizes), as the GPU path does.
            let (w, h) = (self.size.0 as i32, self.size.1 as i32);
            let (dw, dh) = (image.get_width() - w, image.get_height() - h);
            match (dw, dh) {
                (0, 0) => {}
                // An odd-sized viewport is one pixel larger than the (even) recording: cropped.
                (0..=1, 0..=1) => image.crop(w, h),
                _ => image.resize_ex(w, h).interpolation(Interpolation::BILINEAR).done(),
            }
            let data = image.get_data();
            let frame = RgbImage::packed(
                image.get_width() as u32,
                image.get_height() as u32,
                PixelFormat::Rgba8,
                data.as_slice(),
            )?;
            if let Some(r) = shared.borrow_mut().recorder.as_mut() {
                r.push_frame(&VideoFrame::Rgb(frame), at)?;
            }
            return Ok(());
        };
        let mut in_use = shared.borrow_mut();
        if in_use.in_flight >= SLOTS {
            if let Some(r) = in_use.recorder.as_mut() {
                r.count_dropped();
            }
            return Ok(());
        }
        let rd_texture = RenderingServer::singleton().texture_get_rd_texture(texture.get_rid());
        let slot = self.next_slot;
        let buffer = converter.convert(rd_texture, slot).map_err(Error::Frame)?;
        self.next_slot = (slot + 1) % SLOTS;
        in_use.in_flight += 1;
        drop(in_use);
        let callback = readback_callback(shared.clone(), converter, at);
        if let Err(e) = converter.read_back(buffer, &callback) {
            shared.borrow_mut().in_flight -= 1;
            return Err(Error::Frame(e));
        }
        Ok(())
    }
}

/// The GPU path where it can work, else `None` with the reason said once.
pub(super) fn gpu_converter(recorder: &LiveRecorder, width: u32, height: u32) -> Option<GpuConverter> {
    let reason = if recorder.prefers_rgb() {
        // NVENC converts colour itself: RGBA goes to it unconverted.
        return None;
    } else if !RenderingServer::singleton().is_on_render_thread() {
        "rendering runs on a thread of its own (read-back callbacks would come from that thread)".to_string()
    } else {
        match RenderingServer::singleton().get_rendering_device() {
            None => "the Compatibility renderer has no RenderingDevice".to_string(),
            Some(rd) => match GpuConverter::new(rd, width, height, SLOTS) {
                Ok(converter) => return Some(converter),
                Err(e) => e,
            },
        }
    };
    if !CPU_PATH_NOTED.swap(true, Ordering::Relaxed) {
        godot_print!(
            "AV1Recorder: {reason}: frames are read back and converted on the CPU instead (slower: the game waits for each read-back)"
        );
    }
    None
}

/// The read-back's completion: queue the planes with the frame's capture time.
fn readback_callback(shared: Rc<RefCell<Shared>>, converter: &GpuConverter, at: Duration) -> Callable {
    let (w, h, ys, uvs) = (
        converter.width,
        converter.height,
        converter.y_stride,
        converter.uv_stride,
    );
    Callable::from_fn("AV1Recorder readback", move |args: &[&Variant]| {
        let began = Instant::now();
        let mut shared = shared.borrow_mut();
        shared.in_flight = shared.in_flight.saturating_sub(1);
        let Some(bytes) = args.first().and_then(|a| a.try_to::<PackedByteArray>().ok()) else {
            return;
        };
        let pushed =
            I420Image::contiguous(w, h, ys, uvs, bytes.as_slice()).and_then(|image| match shared.recorder.as_mut() {
                Some(r) => r.push_frame(&VideoFrame::I420(image), at).map(drop),
                None => Ok(()),
            });
        if let Err(e) = pushed {
            shared.error.get_or_insert(e);
        }
        shared.callback_time += began.elapsed();
    })
}
