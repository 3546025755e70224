//! A Vulkan instance and device of our own: Godot cannot add the video extensions to its
//! device, and a device of our own also keeps our submissions off the engine's queues.
//!
//! Two ways to open one: [`Gpu::compute`] (any Vulkan 1.3 device with a compute queue: what
//! the RGB→NV12 converter needs, and what its test runs on with lavapipe) and
//! [`Gpu::av1_encode`] (a device with a video-encode queue that does AV1, plus a compute
//! queue). Everything made on the device (buffers, command pools, the video session…) holds an
//! `Arc<Gpu>`, so the device and instance are destroyed only after the last of them.

use std::ffi::{c_char, c_void, CStr};
use std::sync::Arc;

use ash::vk;

use super::av1_ffi;
use crate::backend::BackendKind;
use crate::error::{Error, Result};

/// A failed Vulkan call as the crate's error, naming the call.
pub(super) fn vk_error(call: &'static str) -> impl Fn(vk::Result) -> Error {
    move |e| Error::Encoder {
        backend: BackendKind::Vulkan,
        message: format!("{call} failed: {e:?}"),
    }
}

pub(super) fn unavailable(reason: impl Into<String>) -> Error {
    Error::Unavailable {
        backend: BackendKind::Vulkan,
        reason: reason.into(),
    }
}

pub(super) struct Gpu {
    /// Kept so libvulkan stays loaded while the instance lives.
    pub entry: ash::Entry,
    pub instance: ash::Instance,
    pub physical: vk::PhysicalDevice,
    pub name: String,
    pub device: ash::Device,
    pub compute_family: u32,
    pub compute_queue: vk::Queue,
    /// The video-encode queue family and queue; `None` on a compute-only device.
    pub encode: Option<(u32, vk::Queue)>,
    memory: vk::PhysicalDeviceMemoryProperties,
}

impl Gpu {
    /// The first Vulkan 1.3 device with a compute queue, with synchronization2 enabled: all
    /// the converter needs, so it is checked on devices without video (lavapipe).
    pub fn compute() -> Result<Arc<Self>> {
        Self::open(false)
    }

    /// The first Vulkan 1.3 device whose video-encode queue does AV1 and that has the video
    /// extensions, with them, synchronization2 and the `videoEncodeAV1` feature enabled.
    pub fn av1_encode() -> Result<Arc<Self>> {
        Self::open(true)
    }

    fn open(encode: bool) -> Result<Arc<Self>> {
        // SAFETY: loads libvulkan and resolves its entry points.
        let entry = unsafe { ash::Entry::load() }.map_err(|e| unavailable(format!("no Vulkan loader ({e})")))?;
        // SAFETY: a global command, valid once the entry is loaded.
        let version = unsafe { entry.try_enumerate_instance_version() }
            .map_err(vk_error("vkEnumerateInstanceVersion"))?
            .unwrap_or(vk::API_VERSION_1_0);
        if version < vk::API_VERSION_1_3 {
            return Err(unavailable("the Vulkan loader is older than Vulkan 1.3"));
        }
        let app = vk::ApplicationInfo::default()
            .application_name(c"MovieWriterAV1")
            .api_version(vk::API_VERSION_1_3);
        // SAFETY: a valid create info without layers or extensions.
        let instance =
            unsafe { entry.create_instance(&vk::InstanceCreateInfo::default().application_info(&app), None) }
                .map_err(vk_error("vkCreateInstance"))?;
        match Self::pick(&instance, encode) {
            Ok((physical, name, compute_family, encode_family)) => {
                Self::create_device(entry, instance, physical, name, compute_family, encode_family)
            }
            Err(e) => {
                // SAFETY: nothing was created from the instance.
                unsafe { instance.destroy_instance(None) };
                Err(e)
            }
        }
    }

