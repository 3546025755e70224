//! The little AV1 bitstream knowledge the muxer needs (AV1 spec §5, AV1-in-Matroska §2):
//! walking OBUs, dropping Temporal Delimiters from blocks, and building the `av1C` CodecPrivate
//! from a Sequence Header OBU. Every backend hands us plain low-overhead OBU streams, so this is
//! shared by all of them.

const OBU_SEQUENCE_HEADER: u8 = 1;
const OBU_TEMPORAL_DELIMITER: u8 = 2;
const OBU_PADDING: u8 = 15;

#[derive(Debug, Clone, Copy)]
struct Obu {
    kind: u8,
    /// Range of the whole OBU (header + size field + payload) in the buffer.
    start: usize,
    end: usize,
    payload_start: usize,
}

fn read_leb128(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..8 {
        let byte = *data.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn obus(data: &[u8]) -> impl Iterator<Item = Option<Obu>> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= data.len() {
            return None;
        }
        let start = pos;
        let parse = |pos: &mut usize| -> Option<Obu> {
            let header = *data.get(*pos)?;
            *pos += 1;
            let kind = (header >> 3) & 0x0f;
            if header & 0x04 != 0 {
                *pos += 1; // extension header
            }
            let size = if header & 0x02 != 0 {
                read_leb128(data, pos)? as usize
            } else {
                data.len().checked_sub(*pos)?
            };
            let payload_start = *pos;
            let end = payload_start.checked_add(size).filter(|&e| e <= data.len())?;
            *pos = end;
            Some(Obu {
                kind,
                start,
                end,
                payload_start,
            })
        };
        let obu = parse(&mut pos);
        if obu.is_none() {
            pos = data.len(); // malformed: stop after reporting it
        }
        Some(obu)
    })
}

/// Copies `packet` into `out` without Temporal Delimiter and Padding OBUs, which the Matroska
/// mapping says a Block should not carry. Malformed input is passed through unchanged: the
/// decoder, not the muxer, is the judge of a bitstream.
///
/// Runs once per video packet, so it copies as it walks instead of collecting the OBUs first
/// (which allocated every frame), and starts over with the whole packet if one is malformed.
pub fn strip_temporal_delimiters(packet: &[u8], out: &mut Vec<u8>) {
    copy_obus(packet, out, |kind| {
        kind != OBU_TEMPORAL_DELIMITER && kind != OBU_PADDING
    });
}

/// Copies the OBUs of `packet` whose type `keep` accepts into `out`; a malformed packet is
/// copied whole.
fn copy_obus(packet: &[u8], out: &mut Vec<u8>, keep: impl Fn(u8) -> bool) {
    out.clear();
    // One growth at most for a recycled buffer that held a smaller packet.
    out.reserve(packet.len());
    for obu in obus(packet) {
        let Some(obu) = obu else {
            out.clear();
            out.extend_from_slice(packet);
            return;
        };
        if keep(obu.kind) {
            out.extend_from_slice(&packet[obu.start..obu.end]);
        }
    }
}

/// Puts `sequence_header` in front of `block` (a temporal unit without temporal delimiter, as
/// containers store it) when `keyframe` and the block carries none: AV1-ISOBMFF requires one
/// in every sync sample, and a player that starts or seeks there cannot decode without it.
/// Some encoders send it with the first keyframe only (NVENC unless asked each time).
pub fn ensure_sequence_header(block: &mut Vec<u8>, keyframe: bool, sequence_header: &[u8]) {
    if keyframe && find_sequence_header(block).is_none() {
        block.splice(0..0, sequence_header.iter().copied());
    }
}

/// Returns the first Sequence Header OBU in `data` (whole OBU, as av1C's configOBUs wants it).
pub fn find_sequence_header(data: &[u8]) -> Option<&[u8]> {
    obus(data)
        .map_while(|o| o)
        .find(|o| o.kind == OBU_SEQUENCE_HEADER)
        .map(|o| &data[o.start..o.end])
}

