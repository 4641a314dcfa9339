//! Image input: borrowed pixel buffers from cameras and encoded files, both validated.
//!
//! Everything downstream works on an owned RGB [`Image`]; a camera frame is converted once
//! (a copy of a VGA frame costs well under a millisecond, next to tens for inference).

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

use crate::error::{Error, Result};

/// Default largest width or height, in pixels ([`crate::limits::Limits::image_side`]).
pub const MAX_SIDE: u32 = 16_384;
/// Default largest pixel count, 64 megapixels ([`crate::limits::Limits::image_pixels`]).
pub const MAX_PIXELS: u64 = 64 * 1024 * 1024;
/// Default largest image file or buffer (512 MiB: a 64-megapixel RGBA PNG stored without
/// compression fits; [`crate::limits::Limits::image_file_bytes`]). Larger files, and endless
/// ones such as `/dev/zero`, are refused without being read whole.
pub const MAX_FILE_BYTES: u64 = 512 << 20;

/// Layout of one pixel in a borrowed buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PixelFormat {
    /// 3 bytes: red, green, blue.
    Rgb8,
    /// 3 bytes: blue, green, red (OpenCV's order).
    Bgr8,
    /// 4 bytes: red, green, blue, alpha (alpha ignored).
    Rgba8,
    /// 4 bytes: blue, green, red, alpha (alpha ignored).
    Bgra8,
    /// 1 byte of luminance.
    Gray8,
}

impl PixelFormat {
    /// Bytes per pixel.
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::Rgb8 | PixelFormat::Bgr8 => 3,
            PixelFormat::Rgba8 | PixelFormat::Bgra8 => 4,
            PixelFormat::Gray8 => 1,
        }
    }
}

/// A borrowed, validated pixel buffer: `height` rows of `stride` bytes, each row starting
/// with `width` pixels of `format`. The last row needs only `width * bpp` bytes.
#[derive(Debug, Clone, Copy)]
pub struct ImageView<'a> {
    data: &'a [u8],
    width: u32,
    height: u32,
    stride: usize,
    format: PixelFormat,
}

fn check_size(width: u32, height: u32) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::input("image", format!("empty image ({width}x{height})")));
    }
    let l = crate::limits::get();
    if width.max(height) > l.image_side {
        return Err(Error::limit("image side", u64::from(l.image_side), u64::from(width.max(height)), "px"));
    }
    if u64::from(width) * u64::from(height) > l.image_pixels {
        return Err(Error::limit("image area", l.image_pixels, u64::from(width) * u64::from(height), "pixels"));
    }
    Ok(())
}

impl<'a> ImageView<'a> {
    /// Wraps a pixel buffer after checking that the geometry fits inside it.
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] when the image is larger than [`crate::limits`] allow;
    /// [`Error::InvalidInput`] when it is empty, when `stride` is
    /// shorter than a row, or when the buffer is shorter than `stride * (height - 1) + row`.
    ///
    /// # Examples
    /// ```
    /// use facecore::{ImageView, PixelFormat};
    /// let pixels = vec![0u8; 4 * 2 * 3];
    /// let view = ImageView::new(&pixels, 4, 2, 12, PixelFormat::Rgb8)?;
    /// assert_eq!(view.width(), 4);
    /// assert!(ImageView::new(&pixels, 4, 3, 12, PixelFormat::Rgb8).is_err());
    /// # Ok::<(), facecore::Error>(())
    /// ```
    pub fn new(data: &'a [u8], width: u32, height: u32, stride: usize, format: PixelFormat) -> Result<Self> {
        check_size(width, height)?;
        let row = width as usize * format.bytes_per_pixel();
        if stride < row {
            return Err(Error::input("image", format!("stride {stride} is shorter than a row of {row} bytes")));
        }
        let needed = stride
            .checked_mul(height as usize - 1)
            .and_then(|n| n.checked_add(row))
            .ok_or_else(|| Error::input("image", "stride * height overflows"))?;
        if data.len() < needed {
            return Err(Error::input(
                "image",
                format!("buffer of {} bytes is too small for {width}x{height} with stride {stride} ({needed} needed)", data.len()),
            ));
        }
        Ok(ImageView { data, width, height, stride, format })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }
    /// Pixel layout.
    pub fn format(&self) -> PixelFormat {
        self.format
    }
}

