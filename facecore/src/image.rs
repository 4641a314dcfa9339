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

/// Layout of the pixels in a borrowed buffer.
///
/// The YUV formats are camera and video-decoder outputs with the BT.601 matrix; their
/// [`ColorRange`] is set with [`ImageView::with_color_range`]. Chroma is subsampled with
/// rounding up: a frame of odd width or height has `ceil(width / 2)` chroma columns and (4:2:0)
/// `ceil(height / 2)` chroma rows, the last ones covering a single pixel, as in libyuv and ffmpeg.
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
    /// YUV 4:2:0 in two planes: Y (one byte per pixel), then U and V interleaved (`U V U V`,
    /// one pair per 2x2 block). V4L2, MediaCodec and most ISPs' native output.
    Nv12,
    /// As [`PixelFormat::Nv12`] with V before U in the chroma plane (`V U V U`): Android's
    /// camera preview format.
    Nv21,
    /// YUV 4:2:0 in three planes: Y, then U, then V, each chroma plane at half resolution
    /// (also called YU12, `yuv420p`).
    I420,
    /// YUV 4:2:2 packed in one plane: `Y0 U Y1 V` for each pair of pixels (also called YUY2,
    /// `yuyv422`; what UVC webcams send).
    Yuyv,
}

impl PixelFormat {
    /// Bytes per pixel in the rows of the first plane: 3 or 4 for RGB formats, 1 for grey and
    /// for the Y plane of NV12, NV21 and I420, 2 for YUYV.
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::Rgb8 | PixelFormat::Bgr8 => 3,
            PixelFormat::Rgba8 | PixelFormat::Bgra8 => 4,
            PixelFormat::Gray8 | PixelFormat::Nv12 | PixelFormat::Nv21 | PixelFormat::I420 => 1,
            PixelFormat::Yuyv => 2,
        }
    }

    /// Number of planes: 2 for NV12 and NV21, 3 for I420, 1 for the others.
    pub fn planes(self) -> usize {
        match self {
            PixelFormat::Nv12 | PixelFormat::Nv21 => 2,
            PixelFormat::I420 => 3,
            _ => 1,
        }
    }

    /// Whether this is a YUV format (its [`ColorRange`] matters).
    pub fn is_yuv(self) -> bool {
        matches!(self, PixelFormat::Nv12 | PixelFormat::Nv21 | PixelFormat::I420 | PixelFormat::Yuyv)
    }

    /// Bytes in one row and number of rows of each plane of a `width` x `height` frame.
    fn plane_shapes(self, width: usize, height: usize) -> [(usize, usize); 3] {
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        match self {
            PixelFormat::Nv12 | PixelFormat::Nv21 => [(width, height), (2 * cw, ch), (0, 0)],
            PixelFormat::I420 => [(width, height), (cw, ch), (cw, ch)],
            PixelFormat::Yuyv => [(4 * cw, height), (0, 0), (0, 0)],
            f => [(width * f.bytes_per_pixel(), height), (0, 0), (0, 0)],
        }
    }

    /// Names of the planes, for messages.
    fn plane_names(self) -> [&'static str; 3] {
        match self {
            PixelFormat::Nv12 => ["NV12 Y plane", "NV12 UV plane", ""],
            PixelFormat::Nv21 => ["NV21 Y plane", "NV21 VU plane", ""],
            PixelFormat::I420 => ["I420 Y plane", "I420 U plane", "I420 V plane"],
            _ => ["image", "", ""],
        }
    }
}

/// How the values of a YUV frame map to RGB. Both use the BT.601 matrix (Kr = 0.299,
/// Kb = 0.114); the reference equations are on [`ImageView::with_color_range`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ColorRange {
    /// "Video" range (also limited, studio, TV or MPEG range): Y in 16..=235 and U, V in
    /// 16..=240. What video decoders and most camera encoders produce, and what BT.601, libyuv
    /// (`I420ToARGB`) and ffmpeg assume when nothing is said. The default.
    #[default]
    Limited,
    /// Full range (also "JPEG" or "PC" range), as in JFIF: Y, U and V in 0..=255. Android
    /// camera frames (NV21 previews, `YUV_420_888`) and MJPEG webcams decoded to YUV.
    Full,
}