/// The largest frame size (max_frame_width, max_frame_height) each Sequence Header OBU in
/// `data` declares, in order; `None` for one that does not parse. The OBU walk stops at the
/// first malformed OBU (the decoder judges those).
pub fn sequence_header_sizes(data: &[u8]) -> impl Iterator<Item = Option<(u32, u32)>> + '_ {
    obus(data)
        .map_while(|o| o)
        .filter(|o| o.kind == OBU_SEQUENCE_HEADER)
        .map(move |o| parse_sequence_header(&data[o.start..o.end]).map(|s| (s.max_width, s.max_height)))
}

/// The first Sequence Header OBU in `data`, rewritten the way av1C's configOBUs and every
/// temporal unit need it: `obu_has_size_field` = 1 with a minimal leb128 size, no extension
/// header (a sequence header applies to every layer), and the payload cut after its
/// trailing one bit. Drivers hand the OBU back in other shapes: Vulkan's
/// vkGetEncodedVideoSessionParametersKHR may leave the size field out (the OBU then runs to
/// the end of the buffer, which can carry zero padding), and an OBU without a size field
/// cannot be followed by the frame OBUs of a temporal unit.
pub fn normalize_sequence_header(data: &[u8]) -> Option<Vec<u8>> {
    let obu = obus(data).map_while(|o| o).find(|o| o.kind == OBU_SEQUENCE_HEADER)?;
    let payload = &data[obu.payload_start..obu.end];
    // trailing_bits() ends the payload with a one bit then zeros to the byte boundary; whole
    // zero bytes after it are padding, not part of the header.
    let end = payload.iter().rposition(|&b| b != 0)? + 1;
    let payload = &payload[..end];
    // forbidden bit 0, type, extension 0, has_size_field 1, reserved 0.
    let mut out = vec![(OBU_SEQUENCE_HEADER << 3) | 0x02];
    write_leb128(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    Some(out)
}

fn write_leb128(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

struct BitReader<'a> {
    data: &'a [u8],
    bit: usize,
}

impl BitReader<'_> {
    fn f(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.bit / 8)?;
            v = (v << 1) | u32::from((byte >> (7 - self.bit % 8)) & 1);
            self.bit += 1;
        }
        Some(v)
    }

    fn uvlc(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.f(1)? == 0 {
            zeros += 1;
            if zeros >= 32 {
                return None;
            }
        }
        Some(self.f(zeros)? + ((1u64 << zeros) - 1) as u32)
    }
}

/// The fields of a sequence header that `av1C` repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceInfo {
    pub profile: u8,
    pub level: u8,
    pub tier: u8,
    pub high_bitdepth: bool,
    pub twelve_bit: bool,
    pub monochrome: bool,
    pub subsampling_x: bool,
    pub subsampling_y: bool,
    pub chroma_sample_position: u8,
    pub max_width: u32,
    pub max_height: u32,
    pub colour: Colour,
}

/// The colour description of a sequence header's color_config (AV1 spec §6.4.2), with the
/// values the spec infers where the stream leaves it out: 2 (unspecified) for primaries,
/// transfer and matrix without a color description, full range for sRGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colour {
    /// color_description_present_flag: false when primaries, transfer and matrix are inferred.
    pub described: bool,
    pub primaries: u8,
    pub transfer: u8,
    pub matrix: u8,
    pub full_range: bool,
}

impl Colour {
    /// ITU-T H.273 code point 1 (BT.709) for primaries, transfer characteristics and matrix.
    pub const BT709: u8 = 1;
    /// Code point 2: unspecified.
    pub const UNSPECIFIED: u8 = 2;

    /// BT.709 primaries, transfer and matrix with limited range: what every backend records.
    pub fn is_bt709_limited(&self) -> bool {
        (self.primaries, self.transfer, self.matrix) == (Self::BT709, Self::BT709, Self::BT709) && !self.full_range
    }
}

/// Parses a Sequence Header OBU (AV1 spec §5.5) up to the colour config.
pub fn parse_sequence_header(obu: &[u8]) -> Option<SequenceInfo> {
    let first = obus(obu).next()??;
    if first.kind != OBU_SEQUENCE_HEADER {
        return None;
    }
    parse_payload(&obu[first.payload_start..first.end]).map(|(info, _)| info)
}

