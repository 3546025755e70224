//! ffprobe's view of a file: streams, exact packet counts, timestamps and the container duration.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::tool::{self, Error, Result};

const LIMIT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// FFmpeg's demuxer name: "matroska,webm" for both flavours.
    pub format_name: String,
    /// The container's duration (Matroska: the Segment's Duration element).
    pub duration_s: Option<f64>,
    pub video: Vec<VideoStream>,
    pub audio: Vec<AudioStream>,
    /// What ffprobe printed at `-v error`: empty for a clean file.
    pub errors: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VideoStream {
    pub codec: String,
    /// The decoder's frame size. FFmpeg 5.1 ignores Matroska's PixelCrop, so this is the coded
    /// size, which may exceed the display size.
    pub width: u32,
    pub height: u32,
    /// `r_frame_rate` as a number.
    pub frame_rate: f64,
    /// Counted by reading every packet (`-count_packets`), not taken from a header.
    pub packets: u64,
    /// End of the last packet (its timestamp plus duration): the video's length on the timeline.
    pub end_s: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AudioStream {
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u32,
    pub packets: u64,
}

pub fn ffprobe(path: &Path) -> Result<Probe> {
    let mut cmd = Command::new("ffprobe");
    cmd.args([
        "-hide_banner",
        "-v",
        "error",
        "-count_packets",
        "-of",
        "json",
        "-show_entries",
    ])
    .arg(
        "stream=index,codec_type,codec_name,width,height,r_frame_rate,sample_rate,channels,nb_read_packets\
             :format=format_name,duration:packet=stream_index,pts_time,duration_time",
    )
    .arg(path);
    let done = tool::run(&mut cmd, LIMIT)?;
    if !done.status.success() {
        return Err(Error::failed(&cmd, &done));
    }
    let json: Value = serde_json::from_slice(&done.stdout).map_err(|e| Error(format!("ffprobe's JSON: {e}")))?;
    parse(&json, done.stderr)
}

/// ffprobe prints most numbers as strings; this reads either form.
/// One video packet as ffprobe lists it, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// Timestamp in the stream's time base (Matroska: milliseconds).
    pub pts: i64,
    pub keyframe: bool,
    pub size: u64,
}

/// Every packet of the first video stream.
pub fn video_packets(path: &Path) -> Result<Vec<Packet>> {
    let mut cmd = Command::new("ffprobe");
    cmd.args([
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "packet=pts,flags,size",
        "-of",
        "csv=p=0",
    ])
    .arg(path);
    let text = tool::run_text(&mut cmd, Duration::from_secs(60))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let parse = || -> Option<Packet> {
                let mut fields = l.split(',');
                let (pts, size, flags) = (fields.next()?, fields.next()?, fields.next()?);
                Some(Packet {
                    pts: pts.parse().ok()?,
                    size: size.parse().ok()?,
                    keyframe: flags.starts_with('K'),
                })
            };
            parse().ok_or_else(|| Error(format!("cannot read ffprobe's packet line {l:?}")))
        })
        .collect()
}

/// The first video stream's time base (numerator, denominator): the unit of [`Packet::pts`].
/// For MP4, one over the track's media timescale.
pub fn video_time_base(path: &Path) -> Result<(u64, u64)> {
    let mut cmd = Command::new("ffprobe");
    cmd.args([
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=time_base",
        "-of",
        "csv=p=0",
    ])
    .arg(path);
    let text = tool::run_text(&mut cmd, LIMIT)?;
    let (num, den) = text.trim().split_once('/').unwrap_or_default();
    match (num.parse(), den.parse()) {
        (Ok(num), Ok(den)) if num > 0 && den > 0 => Ok((num, den)),
        _ => Err(Error(format!("cannot read ffprobe's time base {:?}", text.trim()))),
    }
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.parse().ok())
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn rational(v: &Value) -> f64 {
    let s = v.as_str().unwrap_or("0/0");
    let (n, d) = s.split_once('/').unwrap_or((s, "1"));
    match (n.parse::<f64>(), d.parse::<f64>()) {
        (Ok(n), Ok(d)) if d != 0.0 => n / d,
        _ => 0.0,
    }
}

fn parse(json: &Value, errors: String) -> Result<Probe> {
    let streams = json["streams"]
        .as_array()
        .ok_or_else(|| Error::new("ffprobe listed no streams"))?;
    let packets = json["packets"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mut probe = Probe {
        format_name: text(&json["format"]["format_name"]),
        duration_s: number(&json["format"]["duration"]),
        video: Vec::new(),
        audio: Vec::new(),
        errors,
    };
    for s in streams {
        let count = |key: &str| number(&s[key]).unwrap_or(0.0) as u64;
        match s["codec_type"].as_str() {
            Some("video") => {
                let index = s["index"].as_u64();
                let end_s = packets
                    .iter()
                    .filter(|p| p["stream_index"].as_u64() == index)
                    .filter_map(|p| Some(number(&p["pts_time"])? + number(&p["duration_time"]).unwrap_or(0.0)))
                    .fold(0.0, f64::max);
                probe.video.push(VideoStream {
                    codec: text(&s["codec_name"]),
                    width: count("width") as u32,
                    height: count("height") as u32,
                    frame_rate: rational(&s["r_frame_rate"]),
                    packets: count("nb_read_packets"),
                    end_s,
                });
            }
            Some("audio") => probe.audio.push(AudioStream {
                codec: text(&s["codec_name"]),
                sample_rate: count("sample_rate") as u32,
                channels: count("channels") as u32,
                packets: count("nb_read_packets"),
            }),
            _ => {}
        }
    }
    Ok(probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ffprobe_json_with_string_numbers() {
        let json: Value = serde_json::from_str(
            r#"{"packets":[
                {"stream_index":0,"pts_time":"0.000000","duration_time":"0.033000"},
                {"stream_index":1,"pts_time":"0.000000","duration_time":"0.020000"},
                {"stream_index":0,"pts_time":"0.033000","duration_time":"0.033000"}],
               "streams":[
                {"index":0,"codec_name":"av1","codec_type":"video","width":640,"height":360,
                 "r_frame_rate":"30000/1001","nb_read_packets":"2"},
                {"index":1,"codec_name":"opus","codec_type":"audio","sample_rate":"48000",
                 "channels":2,"r_frame_rate":"0/0","nb_read_packets":"1"}],
               "format":{"format_name":"matroska,webm","duration":"0.066000"}}"#,
        )
        .unwrap();
        let p = parse(&json, String::new()).unwrap();
        assert_eq!(p.duration_s, Some(0.066));
        let v = &p.video[0];
        assert_eq!((v.codec.as_str(), v.width, v.height, v.packets), ("av1", 640, 360, 2));
        assert!((v.frame_rate - 29.97).abs() < 0.01);
        assert!((v.end_s - 0.066).abs() < 1e-9);
        let a = &p.audio[0];
        assert_eq!(
            (a.codec.as_str(), a.sample_rate, a.channels, a.packets),
            ("opus", 48_000, 2, 1)
        );
    }
}
