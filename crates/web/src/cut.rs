//! Cutting face tiles out of one photo: the photo decoded once for all of its faces asked
//! for, a JPEG at the smallest DCT scale that still gives each of those faces a sharp tile
//! (libjpeg-turbo scales inside the inverse DCT, [`facelab_engine::jpeg`]), each face's
//! square cropped and resampled in one pass (area average when shrinking, bilinear when
//! growing, in fixed point), and encoded by libjpeg-turbo.
//!
//! The square is the one `clusters show --draw` cuts ([`facelab_engine::draw::face_tile`]):
//! the box grown to 1.4 times its long side around its centre, clamped to the photo.

use std::path::Path;

use facelab_engine::photo::Photo;
use facelab_plugin_api::PixelFormat;

/// JPEG quality of tiles and previews.
pub const QUALITY: i32 = 85;

/// A decoded photo and how many decoded pixels one full-size pixel is.
pub struct Decoded {
    /// Upright pixels, grey or RGB.
    pub photo: Photo,
    /// Decoded pixels per full-size pixel (x, y).
    pub factor: (f32, f32),
}

/// The square a tile of `bbox` (full-size pixels) is cut from, in full-size pixels:
/// (centre x, centre y, half side).
fn square(bbox: [f32; 4]) -> (f32, f32, f32) {
    let [x, y, w, h] = bbox;
    (x + w / 2.0, y + h / 2.0, (w.max(h) * 0.7).max(1.0))
}

/// Decodes `photo` once for tiles of `side` pixels of the boxes `boxes`: a JPEG at the
/// smallest DCT scale at which the smallest of those squares is still `side` pixels wide.
pub fn decode_for(
    photo: &Path,
    boxes: &[[f32; 4]],
    side: u32,
    max_pixels: u64,
) -> Result<Decoded, String> {
    let bytes = std::fs::read(photo).map_err(|e| format!("{}: {e}", photo.display()))?;
    let smallest = boxes
        .iter()
        .map(|b| 2.0 * square(*b).2)
        .fold(f32::INFINITY, f32::min);
    let long_side = jpeg_long_side(&bytes)
        .filter(|_| smallest.is_finite())
        .map_or(0, |long| {
            // Decoded long side at which the smallest square keeps `side` pixels.
            ((long as f32 * side as f32 / smallest).ceil() as u32).min(long)
        });
    let scaled = facelab_engine::jpeg::decode_scaled(photo, &bytes, max_pixels, long_side)
        .map_err(|e| e.to_string())?;
    Ok(Decoded {
        factor: scaled.factor(),
        photo: scaled.photo,
    })
}

/// The long side of a JPEG, from its header (`None` for anything else).
fn jpeg_long_side(bytes: &[u8]) -> Option<u32> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let header = turbojpeg::Decompressor::new()
        .ok()?
        .read_header(bytes)
        .ok()?;
    Some(header.width.max(header.height) as u32)
}

/// The JPEG tile of `bbox` (full-size pixels) on `d`, `side` pixels square.
pub fn tile(d: &Decoded, bbox: [f32; 4], side: u32) -> Result<Vec<u8>, String> {
    let (cx, cy, half) = square(bbox);
    let (fx, fy) = d.factor;
    let p = &d.photo;
    let x0 = ((cx - half) * fx).max(0.0).floor();
    let y0 = ((cy - half) * fy).max(0.0).floor();
    let x1 = ((cx + half) * fx).min(p.width as f32).max(x0 + 1.0);
    let y1 = ((cy + half) * fy).min(p.height as f32).max(y0 + 1.0);
    let channels = p.format.channels();
    let pixels = resample(p, channels, (x0, x1), (y0, y1), side as usize);
    encode(&pixels, side, side, p.format)
}

/// `pixels` (packed, in `format`) as a JPEG.
pub fn encode(
    pixels: &[u8],
    width: u32,
    height: u32,
    format: PixelFormat,
) -> Result<Vec<u8>, String> {
    let channels = format.channels();
    let (format, subsamp) = match format {
        PixelFormat::Gray8 => (turbojpeg::PixelFormat::GRAY, turbojpeg::Subsamp::Gray),
        PixelFormat::Rgb8 => (turbojpeg::PixelFormat::RGB, turbojpeg::Subsamp::Sub2x2),
        PixelFormat::Bgr8 => (turbojpeg::PixelFormat::BGR, turbojpeg::Subsamp::Sub2x2),
    };
    let image = turbojpeg::Image {
        pixels,
        width: width as usize,
        pitch: channels * width as usize,
        height: height as usize,
        format,
    };
    turbojpeg::compress(image, QUALITY, subsamp)
        .map(|b| b.to_vec())
        .map_err(|e| format!("JPEG encoding: {e}"))
}

/// Fixed-point weights: they sum to this.
const ONE: i32 = 1 << 14;

