//! MKVToolNix's view of a file: `mkvmerge -J` (recognized, supported, errors, track sizes) and
//! `mkvinfo` (the EBML header's DocType and the PixelCrop elements, which `mkvmerge -J` omits).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::tool::{self, Error, Result};

const LIMIT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MkvInfo {
    pub recognized: bool,
    pub supported: bool,
    /// mkvmerge's container name, "Matroska" for WebM too.
    pub container: String,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    /// `mkvmerge -J` exit status: 0 clean, 1 warnings, 2 errors.
    pub exit_code: Option<i32>,
    /// EBML DocType: "webm" or "matroska".
    pub doc_type: String,
    /// Codec IDs in track order ("V_AV1", "A_OPUS").
    pub codec_ids: Vec<String>,
    /// Size of the coded frames (PixelWidth × PixelHeight) of the first video track.
    pub pixel_size: Option<(u32, u32)>,
    /// Size a player shows (DisplayWidth × DisplayHeight).
    pub display_size: Option<(u32, u32)>,
    pub crop: Crop,
    /// CodecDelay of the first audio track (Opus pre-skip), in nanoseconds.
    pub codec_delay_ns: Option<u64>,
}

/// PixelCrop{Left,Top,Right,Bottom} of the first video track (0 where absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Crop {
    pub left: u32,
    pub top: u32,
    pub right: u32,
    pub bottom: u32,
}

impl MkvInfo {
    /// The picture left after cropping the coded frame: what must equal the display size.
    pub fn cropped_size(&self) -> Option<(u32, u32)> {
        let (w, h) = self.pixel_size?;
        let c = self.crop;
        Some((w.checked_sub(c.left + c.right)?, h.checked_sub(c.top + c.bottom)?))
    }
}

pub fn inspect(path: &Path) -> Result<MkvInfo> {
    let mut merge = Command::new("mkvmerge");
    merge.arg("-J").arg(path);
    let done = tool::run(&mut merge, LIMIT)?;
    // mkvmerge exits 1 on warnings and 2 on errors but still prints its JSON, errors included.
    let json: Value = serde_json::from_slice(&done.stdout).map_err(|e| {
        Error(format!(
            "`{}` ({}) printed no JSON ({e}): {}",
            tool::describe(&merge),
            done.status,
            done.stderr.trim()
        ))
    })?;
    let mut info = from_identify(&json);
    info.exit_code = done.status.code();
    let listing = tool::run_text(Command::new("mkvinfo").arg(path), LIMIT)?;
    apply_mkvinfo(&mut info, &listing);
    Ok(info)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn dimensions(v: &Value) -> Option<(u32, u32)> {
    let (w, h) = v.as_str()?.split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

fn from_identify(json: &Value) -> MkvInfo {
    let container = &json["container"];
    let tracks = json["tracks"].as_array().map(Vec::as_slice).unwrap_or_default();
    let video = tracks.iter().find(|t| t["type"] == "video");
    let audio = tracks.iter().find(|t| t["type"] == "audio");
    MkvInfo {
        recognized: container["recognized"].as_bool().unwrap_or(false),
        supported: container["supported"].as_bool().unwrap_or(false),
        container: container["type"].as_str().unwrap_or_default().to_string(),
        errors: strings(&json["errors"]),
        warnings: strings(&json["warnings"]),
        codec_ids: tracks
            .iter()
            .map(|t| t["properties"]["codec_id"].as_str().unwrap_or_default().to_string())
            .collect(),
        pixel_size: video.and_then(|t| dimensions(&t["properties"]["pixel_dimensions"])),
        display_size: video.and_then(|t| dimensions(&t["properties"]["display_dimensions"])),
        codec_delay_ns: audio.and_then(|t| t["properties"]["codec_delay"].as_u64()),
        ..MkvInfo::default()
    }
}

/// Reads `mkvinfo`'s tree ("|+ Document type: webm", "|   + Pixel crop right: 1"). Only the
/// first video track's crop is taken: the recordings under test have exactly one.
fn apply_mkvinfo(info: &mut MkvInfo, listing: &str) {
    let mut in_first_video = false;
    let mut seen_video = false;
    for line in listing.lines() {
        let item = line.trim_start_matches(['|', ' ', '+']);
        let Some((key, value)) = item.split_once(": ") else {
            continue;
        };
        let number = || value.trim().parse::<u32>().unwrap_or(0);
        match key {
            "Document type" => info.doc_type = value.trim().to_string(),
            "Track type" => {
                in_first_video = value.trim() == "video" && !seen_video;
                seen_video |= in_first_video;
            }
            "Pixel crop left" if in_first_video => info.crop.left = number(),
            "Pixel crop top" if in_first_video => info.crop.top = number(),
            "Pixel crop right" if in_first_video => info.crop.right = number(),
            "Pixel crop bottom" if in_first_video => info.crop.bottom = number(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_doc_type_and_crop_of_the_video_track() {
        let mut info = MkvInfo {
            pixel_size: Some((1282, 722)),
            ..MkvInfo::default()
        };
        apply_mkvinfo(
            &mut info,
            "+ EBML head\n|+ Document type: webm\n+ Segment: size 1\n|+ Tracks\n| + Track\n\
             |  + Track type: video\n|  + Video track\n|   + Pixel width: 1282\n\
             |   + Pixel crop bottom: 1\n|   + Pixel crop right: 1\n| + Track\n|  + Track type: audio\n",
        );
        assert_eq!(info.doc_type, "webm");
        assert_eq!(
            info.crop,
            Crop {
                right: 1,
                bottom: 1,
                ..Crop::default()
            }
        );
        assert_eq!(info.cropped_size(), Some((1281, 721)));
    }

    #[test]
    fn reads_mkvmerge_identification() {
        let json: Value = serde_json::from_str(
            r#"{"container":{"recognized":true,"supported":true,"type":"Matroska"},"errors":[],
                "warnings":["w"],"tracks":[
                {"type":"video","properties":{"codec_id":"V_AV1","pixel_dimensions":"1282x722",
                 "display_dimensions":"1281x721"}},
                {"type":"audio","properties":{"codec_id":"A_OPUS","codec_delay":6500000}}]}"#,
        )
        .unwrap();
        let info = from_identify(&json);
        assert!(info.recognized && info.supported);
        assert_eq!(info.warnings, ["w"]);
        assert_eq!(info.codec_ids, ["V_AV1", "A_OPUS"]);
        assert_eq!(info.pixel_size, Some((1282, 722)));
        assert_eq!(info.display_size, Some((1281, 721)));
        assert_eq!(info.codec_delay_ns, Some(6_500_000));
    }
}
