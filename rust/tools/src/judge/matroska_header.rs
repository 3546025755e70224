//! What a Matroska/WebM file's Tracks element says about its AV1 track, read with a parser of
//! our own (not FFmpeg's demuxer, which turns DisplayWidth/Height into an aspect ratio and
//! cannot tell an absent Colour element from one that says "unspecified").

use std::io::{Read, Seek, SeekFrom};

use super::{ContainerColour, Crop, HeaderError, TrackHeader};
use movie_writer_av1_core::mux::ebml::id;

/// A Tracks element larger than this is not a recording's (ours is under 1 KiB).
const MAX_TRACKS_BYTES: u64 = 16 << 20;

/// Reads an element ID (marker bits kept, as the IDs are written) or a size (marker removed;
/// None for "unknown size"), from the reader.
fn read_vint(r: &mut impl Read, keep_marker: bool) -> Result<(u64, bool), HeaderError> {
    let mut first = [0u8];
    r.read_exact(&mut first).map_err(HeaderError::io)?;
    let len = first[0].leading_zeros() as usize + 1;
    if len > 8 {
        return Err(HeaderError::Malformed("an EBML length of more than 8 bytes".into()));
    }
    let mut rest = [0u8; 7];
    r.read_exact(&mut rest[..len - 1]).map_err(HeaderError::io)?;
    let marker_mask = if len == 8 { 0 } else { 0xffu8 >> len };
    let head = if keep_marker { first[0] } else { first[0] & marker_mask };
    let value = rest[..len - 1]
        .iter()
        .fold(u64::from(head), |v, &b| (v << 8) | u64::from(b));
    let all_ones = value == (1u64 << (7 * len)) - 1;
    Ok((value, !keep_marker && all_ones))
}

/// The children of an in-memory master element's body as (id, body).
fn children(mut body: &[u8]) -> impl Iterator<Item = Result<(u32, &[u8]), HeaderError>> {
    std::iter::from_fn(move || {
        if body.is_empty() {
            return None;
        }
        let mut cursor = std::io::Cursor::new(body);
        let parsed = (|| {
            let (element, _) = read_vint(&mut cursor, true)?;
            let (size, unknown) = read_vint(&mut cursor, false)?;
            let start = cursor.position() as usize;
            let end = start
                .checked_add(size as usize)
                .filter(|&e| !unknown && e <= body.len())
                .ok_or_else(|| HeaderError::Malformed(format!("element {element:X} runs past its parent")))?;
            Ok((element as u32, start, end))
        })();
        match parsed {
            Ok((element, start, end)) => {
                let child = &body[start..end];
                body = &body[end..];
                Some(Ok((element, child)))
            }
            Err(e) => {
                body = &[];
                Some(Err(e))
            }
        }
    })
}

fn uint(body: &[u8]) -> u64 {
    body.iter().fold(0, |v, &b| (v << 8) | u64::from(b))
}

/// Reads the header of the Matroska file in `r` up to its Tracks element, and describes its
/// first V_AV1 track.
pub(super) fn read(r: &mut (impl Read + Seek)) -> Result<TrackHeader, HeaderError> {
    let (ebml, _) = read_vint(r, true)?;
    if ebml != u64::from(id::EBML) {
        return Err(HeaderError::Malformed("no EBML header".into()));
    }
    let (size, _) = read_vint(r, false)?;
    r.seek(SeekFrom::Current(size as i64)).map_err(HeaderError::io)?;
    let (segment, _) = read_vint(r, true)?;
    if segment != u64::from(id::SEGMENT) {
        return Err(HeaderError::Malformed("no Segment after the EBML header".into()));
    }
    read_vint(r, false)?; // may be unknown: a live or unfinished file
    loop {
        let (element, _) = read_vint(r, true).map_err(|_| HeaderError::NoTrack("no Tracks element".into()))?;
        let (size, unknown) = read_vint(r, false)?;
        if element == u64::from(id::CLUSTER) || unknown {
            return Err(HeaderError::NoTrack(
                "no Tracks element before the first Cluster".into(),
            ));
        }
        if element == u64::from(id::TRACKS) {
            if size > MAX_TRACKS_BYTES {
                return Err(HeaderError::Malformed(format!("a Tracks element of {size} bytes")));
            }
            let mut body = vec![0; size as usize];
            r.read_exact(&mut body).map_err(HeaderError::io)?;
            return av1_track(&body);
        }
        r.seek(SeekFrom::Current(size as i64)).map_err(HeaderError::io)?;
    }
}

