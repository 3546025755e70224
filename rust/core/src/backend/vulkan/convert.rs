//! RGB(A)8 → NV12 on the GPU in a compute shader, and I420 → NV12 on the CPU, both into one
//! host-visible buffer that the encoder copies into its source picture.
//!
//! The shader is WGSL translated to SPIR-V at run time by `naga` (no shader compiler at build
//! time). Its colour maths is `crate::color`'s fixed-point BT.709 limited-range conversion, with
//! the very same constants formatted into the source, and the same edge replication into the
//! padding, so its output equals `rgb_to_i420`'s sample for sample (the test below checks this
//! on whatever Vulkan device is present, lavapipe included).
//!
//! Layout of the NV12 buffer ([`Nv12Layout`]): the Y plane, `stride` bytes a row for `height`
//! rows, then the interleaved UV plane, `stride` bytes a row for `height / 2` rows. `stride` is
//! the coded width rounded up to 4 so that every shader invocation writes whole 32-bit words
//! (4 luma samples of two rows and 2 UV pairs: no two invocations share a word), and so that
//! the UV plane's offset is a multiple of 4, as a buffer→image copy on a queue without graphics
//! requires.

use std::sync::Arc;

use ash::vk;

use super::device::{vk_error, Buffer, Gpu};
use crate::backend::BackendKind;
use crate::color;
use crate::error::{Error, Result};
use crate::frame::{I420Image, RgbImage};

/// Where the planes of an NV12 picture of `width`×`height` (both even) lie in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Nv12Layout {
    pub width: u32,
    pub height: u32,
    /// Bytes from one row to the next, in both planes.
    pub stride: u32,
    /// Byte offset of the UV plane.
    pub uv_offset: u32,
}

impl Nv12Layout {
    pub fn new(width: u32, height: u32) -> Self {
        debug_assert!(
            width.is_multiple_of(2) && height.is_multiple_of(2),
            "NV12 needs an even size"
        );
        let stride = width.next_multiple_of(4);
        Self {
            width,
            height,
            stride,
            uv_offset: stride * height,
        }
    }

    pub fn len(&self) -> u64 {
        u64::from(self.stride) * u64::from(self.height) * 3 / 2
    }
}

/// Bytes before the pixels in the input buffer: the shader's parameters (8 × u32).
const PARAMS_BYTES: usize = 32;

/// Shader invocations per workgroup in x and y; each covers 4×2 luma samples.
const GROUP: u32 = 8;

