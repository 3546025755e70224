//! A seeded, game-like test scene: the input of the CLI's demo recording, the tests and the
//! benchmarks. It has what makes game footage hard and realistic for an encoder: a detailed tile
//! map under a panning camera, a sky gradient, moving sprites with hard edges, and HUD text that
//! changes every frame. Audio is a 440 Hz tone that starts at a known frame, delivered in blocks
//! the size the engine's Movie Maker hands to a writer.

use movie_writer_av1_core::audio::AudioEncoder;

pub const TONE_HZ: f64 = 440.0;
const TILE: usize = 32;
const MAP: usize = 16; // tiles per side of the (wrapping) map texture
const TEX: usize = TILE * MAP;

/// Deterministic splitmix64, so a seed always gives the same frames on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

struct Sprite {
    x: f32,
    y: f32,
    vx: f32,
    vy: f32,
    size: f32,
    colour: [u8; 3],
    round: bool,
}

pub struct TestScene {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    map: Vec<u8>,
    sprites: Vec<Sprite>,
}

impl TestScene {
    pub fn new(width: u32, height: u32, fps: u32, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let map = tile_map(&mut rng);
        let scale = width.min(height) as f32 / 720.0;
        let sprites = (0..24)
            .map(|i| Sprite {
                x: rng.below(width as u64) as f32,
                y: rng.below(height as u64) as f32,
                vx: (rng.below(9) as f32 - 4.0) * 60.0 * scale,
                vy: (rng.below(9) as f32 - 4.0) * 60.0 * scale,
                size: (12 + rng.below(36)) as f32 * scale.max(0.05),
                colour: [rng.below(256) as u8, rng.below(256) as u8, rng.below(256) as u8],
                round: i % 2 == 0,
            })
            .collect();
        Self {
            width,
            height,
            fps,
            map,
            sprites,
        }
    }

    /// Frame at which the tone starts (0.5 s in).
    pub fn tone_start_frame(&self) -> u64 {
        u64::from(self.fps / 2)
    }

    /// Renders frame `index` as tightly packed RGBA8 into `out`.
    pub fn render(&self, index: u64, out: &mut Vec<u8>) {
        let (w, h) = (self.width as usize, self.height as usize);
        out.clear();
        out.resize(w * h * 4, 255);
        let t = index as f32 / self.fps as f32;
        // Camera pans right and drifts vertically, in map pixels.
        let cam_x = (t * 120.0) as usize;
        let cam_y = ((t * 0.7).sin() * 80.0 + 200.0) as usize;
        let horizon = h / 3;
        for y in 0..h {
            let row = &mut out[y * w * 4..(y + 1) * w * 4];
            if y < horizon {
                let k = (y * 255 / horizon.max(1)) as u8;
                for px in row.chunks_exact_mut(4) {
                    px[..3].copy_from_slice(&[40 + k / 3, 90 + k / 3, 200 - k / 4]);
                }
            } else {
                let my = (y + cam_y) % TEX;
                let src = &self.map[my * TEX * 4..(my + 1) * TEX * 4];
                for (x, px) in row.chunks_exact_mut(4).enumerate() {
                    let mx = (x + cam_x) % TEX;
                    px.copy_from_slice(&src[mx * 4..mx * 4 + 4]);
                }
            }
        }
        for s in &self.sprites {
            let bounce = |p: f32, v: f32, max: f32| {
                let span = 2.0 * max.max(1.0);
                let q = (p + v * t).rem_euclid(span);
                if q > max {
                    span - q
                } else {
                    q
                }
            };
            let cx = bounce(s.x, s.vx, self.width as f32);
            let cy = bounce(s.y, s.vy, self.height as f32);
            fill_shape(out, w, h, cx, cy, s.size, s.colour, s.round);
        }
        let scale = (h / 180).max(1);
        draw_text(
            out,
            w,
            h,
            8,
            8,
            scale,
            &format!("SCORE {:06}", index * 10),
            [255, 255, 255],
        );
        draw_text(
            out,
            w,
            h,
            8,
            8 + 8 * scale,
            scale,
            &format!("FRAME {index}"),
            [255, 220, 0],
        );
    }

    /// The interleaved stereo int32 block the engine would hand over with frame `index`:
    /// `48000 / fps` frames, silent before [`Self::tone_start_frame`], then the tone.
    pub fn audio_block(&self, index: u64, out: &mut Vec<i32>) {
        let block = AudioEncoder::engine_block_frames(48_000, self.fps);
        out.clear();
        let start = self.tone_start_frame() * block as u64;
        for n in index * block as u64..(index + 1) * block as u64 {
            let s = if n < start {
                0
            } else {
                let phase = (n - start) as f64 / 48_000.0 * TONE_HZ * std::f64::consts::TAU;
                (phase.sin() * 0.4 * i32::MAX as f64) as i32
            };
            out.extend_from_slice(&[s, s]);
        }
    }
}