    /// The physical device, its name, its compute queue family and (when `encode`) its AV1
    /// video-encode queue family.
    fn pick(instance: &ash::Instance, encode: bool) -> Result<(vk::PhysicalDevice, String, u32, Option<u32>)> {
        // SAFETY: the instance is valid.
        let devices =
            unsafe { instance.enumerate_physical_devices() }.map_err(vk_error("vkEnumeratePhysicalDevices"))?;
        let mut reasons = Vec::new();
        for pd in devices {
            // SAFETY: pd comes from this instance.
            let props = unsafe { instance.get_physical_device_properties(pd) };
            let name = props
                .device_name_as_c_str()
                .map_or_else(|_| "unnamed device".into(), |n| n.to_string_lossy().into_owned());
            if props.api_version < vk::API_VERSION_1_3 {
                reasons.push(format!(
                    "{name}: Vulkan {} < 1.3",
                    vk::api_version_minor(props.api_version)
                ));
                continue;
            }
            if let Some(missing) = missing_feature(instance, pd, encode) {
                reasons.push(format!("{name}: the driver lacks the {missing} feature"));
                continue;
            }
            let (compute, encode_family) = queue_families(instance, pd, encode);
            let Some(compute) = compute else {
                reasons.push(format!("{name}: no compute queue"));
                continue;
            };
            if encode {
                let Some(family) = encode_family else {
                    reasons.push(format!("{name}: no video-encode queue that does AV1"));
                    continue;
                };
                // SAFETY: as above.
                let extensions = unsafe { instance.enumerate_device_extension_properties(pd) }.unwrap_or_default();
                let missing: Vec<String> = encode_extensions()
                    .iter()
                    .filter(|want| !extensions.iter().any(|e| e.extension_name_as_c_str() == Ok(**want)))
                    .map(|e| e.to_string_lossy().into_owned())
                    .collect();
                if !missing.is_empty() {
                    reasons.push(format!("{name}: driver lacks {}", missing.join(", ")));
                    continue;
                }
                return Ok((pd, name, compute, Some(family)));
            }
            return Ok((pd, name, compute, None));
        }
        Err(unavailable(if reasons.is_empty() {
            "the Vulkan loader found no physical device".to_string()
        } else {
            reasons.join("; ")
        }))
    }

    fn create_device(
        entry: ash::Entry,
        instance: ash::Instance,
        physical: vk::PhysicalDevice,
        name: String,
        compute_family: u32,
        encode_family: Option<u32>,
    ) -> Result<Arc<Self>> {
        let priority = [1.0f32];
        let mut queues = vec![vk::DeviceQueueCreateInfo::default()
            .queue_family_index(compute_family)
            .queue_priorities(&priority)];
        if let Some(family) = encode_family.filter(|&f| f != compute_family) {
            queues.push(
                vk::DeviceQueueCreateInfo::default()
                    .queue_family_index(family)
                    .queue_priorities(&priority),
            );
        }
        let extensions: Vec<*const c_char> = if encode_family.is_some() {
            encode_extensions().iter().map(|e| e.as_ptr()).collect()
        } else {
            Vec::new()
        };
        let mut av1 = av1_ffi::Features {
            video_encode_av1: vk::TRUE,
            ..Default::default()
        };
        let mut vk13 = vk::PhysicalDeviceVulkan13Features::default().synchronization2(true);
        if encode_family.is_some() {
            vk13.p_next = (&raw mut av1).cast::<c_void>();
        }
        let info = vk::DeviceCreateInfo::default()
            .queue_create_infos(&queues)
            .enabled_extension_names(&extensions)
            .push_next(&mut vk13);
        // SAFETY: every pointer in `info` (queues, extension names, the feature chain) lives
        // until the call returns; the families were reported by this physical device.
        let device = match unsafe { instance.create_device(physical, &info, None) } {
            Ok(d) => d,
            Err(e) => {
                // SAFETY: nothing else was created from the instance.
                unsafe { instance.destroy_instance(None) };
                return Err(vk_error("vkCreateDevice")(e));
            }
        };
        // SAFETY: both families were created with one queue each.
        let compute_queue = unsafe { device.get_device_queue(compute_family, 0) };
        // SAFETY: as above, the encode family was created with one queue.
        let encode = encode_family.map(|f| (f, unsafe { device.get_device_queue(f, 0) }));
        // SAFETY: physical is valid.
        let memory = unsafe { instance.get_physical_device_memory_properties(physical) };
        Ok(Arc::new(Self {
            entry,
            instance,
            physical,
            name,
            device,
            compute_family,
            compute_queue,
            encode,
            memory,
        }))
    }

