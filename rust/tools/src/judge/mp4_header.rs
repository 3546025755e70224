//! What an MP4 (ISO-BMFF) file's moov says about its AV1 track, read with a parser of our own:
//! the `av01` sample entry's size, `av1C`, `colr` and `clap` (ISO/IEC 14496-12 §12.1,
//! AV1-ISOBMFF §2.3).

use std::io::{Read, Seek, SeekFrom};

use super::{ContainerColour, Crop, HeaderError, TrackHeader};

/// A moov larger than this is not a recording's (an hour at 60 fps holds a few MiB of tables).
const MAX_MOOV_BYTES: u64 = 256 << 20;
/// SampleEntry (8 bytes) and VisualSampleEntry's fields (70) before its child boxes.
const VISUAL_SAMPLE_ENTRY: usize = 78;

/// The boxes in `data` as (type, body).
fn boxes(mut data: &[u8]) -> impl Iterator<Item = Result<([u8; 4], &[u8]), HeaderError>> {
    std::iter::from_fn(move || {
        if data.is_empty() {
            return None;
        }
        let parsed = (|| {
            let head = data
                .get(..8)
                .ok_or_else(|| HeaderError::Malformed("a box header cut short".into()))?;
            let kind: [u8; 4] = head[4..8].try_into().expect("four bytes");
            let (size, start) = match u32::from_be_bytes(head[..4].try_into().expect("four bytes")) {
                0 => (data.len() as u64, 8),
                1 => {
                    let large = data
                        .get(8..16)
                        .ok_or_else(|| HeaderError::Malformed("a box size cut short".into()))?;
                    (u64::from_be_bytes(large.try_into().expect("eight bytes")), 16)
                }
                n => (u64::from(n), 8),
            };
            let end = usize::try_from(size)
                .ok()
                .filter(|&e| e >= start && e <= data.len())
                .ok_or_else(|| HeaderError::Malformed(format!("box {} runs past its parent", fourcc(&kind))))?;
            Ok((kind, start, end))
        })();
        match parsed {
            Ok((kind, start, end)) => {
                let body = &data[start..end];
                data = &data[end..];
                Some(Ok((kind, body)))
            }
            Err(e) => {
                data = &[];
                Some(Err(e))
            }
        }
    })
}

