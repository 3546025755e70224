//! GPAC's view of an MP4 file: `MP4Box -diso` (an XML dump of every box) and `MP4Box -info`
//! (whether GPAC reads the file without complaint). GPAC shares no code with FFmpeg's mov
//! muxer, so it reads the boxes as the ISO-BMFF spec lays them out, not as FFmpeg meant them.
//!
//! MP4Box is not packaged for Debian 12; `./dev setup` puts it at `.tools/bin/MP4Box`
//! (scripts/test-tools/gpac.sh).

use std::collections::HashMap;
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::tool::{self, Error, Result};

const LIMIT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mp4Info {
    /// Types of the top-level boxes in file order ("ftyp", "moov", "mdat", "moof", "mfra", …).
    pub top_level: Vec<String>,
    pub tracks: Vec<Track>,
    /// What MP4Box printed about the file beyond its dump (GPAC's "[iso file] …" log lines and
    /// anything that names an error), from `-info` and `-diso`; empty for a clean file.
    pub diagnostics: Vec<String>,
    /// Exit status of `MP4Box -info`.
    pub info_exit: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Track {
    pub id: u32,
    /// The media handler: "vide" or "soun".
    pub handler: String,
    /// mdhd's TimeScale: ticks per second of the sample times.
    pub timescale: u32,
    /// The first sample entry's type: "av01", "mp4a", "Opus".
    pub sample_entry: String,
    /// The sample entry holds an AV1CodecConfigurationBox (av1C).
    pub av1c: bool,
    pub colr: Option<Colr>,
    pub clap: Option<Clap>,
    /// Samples in the sample table (stsz/stz2): 0 for a fragmented file's moov.
    pub samples: u64,
    /// Samples in movie fragments (trun), for this track.
    pub fragment_samples: u64,
    /// Entries of the sync sample table; `None` when there is no stss: every sample is sync.
    pub sync_samples: Option<u64>,
    pub edits: Vec<Edit>,
    /// tkhd's width and height (16.16 fixed point, shown as decimals): the presentation size.
    pub width: f64,
    pub height: f64,
    /// Opus only: dOps PreSkip, in 48 kHz samples.
    pub pre_skip: Option<u32>,
}

/// The colour information box of a visual sample entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Colr {
    /// "nclx" (coded code points), "prof"/"rICC" (ICC profile), "nclc" (QuickTime).
    pub colour_type: String,
    pub primaries: Option<u16>,
    pub transfer: Option<u16>,
    pub matrix: Option<u16>,
    pub full_range: Option<bool>,
}

/// The clean aperture (clap): the part of the coded picture to show, as fractions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clap {
    pub width_n: u32,
    pub width_d: u32,
    pub height_n: u32,
    pub height_d: u32,
    pub horiz_off_n: i32,
    pub horiz_off_d: u32,
    pub vert_off_n: i32,
    pub vert_off_d: u32,
}

impl Clap {
    /// The cropped size, when both fractions are whole numbers.
    pub fn size(&self) -> Option<(u32, u32)> {
        let whole = |n: u32, d: u32| (d != 0 && n.is_multiple_of(d)).then(|| n / d);
        Some((whole(self.width_n, self.width_d)?, whole(self.height_n, self.height_d)?))
    }
}

/// One edit list entry, in movie (segment duration) and media (media time) timescales.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Edit {
    pub segment_duration: u64,
    /// -1 marks an empty edit (a gap).
    pub media_time: i64,
}

impl Mp4Info {
    pub fn count(&self, box_type: &str) -> usize {
        self.top_level.iter().filter(|t| *t == box_type).count()
    }

    pub fn track(&self, handler: &str) -> Option<&Track> {
        self.tracks.iter().find(|t| t.handler == handler)
    }
}

/// `$MP4BOX`, else the copy `./dev setup` installs.
pub fn mp4box() -> Result<PathBuf> {
    locate(
        env::var_os("MP4BOX").map(PathBuf::from),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/MP4Box"),
    )
}

