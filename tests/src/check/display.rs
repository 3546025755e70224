//! A report as the tests print it: every figure measured, then the problems.

use std::fmt;

use super::Report;

pub(super) fn opt<T: fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        writeln!(f, "{} ({bytes} bytes)", self.path.display())?;
        let p = &self.probe;
        write!(
            f,
            "  ffprobe: {}, container duration {} s",
            p.format_name,
            opt(p.duration_s.map(|d| format!("{d:.4}")))
        )?;
        for v in &p.video {
            write!(
                f,
                "; {} {}x{} at {} fps, {} packets ending at {:.4} s",
                v.codec, v.width, v.height, v.frame_rate, v.packets, v.end_s
            )?;
        }
        for a in &p.audio {
            write!(
                f,
                "; {} {} Hz {} ch, {} packets",
                a.codec, a.sample_rate, a.channels, a.packets
            )?;
        }
        writeln!(f)?;
        match &self.mp4 {
            Some(m) => m.describe(f, self.probe.video.first().map_or((0, 0), |v| (v.width, v.height)))?,
            None => {
                let m = &self.mkv;
                writeln!(
                    f,
                    "  mkvmerge/mkvinfo: recognized {}, supported {}, DocType {}, codecs {:?}, pixel {:?}, crop {:?}, display {:?}",
                    m.recognized, m.supported, m.doc_type, m.codec_ids, m.pixel_size, m.crop, m.display_size
                )?;
            }
        }
        if let Some(d) = &self.decoded {
            writeln!(
                f,
                "  libdav1d: {} frames, {}",
                d.frames,
                if d.clean() { "no errors" } else { "ERRORS" }
            )?;
        }
        if let Some(s) = &self.ssim {
            writeln!(
                f,
                "  luma SSIM over {} frames: mean {:.4}, min {:.4} (frame {})",
                s.frames, s.mean, s.min, s.min_frame
            )?;
        }
        writeln!(
            f,
            "  audio: {} s decoded vs video {:.4} s",
            opt(self.audio_duration_s.map(|d| format!("{d:.4}"))),
            self.video_duration_s()
        )?;
        if let Some(t) = &self.tone {
            writeln!(
                f,
                "  tone: {:.3} Hz, starts at {:.4} s, peak {:.3}",
                t.frequency_hz, t.start_s, t.peak
            )?;
        }
        if let Some(pb) = &self.playback {
            writeln!(
                f,
                "  Chromium: {}x{}, duration {} s, ended {} at {:.3} s, {} frames presented, events {:?}",
                pb.video_width,
                pb.video_height,
                opt(pb.duration_s.map(|d| format!("{d:.4}"))),
                pb.ended,
                pb.current_time_s,
                opt(pb.frames_presented),
                pb.events
            )?;
        }
        if self.problems.is_empty() {
            writeln!(f, "  problems: none")
        } else {
            writeln!(f, "  problems:\n    - {}", self.problems.join("\n    - "))
        }
    }
}