/// For each of `n` output samples over the source span `[from, to)` (source pixels
/// `0..len`), the first source index and its weights: the area each output sample covers
/// when shrinking, the two nearest source samples (bilinear) when growing.
fn taps(from: f32, to: f32, n: usize, len: usize) -> Vec<(usize, Vec<i32>)> {
    let scale = (to - from) / n as f32;
    let last = len.saturating_sub(1) as f32;
    (0..n)
        .map(|i| {
            let mut w: Vec<(usize, f32)> = Vec::new();
            if scale > 1.0 {
                let (a, b) = (from + i as f32 * scale, from + (i + 1) as f32 * scale);
                let mut k = a.floor();
                while k < b && k <= last {
                    let cover = (b.min(k + 1.0) - a.max(k)).max(0.0);
                    w.push((k as usize, cover));
                    k += 1.0;
                }
            } else {
                let c = (from + (i as f32 + 0.5) * scale - 0.5).clamp(0.0, last);
                let k = c.floor();
                let t = c - k;
                w.push((k as usize, 1.0 - t));
                if t > 0.0 && k < last {
                    w.push((k as usize + 1, t));
                }
            }
            let total: f32 = w.iter().map(|x| x.1).sum::<f32>().max(1e-6);
            let first = w.first().map_or(0, |x| x.0);
            let mut ints: Vec<i32> = w
                .iter()
                .map(|x| (x.1 / total * ONE as f32).round() as i32)
                .collect();
            // Rounding may leave the sum a little off: the first weight takes the difference.
            let sum: i32 = ints.iter().sum();
            if let Some(f) = ints.first_mut() {
                *f += ONE - sum;
            }
            (first, ints)
        })
        .collect()
}

/// The span `[x0, x1) × [y0, y1)` of `p` resampled to `side × side`.
fn resample(p: &Photo, ch: usize, xs: (f32, f32), ys: (f32, f32), side: usize) -> Vec<u8> {
    resample_to(p, ch, xs, ys, (side, side))
}

/// The span `[x0, x1) × [y0, y1)` of `p` resampled to `out` (width, height), separably:
/// rows first, then columns.
pub fn resample_to(
    p: &Photo,
    ch: usize,
    xs: (f32, f32),
    ys: (f32, f32),
    out: (usize, usize),
) -> Vec<u8> {
    let (w, h) = (p.width as usize, p.height as usize);
    let (ow, oh) = out;
    let cols = taps(xs.0, xs.1, ow, w);
    let rows = taps(ys.0, ys.1, oh, h);
    let (top, bottom) = (
        rows.first().map_or(0, |r| r.0),
        rows.iter()
            .map(|r| r.0 + r.1.len())
            .max()
            .unwrap_or(0)
            .min(h),
    );
    // Horizontal pass over the source rows the vertical pass reads, kept at 14 bits.
    let mut mid = vec![0i32; (bottom - top) * ow * ch];
    for y in top..bottom {
        let src = &p.pixels[y * w * ch..(y + 1) * w * ch];
        let out = &mut mid[(y - top) * ow * ch..(y - top + 1) * ow * ch];
        for (o, (first, ws)) in cols.iter().enumerate() {
            for c in 0..ch {
                let mut acc = 0i32;
                for (k, wt) in ws.iter().enumerate() {
                    acc += src[(first + k) * ch + c] as i32 * wt;
                }
                out[o * ch + c] = acc;
            }
        }
    }
    let mut out = vec![0u8; ow * oh * ch];
    for (o, (first, ws)) in rows.iter().enumerate() {
        for i in 0..ow * ch {
            let mut acc = 0i64;
            for (k, wt) in ws.iter().enumerate() {
                acc += mid[(first + k - top) * ow * ch + i] as i64 * *wt as i64;
            }
            let v = (acc + (1i64 << 27)) >> 28;
            out[o * ow * ch + i] = v.clamp(0, 255) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(w: u32, h: u32, f: impl Fn(u32, u32) -> u8) -> Photo {
        let mut pixels = Vec::new();
        for y in 0..h {
            for x in 0..w {
                pixels.push(f(x, y));
            }
        }
        Photo {
            path: "t.pgm".into(),
            pixels,
            width: w,
            height: h,
            format: PixelFormat::Gray8,
            exif_orientation: 1,
        }
    }

    #[test]
    fn weights_sum_to_one_growing_and_shrinking() {
        for (from, to, n, len) in [
            (0.0, 84.0, 160, 92),
            (10.0, 650.0, 160, 700),
            (0.0, 1.0, 160, 1),
        ] {
            for (first, w) in taps(from, to, n, len) {
                assert_eq!(w.iter().sum::<i32>(), ONE, "{from} {to}");
                assert!(first + w.len() <= len.max(1));
            }
        }
    }

    #[test]
    fn a_flat_photo_stays_flat_and_a_left_right_edge_stays_where_it_was() {
        let flat = photo(300, 200, |_, _| 77);
        let out = resample(&flat, 1, (10.0, 290.0), (0.0, 200.0), 160);
        assert!(out.iter().all(|&v| v == 77), "{:?}", &out[..8]);
        // Dark left half, bright right half: shrunk 4×, and grown 2×.
        let edge = photo(640, 640, |x, _| if x < 320 { 0 } else { 200 });
        for (span, side) in [((0.0, 640.0), 160), ((240.0, 400.0), 320)] {
            let out = resample(&edge, 1, span, (0.0, 640.0), side);
            let row = &out[side * (side / 2)..side * (side / 2 + 1)];
            assert!(row[..side / 2 - 2].iter().all(|&v| v < 5), "{row:?}");
            assert!(row[side / 2 + 2..].iter().all(|&v| v > 195), "{row:?}");
        }
    }
}
