//! RGBA → I420 on the engine's RenderingDevice: a compute shader reads the viewport's texture
//! and writes the three planes into a storage buffer, so only YUV (1.5 bytes a pixel instead
//! of 4) is read back, asynchronously, and the CPU does no colour conversion.
//!
//! The shader does the core's fixed-point arithmetic (`color::COEFFICIENTS`) on the same 8-bit
//! values, so at scale 1 it matches the CPU path exactly; scaled, it samples bilinearly.

use godot::classes::rendering_device::{
    DataFormat, SamplerFilter, SamplerRepeatMode, ShaderStage, TextureUsageBits, UniformType,
};
use godot::classes::{RdSamplerState, RdShaderSource, RdTextureFormat, RdTextureView, RdUniform, RenderingDevice};
use godot::global::Error as GdError;
use godot::prelude::*;
use movie_writer_av1_core::color::{COEFFICIENTS, FRACTION_BITS};
use movie_writer_av1_core::I420Image;

/// 8×2 pixels per invocation: whole 32-bit words of Y (two per row), U and V (one each).
const BLOCK_W: u32 = 8;
const GROUP: u32 = 8;

pub struct GpuConverter {
    rd: Gd<RenderingDevice>,
    shader: Rid,
    pipeline: Rid,
    sampler: Rid,
    buffers: Vec<Rid>,
    /// Uniform sets for (texture, buffer) and the push constants, made when the source texture
    /// changes (a resize makes a new one), not every frame.
    sets: Vec<Rid>,
    bound: Rid,
    push: PackedByteArray,
    pub width: u32,
    pub height: u32,
    pub y_stride: usize,
    pub uv_stride: usize,
}

impl GpuConverter {
    /// A converter to `width × height` (even) I420 with `slots` output buffers, so that many
    /// read-backs can be in flight.
    pub fn new(mut rd: Gd<RenderingDevice>, width: u32, height: u32, slots: usize) -> Result<Self, String> {
        let mut source = RdShaderSource::new_gd();
        source.set_stage_source(ShaderStage::COMPUTE, &shader_source());
        let spirv = rd
            .shader_compile_spirv_from_source(&source)
            .ok_or("the RenderingDevice could not compile shaders")?;
        let error = spirv.get_stage_compile_error(ShaderStage::COMPUTE);
        if !error.is_empty() {
            return Err(format!("the colour-conversion shader did not compile: {error}"));
        }
        let shader = rd.shader_create_from_spirv(&spirv);
        if !shader.is_valid() {
            return Err("the colour-conversion shader could not be created".into());
        }
        let pipeline = rd.compute_pipeline_create(shader);
        let mut state = RdSamplerState::new_gd();
        state.set_min_filter(SamplerFilter::LINEAR);
        state.set_mag_filter(SamplerFilter::LINEAR);
        state.set_repeat_u(SamplerRepeatMode::CLAMP_TO_EDGE);
        state.set_repeat_v(SamplerRepeatMode::CLAMP_TO_EDGE);
        let sampler = rd.sampler_create(&state);
        let y_stride = width.next_multiple_of(BLOCK_W) as usize;
        let uv_stride = y_stride / 2;
        let bytes = I420Image::contiguous_len(height, y_stride, uv_stride) as u32;
        let buffers = (0..slots).map(|_| rd.storage_buffer_create(bytes)).collect();
        Ok(Self {
            rd,
            shader,
            pipeline,
            sampler,
            buffers,
            sets: Vec::new(),
            bound: Rid::Invalid,
            push: PackedByteArray::new(),
            width,
            height,
            y_stride,
            uv_stride,
        })
    }

    /// Records the conversion of `texture` into output buffer `slot` (on the device's next
    /// submit; the engine's own device submits with the frame). Returns the buffer to read.
    pub fn convert(&mut self, texture: Rid, slot: usize) -> Result<Rid, String> {
        if self.bound != texture || !self.sets.iter().all(|s| self.rd.uniform_set_is_valid(*s)) {
            self.bind(texture)?;
        }
        let groups_x = (self.y_stride as u32 / BLOCK_W).div_ceil(GROUP);
        let groups_y = (self.height / 2).div_ceil(GROUP);
        let rd = &mut self.rd;
        let list = rd.compute_list_begin();
        rd.compute_list_bind_compute_pipeline(list, self.pipeline);
        rd.compute_list_bind_uniform_set(list, self.sets[slot], 0);
        rd.compute_list_set_push_constant(list, &self.push, self.push.len() as u32);
        rd.compute_list_dispatch(list, groups_x, groups_y, 1);
        rd.compute_list_end();
        Ok(self.buffers[slot])
    }

