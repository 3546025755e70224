//! AV1 decoding through FFmpeg's libaom wrapper, for the chunk check only: a chunk whose every
//! frame decodes without error can be copied into the merged file as it is. libaom is already
//! linked for its encoder, so its decoder adds little to the library (see README, "Size").

use std::ptr;

use ffmpeg_next::ffi;

/// A libaom decoder; everything is freed on drop.
pub struct Av1Decoder {
    ctx: *mut ffi::AVCodecContext,
    packet: *mut ffi::AVPacket,
    frame: *mut ffi::AVFrame,
    decoded: u64,
}

impl Av1Decoder {
    /// Opens the decoder with the track's AV1CodecConfigurationRecord.
    pub fn open(av1c: &[u8]) -> Result<Self, String> {
        // SAFETY: allocations are checked before use; `Drop` frees whatever was allocated, also
        // when a later step fails (the struct is built first).
        unsafe {
            let codec = ffi::avcodec_find_decoder_by_name(c"libaom-av1".as_ptr());
            if codec.is_null() {
                return Err("this build has no libaom AV1 decoder (scripts/stack/build.sh enables it)".into());
            }
            let dec = Self {
                ctx: ffi::avcodec_alloc_context3(codec),
                packet: ffi::av_packet_alloc(),
                frame: ffi::av_frame_alloc(),
                decoded: 0,
            };
            if dec.ctx.is_null() || dec.packet.is_null() || dec.frame.is_null() {
                return Err("out of memory opening the AV1 decoder".into());
            }
            let extra = ffi::av_mallocz(av1c.len() + ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize).cast::<u8>();
            if extra.is_null() {
                return Err("out of memory opening the AV1 decoder".into());
            }
            ptr::copy_nonoverlapping(av1c.as_ptr(), extra, av1c.len());
            (*dec.ctx).extradata = extra;
            (*dec.ctx).extradata_size = av1c.len() as i32;
            let (rc, log) =
                movie_writer_av1_core::ffmpeg_log::capture(|| ffi::avcodec_open2(dec.ctx, codec, ptr::null_mut()));
            if rc < 0 {
                return Err(message("the AV1 decoder did not open", rc, &log));
            }
            Ok(dec)
        }
    }

    /// Decodes one temporal unit.
    pub fn decode(&mut self, data: &[u8]) -> Result<(), String> {
        // SAFETY: the packet is (re)allocated for `data` before it is filled, and unreferenced
        // after the decoder took its copy.
        let (rc, log) = movie_writer_av1_core::ffmpeg_log::capture(|| unsafe {
            let rc = ffi::av_new_packet(self.packet, data.len() as i32);
            if rc < 0 {
                return rc;
            }
            ptr::copy_nonoverlapping(data.as_ptr(), (*self.packet).data, data.len());
            let rc = ffi::avcodec_send_packet(self.ctx, self.packet);
            ffi::av_packet_unref(self.packet);
            rc
        });
        if rc < 0 || !log.is_empty() {
            return Err(message("libaom rejected it", rc, &log));
        }
        self.receive()
    }

    /// Drains the decoder; returns how many frames came out in all.
    pub fn finish(&mut self) -> Result<u64, String> {
        // SAFETY: a null packet asks the open decoder to flush.
        let rc = unsafe { ffi::avcodec_send_packet(self.ctx, ptr::null()) };
        if rc < 0 {
            return Err(message("flushing the decoder failed", rc, &[]));
        }
        self.receive()?;
        Ok(self.decoded)
    }

    fn receive(&mut self) -> Result<(), String> {
        loop {
            // SAFETY: the context is open; the frame is unreferenced after each one.
            let (rc, log) = movie_writer_av1_core::ffmpeg_log::capture(|| unsafe {
                ffi::avcodec_receive_frame(self.ctx, self.frame)
            });
            if rc == ffi::AVERROR(ffi::EAGAIN) || rc == ffi::AVERROR_EOF {
                return Ok(());
            }
            // SAFETY: as above.
            let corrupt = unsafe { (*self.frame).flags & ffi::AV_FRAME_FLAG_CORRUPT != 0 };
            if rc < 0 || !log.is_empty() || corrupt {
                return Err(message("the decoded frame is corrupt", rc, &log));
            }
            self.decoded += 1;
            // SAFETY: a received frame holds references until this call.
            unsafe { ffi::av_frame_unref(self.frame) };
        }
    }
}

fn message(what: &str, rc: i32, log: &[String]) -> String {
    let mut m = what.to_string();
    if rc < 0 {
        m += &format!(" ({})", ffmpeg_next::Error::from(rc));
    }
    if !log.is_empty() {
        m += &format!(": {}", log.join("; "));
    }
    m
}

impl Drop for Av1Decoder {
    fn drop(&mut self) {
        // SAFETY: each pointer is null or owned by this value; the free functions accept null
        // and free the extradata with the context.
        unsafe {
            ffi::avcodec_free_context(&mut self.ctx);
            ffi::av_packet_free(&mut self.packet);
            ffi::av_frame_free(&mut self.frame);
        }
    }
}
