//! The judge of a recording by what its bitstream and its container say, for any AV1 file in
//! Matroska/WebM or MP4 (ours or not): `mwav1 check`, `hwcheck`, the conformance suite and the
//! render farm's chunk check all call [`judge_file`].
//!
//! Decoded pixels cannot show these faults: a player that trusts the container shows a size,
//! a crop or colours the stream does not have, and one that trusts the stream the opposite.
//! Each check compares the two:
//! - **size**: the container's pixel size is the sequence header's coded frame size;
//! - **crop**: the container's crop (Matroska PixelCrop, MP4 `clap`) is the coded size less the
//!   size to show (the recorded size where the caller knows it, else Matroska's DisplayWidth
//!   and DisplayHeight);
//! - **colour**: the stream says BT.709 primaries, transfer and matrix with limited range, or
//!   leaves them unspecified and the container says BT.709;
//! - **container colour**: what the container says (Matroska Colour, MP4 `colr`) agrees with
//!   the stream;
//! - **keyframes**: the first frame is a keyframe and every keyframe carries the sequence
//!   header (AV1-ISOBMFF requires it of sync samples; a player seeking to one needs it), the
//!   same one throughout;
//! - **av1C**: the AV1CodecConfigurationRecord is well formed, its fields are its sequence
//!   header's, and that sequence header is the stream's first, byte for byte.

mod matroska_header;
mod mp4_header;
mod packets;

use std::fmt;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use movie_writer_av1_core::av1::{self, Colour, SequenceInfo};
use packets::Packets;

/// Crop of the coded picture, in pixels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Crop {
    pub left: u32,
    pub right: u32,
    pub top: u32,
    pub bottom: u32,
}

/// A container's colour description as ITU-T H.273 code points; None where it says nothing
/// (an element left out, Matroska's Range 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContainerColour {
    pub primaries: Option<u8>,
    pub transfer: Option<u8>,
    pub matrix: Option<u8>,
    pub full_range: Option<bool>,
}

/// What a container says about its AV1 track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackHeader {
    /// "Matroska" or "MP4", as findings name it.
    pub container: &'static str,
    /// The AV1CodecConfigurationRecord (Matroska CodecPrivate, MP4 `av1C`).
    pub av1c: Vec<u8>,
    /// Matroska PixelWidth/PixelHeight; the MP4 sample entry's width and height.
    pub pixel_size: (u32, u32),
    pub crop: Crop,
    /// The size to show in pixels, where the container states one apart from its crop.
    pub display_size: Option<(u32, u32)>,
    /// Matroska's Colour element or MP4's `colr`; None when there is none.
    pub colour: Option<ContainerColour>,
}

/// Why a file could not be judged at all (as opposed to a check it failed).
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error("cannot read '{path}': {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("'{path}' is neither Matroska/WebM nor MP4 (it starts with {start}); `mwav1 check` judges AV1 in .webm, .mkv and .mp4")]
    UnknownContainer { path: PathBuf, start: String },
    #[error("'{path}' has no AV1 video track to judge: {what}")]
    NoAv1Track { path: PathBuf, what: String },
    #[error("'{path}' is malformed: {what}")]
    Malformed { path: PathBuf, what: String },
}

/// What the container parsers and the packet reader report, before the path is known.
#[derive(Debug)]
pub(crate) enum HeaderError {
    Io(std::io::Error),
    NoTrack(String),
    Malformed(String),
}

impl HeaderError {
    fn io(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Self::Malformed("it ends inside its header".into())
        } else {
            Self::Io(e)
        }
    }

    fn at(self, path: &Path) -> JudgeError {
        let path = path.to_path_buf();
        match self {
            Self::Io(source) => JudgeError::Io { path, source },
            Self::NoTrack(what) => JudgeError::NoAv1Track { path, what },
            Self::Malformed(what) => JudgeError::Malformed { path, what },
        }
    }
}

/// The checks, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckId {
    Av1c,
    Keyframes,
    Size,
    Crop,
    Colour,
    ContainerColour,
}

impl CheckId {
    pub fn name(self) -> &'static str {
        match self {
            Self::Av1c => "av1C",
            Self::Keyframes => "keyframes",
            Self::Size => "size",
            Self::Crop => "crop",
            Self::Colour => "colour",
            Self::ContainerColour => "container colour",
        }
    }
}