fn fourcc(kind: &[u8; 4]) -> String {
    String::from_utf8_lossy(kind).into_owned()
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Result<Option<&'a [u8]>, HeaderError> {
    for b in boxes(data) {
        let (k, body) = b?;
        if &k == kind {
            return Ok(Some(body));
        }
    }
    Ok(None)
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

/// Reads the file's top-level boxes up to its moov and describes its first `av01` track.
pub(super) fn read(r: &mut (impl Read + Seek)) -> Result<TrackHeader, HeaderError> {
    let end = r.seek(SeekFrom::End(0)).map_err(HeaderError::io)?;
    let mut pos = 0;
    while pos + 8 <= end {
        r.seek(SeekFrom::Start(pos)).map_err(HeaderError::io)?;
        let mut head = [0u8; 16];
        r.read_exact(&mut head[..8]).map_err(HeaderError::io)?;
        let (size, header) = match u32::from_be_bytes(head[..4].try_into().expect("four bytes")) {
            0 => (end - pos, 8),
            1 => {
                r.read_exact(&mut head[8..16]).map_err(HeaderError::io)?;
                (u64::from_be_bytes(head[8..16].try_into().expect("eight bytes")), 16)
            }
            n => (u64::from(n), 8),
        };
        if size < header {
            return Err(HeaderError::Malformed(format!("a top-level box of {size} bytes")));
        }
        if &head[4..8] == b"moov" {
            if size > MAX_MOOV_BYTES || pos + size > end {
                return Err(HeaderError::Malformed(format!(
                    "a moov of {size} bytes in a file of {end}"
                )));
            }
            let mut moov = vec![0; (size - header) as usize];
            r.read_exact(&mut moov).map_err(HeaderError::io)?;
            return av01_track(&moov);
        }
        pos += size;
    }
    Err(HeaderError::NoTrack("no moov box".into()))
}

fn av01_track(moov: &[u8]) -> Result<TrackHeader, HeaderError> {
    let mut entries = Vec::new();
    for b in boxes(moov) {
        let (kind, trak) = b?;
        if &kind != b"trak" {
            continue;
        }
        let stsd = [b"mdia", b"minf", b"stbl", b"stsd"]
            .iter()
            .try_fold(Some(trak), |data, kind| match data {
                Some(d) => child(d, kind),
                None => Ok(None),
            })?;
        // stsd: version and flags, entry_count, then the sample entries.
        let Some(first) = stsd.and_then(|s| s.get(8..)) else {
            continue;
        };
        for entry in boxes(first) {
            let (kind, body) = entry?;
            if &kind == b"av01" {
                return sample_entry(body);
            }
            entries.push(fourcc(&kind));
        }
    }
    Err(HeaderError::NoTrack(format!(
        "no av01 sample entry (found: {})",
        entries.join(", ")
    )))
}

fn sample_entry(entry: &[u8]) -> Result<TrackHeader, HeaderError> {
    let short = || HeaderError::Malformed("the av01 sample entry is cut short".into());
    let width = u32::from(be16(entry, 24).ok_or_else(short)?);
    let height = u32::from(be16(entry, 26).ok_or_else(short)?);
    let children = entry.get(VISUAL_SAMPLE_ENTRY..).ok_or_else(short)?;
    let av1c = child(children, b"av1C")?.map(<[u8]>::to_vec).unwrap_or_default();
    let colour = child(children, b"colr")?.and_then(colr);
    let crop = match child(children, b"clap")? {
        Some(clap) => clean_aperture(clap, width, height)?,
        None => Crop::default(),
    };
    Ok(TrackHeader {
        container: "MP4",
        av1c,
        pixel_size: (width, height),
        crop,
        // tkhd carries the coded size (FFmpeg's mov muxer writes it so): the clap box is the
        // only statement of what to show, so there is nothing to compare it with.
        display_size: None,
        colour,
    })
}

/// An `nclx` colr box (`nclc`, QuickTime's, has no range flag); ICC profiles give no code points.
fn colr(body: &[u8]) -> Option<ContainerColour> {
    let kind = body.get(..4)?;
    if kind != b"nclx" && kind != b"nclc" {
        return None;
    }
    let code = |at| be16(body, at).map(|v| u8::try_from(v).unwrap_or(u8::MAX));
    Some(ContainerColour {
        primaries: code(4),
        transfer: code(6),
        matrix: code(8),
        full_range: (kind == b"nclx").then(|| body.get(10).map(|b| b & 0x80 != 0)).flatten(),
    })
}

/// The crop a `clap` box makes of a `width × height` picture: the aperture centred on the
/// picture's centre moved by the offsets (ISO/IEC 14496-12 §12.1.4.1).
fn clean_aperture(clap: &[u8], width: u32, height: u32) -> Result<Crop, HeaderError> {
    let field = |i: usize| be32(clap, i * 4).map(|v| v as i32);
    let ratio = |i: usize| -> Result<f64, HeaderError> {
        let (n, d) = (field(i), field(i + 1));
        match (n, d) {
            (Some(n), Some(d)) if d > 0 => Ok(f64::from(n) / f64::from(d)),
            _ => Err(HeaderError::Malformed(
                "the clap box is cut short or divides by 0".into(),
            )),
        }
    };
    let (aperture_w, aperture_h, off_x, off_y) = (ratio(0)?, ratio(2)?, ratio(4)?, ratio(6)?);
    let side = |size: u32, aperture: f64, offset: f64| -> Result<(u32, u32), HeaderError> {
        let size = f64::from(size);
        let first = ((size - aperture) / 2.0 + offset).round();
        let second = (size - aperture - first).round();
        if first < 0.0 || second < 0.0 {
            return Err(HeaderError::Malformed(format!(
                "the clap box's aperture {aperture} lies outside the {size} coded"
            )));
        }
        Ok((first as u32, second as u32))
    };
    let (left, right) = side(width, aperture_w, off_x)?;
    let (top, bottom) = side(height, aperture_h, off_y)?;
    Ok(Crop {
        left,
        right,
        top,
        bottom,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MP4Box's `clap=321,1,241,1,-1,2,-1,2` on 322×242 (the MP4 checks' file): one column on
    /// the right and one row at the bottom.
    #[test]
    fn a_clap_box_becomes_right_and_bottom_crops() {
        let clap: Vec<u8> = [321i32, 1, 241, 1, -1, 2, -1, 2]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let crop = clean_aperture(&clap, 322, 242).unwrap();
        assert_eq!(
            crop,
            Crop {
                left: 0,
                right: 1,
                top: 0,
                bottom: 1
            }
        );
    }
}