    /// A memory type allowed by `bits` with all of `wanted`, preferring one that also has
    /// `preferred`.
    pub fn memory_type(
        &self,
        bits: u32,
        wanted: vk::MemoryPropertyFlags,
        preferred: vk::MemoryPropertyFlags,
    ) -> Result<u32> {
        let types = &self.memory.memory_types[..self.memory.memory_type_count as usize];
        let fits =
            |i: usize, flags: vk::MemoryPropertyFlags| bits & (1 << i) != 0 && types[i].property_flags.contains(flags);
        (0..types.len())
            .find(|&i| fits(i, wanted | preferred))
            .or_else(|| (0..types.len()).find(|&i| fits(i, wanted)))
            .map(|i| i as u32)
            .ok_or_else(|| Error::Encoder {
                backend: BackendKind::Vulkan,
                message: format!("{}: no memory type with {wanted:?} for mask {bits:#x}", self.name),
            })
    }

    /// Allocates memory for `req` in a type with `wanted` properties.
    pub fn allocate(&self, req: vk::MemoryRequirements, wanted: vk::MemoryPropertyFlags) -> Result<vk::DeviceMemory> {
        let index = self.memory_type(req.memory_type_bits, wanted, vk::MemoryPropertyFlags::empty())?;
        let info = vk::MemoryAllocateInfo::default()
            .allocation_size(req.size)
            .memory_type_index(index);
        // SAFETY: a valid allocate info for this device.
        unsafe { self.device.allocate_memory(&info, None) }.map_err(vk_error("vkAllocateMemory"))
    }
}

impl Drop for Gpu {
    fn drop(&mut self) {
        // SAFETY: every object made on the device holds an Arc<Gpu> and is destroyed before
        // this runs; waiting for idle covers work a failed frame may have left queued.
        unsafe {
            let _ = self.device.device_wait_idle();
            self.device.destroy_device(None);
            self.instance.destroy_instance(None);
        }
    }
}

/// The first feature we enable that the device does not have: synchronization2, and
/// `videoEncodeAV1` when `encode` (only asked where VK_KHR_video_encode_av1 is present, as
/// chaining its struct requires).
fn missing_feature(instance: &ash::Instance, pd: vk::PhysicalDevice, encode: bool) -> Option<&'static str> {
    // SAFETY: pd is valid; the chained structs live across the call.
    unsafe {
        let has_av1 = encode
            && instance
                .enumerate_device_extension_properties(pd)
                .unwrap_or_default()
                .iter()
                .any(|e| e.extension_name_as_c_str() == Ok(av1_ffi::EXTENSION_NAME));
        let mut av1 = av1_ffi::Features::default();
        let mut vk13 = vk::PhysicalDeviceVulkan13Features::default();
        if has_av1 {
            vk13.p_next = (&raw mut av1).cast::<c_void>();
        }
        let mut features = vk::PhysicalDeviceFeatures2::default().push_next(&mut vk13);
        instance.get_physical_device_features2(pd, &mut features);
        if vk13.synchronization2 != vk::TRUE {
            Some("synchronization2")
        } else if has_av1 && av1.video_encode_av1 != vk::TRUE {
            Some("videoEncodeAV1")
        } else {
            None
        }
    }
}

/// Device extensions the encoder needs (synchronization2 is core in 1.3).
fn encode_extensions() -> [&'static CStr; 3] {
    [
        ash::khr::video_queue::NAME,
        ash::khr::video_encode_queue::NAME,
        av1_ffi::EXTENSION_NAME,
    ]
}