/// Where color_config's colour fields lie in a sequence header's payload, in bits.
struct ColourBits {
    /// color_description_present_flag.
    described_at: usize,
    /// color_range; `None` where it is not coded (monochrome codes it elsewhere, sRGB never).
    range_at: Option<usize>,
}

fn parse_payload(payload: &[u8]) -> Option<(SequenceInfo, ColourBits)> {
    let mut r = BitReader { data: payload, bit: 0 };
    let profile = r.f(3)? as u8;
    let _still_picture = r.f(1)?;
    let reduced = r.f(1)? == 1;
    let (level, tier);
    if reduced {
        level = r.f(5)? as u8;
        tier = 0;
    } else {
        let mut decoder_model_info = false;
        let mut buffer_delay_len = 0;
        if r.f(1)? == 1 {
            // timing_info
            r.f(32)?;
            r.f(32)?;
            if r.f(1)? == 1 {
                r.uvlc()?;
            }
            decoder_model_info = r.f(1)? == 1;
            if decoder_model_info {
                buffer_delay_len = r.f(5)? + 1;
                r.f(32)?;
                r.f(5)?;
                r.f(5)?;
            }
        }
        let initial_display_delay = r.f(1)? == 1;
        let op_count = r.f(5)? + 1;
        let mut first_level = None;
        let mut first_tier = 0;
        for _ in 0..op_count {
            r.f(12)?;
            let lvl = r.f(5)? as u8;
            let t = if lvl > 7 { r.f(1)? as u8 } else { 0 };
            if first_level.is_none() {
                first_level = Some(lvl);
                first_tier = t;
            }
            if decoder_model_info && r.f(1)? == 1 {
                r.f(buffer_delay_len)?;
                r.f(buffer_delay_len)?;
                r.f(1)?;
            }
            if initial_display_delay && r.f(1)? == 1 {
                r.f(4)?;
            }
        }
        level = first_level?;
        tier = first_tier;
    }
    let wbits = r.f(4)? + 1;
    let hbits = r.f(4)? + 1;
    let max_width = r.f(wbits)? + 1;
    let max_height = r.f(hbits)? + 1;
    if !reduced && r.f(1)? == 1 {
        // frame_id_numbers_present
        r.f(4)?;
        r.f(3)?;
    }
    r.f(3)?; // use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
    if !reduced {
        r.f(4)?; // interintra, masked compound, warped motion, dual filter
        let order_hint = r.f(1)? == 1;
        if order_hint {
            r.f(2)?; // jnt_comp, ref_frame_mvs
        }
        let force_screen_content = if r.f(1)? == 1 { 2 } else { r.f(1)? };
        if force_screen_content > 0 && r.f(1)? == 0 {
            r.f(1)?; // seq_force_integer_mv
        }
        if order_hint {
            r.f(3)?;
        }
    }
    r.f(3)?; // superres, cdef, restoration
             // color_config (§5.5.2)
    let high_bitdepth = r.f(1)? == 1;
    let twelve_bit = profile == 2 && high_bitdepth && r.f(1)? == 1;
    let monochrome = profile != 1 && r.f(1)? == 1;
    let (mut cp, mut tc, mut mc) = (2, 2, 2);
    let described_at = r.bit;
    let described = r.f(1)? == 1;
    if described {
        cp = r.f(8)?;
        tc = r.f(8)?;
        mc = r.f(8)?;
    }
    let (sx, sy, csp, full_range);
    let mut range_at = None;
    if monochrome {
        full_range = r.f(1)? == 1;
        (sx, sy, csp) = (true, true, 0);
    } else if cp == 1 && tc == 13 && mc == 0 {
        // sRGB: 4:4:4, full range, nothing more coded.
        (sx, sy, csp, full_range) = (false, false, 0, true);
    } else {
        range_at = Some(r.bit);
        full_range = r.f(1)? == 1;
        (sx, sy) = match profile {
            0 => (true, true),
            1 => (false, false),
            _ if twelve_bit => {
                let x = r.f(1)? == 1;
                (x, x && r.f(1)? == 1)
            }
            _ => (true, false),
        };
        csp = if sx && sy { r.f(2)? as u8 } else { 0 };
    }
    let info = SequenceInfo {
        profile,
        level,
        tier,
        high_bitdepth,
        twelve_bit,
        monochrome,
        subsampling_x: sx,
        subsampling_y: sy,
        chroma_sample_position: csp,
        max_width,
        max_height,
        colour: Colour {
            described,
            primaries: cp as u8,
            transfer: tc as u8,
            matrix: mc as u8,
            full_range,
        },
    };
    Some((info, ColourBits { described_at, range_at }))
}

