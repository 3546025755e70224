//! Frame types shared by the pipeline, the colour converter and the backends.

use crate::error::Error;

/// Pixel layouts the engine hands over. Godot's viewport images are RGB8 or RGBA8 (the HDR-2D
/// path is converted to RGBA8 sRGB by the engine before a writer sees it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Rgba8,
    Rgb8,
}

impl PixelFormat {
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            Self::Rgba8 => 4,
            Self::Rgb8 => 3,
        }
    }
}

/// A borrowed, tightly or loosely packed 8-bit RGB(A) image.
#[derive(Debug, Clone, Copy)]
pub struct RgbImage<'a> {
    pub width: u32,
    pub height: u32,
    /// Bytes from one row to the next.
    pub stride: usize,
    pub format: PixelFormat,
    pub data: &'a [u8],
}

impl<'a> RgbImage<'a> {
    /// A tightly packed image; checks that `data` holds exactly `width × height` pixels.
    pub fn packed(width: u32, height: u32, format: PixelFormat, data: &'a [u8]) -> Result<Self, Error> {
        let stride = width as usize * format.bytes_per_pixel();
        let expected = stride * height as usize;
        if width == 0 || height == 0 || data.len() != expected {
            return Err(Error::Frame(format!(
                "a {width}×{height} {format:?} image needs {expected} bytes, got {}",
                data.len()
            )));
        }
        Ok(Self {
            width,
            height,
            stride,
            format,
            data,
        })
    }

    pub fn row(&self, y: u32) -> &'a [u8] {
        let start = y as usize * self.stride;
        &self.data[start..start + self.width as usize * self.format.bytes_per_pixel()]
    }
}

/// Mutable I420 (YUV 4:2:0, 8-bit) planes at the encoder's coded size.
pub struct I420Planes<'a> {
    pub width: u32,
    pub height: u32,
    pub y: &'a mut [u8],
    pub y_stride: usize,
    pub u: &'a mut [u8],
    pub u_stride: usize,
    pub v: &'a mut [u8],
    pub v_stride: usize,
}