fn shader_source() -> String {
    format!(
        r#"
struct Params {{
    src_width: u32, src_height: u32, src_stride: u32, bpp: u32,
    dst_stride: u32, dst_height: u32, uv_offset: u32, pad: u32,
}}
struct Input {{ p: Params, pixels: array<u32> }}

@group(0) @binding(0) var<storage, read> src: Input;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;

fn byte_at(o: u32) -> i32 {{
    return i32((src.pixels[o >> 2u] >> ((o & 3u) * 8u)) & 0xffu);
}}

// The source pixel, clamped to the image: the padding repeats the last column and row.
fn rgb(x: u32, y: u32) -> vec3<i32> {{
    let cx = min(x, src.p.src_width - 1u);
    let cy = min(y, src.p.src_height - 1u);
    let o = cy * src.p.src_stride + cx * src.p.bpp;
    return vec3<i32>(byte_at(o), byte_at(o + 1u), byte_at(o + 2u));
}}

fn luma(c: vec3<i32>) -> u32 {{
    return u32((({y_r} * c.x + {y_g} * c.y + {y_b} * c.z + {half}) >> {frac}u) + 16);
}}

// Chroma from the sum of a 2x2 block, as crate::color::chroma.
fn chroma(s: vec3<i32>) -> u32 {{
    let u = (({u_r} * s.x + {u_g} * s.y + {u_b} * s.z + {half4}) >> {frac2}u) + 128;
    let v = (({v_r} * s.x + {v_g} * s.y + {v_b} * s.z + {half4}) >> {frac2}u) + 128;
    return u32(u) | (u32(v) << 8u);
}}

@compute @workgroup_size({group}, {group}, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {{
    let x = id.x * 4u;
    let y = id.y * 2u;
    if (x >= src.p.dst_stride || y >= src.p.dst_height) {{
        return;
    }}
    var top = 0u;
    var bottom = 0u;
    var uv = 0u;
    for (var i = 0u; i < 2u; i = i + 1u) {{
        let bx = x + 2u * i;
        let a = rgb(bx, y);
        let b = rgb(bx + 1u, y);
        let c = rgb(bx, y + 1u);
        let d = rgb(bx + 1u, y + 1u);
        top = top | ((luma(a) | (luma(b) << 8u)) << (16u * i));
        bottom = bottom | ((luma(c) | (luma(d) << 8u)) << (16u * i));
        uv = uv | (chroma(a + b + c + d) << (16u * i));
    }}
    let stride = src.p.dst_stride;
    dst[(y * stride + x) >> 2u] = top;
    dst[((y + 1u) * stride + x) >> 2u] = bottom;
    dst[(src.p.uv_offset + (y >> 1u) * stride + x) >> 2u] = uv;
}}
"#,
        y_r = color::COEFFICIENTS[0][0],
        y_g = color::COEFFICIENTS[0][1],
        y_b = color::COEFFICIENTS[0][2],
        u_r = color::COEFFICIENTS[1][0],
        u_g = color::COEFFICIENTS[1][1],
        u_b = color::COEFFICIENTS[1][2],
        v_r = color::COEFFICIENTS[2][0],
        v_g = color::COEFFICIENTS[2][1],
        v_b = color::COEFFICIENTS[2][2],
        half = 1 << (color::FRACTION_BITS - 1),
        half4 = 1 << (color::FRACTION_BITS + 1),
        frac = color::FRACTION_BITS,
        frac2 = color::FRACTION_BITS + 2,
        group = GROUP,
    )
}

fn shader_error(what: &str, detail: String) -> Error {
    Error::Encoder {
        backend: BackendKind::Vulkan,
        message: format!("the RGB→NV12 shader {what}: {detail}"),
    }
}

/// The shader as SPIR-V words.
fn spirv() -> Result<Vec<u32>> {
    let source = shader_source();
    let module = naga::front::wgsl::parse_str(&source)
        .map_err(|e| shader_error("does not parse (a bug)", e.emit_to_string(&source)))?;
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::empty())
        .validate(&module)
        .map_err(|e| shader_error("does not validate (a bug)", e.to_string()))?;
    let pipeline = naga::back::spv::PipelineOptions {
        shader_stage: naga::ShaderStage::Compute,
        entry_point: "main".into(),
    };
    naga::back::spv::write_vec(&module, &info, &naga::back::spv::Options::default(), Some(&pipeline))
        .map_err(|e| shader_error("cannot be written as SPIR-V", e.to_string()))
}

/// The compute pipeline and its buffers for pictures of one coded size.
pub(super) struct Converter {
    gpu: Arc<Gpu>,
    pub layout: Nv12Layout,
    set_layout: vk::DescriptorSetLayout,
    pipeline_layout: vk::PipelineLayout,
    pipeline: vk::Pipeline,
    pool: vk::DescriptorPool,
    set: vk::DescriptorSet,
    /// Parameters and RGB pixels; replaced by a larger one when a frame needs it.
    input: Option<Buffer>,
    /// The NV12 picture, written by the shader or by [`Converter::write_i420`].
    pub output: Buffer,
}