/// `sequence_header` (one whole OBU) rewritten to describe BT.709 primaries, transfer and matrix
/// with limited range, every other bit as it was: what our samples are, whatever an encoder we
/// cannot configure wrote (NVENC through its crate keeps the driver preset's colours, which
/// may be unspecified, or RGB where a preset leaves a zero matrix). The description and the
/// range flag sit before anything that depends on them, so the rest is copied bit for bit.
/// `None` for a header that does not parse, or codes no range to change (monochrome, sRGB).
pub fn with_bt709_limited(sequence_header: &[u8]) -> Option<Vec<u8>> {
    let first = obus(sequence_header).next()??;
    if first.kind != OBU_SEQUENCE_HEADER {
        return None;
    }
    let payload = &sequence_header[first.payload_start..first.end];
    let (info, at) = parse_payload(payload)?;
    let range_at = at.range_at.filter(|_| !info.monochrome)?;
    // trailing_bits(): the last one bit of the payload; everything before it is the header.
    let last = payload.iter().rposition(|&b| b != 0)?;
    let end = last * 8 + 7 - payload[last].trailing_zeros() as usize;
    let mut r = BitReader { data: payload, bit: 0 };
    let mut w = BitWriter::default();
    let copy = |w: &mut BitWriter, r: &mut BitReader, until: usize| -> Option<()> {
        while r.bit < until {
            w.put(1, r.f(1)?);
        }
        Some(())
    };
    copy(&mut w, &mut r, at.described_at)?;
    w.put(1, 1);
    for _ in 0..3 {
        w.put(8, u32::from(Colour::BT709));
    }
    r.bit = range_at;
    w.put(1, 0);
    r.bit += 1;
    copy(&mut w, &mut r, end)?;
    w.put(1, 1);
    let payload = w.bytes;
    let mut out = vec![(OBU_SEQUENCE_HEADER << 3) | 0x02];
    write_leb128(payload.len() as u64, &mut out);
    out.extend_from_slice(&payload);
    Some(out)
}

/// Copies `packet` into `out` without its Sequence Header OBUs (malformed input unchanged), for
/// a backend whose in-band headers must give way to the one it stores (see
/// [`with_bt709_limited`]): the worker puts that in front of every keyframe.
pub fn strip_sequence_headers(packet: &[u8], out: &mut Vec<u8>) {
    copy_obus(packet, out, |kind| kind != OBU_SEQUENCE_HEADER);
}

/// Writes bits most significant first, a byte at a time.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    bits: usize,
}

impl BitWriter {
    fn put(&mut self, n: u32, value: u32) {
        for i in (0..n).rev() {
            if self.bits.is_multiple_of(8) {
                self.bytes.push(0);
            }
            let bit = ((value >> i) & 1) as u8;
            *self.bytes.last_mut().expect("pushed") |= bit << (7 - self.bits % 8);
            self.bits += 1;
        }
    }
}

/// Builds the AV1CodecConfigurationRecord (`av1C`) for Matroska's CodecPrivate.
pub fn av1c(sequence_header: &[u8]) -> Option<Vec<u8>> {
    let s = parse_sequence_header(sequence_header)?;
    let mut out = vec![
        0x81, // marker + version 1
        (s.profile << 5) | s.level,
        (s.tier << 7)
            | (u8::from(s.high_bitdepth) << 6)
            | (u8::from(s.twelve_bit) << 5)
            | (u8::from(s.monochrome) << 4)
            | (u8::from(s.subsampling_x) << 3)
            | (u8::from(s.subsampling_y) << 2)
            | s.chroma_sample_position,
        0, // no initial_presentation_delay
    ];
    out.extend_from_slice(sequence_header);
    Some(out)
}

