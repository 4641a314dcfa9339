//! Image input (borrowed pixel buffers), decoded images and the face record.

use std::ffi::c_char;

use facecore::{ColorRange, Face, Image, ImageView, PixelFormat, Plane, Point, Rect};

use crate::boundary::{
    Fail, arg_ref, boundary, facecore_status, handle, handle_free, handle_ref, out_arg, path_arg, slice, slice_mut, write,
};

/// Layout of the pixels in a `facecore_image` or `facecore_image_planes` (their `format` field
/// takes these values, OR'ed with `FACECORE_COLOR_RANGE_FULL` for full-range YUV). Values are
/// stable: new ones are appended.
///
/// The YUV formats use the BT.601 matrix. Chroma is subsampled rounding up: `ceil(width / 2)`
/// samples per row, and `ceil(height / 2)` rows for the 4:2:0 formats.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum facecore_pixel_format {
    /// 3 bytes: red, green, blue.
    Rgb = 0,
    /// 3 bytes: blue, green, red (OpenCV's order).
    Bgr = 1,
    /// 4 bytes: red, green, blue, alpha (alpha ignored).
    Rgba = 2,
    /// 4 bytes: blue, green, red, alpha (alpha ignored).
    Bgra = 3,
    /// 1 byte of luminance.
    Gray = 4,
    /// YUV 4:2:0, two planes: Y, then U and V interleaved (`U V U V`).
    Nv12 = 5,
    /// YUV 4:2:0, two planes: Y, then V and U interleaved (`V U V U`; Android camera previews).
    Nv21 = 6,
    /// YUV 4:2:0, three planes: Y, U, V (YU12, `yuv420p`).
    I420 = 7,
    /// YUV 4:2:2 packed, one plane: `Y0 U Y1 V` per pair of pixels (YUY2; UVC webcams).
    Yuyv = 8,
}

/// YUV "video" range (Y 16..235, U and V 16..240), the default: no bit set in `format`.
pub const FACECORE_COLOR_RANGE_LIMITED: u32 = 0;
/// YUV full ("JPEG") range (Y, U, V 0..255): OR this into `format` of a YUV frame, e.g.
/// `FACECORE_PIXEL_FORMAT_NV21 | FACECORE_COLOR_RANGE_FULL`. Refused with RGB and grey formats.
pub const FACECORE_COLOR_RANGE_FULL: u32 = 0x100;

/// A borrowed pixel buffer: `height` rows of `stride` bytes, each starting with `width`
/// pixels of `format` (a `facecore_pixel_format` value). The last row needs only
/// `width * bytes_per_pixel` bytes. facecore copies the pixels during the call and keeps no
/// pointer to them.
///
/// YUV frames are one buffer too, planes back to back (V4L2 single-planar, ffmpeg raw
/// video): `stride` is the Y plane's; the NV12/NV21 chroma plane starts at
/// `stride * height` with stride `stride` rounded up to even; I420's U plane starts there with
/// stride `ceil(stride / 2)` and `ceil(height / 2)` rows, and V follows U. YUYV rows hold
/// `4 * ceil(width / 2)` bytes. Frames whose planes are apart or have their own strides go
/// through `facecore_image_planes`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct facecore_image {
    /// First byte of the first row.
    pub data: *const u8,
    /// Readable bytes at `data`; checked against `stride * (height - 1) + width * bpp` (plus
    /// the chroma planes of NV12, NV21 and I420).
    pub len: usize,
    /// Width in pixels (1..16384).
    pub width: u32,
    /// Height in pixels (1..16384; at most 64 megapixels in all).
    pub height: u32,
    /// Bytes from the start of one row to the next (at least `width * bpp`).
    pub stride: usize,
    /// A `facecore_pixel_format` value, OR'ed with `FACECORE_COLOR_RANGE_FULL` for a
    /// full-range YUV frame.
    pub format: u32,
}

/// One plane of a `facecore_image_planes`: rows `stride` bytes apart; the last row needs only
/// its own bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct facecore_plane {
    /// First byte of the plane's first row.
    pub data: *const u8,
    /// Readable bytes at `data`; checked against `stride * (rows - 1) + row bytes`.
    pub len: usize,
    /// Bytes from the start of one row to the next (at least the row's bytes).
    pub stride: usize,
}

/// A borrowed frame whose planes are separate buffers with their own strides (Android
/// `AImage`, ffmpeg `AVFrame`, V4L2 multi-planar buffers). `planes[0]` is Y (or the only
/// plane of YUYV, RGB and grey formats); `planes[1]` is the interleaved chroma of NV12/NV21
/// (`2 * ceil(width / 2)` bytes by `ceil(height / 2)` rows) or the U plane of I420, and
/// `planes[2]` its V plane (`ceil(width / 2)` by `ceil(height / 2)` each). Planes the format
/// does not use must have `data` NULL. Convert with `facecore_image_planes_to_rgb`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct facecore_image_planes {
    /// Width in pixels (1..16384).
    pub width: u32,
    /// Height in pixels (1..16384; at most 64 megapixels in all).
    pub height: u32,
    /// A `facecore_pixel_format` value, OR'ed with `FACECORE_COLOR_RANGE_FULL` for a
    /// full-range YUV frame.
    pub format: u32,
    /// The planes, in the order above.
    pub planes: [facecore_plane; 3],
}

