//! The conformance scene: flat patches of known colours, whose decoded Y, U and V are compared
//! with BT.709 limited range one channel at a time (a wrong matrix or range moves at least one
//! of them by far more than coding does), above a band of motion that gives the encoder's
//! inter prediction and rate control real work.
//!
//! The expected values come from the BT.709 formula in floating point, written here from the
//! standard, not from `movie_writer_av1_core::color`'s fixed-point converter: the backends run that converter
//! (or their own), and the check must not share code with what it checks.

/// The patches' colours (RGB), in a 4 × 2 grid: white, black, red, green, blue, mid grey,
/// yellow and a skin tone. BT.601 for BT.709, or full for limited range, moves each channel
/// of at least one of them by 7.9 code values or more.
pub const COLOURS: [[u8; 3]; 8] = [
    [255, 255, 255],
    [0, 0, 0],
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [128, 128, 128],
    [255, 255, 0],
    [224, 172, 105],
];

const COLUMNS: u32 = 4;
const ROWS: u32 = 2;

/// BT.709 limited range (ITU-R BT.709-6 §3, 8-bit quantisation) in floating point.
pub fn bt709_limited(rgb: [u8; 3]) -> [f64; 3] {
    let [r, g, b] = rgb.map(|c| f64::from(c) / 255.0);
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    let cb = (b - y) / 1.8556;
    let cr = (r - y) / 1.5748;
    [16.0 + 219.0 * y, 128.0 + 224.0 * cb, 128.0 + 224.0 * cr]
}

/// A patch's rectangle (x, y, width, height) in luma samples for a `width × height` frame:
/// the grid covers the top three quarters of the frame.
fn cell(index: usize, width: u32, height: u32) -> (u32, u32, u32, u32) {
    let (col, row) = (index as u32 % COLUMNS, index as u32 / COLUMNS);
    let top = height * 3 / 4;
    let (x0, x1) = (col * width / COLUMNS, (col + 1) * width / COLUMNS);
    let (y0, y1) = (row * top / ROWS, (row + 1) * top / ROWS);
    (x0, y0, x1 - x0, y1 - y0)
}

/// Where a patch is measured: its middle half in each direction on even coordinates, away
/// from the edges where coding and chroma subsampling blend neighbours.
pub fn measured(index: usize, width: u32, height: u32) -> (u32, u32, u32, u32) {
    let (x, y, w, h) = cell(index, width, height);
    let even = |v: u32| v & !1;
    let (mx, my) = (even(x + w / 4 + 1), even(y + h / 4 + 1));
    let (mw, mh) = (even(w / 2).max(2), even(h / 2).max(2));
    (mx, my, mw, mh)
}

/// Renders frame `index` as RGBA into `out`: the patches, and in the bottom quarter bars that
/// scroll by a few pixels a frame over a gradient.
pub fn render(width: u32, height: u32, index: u64, out: &mut Vec<u8>) {
    out.clear();
    out.resize(width as usize * height as usize * 4, 255);
    let top = height * 3 / 4;
    for (i, colour) in COLOURS.iter().enumerate() {
        let (x0, y0, w, h) = cell(i, width, height);
        for y in y0..y0 + h {
            let row = (y * width + x0) as usize * 4;
            for px in out[row..row + w as usize * 4].chunks_exact_mut(4) {
                px[..3].copy_from_slice(colour);
            }
        }
    }
    let shift = (index * 3) as u32;
    for y in top..height {
        for x in 0..width {
            let p = (y * width + x) as usize * 4;
            let bar = ((x + shift) / 16).is_multiple_of(2);
            let g = ((x * 255) / width.max(1)) as u8;
            let v = ((y - top) * 255 / (height - top).max(1)) as u8;
            out[p..p + 3].copy_from_slice(&if bar { [g, v, 255 - g] } else { [40, 40, 40] });
        }
    }
}