/// One check's outcome: what it found and, when it failed, each way the file is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub id: CheckId,
    pub found: String,
    pub problems: Vec<String>,
}

impl Check {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Every check of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub checks: Vec<Check>,
}

impl Judgement {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(Check::passed)
    }

    pub fn failed(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed())
    }

    /// Each problem as "check: problem", for reports that list failures only.
    pub fn problems(&self) -> Vec<String> {
        self.failed()
            .flat_map(|c| c.problems.iter().map(move |p| format!("{}: {p}", c.id.name())))
            .collect()
    }
}

impl fmt::Display for Judgement {
    /// One line per check ("pass size: …" or "FAIL crop: …"), each problem on its own line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.checks.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let verdict = if c.passed() { "pass" } else { "FAIL" };
            write!(f, "{verdict} {}: {}", c.id.name(), c.found)?;
            for p in &c.problems {
                write!(f, "\n       - {p}")?;
            }
        }
        Ok(())
    }
}

/// Judges the AV1 track of the Matroska/WebM or MP4 file at `path`. `shown`: the size the
/// recording was made at, where the caller knows it (the crop must leave exactly that).
pub fn judge_file(path: &Path, shown: Option<(u32, u32)>) -> Result<Judgement, JudgeError> {
    judge_file_each(path, shown, &mut |_, _, _| {})
}

/// What [`judge_file_each`] hands each packet to: the track's av1C, the packet, and whether the
/// container marks it a keyframe.
pub type EachPacket<'a> = dyn FnMut(&[u8], &[u8], bool) + 'a;

/// [`judge_file`], handing `each` every packet as it reads them: a caller that decodes them
/// reads the file once.
pub fn judge_file_each(
    path: &Path,
    shown: Option<(u32, u32)>,
    each: &mut EachPacket<'_>,
) -> Result<Judgement, JudgeError> {
    let file = std::fs::File::open(path).map_err(|source| JudgeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut r = BufReader::new(file);
    let mut start = [0u8; 8];
    let n = read_up_to(&mut r, &mut start).map_err(|e| HeaderError::io(e).at(path))?;
    r.seek(SeekFrom::Start(0)).map_err(|e| HeaderError::io(e).at(path))?;
    let header = if start[..n].starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        matroska_header::read(&mut r)
    } else if n == 8
        && [b"ftyp", b"moov", b"free", b"skip", b"mdat", b"wide"].contains(&&[start[4], start[5], start[6], start[7]])
    {
        mp4_header::read(&mut r)
    } else {
        return Err(JudgeError::UnknownContainer {
            path: path.to_path_buf(),
            start: start[..n]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" "),
        });
    }
    .map_err(|e| e.at(path))?;
    let packets = packets::read(path, &mut |data, key| each(&header.av1c, data, key)).map_err(|e| e.at(path))?;
    Ok(judge(&header, &packets, shown))
}