    /// Asks for `buffer` (from [`GpuConverter::convert`]) to be read back; `callback` gets its
    /// bytes once the GPU is done, a frame or two later.
    pub fn read_back(&mut self, buffer: Rid, callback: &Callable) -> Result<(), String> {
        match self.rd.buffer_get_data_async(buffer, callback) {
            GdError::OK => Ok(()),
            e => Err(format!("the GPU read-back could not be requested ({e:?})")),
        }
    }

    /// Binds `texture` to every output buffer and sets the push constants from its format.
    fn bind(&mut self, texture: Rid) -> Result<(), String> {
        let Some(format) = self.rd.texture_get_format(texture) else {
            return Err("the viewport has no RenderingDevice texture".into());
        };
        self.free_sets();
        for &buffer in &self.buffers {
            let mut source = RdUniform::new_gd();
            source.set_uniform_type(UniformType::SAMPLER_WITH_TEXTURE);
            source.set_binding(0);
            source.add_id(self.sampler);
            source.add_id(texture);
            let mut target = RdUniform::new_gd();
            target.set_uniform_type(UniformType::STORAGE_BUFFER);
            target.set_binding(1);
            target.add_id(buffer);
            let set = self.rd.uniform_set_create(&array![&source, &target], self.shader, 0);
            if !set.is_valid() {
                return Err("could not bind the viewport texture to the conversion shader".into());
            }
            self.sets.push(set);
        }
        self.bound = texture;
        // Float formats (HDR 2D) hold linear light; 8-bit ones hold sRGB-encoded values.
        let linear = matches!(
            format.get_format(),
            DataFormat::R16G16B16A16_SFLOAT | DataFormat::R32G32B32A32_SFLOAT | DataFormat::R16G16B16A16_UNORM
        );
        let (sw, sh) = (format.get_width(), format.get_height());
        // An odd-sized viewport is one pixel larger than the (even) output: cropped, not scaled.
        let crops = |src: u32, dst: u32| src == dst || src == dst + 1;
        let scaled = !(crops(sw, self.width) && crops(sh, self.height));
        let y_words = self.y_stride as i32 / 4;
        let uv_words = self.uv_stride as i32 / 4;
        let u_offset = y_words * self.height as i32;
        let v_offset = u_offset + uv_words * self.height as i32 / 2;
        let flags = i32::from(scaled) | i32::from(linear) << 1;
        let params = [
            sw as i32,
            sh as i32,
            self.width as i32,
            self.height as i32,
            y_words,
            uv_words,
            u_offset,
            v_offset,
            flags,
            0,
            0,
            0,
        ];
        let bytes: Vec<u8> = params.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.push = PackedByteArray::from(bytes.as_slice());
        Ok(())
    }

    fn free_sets(&mut self) {
        for set in self.sets.drain(..) {
            if self.rd.uniform_set_is_valid(set) {
                self.rd.free_rid(set);
            }
        }
    }

    /// Converts `image` (RGBA8) on `rd`, a local RenderingDevice, and waits for the result:
    /// the same shader and arithmetic as live capture, for checking it against the CPU.
    pub fn convert_image_now(
        rd: Gd<RenderingDevice>,
        width: u32,
        height: u32,
        rgba: &PackedByteArray,
    ) -> Result<PackedByteArray, String> {
        let mut converter = Self::new(rd, width, height, 1)?;
        let mut format = RdTextureFormat::new_gd();
        format.set_width(width);
        format.set_height(height);
        format.set_format(DataFormat::R8G8B8A8_UNORM);
        format.set_usage_bits(TextureUsageBits::SAMPLING_BIT | TextureUsageBits::CAN_UPDATE_BIT);
        let data: Array<PackedByteArray> = array![rgba];
        let texture = converter
            .rd
            .texture_create_ex(&format, &RdTextureView::new_gd())
            .data(&data)
            .done();
        if !texture.is_valid() {
            return Err("could not create the test texture".into());
        }
        let result = converter.convert(texture, 0).map(|buffer| {
            converter.rd.submit();
            converter.rd.sync();
            converter.rd.buffer_get_data(buffer)
        });
        converter.free_sets();
        converter.rd.free_rid(texture);
        result
    }
}