fn av1_track(tracks: &[u8]) -> Result<TrackHeader, HeaderError> {
    let mut codecs = Vec::new();
    for entry in children(tracks) {
        let (element, entry) = entry?;
        if element != id::TRACK_ENTRY {
            continue;
        }
        let (mut codec, mut private, mut video) = (String::new(), Vec::new(), None);
        for child in children(entry) {
            let (element, body) = child?;
            match element {
                id::CODEC_ID => codec = String::from_utf8_lossy(body).trim_end_matches('\0').to_string(),
                id::CODEC_PRIVATE => private = body.to_vec(),
                id::VIDEO => video = Some(body),
                _ => {}
            }
        }
        match video {
            Some(video) if codec == "V_AV1" => return video_fields(private, video),
            _ => codecs.push(codec),
        }
    }
    Err(HeaderError::NoTrack(format!(
        "no V_AV1 track (tracks: {})",
        codecs.join(", ")
    )))
}

fn video_fields(av1c: Vec<u8>, video: &[u8]) -> Result<TrackHeader, HeaderError> {
    let (mut pixel, mut crop, mut display, mut unit) = ((0, 0), Crop::default(), (None, None), 0);
    let mut colour = None;
    for child in children(video) {
        let (element, body) = child?;
        let v = uint(body);
        let v32 = u32::try_from(v).unwrap_or(u32::MAX);
        match element {
            id::PIXEL_WIDTH => pixel.0 = v32,
            id::PIXEL_HEIGHT => pixel.1 = v32,
            id::PIXEL_CROP_LEFT => crop.left = v32,
            id::PIXEL_CROP_RIGHT => crop.right = v32,
            id::PIXEL_CROP_TOP => crop.top = v32,
            id::PIXEL_CROP_BOTTOM => crop.bottom = v32,
            id::DISPLAY_WIDTH => display.0 = Some(v32),
            id::DISPLAY_HEIGHT => display.1 = Some(v32),
            id::DISPLAY_UNIT => unit = v,
            id::COLOUR => colour = Some(colour_fields(body)?),
            _ => {}
        }
    }
    // DisplayWidth/Height default to the cropped size, which agrees with the crop by definition;
    // in a unit other than pixels (0) they give only the aspect ratio.
    let display_size = match display {
        (Some(w), Some(h)) if unit == 0 => Some((w, h)),
        _ => None,
    };
    Ok(TrackHeader {
        container: "Matroska",
        av1c,
        pixel_size: pixel,
        crop,
        display_size,
        colour,
    })
}

fn colour_fields(body: &[u8]) -> Result<ContainerColour, HeaderError> {
    let mut c = ContainerColour::default();
    for child in children(body) {
        let (element, body) = child?;
        let v = u8::try_from(uint(body)).unwrap_or(u8::MAX);
        match element {
            id::PRIMARIES => c.primaries = Some(v),
            id::TRANSFER_CHARACTERISTICS => c.transfer = Some(v),
            id::MATRIX_COEFFICIENTS => c.matrix = Some(v),
            // 1 broadcast (limited), 2 full; 0 unspecified and 3 (derived) say nothing here.
            id::RANGE => {
                c.full_range = match v {
                    1 => Some(false),
                    2 => Some(true),
                    _ => None,
                }
            }
            _ => {}
        }
    }
    Ok(c)
}