/// The first compute-capable queue family and, when `encode`, the first video-encode family
/// whose codec operations include AV1 encode.
fn queue_families(instance: &ash::Instance, pd: vk::PhysicalDevice, encode: bool) -> (Option<u32>, Option<u32>) {
    // SAFETY: pd is valid; the output structs are sized by the first call.
    unsafe {
        // Chaining the video properties is only valid with VK_KHR_video_queue present; without
        // it the device has no video queue at all.
        let video_queue = encode
            && instance
                .enumerate_device_extension_properties(pd)
                .unwrap_or_default()
                .iter()
                .any(|e| e.extension_name_as_c_str() == Ok(ash::khr::video_queue::NAME));
        let count = instance.get_physical_device_queue_family_properties2_len(pd);
        let mut video = vec![vk::QueueFamilyVideoPropertiesKHR::default(); count];
        let mut families: Vec<vk::QueueFamilyProperties2> = if video_queue {
            video
                .iter_mut()
                .map(|v| vk::QueueFamilyProperties2::default().push_next(v))
                .collect()
        } else {
            vec![vk::QueueFamilyProperties2::default(); count]
        };
        instance.get_physical_device_queue_family_properties2(pd, &mut families);
        let flags: Vec<vk::QueueFlags> = families.iter().map(|f| f.queue_family_properties.queue_flags).collect();
        drop(families);
        let compute = flags.iter().position(|f| f.contains(vk::QueueFlags::COMPUTE));
        let encode_family = flags.iter().zip(&video).position(|(f, v)| {
            video_queue
                && f.contains(vk::QueueFlags::VIDEO_ENCODE_KHR)
                && v.video_codec_operations
                    .contains(av1_ffi::VIDEO_CODEC_OPERATION_ENCODE_AV1)
        });
        (compute.map(|i| i as u32), encode_family.map(|i| i as u32))
    }
}

/// A buffer with its own memory; host-visible ones stay mapped for their whole life.
pub(super) struct Buffer {
    gpu: Arc<Gpu>,
    pub buffer: vk::Buffer,
    memory: vk::DeviceMemory,
    pub size: u64,
    mapped: *mut u8,
}

// SAFETY: the mapped pointer is only dereferenced through `&self`/`&mut self` methods, and the
// memory it points to belongs to this buffer alone; moving it to another thread is fine.
unsafe impl Send for Buffer {}

impl Buffer {
    /// A host-visible, mapped buffer (coherent where the device has such memory; cached
    /// preferred so reading it back is fast). `p_next` chains e.g. a video profile list.
    pub fn host(gpu: &Arc<Gpu>, size: u64, usage: vk::BufferUsageFlags, p_next: *const c_void) -> Result<Self> {
        let mut info = vk::BufferCreateInfo::default()
            .size(size)
            .usage(usage)
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        info.p_next = p_next;
        let d = &gpu.device;
        // SAFETY: a valid create info; p_next is a valid chain owned by the caller.
        let buffer = unsafe { d.create_buffer(&info, None) }.map_err(vk_error("vkCreateBuffer"))?;
        let mut out = Self {
            gpu: gpu.clone(),
            buffer,
            memory: vk::DeviceMemory::null(),
            size,
            mapped: std::ptr::null_mut(),
        };
        // SAFETY: the buffer is valid.
        let req = unsafe { d.get_buffer_memory_requirements(buffer) };
        let index = gpu.memory_type(
            req.memory_type_bits,
            vk::MemoryPropertyFlags::HOST_VISIBLE | vk::MemoryPropertyFlags::HOST_COHERENT,
            vk::MemoryPropertyFlags::HOST_CACHED,
        )?;
        let alloc = vk::MemoryAllocateInfo::default()
            .allocation_size(req.size)
            .memory_type_index(index);
        // SAFETY: valid allocate info; the memory is bound once and mapped whole (it is
        // host-visible by the choice of type). Drop frees it.
        unsafe {
            out.memory = d.allocate_memory(&alloc, None).map_err(vk_error("vkAllocateMemory"))?;
            d.bind_buffer_memory(buffer, out.memory, 0)
                .map_err(vk_error("vkBindBufferMemory"))?;
            out.mapped = d
                .map_memory(out.memory, 0, vk::WHOLE_SIZE, vk::MemoryMapFlags::empty())
                .map_err(vk_error("vkMapMemory"))?
                .cast();
        }
        Ok(out)
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping covers `size` bytes and lives as long as self; the GPU is not
        // writing it (callers read only after waiting on the fence of the work that wrote it,
        // and the memory is coherent).
        unsafe { std::slice::from_raw_parts(self.mapped, self.size as usize) }
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, and `&mut self` makes this the only view.
        unsafe { std::slice::from_raw_parts_mut(self.mapped, self.size as usize) }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: the owner waits for the GPU work using this buffer before dropping it;
        // freeing mapped memory unmaps it.
        unsafe {
            self.gpu.device.destroy_buffer(self.buffer, None);
            self.gpu.device.free_memory(self.memory, None);
        }
    }
}