impl Drop for GpuConverter {
    fn drop(&mut self) {
        self.free_sets();
        for rid in self.buffers.drain(..).chain([self.pipeline, self.sampler, self.shader]) {
            self.rd.free_rid(rid);
        }
    }
}

fn shader_source() -> String {
    let [[yr, yg, yb], [ur, ug, ub], [vr, vg, vb]] = COEFFICIENTS;
    let bits = FRACTION_BITS;
    format!(
        r#"#version 450
layout(local_size_x = {GROUP}, local_size_y = {GROUP}, local_size_z = 1) in;
layout(set = 0, binding = 0) uniform sampler2D src;
layout(set = 0, binding = 1, std430) restrict writeonly buffer Planes {{ uint words[]; }} planes;
layout(push_constant, std430) uniform Params {{
    ivec2 src_size;
    ivec2 dst_size;
    int y_words;
    int uv_words;
    int u_offset;
    int v_offset;
    int flags;
    int pad0;
    int pad1;
    int pad2;
}} p;

vec3 to_srgb(vec3 c) {{
    return mix(c * 12.92, 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055, step(vec3(0.0031308), c));
}}

// One pixel as 8-bit RGB, exactly the bytes the CPU path reads at scale 1.
ivec3 rgb(ivec2 xy) {{
    xy = min(xy, p.dst_size - 1);
    vec3 c;
    if ((p.flags & 1) != 0) {{
        c = textureLod(src, (vec2(xy) + 0.5) / vec2(p.dst_size), 0.0).rgb;
    }} else {{
        c = texelFetch(src, min(xy, p.src_size - 1), 0).rgb;
    }}
    if ((p.flags & 2) != 0) {{
        c = to_srgb(clamp(c, 0.0, 1.0));
    }}
    return ivec3(round(clamp(c, 0.0, 1.0) * 255.0));
}}

uint luma(ivec3 c) {{
    return uint(((({yr}) * c.r + ({yg}) * c.g + ({yb}) * c.b + (1 << ({bits} - 1))) >> {bits}) + 16);
}}

void main() {{
    ivec2 block = ivec2(gl_GlobalInvocationID.xy);
    int x0 = block.x * {BLOCK_W};
    int y0 = block.y * 2;
    if (x0 >= p.y_words * 4 || y0 >= p.dst_size.y) {{
        return;
    }}
    uint y_top[2] = uint[2](0u, 0u);
    uint y_bottom[2] = uint[2](0u, 0u);
    uint u_word = 0u;
    uint v_word = 0u;
    for (int i = 0; i < 4; i++) {{
        int x = x0 + 2 * i;
        ivec3 a = rgb(ivec2(x, y0));
        ivec3 b = rgb(ivec2(x + 1, y0));
        ivec3 c = rgb(ivec2(x, y0 + 1));
        ivec3 d = rgb(ivec2(x + 1, y0 + 1));
        int shift = (i & 1) * 16;
        y_top[i >> 1] |= (luma(a) | luma(b) << 8) << shift;
        y_bottom[i >> 1] |= (luma(c) | luma(d) << 8) << shift;
        ivec3 s = a + b + c + d;
        int u = ((({ur}) * s.r + ({ug}) * s.g + ({ub}) * s.b + (1 << ({bits} + 1))) >> ({bits} + 2)) + 128;
        int v = ((({vr}) * s.r + ({vg}) * s.g + ({vb}) * s.b + (1 << ({bits} + 1))) >> ({bits} + 2)) + 128;
        u_word |= uint(u) << (8 * i);
        v_word |= uint(v) << (8 * i);
    }}
    int row = y0 * p.y_words + block.x * 2;
    planes.words[row] = y_top[0];
    planes.words[row + 1] = y_top[1];
    planes.words[row + p.y_words] = y_bottom[0];
    planes.words[row + p.y_words + 1] = y_bottom[1];
    int chroma = block.y * p.uv_words + block.x;
    planes.words[p.u_offset + chroma] = u_word;
    planes.words[p.v_offset + chroma] = v_word;
}}
"#
    )
}
