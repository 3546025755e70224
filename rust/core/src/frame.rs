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

/// A tightly packed frame in a buffer the caller hands over instead of letting it be copied
/// ([`crate::Recorder::push_held_frame`]): the encode thread reads it and hands it back once the
/// frame is encoded, to be dropped on the pushing thread. The bytes must not change while it is
/// held.
pub trait HeldPixels: Send {
    fn bytes(&self) -> &[u8];
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

/// A borrowed I420 (YUV 4:2:0, 8-bit, BT.709 limited range) image: what a GPU colour
/// conversion hands over, so the encode thread only copies planes.
#[derive(Debug, Clone, Copy)]
pub struct I420Image<'a> {
    pub width: u32,
    pub height: u32,
    pub y: &'a [u8],
    pub y_stride: usize,
    pub u: &'a [u8],
    pub v: &'a [u8],
    pub uv_stride: usize,
}

impl<'a> I420Image<'a> {
    /// Planes stored one after the other in `data` (Y, then U, then V), each row `y_stride` or
    /// `uv_stride` bytes apart; checks that `data` holds exactly that.
    pub fn contiguous(
        width: u32,
        height: u32,
        y_stride: usize,
        uv_stride: usize,
        data: &'a [u8],
    ) -> Result<Self, Error> {
        let (w, h) = (width as usize, height as usize);
        let y_len = y_stride * h;
        let uv_len = uv_stride * h.div_ceil(2);
        if w == 0 || h == 0 || y_stride < w || uv_stride < w.div_ceil(2) || data.len() != y_len + 2 * uv_len {
            return Err(Error::Frame(format!(
                "a {width}×{height} I420 image with strides {y_stride}/{uv_stride} needs {} bytes, got {}",
                y_len + 2 * uv_len,
                data.len()
            )));
        }
        let (y, chroma) = data.split_at(y_len);
        let (u, v) = chroma.split_at(uv_len);
        Ok(Self {
            width,
            height,
            y,
            y_stride,
            u,
            v,
            uv_stride,
        })
    }

    /// Bytes of the contiguous layout [`I420Image::contiguous`] reads.
    pub fn contiguous_len(height: u32, y_stride: usize, uv_stride: usize) -> usize {
        y_stride * height as usize + 2 * uv_stride * (height as usize).div_ceil(2)
    }
}

/// One video frame as a backend receives it: RGB from the engine's CPU path (the encode thread
/// converts colour), or I420 already converted on the GPU.
#[derive(Debug, Clone, Copy)]
pub enum VideoFrame<'a> {
    Rgb(RgbImage<'a>),
    I420(I420Image<'a>),
}

impl VideoFrame<'_> {
    pub fn size(&self) -> (u32, u32) {
        match self {
            Self::Rgb(i) => (i.width, i.height),
            Self::I420(i) => (i.width, i.height),
        }
    }
}