impl Converter {
    /// `usage` adds to the output buffer's usage what its consumer needs (a transfer source
    /// for the encoder's copy into its picture).
    pub fn new(gpu: &Arc<Gpu>, width: u32, height: u32, usage: vk::BufferUsageFlags) -> Result<Self> {
        let layout = Nv12Layout::new(width, height);
        let output = Buffer::host(
            gpu,
            layout.len(),
            vk::BufferUsageFlags::STORAGE_BUFFER | usage,
            std::ptr::null(),
        )?;
        let d = &gpu.device;
        let mut out = Self {
            gpu: gpu.clone(),
            layout,
            set_layout: vk::DescriptorSetLayout::null(),
            pipeline_layout: vk::PipelineLayout::null(),
            pipeline: vk::Pipeline::null(),
            pool: vk::DescriptorPool::null(),
            set: vk::DescriptorSet::null(),
            input: None,
            output,
        };
        let bindings = [0, 1].map(|b| {
            vk::DescriptorSetLayoutBinding::default()
                .binding(b)
                .descriptor_type(vk::DescriptorType::STORAGE_BUFFER)
                .descriptor_count(1)
                .stage_flags(vk::ShaderStageFlags::COMPUTE)
        });
        let words = spirv()?;
        let sizes = [vk::DescriptorPoolSize::default()
            .ty(vk::DescriptorType::STORAGE_BUFFER)
            .descriptor_count(2)];
        // SAFETY: valid create infos whose pointers live across each call. Each handle is
        // stored in `out` as soon as it exists, so Drop destroys whatever was made if a later
        // step fails.
        unsafe {
            out.set_layout = d
                .create_descriptor_set_layout(&vk::DescriptorSetLayoutCreateInfo::default().bindings(&bindings), None)
                .map_err(vk_error("vkCreateDescriptorSetLayout"))?;
            let set_layouts = [out.set_layout];
            out.pipeline_layout = d
                .create_pipeline_layout(&vk::PipelineLayoutCreateInfo::default().set_layouts(&set_layouts), None)
                .map_err(vk_error("vkCreatePipelineLayout"))?;
            let module = d
                .create_shader_module(&vk::ShaderModuleCreateInfo::default().code(&words), None)
                .map_err(vk_error("vkCreateShaderModule"))?;
            let stage = vk::PipelineShaderStageCreateInfo::default()
                .stage(vk::ShaderStageFlags::COMPUTE)
                .module(module)
                .name(c"main");
            let info = vk::ComputePipelineCreateInfo::default()
                .stage(stage)
                .layout(out.pipeline_layout);
            let pipelines = d.create_compute_pipelines(vk::PipelineCache::null(), &[info], None);
            // The module is only needed while the pipeline is created.
            d.destroy_shader_module(module, None);
            out.pipeline = pipelines.map_err(|(_, e)| vk_error("vkCreateComputePipelines")(e))?[0];
            out.pool = d
                .create_descriptor_pool(
                    &vk::DescriptorPoolCreateInfo::default().max_sets(1).pool_sizes(&sizes),
                    None,
                )
                .map_err(vk_error("vkCreateDescriptorPool"))?;
            out.set = d
                .allocate_descriptor_sets(
                    &vk::DescriptorSetAllocateInfo::default()
                        .descriptor_pool(out.pool)
                        .set_layouts(&set_layouts),
                )
                .map_err(vk_error("vkAllocateDescriptorSets"))?[0];
        }
        Ok(out)
    }

    /// Uploads `image` and records the conversion into `cmd`, followed by a barrier that makes
    /// the NV12 buffer readable by copies and by the host. The caller submits `cmd` and keeps
    /// it from running twice at once (the input buffer is reused).
    pub fn record_rgb(&mut self, cmd: vk::CommandBuffer, image: &RgbImage<'_>) -> Result<()> {
        if image.width > self.layout.width || image.height > self.layout.height {
            return Err(Error::Frame(format!(
                "a {}×{} frame does not fit the encoder's {}×{} pictures",
                image.width, image.height, self.layout.width, self.layout.height
            )));
        }
        let bpp = image.format.bytes_per_pixel();
        let pixels = image.stride * (image.height as usize - 1) + image.width as usize * bpp;
        let needed = (PARAMS_BYTES + pixels).next_multiple_of(4) as u64;
        if self.input.as_ref().is_none_or(|b| b.size < needed) {
            self.input = Some(Buffer::host(
                &self.gpu,
                needed,
                vk::BufferUsageFlags::STORAGE_BUFFER,
                std::ptr::null(),
            )?);
            self.bind()?;
        }
        let input = self.input.as_mut().expect("allocated above");
        let params = [
            image.width,
            image.height,
            image.stride as u32,
            bpp as u32,
            self.layout.stride,
            self.layout.height,
            self.layout.uv_offset,
            0,
        ];
        let bytes = input.bytes_mut();
        for (dst, p) in bytes[..PARAMS_BYTES].chunks_exact_mut(4).zip(params) {
            dst.copy_from_slice(&p.to_le_bytes());
        }
        bytes[PARAMS_BYTES..PARAMS_BYTES + pixels].copy_from_slice(&image.data[..pixels]);
        let d = &self.gpu.device;
        let groups_x = (self.layout.stride / 4).div_ceil(GROUP);
        let groups_y = (self.layout.height / 2).div_ceil(GROUP);
        let barrier = [vk::MemoryBarrier2::default()
            .src_stage_mask(vk::PipelineStageFlags2::COMPUTE_SHADER)
            .src_access_mask(vk::AccessFlags2::SHADER_STORAGE_WRITE)
            .dst_stage_mask(vk::PipelineStageFlags2::COPY | vk::PipelineStageFlags2::HOST)
            .dst_access_mask(vk::AccessFlags2::TRANSFER_READ | vk::AccessFlags2::HOST_READ)];
        // SAFETY: `cmd` is recording (the caller's contract); the pipeline, its layout and the
        // set (bound to live buffers by `bind`) belong to this device. Host writes above are
        // visible to the GPU at submission (coherent memory, implicit host-write ordering).
        unsafe {
            d.cmd_bind_pipeline(cmd, vk::PipelineBindPoint::COMPUTE, self.pipeline);
            d.cmd_bind_descriptor_sets(
                cmd,
                vk::PipelineBindPoint::COMPUTE,
                self.pipeline_layout,
                0,
                &[self.set],
                &[],
            );
            d.cmd_dispatch(cmd, groups_x, groups_y, 1);
            d.cmd_pipeline_barrier2(cmd, &vk::DependencyInfo::default().memory_barriers(&barrier));
        }
        Ok(())
    }