/// Sequence headers written from scratch for tests (the muxer's, the backends'): what a
/// hardware encoder that pads would hand over, without the hardware.
#[cfg(any(test, feature = "test-support"))]
pub mod testing {
    use super::BitWriter;

    /// The payload of an AV1 Main, 8-bit 4:2:0, BT.709 limited-range sequence header (AV1
    /// spec §5.5) at level 4.0 for `width × height` frames, ending in trailing bits.
    pub fn sequence_header_payload(width: u32, height: u32) -> Vec<u8> {
        coloured_payload(width, height, Some((1, 1, 1)), false)
    }

    /// The same with colour description `cpm` (primaries, transfer, matrix; None: none coded,
    /// so unspecified) and range.
    pub fn coloured_payload(width: u32, height: u32, cpm: Option<(u8, u8, u8)>, full_range: bool) -> Vec<u8> {
        let bits = |v: u32| 32 - (v - 1).leading_zeros().min(31);
        let mut w = BitWriter {
            bytes: Vec::new(),
            bits: 0,
        };
        w.put(3, 0); // seq_profile: Main
        w.put(1, 0); // still_picture
        w.put(1, 0); // reduced_still_picture_header
        w.put(1, 0); // timing_info_present_flag
        w.put(1, 0); // initial_display_delay_present_flag
        w.put(5, 0); // operating_points_cnt_minus_1
        w.put(12, 0); // operating_point_idc[0]
        w.put(5, 8); // seq_level_idx[0]: 4.0
        w.put(1, 0); // seq_tier[0] (present because the level is above 3.3)
        w.put(4, bits(width) - 1); // frame_width_bits_minus_1
        w.put(4, bits(height) - 1);
        w.put(bits(width), width - 1); // max_frame_width_minus_1
        w.put(bits(height), height - 1);
        w.put(1, 0); // frame_id_numbers_present_flag
        w.put(3, 0); // use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
        w.put(4, 0); // interintra, masked compound, warped motion, dual filter
        w.put(1, 1); // enable_order_hint
        w.put(2, 0); // enable_jnt_comp, enable_ref_frame_mvs
        w.put(1, 1); // seq_choose_screen_content_tools
        w.put(1, 1); // seq_choose_integer_mv
        w.put(3, 7); // order_hint_bits_minus_1
        w.put(3, 0); // superres, cdef, restoration
        w.put(1, 0); // high_bitdepth
        w.put(1, 0); // mono_chrome
        w.put(1, u32::from(cpm.is_some())); // color_description_present_flag
        if let Some((p, t, m)) = cpm {
            w.put(8, p.into()); // color_primaries
            w.put(8, t.into()); // transfer_characteristics
            w.put(8, m.into()); // matrix_coefficients
        }
        w.put(1, u32::from(full_range)); // color_range
        w.put(2, 0); // chroma_sample_position
        w.put(1, 0); // separate_uv_delta_q
        w.put(1, 0); // film_grain_params_present
        w.put(1, 1); // trailing one bit, then zeros to the byte boundary
        w.bytes
    }

    /// The whole OBU, with a size field.
    pub fn sequence_header(width: u32, height: u32) -> Vec<u8> {
        obu(&sequence_header_payload(width, height))
    }