/// `chosen` if set, else `installed`; a missing MP4Box fails the check (it is part of the set-up,
/// not an optional tool), with what to run.
fn locate(chosen: Option<PathBuf>, installed: PathBuf) -> Result<PathBuf> {
    let path = chosen.unwrap_or(installed);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error(format!(
            "MP4Box not found at {} (set $MP4BOX to use another): run `./dev setup`, which installs it",
            path.display()
        )))
    }
}

pub fn inspect(path: &Path) -> Result<Mp4Info> {
    let mp4box = mp4box()?;
    let mut dump = Command::new(&mp4box);
    dump.arg("-diso").arg(path).arg("-std");
    let dumped = tool::run(&mut dump, LIMIT)?;
    if !dumped.status.success() {
        return Err(Error::failed(&dump, &dumped));
    }
    let xml = String::from_utf8_lossy(&dumped.stdout);
    let mut info = parse(&xml);
    let mut describe = Command::new(&mp4box);
    describe.arg("-info").arg(path);
    // -info prints its report on stderr, mixed with GPAC's log lines.
    let described = tool::run(&mut describe, LIMIT)?;
    info.info_exit = described.status.code();
    // Both runs parse the whole file, so they often report the same fault: keep it once.
    for line in diagnostics(&dumped.stderr).chain(diagnostics(&described.stderr)) {
        if !info.diagnostics.contains(&line) {
            info.diagnostics.push(line);
        }
    }
    Ok(info)
}

/// GPAC's log lines ("[iso file] Incomplete box mdat", red on any terminal) and lines naming an
/// error; the rest of `-info`'s report is a plain description.
fn diagnostics(stderr: &str) -> impl Iterator<Item = String> + '_ {
    stderr
        .lines()
        .map(strip_ansi)
        .map(|l| l.trim().to_string())
        .filter(|l| l.starts_with('[') || l.to_ascii_lowercase().contains("error"))
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, ended by a letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One start tag of the dump, with its attributes.
struct Tag<'a> {
    name: &'a str,
    attrs: HashMap<&'a str, String>,
}

impl Tag<'_> {
    fn text(&self, key: &str) -> String {
        self.attrs.get(key).cloned().unwrap_or_default()
    }

    fn number<T: std::str::FromStr>(&self, key: &str) -> Option<T> {
        self.attrs.get(key)?.trim().parse().ok()
    }

    /// The box's four-character code; the dump leaves it out of a few boxes (av1C).
    fn box_type(&self) -> &str {
        self.attrs.get("Type").map_or(self.name, String::as_str)
    }
}

/// Reads the `-diso` dump. The boxes nest as elements; each names its type in `Type`.
fn parse(xml: &str) -> Mp4Info {
    let mut info = Mp4Info::default();
    // Box types from the file down to the current element; the root element is not a box.
    let mut stack: Vec<String> = Vec::new();
    // Which of `info.tracks` a trak or traf element is about.
    let mut fragment_track: Option<u32> = None;
    for token in tokens(xml) {
        let (tag, closes) = match token {
            Token::End => {
                stack.pop();
                continue;
            }
            Token::Start(tag, self_closing) => (tag, self_closing),
        };
        let parent = stack.last().map(String::as_str).unwrap_or_default();
        let kind = tag.box_type().to_string();
        if stack.len() == 1 {
            info.top_level.push(kind.clone());
        }
        let in_trak = stack.iter().any(|t| t == "trak");
        match kind.as_str() {
            "trak" => info.tracks.push(Track::default()),
            "tfhd" => fragment_track = tag.number("TrackID"),
            "trun" => {
                let id = fragment_track;
                if let Some(t) = info.tracks.iter_mut().find(|t| Some(t.id) == id) {
                    t.fragment_samples += tag.number::<u64>("SampleCount").unwrap_or(0);
                }
            }
            _ if in_trak => {
                let track = info.tracks.last_mut().expect("a trak element is open");
                read_track_box(track, &kind, parent, &tag);
            }
            _ => {}
        }
        if !closes {
            stack.push(kind);
        }
    }
    info
}