/// A wrapping map of bricks, grass and stone tiles with per-pixel noise.
fn tile_map(rng: &mut Rng) -> Vec<u8> {
    let mut map = vec![255u8; TEX * TEX * 4];
    let kinds: Vec<u64> = (0..MAP * MAP).map(|_| rng.below(3)).collect();
    for ty in 0..MAP {
        for tx in 0..MAP {
            let kind = kinds[ty * MAP + tx];
            for y in 0..TILE {
                for x in 0..TILE {
                    let noise = rng.below(40) as i32 - 20;
                    let base: [i32; 3] = match kind {
                        0 => {
                            let mortar = y % 8 == 0 || (x + if (y / 8) % 2 == 0 { 0 } else { 8 }) % 16 == 0;
                            if mortar {
                                [170, 165, 150]
                            } else {
                                [150, 60, 40]
                            }
                        }
                        1 => [60, 140 + ((x * 7 + y * 3) % 20) as i32, 50],
                        _ => {
                            let d = ((x as i32 - 16).pow(2) + (y as i32 - 16).pow(2)) / 24;
                            [110 - d, 110 - d, 120 - d]
                        }
                    };
                    let i = ((ty * TILE + y) * TEX + tx * TILE + x) * 4;
                    for c in 0..3 {
                        map[i + c] = (base[c] + noise).clamp(0, 255) as u8;
                    }
                }
            }
        }
    }
    map
}

#[allow(clippy::too_many_arguments)]
fn fill_shape(out: &mut [u8], w: usize, h: usize, cx: f32, cy: f32, size: f32, colour: [u8; 3], round: bool) {
    let r = size / 2.0;
    let (x0, x1) = ((cx - r).max(0.0) as usize, ((cx + r) as usize).min(w));
    let (y0, y1) = ((cy - r).max(0.0) as usize, ((cy + r) as usize).min(h));
    for y in y0..y1 {
        for x in x0..x1 {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            let d = if round {
                (dx * dx + dy * dy).sqrt()
            } else {
                dx.abs().max(dy.abs())
            };
            if d <= r {
                let edge = d > r - 2.0;
                let c = if edge { [20, 20, 20] } else { colour };
                out[(y * w + x) * 4..][..3].copy_from_slice(&c);
            }
        }
    }
}

/// 3×5 pixel glyphs for the HUD.
fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        'A' => [7, 5, 7, 5, 5],
        'C' => [7, 4, 4, 4, 7],
        'E' => [7, 4, 6, 4, 7],
        'F' => [7, 4, 6, 4, 4],
        'M' => [5, 7, 7, 5, 5],
        'O' => [7, 5, 5, 5, 7],
        'R' => [6, 5, 6, 5, 5],
        'S' => [7, 4, 7, 1, 7],
        _ => [0; 5],
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_text(out: &mut [u8], w: usize, h: usize, x: usize, y: usize, scale: usize, text: &str, colour: [u8; 3]) {
    for (i, c) in text.chars().enumerate() {
        let g = glyph(c);
        for (row, bits) in g.iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) == 0 {
                    continue;
                }
                for sy in 0..scale {
                    for sx in 0..scale {
                        let px = x + (i * 4 + col) * scale + sx;
                        let py = y + row * scale + sy;
                        if px < w && py < h {
                            out[(py * w + px) * 4..][..3].copy_from_slice(&colour);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_frames_are_reproducible_and_move() {
        let a = TestScene::new(160, 90, 30, 7);
        let b = TestScene::new(160, 90, 30, 7);
        let (mut fa, mut fb, mut fc) = (Vec::new(), Vec::new(), Vec::new());
        a.render(5, &mut fa);
        b.render(5, &mut fb);
        a.render(6, &mut fc);
        assert_eq!(fa, fb);
        assert_ne!(fa, fc);
        assert_eq!(fa.len(), 160 * 90 * 4);
    }

    #[test]
    fn audio_blocks_match_engine_size_and_tone_start() {
        let s = TestScene::new(64, 64, 144, 1);
        let mut block = Vec::new();
        s.audio_block(0, &mut block);
        assert_eq!(block.len(), 333 * 2);
        assert!(block.iter().all(|&v| v == 0));
        s.audio_block(s.tone_start_frame() + 1, &mut block);
        assert!(block.iter().any(|&v| v != 0));
    }
}