    /// A Sequence Header OBU, with a size field, around `payload`.
    pub fn obu(payload: &[u8]) -> Vec<u8> {
        let mut obu = vec![0x0a];
        super::write_leb128(payload.len() as u64, &mut obu);
        obu.extend_from_slice(payload);
        obu
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real sequence header OBU from SVT-AV1 1.4.1 (`ffmpeg -c:v libsvtav1 -f obu`, 1280×720,
    // BT.709 limited); ffprobe reads it as profile Main, level 5.
    const SEQ_720P: [u8; 16] = [
        0x0a, 0x0e, 0x00, 0x00, 0x00, 0x2d, 0x4c, 0xff, 0xb3, 0xcf, 0xbf, 0x91, 0x01, 0x01, 0x01, 0x04,
    ];

    /// NVENC's preset may leave the colour unspecified or signal an RGB matrix (a zero); the
    /// rewrite makes it BT.709 limited range and keeps every other field, and a header that
    /// already says BT.709 comes back byte for byte.
    #[test]
    fn a_sequence_header_is_rewritten_to_bt709_limited_and_nothing_else() {
        assert_eq!(
            with_bt709_limited(&SEQ_720P).as_deref(),
            Some(&SEQ_720P[..]),
            "already BT.709"
        );
        for (cpm, full_range) in [(None, false), (Some((0, 0, 0)), true), (Some((6, 6, 6)), false)] {
            let before = testing::obu(&testing::coloured_payload(1922, 1082, cpm, full_range));
            let after = with_bt709_limited(&before).unwrap();
            let (was, now) = (
                parse_sequence_header(&before).unwrap(),
                parse_sequence_header(&after).unwrap(),
            );
            assert!(
                now.colour.described && now.colour.is_bt709_limited(),
                "{cpm:?}: {:?}",
                now.colour
            );
            let same = |i: &SequenceInfo| SequenceInfo {
                colour: Colour {
                    described: true,
                    primaries: 1,
                    transfer: 1,
                    matrix: 1,
                    full_range: false,
                },
                ..i.clone()
            };
            assert_eq!(same(&was), now, "{cpm:?}: only the colour changed");
            assert_eq!(
                after,
                testing::obu(&testing::coloured_payload(1922, 1082, Some((1, 1, 1)), false))
            );
        }
        // sRGB codes no range (4:4:4 is implied), so it cannot be turned into 4:2:0 BT.709.
        let srgb = testing::obu(&testing::coloured_payload(64, 64, Some((1, 13, 0)), true));
        assert_eq!(with_bt709_limited(&srgb), None);
    }

    #[test]
    fn sequence_headers_are_stripped_from_a_packet_and_nothing_else() {
        let header = testing::sequence_header(64, 64);
        let frame = [0x32, 0x02, 0xaa, 0xbb]; // OBU_FRAME with a 2-byte payload
        let mut packet = header.clone();
        packet.extend_from_slice(&frame);
        let mut out = Vec::new();
        strip_sequence_headers(&packet, &mut out);
        assert_eq!(out, frame);
        strip_sequence_headers(&[0x32, 0x09], &mut out);
        assert_eq!(out, [0x32, 0x09], "malformed: unchanged");
    }

    #[test]
    fn parses_svt_sequence_header_into_av1c() {
        let info = parse_sequence_header(&SEQ_720P).unwrap();
        assert_eq!((info.profile, info.level, info.tier), (0, 5, 0));
        assert_eq!((info.max_width, info.max_height), (1280, 720));
        assert!(info.subsampling_x && info.subsampling_y && !info.high_bitdepth && !info.monochrome);
        assert!(
            info.colour.described && info.colour.is_bt709_limited(),
            "{:?}",
            info.colour
        );
        let c = av1c(&SEQ_720P).unwrap();
        assert_eq!(&c[..4], &[0x81, 0x05, 0x0c | info.chroma_sample_position, 0]);
        assert_eq!(&c[4..], &SEQ_720P);
    }

    #[test]
    fn strips_temporal_delimiters_and_padding() {
        let mut tu = vec![0x12, 0x00]; // temporal delimiter, size 0
        tu.extend_from_slice(&SEQ_720P);
        tu.extend_from_slice(&[0x7a, 0x02, 0xaa, 0xbb]); // padding OBU
        tu.extend_from_slice(&[0x32, 0x01, 0x55]); // frame OBU
        let mut out = Vec::new();
        strip_temporal_delimiters(&tu, &mut out);
        let mut expected = SEQ_720P.to_vec();
        expected.extend_from_slice(&[0x32, 0x01, 0x55]);
        assert_eq!(out, expected);
        assert_eq!(find_sequence_header(&tu), Some(&SEQ_720P[..]));
    }

    #[test]
    fn keyframes_without_a_sequence_header_get_the_stored_one() {
        let frame = [0x32, 0x01, 0x55];
        let mut block = frame.to_vec();
        ensure_sequence_header(&mut block, true, &SEQ_720P);
        assert_eq!(block, [&SEQ_720P[..], &frame].concat());
        // Once is enough: a keyframe that has one, and any other frame, are left alone.
        let with = block.clone();
        ensure_sequence_header(&mut block, true, &SEQ_720P);
        assert_eq!(block, with);
        let mut inter = frame.to_vec();
        ensure_sequence_header(&mut inter, false, &SEQ_720P);
        assert_eq!(inter, frame);
    }

    #[test]
    fn malformed_packets_pass_through() {
        let bad = [0x32, 0x09, 0x01];
        let mut out = Vec::new();
        strip_temporal_delimiters(&bad, &mut out);
        assert_eq!(out, bad);
        let late = [0x12, 0x00, 0x32, 0x09, 0x01];
        strip_temporal_delimiters(&late, &mut out);
        assert_eq!(out, late, "a malformed OBU after a valid one");
        assert_eq!(find_sequence_header(&bad), None);
        assert_eq!(parse_sequence_header(&bad), None);
    }

    #[test]
    fn written_sequence_headers_parse_back() {
        for (w, h) in [(1920, 1088), (1281, 721), (64, 64), (2, 2)] {
            let info = parse_sequence_header(&testing::sequence_header(w, h)).unwrap();
            assert_eq!((info.max_width, info.max_height), (w, h));
            assert_eq!((info.profile, info.level, info.tier), (0, 8, 0));
        }
        let bt601_full = testing::obu(&testing::coloured_payload(64, 64, Some((6, 6, 6)), true));
        let colour = parse_sequence_header(&bt601_full).unwrap().colour;
        assert_eq!(
            (colour.primaries, colour.transfer, colour.matrix, colour.full_range),
            (6, 6, 6, true)
        );
        let unspecified = testing::obu(&testing::coloured_payload(64, 64, None, false));
        let colour = parse_sequence_header(&unspecified).unwrap().colour;
        assert!(!colour.described && !colour.full_range);
        assert_eq!((colour.primaries, colour.transfer, colour.matrix), (2, 2, 2));
    }

    /// A driver's OBU without a size field, with an extension header and zero padding after its
    /// trailing bits, comes out as the one canonical form; a canonical one is left as it is.
    #[test]
    fn sequence_headers_are_normalised_with_a_size_field() {
        let canonical = testing::sequence_header(1920, 1088);
        assert_eq!(normalize_sequence_header(&canonical).as_deref(), Some(&canonical[..]));
        assert_eq!(normalize_sequence_header(&SEQ_720P).as_deref(), Some(&SEQ_720P[..]));

        let payload = testing::sequence_header_payload(1920, 1088);
        // obu_has_size_field = 0: the OBU runs to the end of the buffer, padding included.
        let mut sizeless = vec![0x08];
        sizeless.extend_from_slice(&payload);
        sizeless.extend_from_slice(&[0, 0, 0]);
        assert_eq!(normalize_sequence_header(&sizeless), Some(canonical.clone()));
        // With an extension header (temporal and spatial id 0) and a size field.
        let mut extended = vec![0x0e, 0x00, payload.len() as u8];
        extended.extend_from_slice(&payload);
        assert_eq!(normalize_sequence_header(&extended), Some(canonical.clone()));
        // Behind a temporal delimiter, as some drivers write it.
        let mut behind = vec![0x12, 0x00];
        behind.extend_from_slice(&sizeless);
        assert_eq!(normalize_sequence_header(&behind), Some(canonical.clone()));

        let info = parse_sequence_header(&normalize_sequence_header(&sizeless).unwrap()).unwrap();
        assert_eq!((info.max_width, info.max_height), (1920, 1088));
        assert_eq!(
            normalize_sequence_header(&[0x32, 0x01, 0x55]),
            None,
            "no sequence header"
        );
        assert_eq!(normalize_sequence_header(&[0x0a, 0x02, 0, 0]), None, "no trailing bits");
    }
}