    /// Points the descriptor set at the current input and the output buffer.
    fn bind(&self) -> Result<()> {
        let input = self.input.as_ref().expect("bound after allocation");
        let infos = [
            [vk::DescriptorBufferInfo::default()
                .buffer(input.buffer)
                .range(vk::WHOLE_SIZE)],
            [vk::DescriptorBufferInfo::default()
                .buffer(self.output.buffer)
                .range(vk::WHOLE_SIZE)],
        ];
        let writes = [0, 1].map(|b| {
            vk::WriteDescriptorSet::default()
                .dst_set(self.set)
                .dst_binding(b)
                .descriptor_type(vk::DescriptorType::STORAGE_BUFFER)
                .buffer_info(&infos[b as usize])
        });
        // SAFETY: the set is not in use by pending work (every submission is waited on before
        // the next frame is recorded) and both buffers are alive.
        unsafe { self.gpu.device.update_descriptor_sets(&writes, &[]) };
        Ok(())
    }

    /// Interleaves an I420 image into the NV12 buffer on the CPU, padding by edge replication.
    pub fn write_i420(&mut self, image: &I420Image<'_>) -> Result<()> {
        if image.width > self.layout.width || image.height > self.layout.height {
            return Err(Error::Frame(format!(
                "a {}×{} frame does not fit the encoder's {}×{} pictures",
                image.width, image.height, self.layout.width, self.layout.height
            )));
        }
        i420_to_nv12(image, self.layout, self.output.bytes_mut());
        Ok(())
    }
}

impl Drop for Converter {
    fn drop(&mut self) {
        let d = &self.gpu.device;
        // SAFETY: the owner has waited for all work using these objects; destroying the pool
        // frees the set. Null handles (a failed `new`) are ignored by Vulkan.
        unsafe {
            d.destroy_pipeline(self.pipeline, None);
            d.destroy_pipeline_layout(self.pipeline_layout, None);
            d.destroy_descriptor_pool(self.pool, None);
            d.destroy_descriptor_set_layout(self.set_layout, None);
        }
    }
}