/// A detected face in image pixels.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct facecore_face {
    /// Left edge of the box.
    pub x: f32,
    /// Top edge of the box.
    pub y: f32,
    /// Box width.
    pub width: f32,
    /// Box height.
    pub height: f32,
    /// Detector confidence in 0..1.
    pub score: f32,
    /// Five landmarks as x, y pairs, left to right in the image: the subject's right eye, left
    /// eye, nose tip, right mouth corner, left mouth corner.
    pub landmarks: [f32; 10],
}

impl From<&Face> for facecore_face {
    fn from(f: &Face) -> Self {
        let mut landmarks = [0f32; 10];
        for (i, p) in f.landmarks.iter().enumerate() {
            landmarks[2 * i] = p.x;
            landmarks[2 * i + 1] = p.y;
        }
        facecore_face { x: f.bbox.x, y: f.bbox.y, width: f.bbox.width, height: f.bbox.height, score: f.score, landmarks }
    }
}

/// Converts a face from C, rejecting non-finite numbers.
pub(crate) fn face_from_c(f: &facecore_face) -> Result<Face, Fail> {
    let all = [f.x, f.y, f.width, f.height, f.score].into_iter().chain(f.landmarks);
    if all.into_iter().any(|v| !v.is_finite()) {
        return Err(Fail::invalid("face has a non-finite coordinate"));
    }
    let mut landmarks = [Point::default(); 5];
    for (i, p) in landmarks.iter_mut().enumerate() {
        *p = Point { x: f.landmarks[2 * i], y: f.landmarks[2 * i + 1] };
    }
    Ok(Face { bbox: Rect { x: f.x, y: f.y, width: f.width, height: f.height }, score: f.score, landmarks })
}

/// Splits a `format` field into the pixel format and the color range.
fn pixel_format(v: u32) -> Result<(PixelFormat, ColorRange), Fail> {
    let range = if v & FACECORE_COLOR_RANGE_FULL != 0 { ColorRange::Full } else { ColorRange::Limited };
    let format = match v & !FACECORE_COLOR_RANGE_FULL {
        0 => PixelFormat::Rgb8,
        1 => PixelFormat::Bgr8,
        2 => PixelFormat::Rgba8,
        3 => PixelFormat::Bgra8,
        4 => PixelFormat::Gray8,
        5 => PixelFormat::Nv12,
        6 => PixelFormat::Nv21,
        7 => PixelFormat::I420,
        8 => PixelFormat::Yuyv,
        _ => return Err(Fail::invalid(format!("unknown pixel format {v} (0x{v:x})"))),
    };
    if range == ColorRange::Full && !format.is_yuv() {
        return Err(Fail::invalid(format!("FACECORE_COLOR_RANGE_FULL applies to YUV formats only, not {format:?} (format {v})")));
    }
    Ok((format, range))
}

/// Validates and copies a C image into an owned RGB image.
///
/// # Safety
/// `p` is NULL or a valid `facecore_image` whose `data` is readable for `len` bytes.
pub(crate) unsafe fn image_arg(p: *const facecore_image, arg: &str) -> Result<Image, Fail> {
    // SAFETY: forwarded caller contract.
    let img = unsafe { arg_ref(p, arg) }?;
    let (format, range) = pixel_format(img.format)?;
    if img.data.is_null() {
        return Err(Fail::null(&format!("{arg}->data")));
    }
    // SAFETY: forwarded caller contract (`data` readable for `len` bytes).
    let data = unsafe { slice(img.data, img.len, arg) }?;
    let view = ImageView::new(data, img.width, img.height, img.stride, format)?.with_color_range(range);
    Ok(Image::from_view(view))
}

