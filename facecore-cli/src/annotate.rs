//! Annotated images: a box and landmarks per face, and its label in a small bitmap font.

use std::path::Path;

use facecore::{Face, Image};

const COLORS: [[u8; 3]; 6] = [[0, 200, 0], [230, 40, 40], [40, 90, 255], [240, 180, 0], [200, 0, 200], [0, 200, 200]];

/// 3x5 glyphs for digits, letters (upper-cased), '.', '-' and '_'; bits row-major, MSB left.
fn glyph(c: char) -> [u8; 5] {
    match c.to_ascii_uppercase() {
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
        'A' => [2, 5, 7, 5, 5],
        'B' => [6, 5, 6, 5, 6],
        'C' => [7, 4, 4, 4, 7],
        'D' => [6, 5, 5, 5, 6],
        'E' => [7, 4, 6, 4, 7],
        'F' => [7, 4, 6, 4, 4],
        'G' => [7, 4, 5, 5, 7],
        'H' => [5, 5, 7, 5, 5],
        'I' => [7, 2, 2, 2, 7],
        'J' => [1, 1, 1, 5, 7],
        'K' => [5, 5, 6, 5, 5],
        'L' => [4, 4, 4, 4, 7],
        'M' => [5, 7, 7, 5, 5],
        'N' => [6, 5, 5, 5, 5],
        'O' => [7, 5, 5, 5, 7],
        'P' => [7, 5, 7, 4, 4],
        'Q' => [7, 5, 5, 7, 1],
        'R' => [6, 5, 6, 5, 5],
        'S' => [7, 4, 7, 1, 7],
        'T' => [7, 2, 2, 2, 2],
        'U' => [5, 5, 5, 5, 7],
        'V' => [5, 5, 5, 5, 2],
        'W' => [5, 5, 7, 7, 5],
        'X' => [5, 5, 2, 5, 5],
        'Y' => [5, 5, 2, 2, 2],
        'Z' => [7, 1, 2, 4, 7],
        '.' => [0, 0, 0, 0, 2],
        '-' => [0, 0, 7, 0, 0],
        '_' => [0, 0, 0, 0, 7],
        _ => [0, 0, 0, 0, 0],
    }
}

fn put(img: &mut facecore::image_crate::RgbImage, x: i64, y: i64, c: [u8; 3]) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, facecore::image_crate::Rgb(c));
    }
}

/// The colour of label `i` (cycling through six).
pub fn color(i: usize) -> [u8; 3] {
    COLORS[i % COLORS.len()]
}

/// Line thickness for an image of this size.
fn thickness(rgb: &facecore::image_crate::RgbImage) -> i64 {
    ((rgb.width().max(rgb.height()) / 400) as i64).max(1)
}

/// Draws a box and its label (above it) in colour `c`.
pub fn draw_box(rgb: &mut facecore::image_crate::RgbImage, b: &facecore::Rect, label: &str, c: [u8; 3]) {
    let t = thickness(rgb);
    let (x0, y0) = (b.x as i64, b.y as i64);
    let (x1, y1) = ((b.x + b.width) as i64, (b.y + b.height) as i64);
    for k in 0..t {
        for x in x0..=x1 {
            put(rgb, x, y0 + k, c);
            put(rgb, x, y1 - k, c);
        }
        for y in y0..=y1 {
            put(rgb, x0 + k, y, c);
            put(rgb, x1 - k, y, c);
        }
    }
    let s = t * 2;
    let (mut tx, ty) = (x0, (y0 - 6 * s - 2).max(0));
    for ch in label.chars() {
        for (row, bits) in glyph(ch).iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) != 0 {
                    for dy in 0..s {
                        for dx in 0..s {
                            put(rgb, tx + col * s + dx, ty + row as i64 * s + dy, c);
                        }
                    }
                }
            }
        }
        tx += 4 * s;
    }
}

pub fn write(img: &Image, labels: &[(Face, String)], out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut rgb = img.as_rgb().clone();
    let t = thickness(&rgb);
    for (i, (f, label)) in labels.iter().enumerate() {
        let c = if label == "unknown" { [128, 128, 128] } else { color(i) };
        draw_box(&mut rgb, &f.bbox, label, c);
        for p in &f.landmarks {
            for dy in -t..=t {
                for dx in -t..=t {
                    put(&mut rgb, p.x as i64 + dx, p.y as i64 + dy, [255, 255, 0]);
                }
            }
        }
    }
    Image::from_rgb(rgb)?.save(out)?;
    Ok(())
}