/// I420 → NV12 at `layout`'s size, repeating the last column and row into the padding as
/// `crate::color::fill_i420` does.
pub(super) fn i420_to_nv12(src: &I420Image<'_>, layout: Nv12Layout, dst: &mut [u8]) {
    let (w, h) = (src.width as usize, src.height as usize);
    let (tw, th, stride) = (layout.width as usize, layout.height as usize, layout.stride as usize);
    for y in 0..th {
        let s = &src.y[y.min(h - 1) * src.y_stride..][..w];
        let d = &mut dst[y * stride..][..tw];
        d[..w].copy_from_slice(s);
        d[w..].fill(s[w - 1]);
    }
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let uv = &mut dst[layout.uv_offset as usize..];
    for y in 0..th / 2 {
        let row = y.min(ch - 1) * src.uv_stride;
        let (u, v) = (&src.u[row..][..cw], &src.v[row..][..cw]);
        for (x, pair) in uv[y * stride..][..tw].chunks_exact_mut(2).enumerate() {
            pair[0] = u[x.min(cw - 1)];
            pair[1] = v[x.min(cw - 1)];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::device::Commands;
    use super::*;
    use crate::color::{rgb_to_i420, I420Buffer};
    use crate::frame::PixelFormat;

    /// NV12 from the converter against `rgb_to_i420`'s I420 at the same coded size: the
    /// largest difference of any sample.
    fn max_difference(nv12: &[u8], layout: Nv12Layout, reference: &I420Buffer) -> u8 {
        let (w, h, stride) = (layout.width as usize, layout.height as usize, layout.stride as usize);
        let mut worst = 0u8;
        for y in 0..h {
            for x in 0..w {
                worst = worst.max(nv12[y * stride + x].abs_diff(reference.y[y * w + x]));
            }
        }
        let uv = &nv12[layout.uv_offset as usize..];
        for y in 0..h / 2 {
            for x in 0..w / 2 {
                worst = worst.max(uv[y * stride + 2 * x].abs_diff(reference.u[y * (w / 2) + x]));
                worst = worst.max(uv[y * stride + 2 * x + 1].abs_diff(reference.v[y * (w / 2) + x]));
            }
        }
        worst
    }

    /// A deterministic pseudo-random image (xorshift), so every sample value and every
    /// colour combination shows up across the sizes tested.
    fn seeded(len: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 24) as u8
            })
            .collect()
    }

    /// Runs the shader on the first Vulkan device with a compute queue (lavapipe here) and
    /// compares with the CPU conversion: even sizes, a width whose NV12 stride is padded, odd
    /// sizes padded by edge replication, RGBA and RGB, a loose stride. Skips, saying why,
    /// where there is no such device.
    #[test]
    fn shader_matches_the_cpu_conversion() {
        let gpu = match Gpu::compute() {
            Ok(gpu) => gpu,
            Err(e) => {
                let reason = format!("no Vulkan device with a compute queue ({e})");
                crate::skip::skip(
                    &crate::skip::current_test(),
                    crate::skip::Need::Backend("vulkan"),
                    &reason,
                );
                return;
            }
        };
        println!("converting on {}", gpu.name);
        let cases = [
            (64, 48, PixelFormat::Rgba8, 0),
            (1280, 720, PixelFormat::Rgba8, 0),
            (34, 18, PixelFormat::Rgba8, 0),
            (33, 17, PixelFormat::Rgba8, 0),
            (1, 1, PixelFormat::Rgba8, 0),
            (101, 59, PixelFormat::Rgb8, 0),
            (64, 48, PixelFormat::Rgb8, 5),
        ];
        let commands = Commands::new(&gpu, gpu.compute_family).unwrap();
        let mut overall = 0;
        for (i, (w, h, format, extra_stride)) in cases.into_iter().enumerate() {
            let stride = w as usize * format.bytes_per_pixel() + extra_stride;
            let data = seeded(stride * h as usize, 0x9E37_79B9_7F4A_7C15 ^ i as u64);
            let image = RgbImage {
                width: w,
                height: h,
                stride,
                format,
                data: &data,
            };
            let (cw, ch) = crate::backend::coded_size(w, h, 2);
            let mut reference = I420Buffer::new(cw, ch);
            rgb_to_i420(&image, &mut reference.planes(), false);
            let mut converter = Converter::new(&gpu, cw, ch, vk::BufferUsageFlags::empty()).unwrap();
            commands.begin().unwrap();
            converter.record_rgb(commands.cmd, &image).unwrap();
            commands.submit(gpu.compute_queue, &[], &[], true).unwrap();
            let worst = max_difference(converter.output.bytes(), converter.layout, &reference);
            println!("{w}x{h} {format:?} (coded {cw}x{ch}): max difference {worst}");
            overall = overall.max(worst);
        }
        println!("max difference over all sizes: {overall}");
        assert_eq!(overall, 0, "the shader replicates the CPU's fixed-point maths exactly");
    }

    /// The CPU I420 → NV12 path against `fill_i420` (planar) at a padded coded size.
    #[test]
    fn i420_interleaves_and_pads_like_the_planar_copy() {
        let (w, h) = (7u32, 5u32);
        let (ys, cs) = (9usize, 5usize);
        let data = seeded(I420Image::contiguous_len(h, ys, cs), 7);
        let image = I420Image::contiguous(w, h, ys, cs, &data).unwrap();
        let layout = Nv12Layout::new(10, 8);
        assert_eq!((layout.stride, layout.uv_offset), (12, 96));
        let mut nv12 = vec![0; layout.len() as usize];
        i420_to_nv12(&image, layout, &mut nv12);
        let mut reference = I420Buffer::new(10, 8);
        crate::color::fill_i420(&crate::frame::VideoFrame::I420(image), &mut reference.planes());
        assert_eq!(max_difference(&nv12, layout, &reference), 0);
    }
}
