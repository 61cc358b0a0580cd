//! The photo as dlib takes it: packed RGB rows, optionally reduced for detection.

use facelab_plugin_kit::align::warp;
use facelab_plugin_kit::api::{ImageView, PixelFormat};

/// An owned packed-RGB image.
pub struct RgbImage {
    /// `width × height × 3` bytes.
    pub pixels: Vec<u8>,
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
}

impl RgbImage {
    /// The bridge's borrowed view.
    pub fn as_rgb(&self) -> crate::ffi::Rgb<'_> {
        crate::ffi::Rgb {
            pixels: &self.pixels,
            width: self.width,
            height: self.height,
        }
    }
}

/// The view's pixels as packed RGB. dlib's Python bindings receive face_recognition's RGB
/// array, and a grey photo as three equal channels (PIL's `convert("RGB")`), so both
/// become RGB here too.
pub fn packed_rgb(view: &ImageView<'_>) -> RgbImage {
    let (w, h) = (view.width as usize, view.height as usize);
    let stride = view.stride as usize;
    let px = view.pixels.as_slice();
    let mut out = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let row = &px[y * stride..];
        match view.format {
            PixelFormat::Rgb8 => out.extend_from_slice(&row[..w * 3]),
            PixelFormat::Bgr8 => {
                for p in row[..w * 3].chunks_exact(3) {
                    out.extend_from_slice(&[p[2], p[1], p[0]]);
                }
            }
            PixelFormat::Gray8 => {
                for &g in &row[..w] {
                    out.extend_from_slice(&[g, g, g]);
                }
            }
        }
    }
    RgbImage {
        pixels: out,
        width: view.width,
        height: view.height,
    }
}

/// Halves an image with a 2×2 box filter (odd edges dropped).
fn halve(img: &RgbImage) -> RgbImage {
    let (w, h) = ((img.width / 2) as usize, (img.height / 2) as usize);
    let src_w = img.width as usize;
    let mut out = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let at = |dx: usize, dy: usize| {
                    img.pixels[((2 * y + dy) * src_w + 2 * x + dx) * 3 + c] as u32
                };
                out.push(((at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1) + 2) / 4) as u8);
            }
        }
    }
    RgbImage {
        pixels: out,
        width: w as u32,
        height: h as u32,
    }
}

/// The photo reduced so its long side is at most `max_side`, and the factors from its
/// pixels back to the photo's, per axis (1 when it already fits). Halving by box filter
/// first keeps a large reduction from aliasing; the last step (under 2×) is bilinear.
pub fn fit(view: &ImageView<'_>, max_side: u32) -> (RgbImage, [f32; 2]) {
    let mut img = packed_rgb(view);
    if img.width.max(img.height) <= max_side {
        return (img, [1.0, 1.0]);
    }
    while img.width.max(img.height) / 2 >= max_side {
        img = halve(&img);
    }
    let target = max_side as f32 / view.width.max(view.height) as f32;
    let (tw, th) = (
        ((view.width as f32 * target).round() as u32).max(1),
        ((view.height as f32 * target).round() as u32).max(1),
    );
    if (tw, th) != (img.width, img.height) {
        let (sx, sy) = (img.width as f32 / tw as f32, img.height as f32 / th as f32);
        let halved = ImageView::packed(&img.pixels, img.width, img.height, PixelFormat::Rgb8)
            .expect("a packed image is consistent");
        img = RgbImage {
            pixels: warp_rect(&halved, sx, sy, tw, th),
            width: tw,
            height: th,
        };
    }
    let scale = [
        view.width as f32 / img.width as f32,
        view.height as f32 / img.height as f32,
    ];
    (img, scale)
}

/// A `w × h` resample of `view` with per-axis factors (the kit's warp is square-only).
fn warp_rect(view: &ImageView<'_>, sx: f32, sy: f32, w: u32, h: u32) -> Vec<u8> {
    let side = w.max(h);
    let square = warp(view, &[sx, 0.0, 0.0, 0.0, sy, 0.0], side, true);
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h as usize {
        let start = y * side as usize * 3;
        out.extend_from_slice(&square[start..start + w as usize * 3]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bgr_and_grey_become_rgb() {
        let bgr = [1u8, 2, 3, 4, 5, 6];
        let v = ImageView::packed(&bgr, 2, 1, PixelFormat::Bgr8).unwrap();
        assert_eq!(packed_rgb(&v).pixels, [3, 2, 1, 6, 5, 4]);
        let grey = [7u8, 9];
        let v = ImageView::packed(&grey, 2, 1, PixelFormat::Gray8).unwrap();
        assert_eq!(packed_rgb(&v).pixels, [7, 7, 7, 9, 9, 9]);
    }

    #[test]
    fn fit_reduces_the_long_side_and_reports_the_factor() {
        let px = vec![100u8; 1000 * 600 * 3];
        let v = ImageView::packed(&px, 1000, 600, PixelFormat::Rgb8).unwrap();
        let (img, scale) = fit(&v, 300);
        assert_eq!((img.width, img.height), (300, 180));
        assert!((scale[0] - 1000.0 / 300.0).abs() < 1e-3, "{scale:?}");
        assert!(img.pixels.iter().all(|p| *p == 100));
        let (same, one) = fit(&v, 1280);
        assert_eq!((same.width, one), (1000, [1.0, 1.0]));
    }
}