/// Takes what a [`Track`] holds from one box inside a trak.
fn read_track_box(t: &mut Track, kind: &str, parent: &str, tag: &Tag) {
    match kind {
        "tkhd" => {
            t.id = tag.number("TrackID").unwrap_or(0);
            t.width = tag.number("Width").unwrap_or(0.0);
            t.height = tag.number("Height").unwrap_or(0.0);
        }
        "mdhd" => t.timescale = tag.number("TimeScale").unwrap_or(0),
        // A meta box inside the track has a handler too ("mdir"); the media's is in mdia.
        "hdlr" if parent == "mdia" => t.handler = tag.text("hdlrType"),
        _ if parent == "stsd" && t.sample_entry.is_empty() => t.sample_entry = kind.to_string(),
        "AV1ConfigurationBox" | "av1C" => t.av1c = true,
        "colr" if t.colr.is_none() => {
            t.colr = Some(Colr {
                colour_type: tag.text("colour_type"),
                primaries: tag.number("colour_primaries"),
                transfer: tag.number("transfer_characteristics"),
                matrix: tag.number("matrix_coefficients"),
                full_range: tag.number::<u8>("full_range_flag").map(|f| f != 0),
            })
        }
        "clap" => {
            t.clap = Some(Clap {
                width_n: tag.number("cleanApertureWidthN").unwrap_or(0),
                width_d: tag.number("cleanApertureWidthD").unwrap_or(0),
                height_n: tag.number("cleanApertureHeightN").unwrap_or(0),
                height_d: tag.number("cleanApertureHeightD").unwrap_or(0),
                horiz_off_n: tag.number("horizOffN").unwrap_or(0),
                horiz_off_d: tag.number("horizOffD").unwrap_or(0),
                vert_off_n: tag.number("vertOffN").unwrap_or(0),
                vert_off_d: tag.number("vertOffD").unwrap_or(0),
            })
        }
        "stsz" | "stz2" => t.samples = tag.number("SampleCount").unwrap_or(0),
        "stss" => t.sync_samples = tag.number("EntryCount"),
        "EditListEntry" => t.edits.push(Edit {
            segment_duration: tag.number("Duration").unwrap_or(0),
            media_time: tag.number("MediaTime").unwrap_or(0),
        }),
        "dOps" => t.pre_skip = tag.number("PreSkip"),
        _ => {}
    }
}

enum Token<'a> {
    /// A start tag, and whether it closes itself (`<a/>`).
    Start(Tag<'a>, bool),
    End,
}

/// The tags of an XML document, enough for MP4Box's dump: no CDATA, no DTD; comments and the
/// declaration are skipped, text between tags is ignored.
fn tokens(xml: &str) -> impl Iterator<Item = Token<'_>> {
    let mut rest = xml;
    std::iter::from_fn(move || loop {
        let start = rest.find('<')?;
        rest = &rest[start..];
        if let Some(body) = rest.strip_prefix("<!--") {
            rest = body.find("-->").map_or("", |end| &body[end + 3..]);
            continue;
        }
        let end = tag_end(rest)?;
        let inner = &rest[1..end];
        rest = &rest[end + 1..];
        if inner.starts_with('?') || inner.starts_with('!') {
            continue;
        }
        if inner.starts_with('/') {
            return Some(Token::End);
        }
        let self_closing = inner.ends_with('/');
        let inner = inner.trim_end_matches('/');
        let name_end = inner.find(char::is_whitespace).unwrap_or(inner.len());
        return Some(Token::Start(
            Tag {
                name: &inner[..name_end],
                attrs: attributes(&inner[name_end..]),
            },
            self_closing,
        ));
    })
}

/// Index of the `>` that ends the tag starting `s`, outside quoted attribute values.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

fn attributes(mut s: &str) -> HashMap<&str, String> {
    let mut attrs = HashMap::new();
    while let Some(eq) = s.find('=') {
        let key = s[..eq].trim();
        let after = s[eq + 1..].trim_start();
        let Some(q) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            break;
        };
        let Some(len) = after[1..].find(q) else {
            break;
        };
        attrs.insert(key, unescape(&after[1..1 + len]));
        s = &after[len + 2..];
    }
    attrs
}