/// An owned RGB image, the input of every facecore stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    rgb: RgbImage,
}

fn decode_err(path: Option<&Path>, e: image::ImageError) -> Error {
    match e {
        // The decoder's allocation cap (derived from the pixel limit) was hit: the actual need
        // is unknown, so the lower bound `limit + 1` is reported.
        image::ImageError::Limits(e) => {
            let l = crate::limits::get();
            if matches!(e.kind(), image::error::LimitErrorKind::DimensionError) {
                Error::limit("image side", u64::from(l.image_side), u64::from(l.image_side) + 1, "px")
            } else {
                let cap = l.image_pixels * 4 + (64 << 20);
                Error::limit("image decoder memory", cap, cap + 1, "bytes")
            }
        }
        e => Error::ImageDecode { path: path.map(Path::to_path_buf), source: e.into() },
    }
}

impl Image {
    /// Copies a borrowed buffer into an RGB image (channel order converted, alpha dropped,
    /// grey replicated).
    pub fn from_view(view: ImageView<'_>) -> Image {
        let (w, h) = (view.width as usize, view.height as usize);
        let bpp = view.format.bytes_per_pixel();
        let mut out = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            let row = &view.data[y * view.stride..y * view.stride + w * bpp];
            match view.format {
                PixelFormat::Rgb8 => out.extend_from_slice(row),
                PixelFormat::Bgr8 => row.chunks_exact(3).for_each(|p| out.extend_from_slice(&[p[2], p[1], p[0]])),
                PixelFormat::Rgba8 => row.chunks_exact(4).for_each(|p| out.extend_from_slice(&p[..3])),
                PixelFormat::Bgra8 => row.chunks_exact(4).for_each(|p| out.extend_from_slice(&[p[2], p[1], p[0]])),
                PixelFormat::Gray8 => row.iter().for_each(|&g| out.extend_from_slice(&[g, g, g])),
            }
        }
        // The length is exactly w*h*3 by construction, so this cannot fail.
        let rgb = RgbImage::from_raw(view.width, view.height, out).unwrap_or_default();
        Image { rgb }
    }

    /// Wraps an RGB image from the `image` crate.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when it is empty, [`Error::LimitExceeded`] when it is larger
    /// than [`crate::limits`] allow.
    pub fn from_rgb(rgb: RgbImage) -> Result<Image> {
        check_size(rgb.width(), rgb.height())?;
        Ok(Image { rgb })
    }

    /// Decodes an encoded image (JPEG, PNG) held in memory, honouring EXIF orientation.
    ///
    /// # Errors
    /// [`Error::ImageDecode`] for corrupt or unsupported data, [`Error::InvalidInput`] for an
    /// empty buffer, [`Error::LimitExceeded`] for a buffer or an image beyond [`crate::limits`]
    /// (checked before pixels are allocated).
    pub fn decode(bytes: &[u8]) -> Result<Image> {
        Self::decode_inner(bytes, None)
    }

    /// Reads and decodes an image file, honouring EXIF orientation.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, otherwise as [`Image::decode`].
    pub fn open(path: impl AsRef<Path>) -> Result<Image> {
        let path = path.as_ref();
        let bytes = crate::limits::read_file("image file", path, crate::limits::get().image_file_bytes)?;
        Self::decode_inner(&bytes, Some(path))
    }

    fn decode_inner(bytes: &[u8], path: Option<&Path>) -> Result<Image> {
        if bytes.is_empty() {
            return Err(Error::input("image", "empty buffer"));
        }
        let l = crate::limits::get();
        crate::limits::check_len("image buffer", bytes.len(), l.image_file_bytes)?;
        let mut reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| Error::ImageDecode { path: path.map(Path::to_path_buf), source: e.into() })?;
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(l.image_side);
        limits.max_image_height = Some(l.image_side);
        limits.max_alloc = Some(l.image_pixels * 4 + (64 << 20));
        reader.limits(limits.clone());
        if reader.format() == Some(image::ImageFormat::Jpeg) {
            // The JPEG decoder fills a truncated scan with grey; refuse instead of
            // silently recognising half a picture. What follows the end-of-image marker (the
            // video of a phone's "motion photo", padding) is not decoded at all.
            let Some(end) = jpeg_end(bytes) else {
                return Err(Error::ImageDecode {
                    path: path.map(Path::to_path_buf),
                    source: "truncated JPEG (no end-of-image marker after the last scan)".into(),
                });
            };
            reader = ImageReader::with_format(Cursor::new(&bytes[..end]), image::ImageFormat::Jpeg);
            reader.limits(limits.clone());
        }
        let mut decoder = reader.into_decoder().map_err(|e| decode_err(path, e))?;
        let (w, h) = decoder.dimensions();
        check_size(w, h)?;
        let orientation = decoder.orientation().map_err(|e| decode_err(path, e))?;
        let mut img = DynamicImage::from_decoder(decoder).map_err(|e| decode_err(path, e))?;
        img.apply_orientation(orientation);
        Image::from_rgb(img.into_rgb8())
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.rgb.width()
    }
    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.rgb.height()
    }
    /// The pixels, RGB, rows packed.
    pub fn as_rgb(&self) -> &RgbImage {
        &self.rgb
    }
    /// A borrowed view of the pixels.
    pub fn view(&self) -> ImageView<'_> {
        ImageView {
            data: self.rgb.as_raw(),
            width: self.rgb.width(),
            height: self.rgb.height(),
            stride: self.rgb.width() as usize * 3,
            format: PixelFormat::Rgb8,
        }
    }
    /// The same image mirrored left to right.
    pub fn mirrored(&self) -> Image {
        Image { rgb: image::imageops::flip_horizontal(&self.rgb) }
    }
    /// Saves as PNG or JPEG (by extension).
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::ImageDecode`] (encoding side) on failure.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.rgb.save(path).map_err(|e| match e {
            image::ImageError::IoError(io) => Error::io(path, io),
            e => Error::ImageDecode { path: Some(path.to_path_buf()), source: e.into() },
        })
    }
}

/// Where a JPEG ends: the offset just past its end-of-image marker (FF D9), or `None` when
/// the data runs out first (a truncated file). Found by walking the file's structure as a
/// decoder does: marker segments are skipped by their length (so the markers of an EXIF
/// thumbnail inside APP1 do not count), and the entropy-coded data after each start-of-scan
/// runs to the next marker other than a stuffed zero (FF 00) or a restart (FF D0-D7). Bytes
/// that are not a marker where one is due are skipped, as libjpeg does. Anything after the
/// end-of-image marker, however it looks, is not part of the image.
fn jpeg_end(b: &[u8]) -> Option<usize> {
    // Offset of the next 0xFF at or after `i`.
    let next_ff = |i: usize| b.get(i..)?.iter().position(|&x| x == 0xFF).map(|k| i + k);
    let mut i = 2; // after SOI (FF D8), which the format guess has seen
    loop {
        // A marker: FF (any number of fill FFs), then its code.
        i = next_ff(i)?;
        while *b.get(i)? == 0xFF {
            i += 1;
        }
        let code = b[i];
        i += 1;
        match code {
            0xD9 => return Some(i),
            // Standalone markers (no length): TEM, RSTn, SOI; and a stray stuffed zero.
            0x00 | 0x01 | 0xD0..=0xD8 => {}
            _ => {
                let len = usize::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]));
                i += len.max(2);
                if code == 0xDA {
                    // Entropy-coded data, up to the next real marker.
                    loop {
                        i = next_ff(i)?;
                        let mut j = i;
                        while *b.get(j)? == 0xFF {
                            j += 1;
                        }
                        if matches!(b[j], 0x00 | 0xD0..=0xD7) {
                            i = j + 1;
                        } else {
                            break;
                        }
                    }
                }
            }
        }
    }
}

impl<'a> TryFrom<ImageView<'a>> for Image {
    type Error = Error;
    fn try_from(v: ImageView<'a>) -> Result<Image> {
        Ok(Image::from_view(v))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn formats_convert_to_rgb() {
        let bgr = [3u8, 2, 1, 0, 6, 5, 4, 0]; // 1 pixel + padding per row, 2 rows
        let v = ImageView::new(&bgr, 1, 2, 4, PixelFormat::Bgr8).unwrap();
        assert_eq!(Image::from_view(v).as_rgb().as_raw(), &vec![1, 2, 3, 4, 5, 6]);
        let g = [7u8];
        let v = ImageView::new(&g, 1, 1, 1, PixelFormat::Gray8).unwrap();
        assert_eq!(Image::from_view(v).as_rgb().as_raw(), &vec![7, 7, 7]);
        let rgba = [1u8, 2, 3, 255];
        let v = ImageView::new(&rgba, 1, 1, 4, PixelFormat::Rgba8).unwrap();
        assert_eq!(Image::from_view(v).as_rgb().as_raw(), &vec![1, 2, 3]);
    }

    #[test]
    fn bad_geometry_is_rejected() {
        let buf = [0u8; 12];
        assert!(ImageView::new(&buf, 0, 1, 3, PixelFormat::Rgb8).is_err());
        assert!(ImageView::new(&buf, 2, 2, 5, PixelFormat::Rgb8).is_err()); // stride < row
        assert!(ImageView::new(&buf, 2, 3, 6, PixelFormat::Rgb8).is_err()); // too short
        assert!(ImageView::new(&buf, 2, 2, usize::MAX, PixelFormat::Rgb8).is_err()); // overflow
        assert!(ImageView::new(&buf, MAX_SIDE + 1, 1, 3 * (MAX_SIDE as usize + 1), PixelFormat::Rgb8).is_err());
        // Last row may be short of a full stride.
        assert!(ImageView::new(&buf, 2, 2, 6, PixelFormat::Rgb8).is_ok());
    }

    #[test]
    fn jpeg_end_follows_segments_and_scans() {
        // SOI, an APP1 holding a whole thumbnail's markers, SOS with stuffed bytes, restart
        // markers and fill bytes, EOI, then trailing data with more markers.
        let mut j = vec![0xFF, 0xD8];
        j.extend_from_slice(&[0xFF, 0xE1, 0x00, 0x0A, 0xFF, 0xD8, 0xFF, 0xDA, 0xFF, 0xD9, 0x00, 0x00]);
        j.extend_from_slice(&[0xFF, 0xFF, 0xDA, 0x00, 0x04, 0x01, 0x02]);
        j.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xFF, 0xD7, 0x78]);
        j.extend_from_slice(&[0xFF, 0xD9]);
        let end = j.len();
        assert_eq!(jpeg_end(&j), Some(end));
        j.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02, 0x99, 0xFF, 0xD8]);
        assert_eq!(jpeg_end(&j), Some(end));
        // Every cut short of the end of image is truncated.
        for cut in 0..end {
            assert_eq!(jpeg_end(&j[..cut]), None, "cut {cut}");
        }
    }

    #[test]
    fn garbage_and_empty_bytes_are_errors() {
        assert!(matches!(Image::decode(&[]), Err(Error::InvalidInput { .. })));
        assert!(matches!(Image::decode(b"not an image at all"), Err(Error::ImageDecode { .. })));
        // A PNG header claiming 100000x100000 is refused before allocation.
        let mut png = Vec::new();
        png.extend_from_slice(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
        png.extend_from_slice(&100_000u32.to_be_bytes());
        png.extend_from_slice(&100_000u32.to_be_bytes());
        png.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        assert!(Image::decode(&png).is_err());
        assert!(Image::open("/definitely/not/here.jpg").unwrap_err().is_not_found());
    }
}