/// The judge as one outcome: Err names every failed check and its problems, or why the file
/// could not be judged (the render farm's chunk check reports it as the chunk's problem).
pub fn verdict(path: &Path, shown: Option<(u32, u32)>) -> Result<(), String> {
    let j = judge_file(path, shown).map_err(|e| format!("cannot be judged by its bitstream: {e}"))?;
    if j.passed() {
        Ok(())
    } else {
        Err(format!("fails the bitstream judge: {}", j.problems().join("; ")))
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Every check of a track whose container says `header` and whose packets say `packets`.
pub(crate) fn judge(header: &TrackHeader, packets: &Packets, shown: Option<(u32, u32)>) -> Judgement {
    let config = header.av1c.get(4..).and_then(av1::find_sequence_header);
    // The coded size and colours: av1C's sequence header, else the stream's first.
    let stream = config
        .or(packets.first_header.as_deref())
        .and_then(av1::parse_sequence_header);
    let mut checks = vec![
        av1c_check(&header.av1c, config, packets.first_header.as_deref()),
        keyframes_check(packets),
    ];
    match &stream {
        Some(s) => {
            checks.push(size_check(header, s));
            checks.push(crop_check(header, s, shown));
            checks.push(colour_check(header, &s.colour));
            checks.push(container_colour_check(header, &s.colour));
        }
        None => {
            let unknown = |id| Check {
                id,
                found: "no readable sequence header".into(),
                problems: vec!["neither av1C nor the first packet carries a sequence header to compare with".into()],
            };
            checks.extend([CheckId::Size, CheckId::Crop, CheckId::Colour, CheckId::ContainerColour].map(unknown));
        }
    }
    Judgement { checks }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn av1c_check(av1c: &[u8], config: Option<&[u8]>, first: Option<&[u8]>) -> Check {
    let mut problems = Vec::new();
    let found = format!("{} bytes: {}", av1c.len(), hex(av1c));
    if av1c.len() < 4 || av1c[0] != 0x81 {
        problems.push("it is not an AV1CodecConfigurationRecord (marker 1, version 1: first byte 81)".into());
        return Check {
            id: CheckId::Av1c,
            found,
            problems,
        };
    }
    let Some(config) = config else {
        problems.push("its configOBUs hold no sequence header".into());
        return Check {
            id: CheckId::Av1c,
            found,
            problems,
        };
    };
    match av1::parse_sequence_header(config) {
        None => problems.push("its sequence header cannot be parsed".into()),
        Some(s) => problems.extend(av1c_fields(av1c, &s)),
    }
    match first {
        None => problems.push("the first packet carries no sequence header to compare it with".into()),
        Some(first) if first != config => problems.push(format!(
            "its sequence header {} is not the stream's first, {}",
            hex(config),
            hex(first)
        )),
        Some(_) => {}
    }
    Check {
        id: CheckId::Av1c,
        found,
        problems,
    }
}

/// Each field of av1C's first four bytes that differs from its sequence header's (AV1-ISOBMFF
/// §2.3.3).
fn av1c_fields(av1c: &[u8], s: &SequenceInfo) -> Vec<String> {
    let (b1, b2) = (av1c[1], av1c[2]);
    let fields = [
        ("seq_profile", u32::from(b1 >> 5), u32::from(s.profile)),
        ("seq_level_idx_0", u32::from(b1 & 0x1f), u32::from(s.level)),
        ("seq_tier_0", u32::from(b2 >> 7), u32::from(s.tier)),
        ("high_bitdepth", u32::from((b2 >> 6) & 1), u32::from(s.high_bitdepth)),
        ("twelve_bit", u32::from((b2 >> 5) & 1), u32::from(s.twelve_bit)),
        ("monochrome", u32::from((b2 >> 4) & 1), u32::from(s.monochrome)),
        (
            "chroma_subsampling_x",
            u32::from((b2 >> 3) & 1),
            u32::from(s.subsampling_x),
        ),
        (
            "chroma_subsampling_y",
            u32::from((b2 >> 2) & 1),
            u32::from(s.subsampling_y),
        ),
        (
            "chroma_sample_position",
            u32::from(b2 & 3),
            u32::from(s.chroma_sample_position),
        ),
    ];
    fields
        .iter()
        .filter(|(_, record, header)| record != header)
        .map(|(name, record, header)| format!("its {name} is {record}, its sequence header's {header}"))
        .collect()
}

fn frame_list((listed, count): &(Vec<u64>, u64)) -> String {
    let list: Vec<String> = listed.iter().map(u64::to_string).collect();
    let more = if *count > listed.len() as u64 { ", …" } else { "" };
    format!("{count} (frames {}{more})", list.join(", "))
}

fn keyframes_check(p: &Packets) -> Check {
    let mut problems = Vec::new();
    if p.frames == 0 {
        problems.push("the track has no frames".into());
    } else if !p.first_is_keyframe {
        problems.push("the first frame is not a keyframe".into());
    }
    if p.without_header.1 > 0 {
        problems.push(format!(
            "keyframes without a sequence header: {} (AV1-ISOBMFF requires one in every sync sample; a player that starts there cannot decode)",
            frame_list(&p.without_header)
        ));
    }
    if p.other_header.1 > 0 {
        problems.push(format!(
            "keyframes whose sequence header differs from the first: {} (av1C then describes only part of the stream)",
            frame_list(&p.other_header)
        ));
    }
    Check {
        id: CheckId::Keyframes,
        found: format!("{} frames, {} keyframes", p.frames, p.keyframes),
        problems,
    }
}

fn size_check(h: &TrackHeader, s: &SequenceInfo) -> Check {
    let coded = (s.max_width, s.max_height);
    let mut problems = Vec::new();
    if h.pixel_size != coded {
        problems.push(format!(
            "the {} track is {}x{} pixels, the sequence header codes {}x{} (max_frame_width/height): players that trust the container scale or cut the picture",
            h.container, h.pixel_size.0, h.pixel_size.1, coded.0, coded.1
        ));
    }
    Check {
        id: CheckId::Size,
        found: format!(
            "coded {}x{}, {} {}x{}",
            coded.0, coded.1, h.container, h.pixel_size.0, h.pixel_size.1
        ),
        problems,
    }
}

fn crop_check(h: &TrackHeader, s: &SequenceInfo, shown: Option<(u32, u32)>) -> Check {
    let c = h.crop;
    let (crop_w, crop_h) = (c.left.saturating_add(c.right), c.top.saturating_add(c.bottom));
    let what = if h.container == "MP4" { "clap" } else { "PixelCrop" };
    let mut found = format!(
        "{what} left {} right {} top {} bottom {}",
        c.left, c.right, c.top, c.bottom
    );
    let mut problems = Vec::new();
    if crop_w >= s.max_width || crop_h >= s.max_height {
        problems.push(format!(
            "it crops the whole {}x{} picture away",
            s.max_width, s.max_height
        ));
    }
    let (want, source) = match (shown, h.display_size) {
        (Some(size), _) => (Some(size), "the recorded size"),
        (None, Some(size)) => (Some(size), "DisplayWidth/Height"),
        (None, None) => (None, ""),
    };
    match want {
        Some((w, h)) => {
            found += &format!(", to show {w}x{h} ({source})");
            let want_crop = (s.max_width.checked_sub(w), s.max_height.checked_sub(h));
            match want_crop {
                (Some(cw), Some(ch)) if (cw, ch) == (crop_w, crop_h) => {}
                (Some(cw), Some(ch)) => problems.push(format!(
                    "it crops {crop_w} columns and {crop_h} rows, but the coded {}x{} less the {w}x{h} to show is {cw} and {ch}",
                    s.max_width, s.max_height
                )),
                _ => problems.push(format!(
                    "{w}x{h} ({source}) is larger than the coded {}x{}",
                    s.max_width, s.max_height
                )),
            }
        }
        None => found += ", no size to show stated apart from the crop (MP4), so not compared",
    }
    Check {
        id: CheckId::Crop,
        found,
        problems,
    }
}

fn range(full: bool) -> &'static str {
    if full {
        "full range"
    } else {
        "limited range"
    }
}

fn describe(c: &Colour) -> String {
    if c.described {
        format!(
            "primaries {}, transfer {}, matrix {}, {}",
            c.primaries,
            c.transfer,
            c.matrix,
            range(c.full_range)
        )
    } else {
        format!("no colour description (unspecified), {}", range(c.full_range))
    }
}

fn describe_container(c: Option<&ContainerColour>) -> String {
    let Some(c) = c else {
        return "none".into();
    };
    let code = |v: Option<u8>| v.map_or("-".into(), |v| v.to_string());
    let range = c.full_range.map_or("range -", range);
    format!(
        "primaries {}, transfer {}, matrix {}, {range}",
        code(c.primaries),
        code(c.transfer),
        code(c.matrix)
    )
}

fn colour_check(h: &TrackHeader, s: &Colour) -> Check {
    let mut problems = Vec::new();
    let bt709 = Some(Colour::BT709);
    if s.full_range {
        problems.push("the stream says full range; recordings are limited range".into());
    }
    if s.described {
        if (s.primaries, s.transfer, s.matrix) != (Colour::BT709, Colour::BT709, Colour::BT709) {
            problems.push(format!(
                "the stream says primaries {}, transfer {}, matrix {}; want BT.709 (1, 1, 1)",
                s.primaries, s.transfer, s.matrix
            ));
        }
    } else {
        let container_says_bt709 = h.colour.is_some_and(|c| {
            (c.primaries, c.transfer, c.matrix) == (bt709, bt709, bt709) && c.full_range == Some(false)
        });
        if !container_says_bt709 {
            problems.push(format!(
                "the stream leaves its colours unspecified, and the container ({}) does not say BT.709 limited range: players guess (BT.601 for small sizes)",
                describe_container(h.colour.as_ref())
            ));
        }
    }
    Check {
        id: CheckId::Colour,
        found: format!("stream: {}", describe(s)),
        problems,
    }
}

fn container_colour_check(h: &TrackHeader, s: &Colour) -> Check {
    let mut problems = Vec::new();
    if let (Some(c), true) = (h.colour, s.described) {
        let fields = [
            ("primaries", c.primaries, s.primaries),
            ("transfer", c.transfer, s.transfer),
            ("matrix", c.matrix, s.matrix),
        ];
        // 2 is "unspecified": it leaves the stream's value standing.
        for (name, container, stream) in fields {
            if let Some(v) = container.filter(|&v| v != Colour::UNSPECIFIED && v != stream) {
                problems.push(format!("the {} says {name} {v}, the stream {stream}", h.container));
            }
        }
    }
    if let Some(full) = h.colour.and_then(|c| c.full_range).filter(|&f| f != s.full_range) {
        problems.push(format!(
            "the {} says {}, the stream {}",
            h.container,
            range(full),
            range(s.full_range)
        ));
    }
    Check {
        id: CheckId::ContainerColour,
        found: format!("{}: {}", h.container, describe_container(h.colour.as_ref())),
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use movie_writer_av1_core::av1::testing;

    fn header(av1c_obu: &[u8]) -> TrackHeader {
        TrackHeader {
            container: "Matroska",
            av1c: av1::av1c(av1c_obu).unwrap(),
            pixel_size: (1920, 1088),
            crop: Crop {
                bottom: 8,
                ..Crop::default()
            },
            display_size: Some((1920, 1080)),
            colour: Some(ContainerColour {
                primaries: Some(1),
                transfer: Some(1),
                matrix: Some(1),
                full_range: Some(false),
            }),
        }
    }

    /// 60 frames, a keyframe every 30, each keyframe led by `seq`.
    fn packets(seq: &[u8]) -> Packets {
        let mut p = Packets::default();
        for i in 0..60 {
            let mut data = Vec::new();
            if i % 30 == 0 {
                data.extend_from_slice(seq);
            }
            data.extend_from_slice(&[0x32, 0x01, 0x55]); // a frame OBU
            p.add(&data, i % 30 == 0);
        }
        p
    }

    fn failed(j: &Judgement) -> Vec<&'static str> {
        j.failed().map(|c| c.id.name()).collect()
    }

    /// AMD's 1080p: 1088 rows coded, 8 cropped, BT.709 in both: every check passes.
    #[test]
    fn a_consistent_track_passes_every_check() {
        let seq = testing::sequence_header(1920, 1088);
        let j = judge(&header(&seq), &packets(&seq), Some((1920, 1080)));
        assert!(j.passed(), "{j}");
        assert_eq!(j.checks.len(), 6);
        assert!(judge(&header(&seq), &packets(&seq), None).passed());
    }

    #[test]
    fn a_container_size_other_than_the_coded_one_fails() {
        let seq = testing::sequence_header(1920, 1088);
        let mut h = header(&seq);
        h.pixel_size = (1920, 1080);
        let j = judge(&h, &packets(&seq), None);
        assert_eq!(failed(&j), ["size"], "{j}");
        assert!(j
            .to_string()
            .contains("the Matroska track is 1920x1080 pixels, the sequence header codes 1920x1088"));
    }

    /// 1080 asked for, 1082 coded (AMD's VCN4), and a container that crops nothing.
    #[test]
    fn a_crop_that_does_not_leave_the_recorded_size_fails() {
        let seq = testing::sequence_header(1920, 1082);
        let mut h = header(&seq);
        h.pixel_size = (1920, 1082);
        h.crop = Crop::default();
        h.display_size = None;
        let j = judge(&h, &packets(&seq), Some((1920, 1080)));
        assert_eq!(failed(&j), ["crop"], "{j}");
        assert!(j.problems()[0]
            .contains("it crops 0 columns and 0 rows, but the coded 1920x1082 less the 1920x1080 to show is 0 and 2"));
        // Without the recorded size, Matroska's display size stands in.
        h.display_size = Some((1920, 1080));
        assert_eq!(failed(&judge(&h, &packets(&seq), None)), ["crop"]);
    }

    #[test]
    fn colours_other_than_bt709_limited_fail() {
        for (cpm, full) in [(Some((6, 6, 6)), false), (Some((1, 1, 1)), true)] {
            let seq = testing::obu(&testing::coloured_payload(1920, 1088, cpm, full));
            let mut h = header(&seq);
            h.colour = None;
            let j = judge(&h, &packets(&seq), None);
            assert_eq!(failed(&j), ["colour"], "{j}");
        }
    }

    /// Unspecified in the stream is fine only where the container says BT.709.
    #[test]
    fn an_unspecified_stream_needs_a_bt709_container() {
        let seq = testing::obu(&testing::coloured_payload(1920, 1088, None, false));
        assert!(judge(&header(&seq), &packets(&seq), None).passed());
        let mut h = header(&seq);
        h.colour = None;
        let j = judge(&h, &packets(&seq), None);
        assert_eq!(failed(&j), ["colour"], "{j}");
        assert!(j.problems()[0].contains("does not say BT.709"), "{j}");
    }

    /// What `mkvmerge --colour-matrix-coefficients 0:5` does to a BT.709 file.
    #[test]
    fn a_container_colour_that_contradicts_the_stream_fails() {
        let seq = testing::sequence_header(1920, 1088);
        let mut h = header(&seq);
        h.colour = Some(ContainerColour {
            matrix: Some(5),
            full_range: Some(true),
            ..h.colour.unwrap()
        });
        let j = judge(&h, &packets(&seq), None);
        assert_eq!(failed(&j), ["container colour"], "{j}");
        assert_eq!(
            j.problems(),
            [
                "container colour: the Matroska says matrix 5, the stream 1",
                "container colour: the Matroska says full range, the stream limited range"
            ]
        );
        // "Unspecified" (2) in the container leaves the stream's value standing.
        h.colour = Some(ContainerColour {
            matrix: Some(2),
            ..ContainerColour::default()
        });
        assert!(judge(&h, &packets(&seq), None).passed());
    }

    #[test]
    fn a_keyframe_without_or_with_another_sequence_header_fails() {
        let seq = testing::sequence_header(1920, 1088);
        let mut p = packets(&seq);
        p.add(&[0x32, 0x01, 0x55], true);
        let j = judge(&header(&seq), &p, None);
        assert_eq!(failed(&j), ["keyframes"], "{j}");
        assert!(
            j.problems()[0].contains("keyframes without a sequence header: 1 (frames 60)"),
            "{j}"
        );

        let mut p = packets(&seq);
        p.add(&testing::sequence_header(1280, 720), true);
        assert!(judge(&header(&seq), &p, None).problems()[0].contains("differs from the first: 1 (frames 60)"));

        let mut p = Packets::default();
        p.add(&seq, false);
        assert!(judge(&header(&seq), &p, None).problems()[0].contains("the first frame is not a keyframe"));
    }

    #[test]
    fn an_av1c_that_is_not_the_streams_first_sequence_header_fails() {
        let seq = testing::sequence_header(1920, 1088);
        let other = testing::obu(&testing::coloured_payload(1920, 1088, None, false));
        let j = judge(&header(&other), &packets(&seq), None);
        assert_eq!(failed(&j), ["av1C"], "{j}");
        assert!(j.problems()[0].contains("is not the stream's first"), "{j}");

        // A field of the record altered (the level): it no longer matches its own header.
        let mut h = header(&seq);
        h.av1c[1] ^= 0x01;
        let j = judge(&h, &packets(&seq), None);
        assert_eq!(
            j.problems(),
            ["av1C: its seq_level_idx_0 is 9, its sequence header's 8"]
        );

        h.av1c[0] = 0x80;
        assert!(judge(&h, &packets(&seq), None).problems()[0].contains("not an AV1CodecConfigurationRecord"));
    }
}