fn unescape(v: &str) -> String {
    v.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from what MP4Box 1.0.1 dumps for an FFmpeg faststart AV1 + Opus file.
    const DUMP: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!--MP4Box dump trace-->
<IsoMediaFile xmlns="urn:mpeg:isobmff:schema:file:2016" Name="opus.mp4">
<FileTypeBox Size="32" Type="ftyp" Specification="p12" Container="file" MajorBrand="isom" MinorVersion="512">
<BrandEntry AlternateBrand="isom"/>
</FileTypeBox>
<MovieBox Size="4788" Type="moov" Specification="p12" Container="file" >
<TrackBox Size="2828" Type="trak" Specification="p12" Container="moov" >
<TrackHeaderBox Size="92" Type="tkhd" Version="0" Flags="3" TrackID="1" Duration="3000" Width="320.00" Height="240.00">
<Matrix m11="0x00010000"/>
</TrackHeaderBox>
<EditBox Size="36" Type="edts" Container="trak" >
<EditListBox Size="28" Type="elst" EntryCount="1">
<EditListEntry Duration="3000" MediaTime="0" MediaRate="1"/>
</EditListBox>
</EditBox>
<MediaBox Size="2692" Type="mdia" Container="trak" >
<MediaHeaderBox Size="32" Type="mdhd" TimeScale="15360" Duration="46080" LanguageCode="und">
</MediaHeaderBox>
<HandlerBox Size="45" Type="hdlr" hdlrType="vide" Name="VideoHandler">
</HandlerBox>
<MediaInformationBox Size="2607" Type="minf" Container="mdia" >
<DataInformationBox Size="36" Type="dinf" Container="minf meta" >
<URLDataEntryBox Size="12" Type="url " Version="0" Flags="1" Container="dref" >
<!--Data is contained in the movie file-->
</URLDataEntryBox>
</DataInformationBox>
<SampleTableBox Size="2543" Type="stbl" Container="minf" >
<SampleDescriptionBox Size="195" Type="stsd" Container="stbl" >
<AV1SampleEntryBox Size="179" Type="av01" Width="320" Height="240" CompressorName="Lavc59.37.100 libsvtav1"
>
<AV1ConfigurationBox>
<AV1Config version="1" profile="0" OBUs_count="1">
<OBU type="1" name="seq_header" size="16" content="data:application/octet-string,0A0E"/>
</AV1Config>
</AV1ConfigurationBox>
<ColourInformationBox Size="19" Type="colr" colour_type="nclx" colour_primaries="1" transfer_characteristics="1" matrix_coefficients="1" full_range_flag="0">
</ColourInformationBox>
<CleanApertureBox Size="40" Type="clap" cleanApertureWidthN="321" cleanApertureWidthD="1" cleanApertureHeightN="241" cleanApertureHeightD="1" horizOffN="-1" horizOffD="2" vertOffN="-1" vertOffD="2">
</CleanApertureBox>
</AV1SampleEntryBox>
</SampleDescriptionBox>
<SyncSampleBox Size="20" Type="stss" EntryCount="1">
<SyncSampleEntry sampleNumber="1"/>
</SyncSampleBox>
<SampleSizeBox Size="740" Type="stsz" SampleCount="180">
</SampleSizeBox>
</SampleTableBox>
</MediaInformationBox>
</MediaBox>
</TrackBox>
<TrackBox Size="1700" Type="trak" Container="moov" >
<TrackHeaderBox Size="92" Type="tkhd" TrackID="2" Duration="3000" AlternateGroupID="1" Volume="1.00">
</TrackHeaderBox>
<EditBox Size="36" Type="edts" Container="trak" >
<EditListBox Size="28" Type="elst" EntryCount="1">
<EditListEntry Duration="3000" MediaTime="312" MediaRate="1"/>
</EditListBox>
</EditBox>
<MediaBox Size="1600" Type="mdia" Container="trak" >
<MediaHeaderBox Size="32" Type="mdhd" TimeScale="48000" Duration="145024">
</MediaHeaderBox>
<HandlerBox Size="45" Type="hdlr" hdlrType="soun" Name="SoundHandler">
</HandlerBox>
<SampleDescriptionBox Size="91" Type="stsd" Container="stbl" >
<AudioSampleDescriptionBox Size="75" Type="Opus" SampleRate="48000" Channels="2">
<OpusSpecificBox Size="19" Type="dOps" Container="Opus wave enca" PreSkip="312" InputSampleRate="48000">
</OpusSpecificBox>
</AudioSampleDescriptionBox>
</SampleDescriptionBox>
<SampleSizeBox Size="624" Type="stsz" SampleCount="151">
</SampleSizeBox>
</MediaBox>
<UserDataBox Size="98" Type="udta" Container="moov trak moof traf" >
<MetaBox Size="90" Type="meta" Container="file moov trak moof traf udta" >
<HandlerBox Size="33" Type="hdlr" hdlrType="mdir" Name="">
</HandlerBox>
</MetaBox>
</UserDataBox>
</TrackBox>
</MovieBox>
<MovieFragmentBox Size="604" Type="moof" Container="file" TrackFragments="1">
<TrackFragmentBox Size="300" Type="traf" Container="moof" >
<TrackFragmentHeaderBox Size="28" Type="tfhd" TrackID="1" BaseDataOffset="moof">
</TrackFragmentHeaderBox>
<TrackRunBox Size="260" Type="trun" SampleCount="59" DataOffset="612">
<TrackRunEntry Size="4525"/>
</TrackRunBox>
</TrackFragmentBox>
</MovieFragmentBox>
<FreeSpaceBox Size="8" Type="free" Container="*" dataSize="0">
</FreeSpaceBox>
<MediaDataBox Size="56722" Type="mdat" Container="file" dataSize="56714">
</MediaDataBox>
</IsoMediaFile>
"#;

    #[test]
    fn reads_boxes_and_tracks_of_the_dump() {
        let info = parse(DUMP);
        assert_eq!(info.top_level, ["ftyp", "moov", "moof", "free", "mdat"]);
        assert_eq!((info.count("moov"), info.count("moof")), (1, 1));
        let v = info.track("vide").unwrap();
        assert_eq!((v.id, v.timescale, v.sample_entry.as_str()), (1, 15360, "av01"));
        assert!(v.av1c);
        assert_eq!((v.width, v.height), (320.0, 240.0));
        let colr = v.colr.as_ref().unwrap();
        assert_eq!(colr.colour_type, "nclx");
        assert_eq!(
            (colr.primaries, colr.transfer, colr.matrix),
            (Some(1), Some(1), Some(1))
        );
        assert_eq!(colr.full_range, Some(false));
        let clap = v.clap.unwrap();
        assert_eq!(clap.size(), Some((321, 241)));
        assert_eq!((clap.horiz_off_n, clap.horiz_off_d), (-1, 2));
        assert_eq!((v.samples, v.sync_samples, v.fragment_samples), (180, Some(1), 59));
        assert_eq!(
            v.edits,
            [Edit {
                segment_duration: 3000,
                media_time: 0
            }]
        );
        let a = info.track("soun").unwrap();
        assert_eq!((a.id, a.sample_entry.as_str(), a.pre_skip), (2, "Opus", Some(312)));
        assert_eq!((a.samples, a.sync_samples), (151, None));
        assert_eq!(a.edits[0].media_time, 312);
        assert!(!a.av1c && a.colr.is_none());
    }

    #[test]
    fn a_missing_mp4box_says_to_run_dev_setup() {
        let e = locate(None, PathBuf::from("/nonexistent/MP4Box")).unwrap_err();
        assert!(e.0.contains("run `./dev setup`"), "{e}");
        let e = locate(Some("/nonexistent/mine".into()), PathBuf::from("/bin/sh")).unwrap_err();
        assert!(e.0.contains("/nonexistent/mine"), "{e}");
    }

    #[test]
    fn keeps_gpac_log_lines_and_errors_only() {
        let stderr = "\u{1b}[31m[iso file] Incomplete box mdat - start 4951 size 29610\n\u{1b}[0m* Movie Info *\n\
                      \tTimescale 1000 - 2 tracks\nError opening file x.mp4: IsoMedia File is truncated\n";
        assert_eq!(
            diagnostics(stderr).collect::<Vec<_>>(),
            [
                "[iso file] Incomplete box mdat - start 4951 size 29610",
                "Error opening file x.mp4: IsoMedia File is truncated"
            ]
        );
    }
}