/// One plane of a borrowed frame: `data` holds its rows, `stride` bytes apart (the last row
/// needs only its own bytes).
#[derive(Debug, Clone, Copy, Default)]
pub struct Plane<'a> {
    /// The plane's bytes, starting with its first row.
    pub data: &'a [u8],
    /// Bytes from the start of one row to the next.
    pub stride: usize,
}

impl<'a> Plane<'a> {
    /// A plane of rows `stride` bytes apart.
    pub fn new(data: &'a [u8], stride: usize) -> Self {
        Plane { data, stride }
    }
}

/// A borrowed, validated frame: one to three [`Plane`]s (see [`PixelFormat`]) and, for YUV
/// formats, a [`ColorRange`].
#[derive(Debug, Clone, Copy)]
pub struct ImageView<'a> {
    planes: [Plane<'a>; 3],
    width: u32,
    height: u32,
    format: PixelFormat,
    range: ColorRange,
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

/// Bytes a plane of `rows` rows of `row` bytes, `stride` apart, needs: `stride * (rows - 1) + row`.
fn plane_len(name: &str, stride: usize, row: usize, rows: usize) -> Result<usize> {
    if stride < row {
        return Err(Error::input("image", format!("{name}: stride {stride} is shorter than a row of {row} bytes")));
    }
    stride
        .checked_mul(rows - 1)
        .and_then(|n| n.checked_add(row))
        .ok_or_else(|| Error::input("image", format!("{name}: stride * height overflows")))
}

fn check_plane(name: &str, p: &Plane<'_>, (row, rows): (usize, usize), width: u32, height: u32) -> Result<()> {
    let needed = plane_len(name, p.stride, row, rows)?;
    if p.data.len() < needed {
        return Err(Error::input(
            "image",
            format!("{name} of {} bytes is too small for {width}x{height} with stride {} ({needed} needed)", p.data.len(), p.stride),
        ));
    }
    Ok(())
}

impl<'a> ImageView<'a> {
    /// Wraps a frame held in one buffer after checking that the geometry fits inside it.
    ///
    /// `stride` is the distance between rows of the first plane. The planes of NV12, NV21 and
    /// I420 follow each other without gaps, as in V4L2's single-planar formats and ffmpeg's
    /// raw video: the chroma plane of NV12/NV21 starts at `stride * height`, with the same
    /// stride rounded up to an even number (it differs only for an odd width without
    /// padding); the U plane of I420 starts there too, with stride `ceil(stride / 2)`, and the
    /// V plane follows it. Planes laid out otherwise go through [`ImageView::from_planes`].
    /// YUV frames are taken as [`ColorRange::Limited`] unless
    /// [`with_color_range`](ImageView::with_color_range) says otherwise.
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] when the image is larger than [`crate::limits`] allow;
    /// [`Error::InvalidInput`] when it is empty, when `stride` is
    /// shorter than a row, or when the buffer is shorter than `stride * (height - 1) + row`
    /// (plus the chroma planes for NV12, NV21, I420).
    ///
    /// # Examples
    /// ```
    /// use facecore::{ImageView, PixelFormat};
    /// let pixels = vec![0u8; 4 * 2 * 3];
    /// let view = ImageView::new(&pixels, 4, 2, 12, PixelFormat::Rgb8)?;
    /// assert_eq!(view.width(), 4);
    /// assert!(ImageView::new(&pixels, 4, 3, 12, PixelFormat::Rgb8).is_err());
    /// // A 4x2 NV12 frame: 8 bytes of Y, then one row of 4 bytes of U, V pairs.
    /// let nv12 = [0u8; 12];
    /// assert!(ImageView::new(&nv12, 4, 2, 4, PixelFormat::Nv12).is_ok());
    /// assert!(ImageView::new(&nv12[..11], 4, 2, 4, PixelFormat::Nv12).is_err());
    /// # Ok::<(), facecore::Error>(())
    /// ```
    pub fn new(data: &'a [u8], width: u32, height: u32, stride: usize, format: PixelFormat) -> Result<Self> {
        check_size(width, height)?;
        let h = height as usize;
        let [(row, _), (crow, crows), _] = format.plane_shapes(width as usize, h);
        let names = format.plane_names();
        let planes = match format {
            PixelFormat::Nv12 | PixelFormat::Nv21 | PixelFormat::I420 => {
                // The luma plane must fit before the chroma that follows it.
                plane_len(names[0], stride, row, h)?;
                let cstride = if format == PixelFormat::I420 { stride.div_ceil(2) } else { stride.div_ceil(2) * 2 };
                let luma = stride.checked_mul(h).ok_or_else(|| Error::input("image", "stride * height overflows"))?;
                let chroma = plane_len(names[1], cstride, crow, crows)?;
                let mut needed = luma.checked_add(chroma);
                if format == PixelFormat::I420 {
                    needed = cstride.checked_mul(crows).and_then(|u| u.checked_add(luma)).and_then(|n| n.checked_add(chroma));
                }
                let needed = needed.ok_or_else(|| Error::input("image", "stride * height overflows"))?;
                if data.len() < needed {
                    return Err(Error::input(
                        "image",
                        format!(
                            "{format:?} buffer of {} bytes is too small for {width}x{height} with stride {stride} ({needed} needed: \
                             the chroma plane{} follow the Y plane)",
                            data.len(),
                            if format == PixelFormat::I420 { "s" } else { "" },
                        ),
                    ));
                }
                let (y, rest) = data.split_at(luma);
                if format == PixelFormat::I420 {
                    let (u, v) = rest.split_at(cstride * crows);
                    [Plane::new(y, stride), Plane::new(u, cstride), Plane::new(v, cstride)]
                } else {
                    [Plane::new(y, stride), Plane::new(rest, cstride), Plane::default()]
                }
            }
            _ => [Plane::new(data, stride), Plane::default(), Plane::default()],
        };
        Self::checked(planes, width, height, format)
    }

    /// Wraps a frame whose planes are separate buffers, each with its own stride: Y and
    /// the interleaved chroma for NV12 and NV21; Y, U and V for I420; the one plane of the
    /// other formats. This is how Android's `Image`, ffmpeg's `AVFrame` and V4L2's
    /// multi-planar buffers hand frames over.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the number of planes is not [`PixelFormat::planes`], when
    /// the image is empty, when a stride is shorter than its plane's row, or when a plane is
    /// shorter than `stride * (rows - 1) + row`; [`Error::LimitExceeded`] as [`ImageView::new`].
    ///
    /// # Examples
    /// ```
    /// use facecore::{ColorRange, ImageView, PixelFormat, Plane};
    /// // A 3x3 I420 frame: Y rows padded to 4 bytes, 2x2 chroma planes.
    /// let (y, u, v) = ([16u8; 11], [128u8; 4], [128u8; 4]);
    /// let planes = [Plane::new(&y, 4), Plane::new(&u, 2), Plane::new(&v, 2)];
    /// let view = ImageView::from_planes(&planes, 3, 3, PixelFormat::I420)?.with_color_range(ColorRange::Limited);
    /// assert_eq!(facecore::Image::from_view(view).as_rgb().as_raw(), &vec![0u8; 27]); // black
    /// assert!(ImageView::from_planes(&planes[..2], 3, 3, PixelFormat::I420).is_err());
    /// # Ok::<(), facecore::Error>(())
    /// ```
    pub fn from_planes(planes: &[Plane<'a>], width: u32, height: u32, format: PixelFormat) -> Result<Self> {
        if planes.len() != format.planes() {
            return Err(Error::input("image", format!("{format:?} takes {} plane(s), {} given", format.planes(), planes.len())));
        }
        check_size(width, height)?;
        let mut all = [Plane::default(); 3];
        all[..planes.len()].copy_from_slice(planes);
        Self::checked(all, width, height, format)
    }

    fn checked(planes: [Plane<'a>; 3], width: u32, height: u32, format: PixelFormat) -> Result<Self> {
        let shapes = format.plane_shapes(width as usize, height as usize);
        let names = format.plane_names();
        for i in 0..format.planes() {
            check_plane(names[i], &planes[i], shapes[i], width, height)?;
        }
        Ok(ImageView { planes, width, height, format, range: ColorRange::default() })
    }

    /// Sets the range of a YUV frame (no effect on RGB and grey). The conversion to RGB
    /// follows BT.601 with 16-bit fixed-point coefficients, and is within ±1 of these
    /// equations rounded to the nearest integer and clamped to 0..=255 (the unit tests check
    /// all 2^24 Y, U, V triples of both ranges; the measured bound is in `docs/c-api.md`):
    ///
    /// - [`ColorRange::Limited`] (as libyuv and ffmpeg):
    ///   `R = 1.164383 (Y - 16) + 1.596027 (V - 128)`,
    ///   `G = 1.164383 (Y - 16) - 0.391762 (U - 128) - 0.812968 (V - 128)`,
    ///   `B = 1.164383 (Y - 16) + 2.017232 (U - 128)`;
    /// - [`ColorRange::Full`] (JFIF): `R = Y + 1.402 (V - 128)`,
    ///   `G = Y - 0.344136 (U - 128) - 0.714136 (V - 128)`, `B = Y + 1.772 (U - 128)`.
    ///
    /// Each chroma sample applies to its whole 2x2 (4:2:0) or 2x1 (YUYV) block, without
    /// interpolation.
    #[must_use]
    pub fn with_color_range(mut self, range: ColorRange) -> Self {
        self.range = range;
        self
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
    /// Color range of a YUV frame ([`ColorRange::Limited`] unless set).
    pub fn color_range(&self) -> ColorRange {
        self.range
    }

    /// Converts the frame to packed RGB (`width * height * 3` bytes, rows without padding)
    /// in a caller's buffer, so a frame loop can reuse one buffer.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `out` is shorter than `width * height * 3` bytes.
    pub fn write_rgb(&self, out: &mut [u8]) -> Result<()> {
        let (w, h) = (self.width as usize, self.height as usize);
        let n = w * h * 3;
        if out.len() < n {
            return Err(Error::input("image", format!("RGB buffer of {} bytes is too small for {w}x{h} ({n} needed)", out.len())));
        }
        let out = &mut out[..n];
        let [p0, p1, p2] = self.planes;
        let k = match self.range {
            ColorRange::Limited => &LIMITED,
            ColorRange::Full => &FULL,
        };
        let cw = w.div_ceil(2);
        for (y, dst) in out.chunks_exact_mut(w * 3).enumerate() {
            match self.format {
                PixelFormat::Rgb8 => dst.copy_from_slice(row(&p0, y, w * 3)),
                PixelFormat::Bgr8 => {
                    for (d, s) in dst.chunks_exact_mut(3).zip(row(&p0, y, w * 3).chunks_exact(3)) {
                        d.copy_from_slice(&[s[2], s[1], s[0]]);
                    }
                }
                PixelFormat::Rgba8 => {
                    for (d, s) in dst.chunks_exact_mut(3).zip(row(&p0, y, w * 4).chunks_exact(4)) {
                        d.copy_from_slice(&s[..3]);
                    }
                }
                PixelFormat::Bgra8 => {
                    for (d, s) in dst.chunks_exact_mut(3).zip(row(&p0, y, w * 4).chunks_exact(4)) {
                        d.copy_from_slice(&[s[2], s[1], s[0]]);
                    }
                }
                PixelFormat::Gray8 => {
                    for (d, &g) in dst.chunks_exact_mut(3).zip(row(&p0, y, w)) {
                        d.copy_from_slice(&[g, g, g]);
                    }
                }
                PixelFormat::Nv12 | PixelFormat::Nv21 => {
                    // For an odd width the last chunk of luma holds one pixel (`yuv_row` writes
                    // one there), so its "second" pixel repeats the first.
                    let luma = row(&p0, y, w).chunks(2).map(|l| [l[0], l[l.len() - 1]]);
                    let chroma = row(&p1, y / 2, 2 * cw).chunks_exact(2);
                    if self.format == PixelFormat::Nv12 {
                        yuv_row(dst, k, luma.zip(chroma).map(|(l, c)| (l, c[0], c[1])));
                    } else {
                        yuv_row(dst, k, luma.zip(chroma).map(|(l, c)| (l, c[1], c[0])));
                    }
                }
                PixelFormat::I420 => {
                    let chroma = row(&p1, y / 2, cw).iter().zip(row(&p2, y / 2, cw));
                    let luma = row(&p0, y, w).chunks(2).map(|l| [l[0], l[l.len() - 1]]);
                    yuv_row(dst, k, luma.zip(chroma).map(|(l, (&u, &v))| (l, u, v)));
                }
                PixelFormat::Yuyv => {
                    // For an odd width the last Y1 is padding: `yuv_row` writes one pixel there.
                    yuv_row(dst, k, row(&p0, y, 4 * cw).chunks_exact(4).map(|q| ([q[0], q[2]], q[1], q[3])));
                }
            }
        }
        Ok(())
    }
}

/// BT.601 YUV to RGB coefficients in 16.16 fixed point.
struct Yuv2Rgb {
    /// Y scale and offset.
    y: i32,
    y0: i32,
    /// V to R, U to G, V to G, U to B.
    rv: i32,
    gu: i32,
    gv: i32,
    bu: i32,
}

/// Limited range: 255/219 for Y, 255/224 times the full-range factors for U and V.
const LIMITED: Yuv2Rgb = Yuv2Rgb { y: 76309, y0: 16, rv: 104_597, gu: 25675, gv: 53279, bu: 132_201 };
/// Full range (JFIF): 1.402, 0.344136, 0.714136, 1.772.
const FULL: Yuv2Rgb = Yuv2Rgb { y: 65536, y0: 0, rv: 91881, gu: 22553, gv: 46802, bu: 116_130 };

#[inline(always)]
fn clamp8(v: i32) -> u8 {
    (v >> 16).clamp(0, 255) as u8
}

/// Row `y` of a validated plane, `len` bytes.
fn row<'a>(p: &Plane<'a>, y: usize, len: usize) -> &'a [u8] {
    let data: &'a [u8] = p.data;
    &data[y * p.stride..y * p.stride + len]
}

/// Converts one row of RGB from the luma of pixel pairs and their shared U and V. The last
/// chunk of `dst` holds a single pixel when the width is odd; it takes the pair's first luma.
#[inline(always)]
fn yuv_row(dst: &mut [u8], k: &Yuv2Rgb, pairs: impl Iterator<Item = ([u8; 2], u8, u8)>) {
    for (d, (l, u, v)) in dst.chunks_mut(6).zip(pairs) {
        let (u, v) = (i32::from(u) - 128, i32::from(v) - 128);
        let (r, g, b) = (k.rv * v, -(k.gu * u + k.gv * v), k.bu * u);
        for (px, &l) in d.chunks_exact_mut(3).zip(&l) {
            let y = (i32::from(l) - k.y0) * k.y + (1 << 15);
            px[0] = clamp8(y + r);
            px[1] = clamp8(y + g);
            px[2] = clamp8(y + b);
        }
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
    /// Copies a borrowed frame into an RGB image (channel order converted, alpha dropped,
    /// grey replicated, YUV converted as described on [`ImageView::with_color_range`]).
    pub fn from_view(view: ImageView<'_>) -> Image {
        let mut out = vec![0u8; view.width as usize * view.height as usize * 3];
        // The buffer has exactly the size both calls need, so neither can fail.
        let _ = view.write_rgb(&mut out);
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
            planes: [Plane::new(self.rgb.as_raw(), self.rgb.width() as usize * 3), Plane::default(), Plane::default()],
            width: self.rgb.width(),
            height: self.rgb.height(),
            format: PixelFormat::Rgb8,
            range: ColorRange::Limited,
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

    /// The BT.601 equations of `ImageView::with_color_range`, in floating point.
    fn reference(y: u8, u: u8, v: u8, range: ColorRange) -> [f64; 3] {
        let (y, u, v) = (f64::from(y), f64::from(u) - 128.0, f64::from(v) - 128.0);
        let (ys, cs, y0) = match range {
            ColorRange::Limited => (255.0 / 219.0, 255.0 / 224.0, 16.0),
            ColorRange::Full => (1.0, 1.0, 0.0),
        };
        let (kr, kb) = (0.299, 0.114);
        let kg = 1.0 - kr - kb;
        let y = ys * (y - y0);
        let (u, v) = (cs * u, cs * v);
        [y + 2.0 * (1.0 - kr) * v, y - 2.0 * (1.0 - kb) * kb / kg * u - 2.0 * (1.0 - kr) * kr / kg * v, y + 2.0 * (1.0 - kb) * u]
    }

    /// Every Y, U, V triple of both ranges against the reference, rounded and clamped.
    #[test]
    fn yuv_conversion_is_within_one_of_bt601_for_every_triple() {
        for (range, k) in [(ColorRange::Limited, &LIMITED), (ColorRange::Full, &FULL)] {
            let (mut worst, mut off) = (0i32, 0u64);
            for u in 0..=255u8 {
                for v in 0..=255u8 {
                    for y in (0..=255u8).step_by(2) {
                        let mut px = [0u8; 6];
                        yuv_row(&mut px, k, std::iter::once(([y, y + 1], u, v)));
                        for (i, yy) in [y, y + 1].into_iter().enumerate() {
                            let want = reference(yy, u, v, range).map(|c| c.round().clamp(0.0, 255.0) as i32);
                            for c in 0..3 {
                                let d = (i32::from(px[i * 3 + c]) - want[c]).abs();
                                worst = worst.max(d);
                                off += u64::from(d != 0);
                            }
                        }
                    }
                }
            }
            println!("{range:?}: largest difference {worst}, {off} of {} channel values differ", 3u64 << 24);
            assert!(worst <= 1, "{range:?}: off by {worst}");
        }
    }

    #[test]
    fn yuv_layouts_convert_to_the_same_pixels() {
        // A 3x3 frame: Y = 0..9 * 20, chroma blocks (U, V) = (90, 240), (128, 128) / (60, 30), (200, 10).
        let y: Vec<u8> = (0..9).map(|i| i * 20 + 16).collect();
        let (u, v) = ([90u8, 128, 60, 200], [240u8, 128, 30, 10]);
        let want: Vec<u8> = (0..9)
            .flat_map(|i| {
                let c = (i / 3 / 2) * 2 + (i % 3) / 2;
                reference(y[i], u[c], v[c], ColorRange::Full).map(|x| x.round().clamp(0.0, 255.0) as u8)
            })
            .collect();
        let i420: Vec<u8> = y.iter().chain(&u).chain(&v).copied().collect();
        let nv12: Vec<u8> = y.iter().copied().chain(u.iter().zip(&v).flat_map(|(&u, &v)| [u, v])).collect();
        let nv21: Vec<u8> = y.iter().copied().chain(u.iter().zip(&v).flat_map(|(&u, &v)| [v, u])).collect();
        let yuyv: Vec<u8> = (0..3)
            .flat_map(|r| {
                let c = (r / 2) * 2;
                let (y, u, v) = (&y, &u, &v);
                [y[r * 3], u[c], y[r * 3 + 1], v[c], y[r * 3 + 2], u[c + 1], 0, v[c + 1]]
            })
            .collect();
        let full =
            |data: &[u8], stride, f| Image::from_view(ImageView::new(data, 3, 3, stride, f).unwrap().with_color_range(ColorRange::Full));
        for (name, img) in [
            ("nv12", full(&nv12, 3, PixelFormat::Nv12)),
            ("nv21", full(&nv21, 3, PixelFormat::Nv21)),
            ("i420", full(&i420, 3, PixelFormat::I420)),
            ("yuyv", full(&yuyv, 8, PixelFormat::Yuyv)),
        ] {
            // YUYV is 4:2:2: its rows carry their own chroma; the test frame repeats the
            // 4:2:0 chroma of the row pair, so both give the same pixels.
            assert_eq!(img.as_rgb().as_raw(), &want, "{name}");
        }
        let planes = [Plane::new(&y, 3), Plane::new(&u, 2), Plane::new(&v, 2)];
        let img = Image::from_view(ImageView::from_planes(&planes, 3, 3, PixelFormat::I420).unwrap().with_color_range(ColorRange::Full));
        assert_eq!(img.as_rgb().as_raw(), &want);
        // Limited range: black and white at 16 and 235.
        let bw = [16u8, 235, 128, 128];
        let img = Image::from_view(ImageView::new(&bw, 2, 1, 2, PixelFormat::Nv12).unwrap());
        assert_eq!(img.as_rgb().as_raw(), &vec![0, 0, 0, 255, 255, 255]);
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