/// @brief Converts a frame given as separate planes to packed RGB in the caller's buffer, and
/// describes the result as a `facecore_image` to pass to any call that takes one.
///
/// `rgb` receives `width * height * 3` bytes, rows without padding (reuse one buffer for
/// every frame). On success `*out` is `{rgb, width * height * 3, width, height, width * 3,
/// FACECORE_PIXEL_FORMAT_RGB}`. Errors: `INVALID_ARGUMENT` for a bad format, geometry, stride
/// or a plane shorter than its rows (truncated), or a non-NULL plane the format does not use;
/// `NULL_ARGUMENT` for a NULL plane it uses; `LIMIT_EXCEEDED` beyond the image limits;
/// `BUFFER_TOO_SMALL` when `rgb_len` is less than `width * height * 3`.
///
/// # Safety
/// `frame` is NULL or valid, each used plane's `data` readable for its `len` bytes; `rgb` is
/// writable for `rgb_len` bytes and does not overlap the planes; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_image_planes_to_rgb(
    frame: *const facecore_image_planes,
    rgb: *mut u8,
    rgb_len: usize,
    out: *mut facecore_image,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let f = unsafe { arg_ref(frame, "frame") }?;
        let out = out_arg(out, "out")?;
        if rgb.is_null() {
            return Err(Fail::null("rgb"));
        }
        let (format, range) = pixel_format(f.format)?;
        let mut planes = [Plane::default(); 3];
        for (i, p) in f.planes.iter().enumerate() {
            if i >= format.planes() {
                if !p.data.is_null() {
                    return Err(Fail::invalid(format!("frame->planes[{i}] is set, but {format:?} has {} plane(s)", format.planes())));
                }
                continue;
            }
            let name = format!("frame->planes[{i}].data");
            if p.data.is_null() {
                return Err(Fail::null(&name));
            }
            // SAFETY: forwarded caller contract (`data` readable for `len` bytes).
            planes[i] = Plane::new(unsafe { slice(p.data, p.len, &name) }?, p.stride);
        }
        let view = ImageView::from_planes(&planes[..format.planes()], f.width, f.height, format)?.with_color_range(range);
        let needed = f.width as usize * f.height as usize * 3;
        if rgb_len < needed {
            return Err(Fail::too_small(format!("rgb holds {rgb_len} bytes; {}x{} RGB needs {needed}", f.width, f.height)));
        }
        // SAFETY: forwarded caller contract (`rgb` writable for `rgb_len` bytes, no overlap).
        let dst = unsafe { slice_mut(rgb, rgb_len, "rgb") }?;
        view.write_rgb(dst)?;
        let v = facecore_image {
            data: rgb,
            len: needed,
            width: f.width,
            height: f.height,
            stride: f.width as usize * 3,
            format: facecore_pixel_format::Rgb as u32,
        };
        // SAFETY: `out` checked non-NULL; valid per the caller's contract.
        unsafe { write(out, v) };
        Ok(())
    })
}

/// An image decoded by facecore (JPEG or PNG, EXIF orientation applied), held as RGB.
/// Immutable once created: thread-safe, may be shared across threads.
pub struct facecore_decoded_image {
    tag: u64,
    pub(crate) image: Image,
}
handle!(facecore_decoded_image, 0x4643_494D_4147_4530, { image: Image });

/// @brief Decodes a JPEG or PNG file.
///
/// On success `*out` receives a new handle; the caller owns it and frees it with
/// `facecore_decoded_image_free`.
///
/// # Safety
/// `path` is a NUL-terminated string; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_decoded_image_new_from_file(
    path: *const c_char,
    out: *mut *mut facecore_decoded_image,
) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let path = unsafe { path_arg(path, "path") }?;
        let out = out_arg(out, "out")?;
        let image = Image::open(&path)?;
        // SAFETY: `out` checked non-NULL; valid per the caller's contract.
        unsafe { write(out, facecore_decoded_image::boxed(image)) };
        Ok(())
    })
}

/// @brief Decodes a JPEG or PNG image held in memory (the bytes are not kept).
///
/// On success `*out` receives a new handle; free it with `facecore_decoded_image_free`.
///
/// # Safety
/// `data` is readable for `len` bytes; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_decoded_image_new_from_memory(
    data: *const u8,
    len: usize,
    out: *mut *mut facecore_decoded_image,
) -> facecore_status {
    boundary(|| {
        if data.is_null() {
            return Err(Fail::null("data"));
        }
        // SAFETY: forwarded caller contract.
        let bytes = unsafe { slice(data, len, "data") }?;
        let out = out_arg(out, "out")?;
        let image = Image::decode(bytes)?;
        // SAFETY: `out` checked non-NULL; valid per the caller's contract.
        unsafe { write(out, facecore_decoded_image::boxed(image)) };
        Ok(())
    })
}

/// @brief Describes a decoded image's pixels (RGB, packed rows) as a `facecore_image`.
///
/// The pixels stay owned by the handle: `out->data` is valid until the handle is freed.
///
/// # Safety
/// `image` is a live handle; `out` is valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_decoded_image_view(image: *const facecore_decoded_image, out: *mut facecore_image) -> facecore_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let h = unsafe { handle_ref(image, "image") }?;
        let out = out_arg(out, "out")?;
        let rgb = h.image.as_rgb();
        let v = facecore_image {
            data: rgb.as_raw().as_ptr(),
            len: rgb.as_raw().len(),
            width: rgb.width(),
            height: rgb.height(),
            stride: rgb.width() as usize * 3,
            format: facecore_pixel_format::Rgb as u32,
        };
        // SAFETY: `out` checked non-NULL; valid per the caller's contract.
        unsafe { write(out, v) };
        Ok(())
    })
}

/// @brief Frees a decoded image. NULL is a no-op.
///
/// # Safety
/// `image` is NULL or a live handle, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn facecore_decoded_image_free(image: *mut facecore_decoded_image) {
    // SAFETY: forwarded caller contract.
    unsafe { handle_free(image) }
}