/// The I420 picture the encoder should reproduce, converted with [`bt709_limited`] (chroma
/// from each 2×2 block's mean RGB): the reference for per-channel SSIM.
pub fn reference_i420(width: u32, height: u32, rgba: &[u8], out: &mut Vec<u8>) {
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    out.clear();
    out.resize(w * h + 2 * cw * ch, 0);
    let px = |x: usize, y: usize| {
        let p = (y.min(h - 1) * w + x.min(w - 1)) * 4;
        [rgba[p], rgba[p + 1], rgba[p + 2]]
    };
    let (luma, chroma) = out.split_at_mut(w * h);
    let (u, v) = chroma.split_at_mut(cw * ch);
    for y in 0..h {
        for x in 0..w {
            luma[y * w + x] = bt709_limited(px(x, y))[0].round() as u8;
        }
    }
    for cy in 0..ch {
        for cx in 0..cw {
            let mut sum = [0u32; 3];
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                for (s, c) in sum.iter_mut().zip(px(2 * cx + dx, 2 * cy + dy)) {
                    *s += u32::from(c);
                }
            }
            let mean = sum.map(|s| ((s + 2) / 4) as u8);
            let [_, cb, cr] = bt709_limited(mean);
            u[cy * cw + cx] = cb.round() as u8;
            v[cy * cw + cx] = cr.round() as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use movie_writer_av1_core::color::{rgb_to_i420, I420Buffer};
    use movie_writer_av1_core::frame::{PixelFormat, RgbImage};

    #[test]
    fn the_formula_gives_the_standards_reference_values() {
        let rounded = |rgb| bt709_limited(rgb).map(|c| c.round() as u8);
        assert_eq!(rounded([255, 255, 255]), [235, 128, 128]);
        assert_eq!(rounded([0, 0, 0]), [16, 128, 128]);
        assert_eq!(rounded([255, 0, 0]), [63, 102, 240]);
        assert_eq!(rounded([0, 0, 255]), [32, 240, 118]);
    }

    /// The core's fixed-point converter and this formula agree within rounding on the scene:
    /// the check does not flag the converter's own arithmetic.
    #[test]
    fn the_cores_converter_matches_the_reference_within_one() {
        for (w, h) in [(64, 48), (641, 361)] {
            let mut rgba = Vec::new();
            render(w, h, 5, &mut rgba);
            let mut reference = Vec::new();
            reference_i420(w, h, &rgba, &mut reference);
            let mut core = I420Buffer::new(w, h);
            rgb_to_i420(
                &RgbImage::packed(w, h, PixelFormat::Rgba8, &rgba).unwrap(),
                &mut core.planes(),
                false,
            );
            let converted: Vec<u8> = [&core.y[..], &core.u, &core.v].concat();
            let worst = converted.iter().zip(&reference).map(|(a, b)| a.abs_diff(*b)).max();
            assert!(worst <= Some(1), "{w}x{h}: {worst:?}");
        }
    }

    /// A wrong matrix (BT.601) or range (full) moves every channel of some patch by more than
    /// the tolerance plus 3 (coding moves a patch by under 1 in the suite's runs): the check
    /// cannot miss either.
    #[test]
    fn a_wrong_matrix_or_range_moves_every_channel_past_the_tolerance() {
        let bt601_limited = |rgb: [u8; 3]| {
            let [r, g, b] = rgb.map(|c| f64::from(c) / 255.0);
            let y = 0.299 * r + 0.587 * g + 0.114 * b;
            [
                16.0 + 219.0 * y,
                128.0 + 224.0 * (b - y) / 1.772,
                128.0 + 224.0 * (r - y) / 1.402,
            ]
        };
        let bt709_full = |rgb: [u8; 3]| {
            let [r, g, b] = rgb.map(|c| f64::from(c) / 255.0);
            let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
            [
                255.0 * y,
                128.0 + 255.0 * (b - y) / 1.8556,
                128.0 + 255.0 * (r - y) / 1.5748,
            ]
        };
        for wrong in [&bt601_limited as &dyn Fn([u8; 3]) -> [f64; 3], &bt709_full] {
            for channel in 0..3 {
                let worst = COLOURS
                    .iter()
                    .map(|&c| (wrong(c)[channel] - bt709_limited(c)[channel]).abs())
                    .fold(0.0, f64::max);
                assert!(
                    worst > super::super::MAX_PATCH_ERROR + 3.0,
                    "channel {channel}: {worst}"
                );
            }
        }
    }

    #[test]
    fn measured_areas_lie_inside_their_patches() {
        for (w, h) in [(64, 64), (1281, 721), (1920, 1080)] {
            let mut rgba = Vec::new();
            render(w, h, 0, &mut rgba);
            for (i, colour) in COLOURS.iter().enumerate() {
                let (x, y, mw, mh) = measured(i, w, h);
                assert!(x % 2 == 0 && y % 2 == 0 && mw >= 2 && mh >= 2);
                for yy in [y, y + mh - 1] {
                    for xx in [x, x + mw - 1] {
                        let p = (yy * w + xx) as usize * 4;
                        assert_eq!(&rgba[p..p + 3], colour, "{w}x{h} patch {i}");
                    }
                }
            }
        }
    }
}