/// One primary command buffer with its pool and a fence, for work submitted and waited on
/// one piece at a time.
pub(super) struct Commands {
    gpu: Arc<Gpu>,
    pool: vk::CommandPool,
    pub cmd: vk::CommandBuffer,
    fence: vk::Fence,
}

impl Commands {
    pub fn new(gpu: &Arc<Gpu>, family: u32) -> Result<Self> {
        let d = &gpu.device;
        let info = vk::CommandPoolCreateInfo::default()
            .queue_family_index(family)
            .flags(vk::CommandPoolCreateFlags::RESET_COMMAND_BUFFER);
        // SAFETY: valid create infos; each object is stored before the next can fail, so
        // Drop destroys whatever was made.
        let mut out = Self {
            gpu: gpu.clone(),
            // SAFETY: as above.
            pool: unsafe { d.create_command_pool(&info, None) }.map_err(vk_error("vkCreateCommandPool"))?,
            cmd: vk::CommandBuffer::null(),
            fence: vk::Fence::null(),
        };
        let alloc = vk::CommandBufferAllocateInfo::default()
            .command_pool(out.pool)
            .level(vk::CommandBufferLevel::PRIMARY)
            .command_buffer_count(1);
        // SAFETY: as above.
        unsafe {
            out.cmd = d
                .allocate_command_buffers(&alloc)
                .map_err(vk_error("vkAllocateCommandBuffers"))?[0];
            out.fence = d
                .create_fence(&vk::FenceCreateInfo::default(), None)
                .map_err(vk_error("vkCreateFence"))?;
        }
        Ok(out)
    }

    /// Resets the command buffer and begins recording (one-time submit).
    pub fn begin(&self) -> Result<()> {
        let d = &self.gpu.device;
        // SAFETY: the buffer is not pending (every submit is waited on before the next begin).
        unsafe {
            d.reset_command_buffer(self.cmd, vk::CommandBufferResetFlags::empty())
                .map_err(vk_error("vkResetCommandBuffer"))?;
            d.begin_command_buffer(
                self.cmd,
                &vk::CommandBufferBeginInfo::default().flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT),
            )
            .map_err(vk_error("vkBeginCommandBuffer"))
        }
    }

    /// Ends recording, submits to `queue` (waiting on / signalling the given semaphores) and,
    /// when `wait`, blocks until the GPU is done.
    pub fn submit(
        &self,
        queue: vk::Queue,
        wait: &[vk::SemaphoreSubmitInfo<'_>],
        signal: &[vk::SemaphoreSubmitInfo<'_>],
        block: bool,
    ) -> Result<()> {
        let d = &self.gpu.device;
        let cmds = [vk::CommandBufferSubmitInfo::default().command_buffer(self.cmd)];
        let submit = vk::SubmitInfo2::default()
            .wait_semaphore_infos(wait)
            .command_buffer_infos(&cmds)
            .signal_semaphore_infos(signal);
        // SAFETY: the command buffer is recording (begun by `begin`), the queue belongs to the
        // pool's family, the fence is unsignalled (reset after each wait).
        unsafe {
            d.end_command_buffer(self.cmd).map_err(vk_error("vkEndCommandBuffer"))?;
            d.queue_submit2(queue, &[submit], self.fence)
                .map_err(vk_error("vkQueueSubmit2"))?;
        }
        if block {
            self.wait()?;
        }
        Ok(())
    }

    /// Waits for the last submission and resets the fence.
    pub fn wait(&self) -> Result<()> {
        let d = &self.gpu.device;
        // SAFETY: the fence belongs to this device and was submitted with work.
        unsafe {
            d.wait_for_fences(&[self.fence], true, u64::MAX)
                .map_err(vk_error("vkWaitForFences"))?;
            d.reset_fences(&[self.fence]).map_err(vk_error("vkResetFences"))
        }
    }
}

impl Drop for Commands {
    fn drop(&mut self) {
        let d = &self.gpu.device;
        // SAFETY: the owner has waited for the last submission (every submit is waited on);
        // destroying the pool frees its command buffer.
        unsafe {
            d.destroy_fence(self.fence, None);
            d.destroy_command_pool(self.pool, None);
        }
    }
}
