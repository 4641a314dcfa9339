//! Image input (borrowed pixel buffers), decoded images and the face record.

use std::ffi::c_char;

use facecore::{Face, Image, ImageView, PixelFormat, Point, Rect};

use crate::boundary::{Fail, arg_ref, boundary, facecore_status, handle, handle_free, handle_ref, out_arg, path_arg, slice, write};

/// Layout of one pixel in a `facecore_image` (the `format` field takes these values).
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
}

/// A borrowed pixel buffer: `height` rows of `stride` bytes, each starting with `width`
/// pixels of `format` (a `facecore_pixel_format` value). The last row needs only
/// `width * bytes_per_pixel` bytes. facecore copies the pixels during the call and keeps no
/// pointer to them.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct facecore_image {
    /// First byte of the first row.
    pub data: *const u8,
    /// Readable bytes at `data`; checked against `stride * (height - 1) + width * bpp`.
    pub len: usize,
    /// Width in pixels (1..16384).
    pub width: u32,
    /// Height in pixels (1..16384; at most 64 megapixels in all).
    pub height: u32,
    /// Bytes from the start of one row to the next (at least `width * bpp`).
    pub stride: usize,
    /// A `facecore_pixel_format` value.
    pub format: u32,
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

fn pixel_format(v: u32) -> Result<PixelFormat, Fail> {
    Ok(match v {
        0 => PixelFormat::Rgb8,
        1 => PixelFormat::Bgr8,
        2 => PixelFormat::Rgba8,
        3 => PixelFormat::Bgra8,
        4 => PixelFormat::Gray8,
        v => return Err(Fail::invalid(format!("unknown pixel format {v}"))),
    })
}

/// Validates and copies a C image into an owned RGB image.
///
/// # Safety
/// `p` is NULL or a valid `facecore_image` whose `data` is readable for `len` bytes.
pub(crate) unsafe fn image_arg(p: *const facecore_image, arg: &str) -> Result<Image, Fail> {
    // SAFETY: forwarded caller contract.
    let img = unsafe { arg_ref(p, arg) }?;
    let format = pixel_format(img.format)?;
    if img.data.is_null() {
        return Err(Fail::null(&format!("{arg}->data")));
    }
    // SAFETY: forwarded caller contract (`data` readable for `len` bytes).
    let data = unsafe { slice(img.data, img.len, arg) }?;
    let view = ImageView::new(data, img.width, img.height, img.stride, format)?;
    Ok(Image::from_view(view))
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
