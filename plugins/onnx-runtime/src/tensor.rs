//! Photo pixels to a network input: bilinear resize into a letterbox, channel reorder and
//! normalisation, written straight into an NCHW `f32` tensor.
//!
//! This replaces OpenCV's `blobFromImage` so the plugin needs no OpenCV. The resize is
//! separable: each needed source row is interpolated horizontally once (with column
//! indices and weights computed once per call), then pairs of those rows are blended
//! vertically. Buffers live in [`InputTensor`] and are reused between photos.

use facelab_plugin_kit::api::{ImageView, PixelFormat};
use facelab_plugin_kit::geometry::Letterbox;

/// The channel order a network expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelOrder {
    /// Red, green, blue.
    Rgb,
    /// Blue, green, red (OpenCV-trained models).
    Bgr,
}

/// How a family turns 0–255 pixel values into network values: `(v - mean[c]) * scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalisation {
    /// The network's channel order; `mean` and `pad` follow it.
    pub order: ChannelOrder,
    /// Subtracted per channel, in network channel order.
    pub mean: [f32; 3],
    /// Applied after subtracting the mean.
    pub scale: f32,
    /// The pixel value (0–255, network channel order) the letterbox padding stands for.
    pub pad: [f32; 3],
}

/// One precomputed source column for an output column: byte offsets of the two source
/// pixels and the weight of the right one.
#[derive(Debug, Clone, Copy, Default)]
struct Tap {
    left: usize,
    right: usize,
    weight: f32,
}

/// A reusable NCHW `1×3×H×W` input buffer.
#[derive(Debug, Default)]
pub struct InputTensor {
    data: Vec<f32>,
    taps: Vec<Tap>,
    /// Two horizontally interpolated source rows (`inner_w × 3` each) and the source row
    /// each holds, so upscaling does not interpolate a row twice.
    rows: [Vec<f32>; 2],
    row_of: [Option<usize>; 2],
}

/// Bilinear source coordinate of output index `i` for a scale of `scale` (output / source),
/// with pixel centres aligned as OpenCV's `INTER_LINEAR` does.
fn source_coord(i: u32, scale: f32, len: u32) -> (usize, usize, f32) {
    let s = ((i as f32 + 0.5) / scale - 0.5).clamp(0.0, (len - 1) as f32);
    let lo = s.floor() as usize;
    let hi = (lo + 1).min(len as usize - 1);
    (lo, hi, s - lo as f32)
}

impl InputTensor {
    /// The tensor data, `3 × dst_h × dst_w` values, valid after [`InputTensor::fill`].
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Resizes `image` into `lb` (its inner rectangle), pads the rest and normalises.
    ///
    /// `image` must be consistent (see [`facelab_plugin_kit::pixels::validate`]).
    pub fn fill(&mut self, image: &ImageView<'_>, lb: &Letterbox, norm: &Normalisation) {
        let (dst_w, dst_h) = (lb.dst_w as usize, lb.dst_h as usize);
        let plane = dst_w * dst_h;
        self.data.resize(3 * plane, 0.0);

        // Network channel c reads source channel `map[c]`.
        let channels = image.format.channels();
        let map: [usize; 3] = match (image.format, norm.order) {
            (PixelFormat::Gray8, _) => [0, 0, 0],
            (PixelFormat::Rgb8, ChannelOrder::Rgb) | (PixelFormat::Bgr8, ChannelOrder::Bgr) => {
                [0, 1, 2]
            }
            _ => [2, 1, 0],
        };
        let offset: [f32; 3] = std::array::from_fn(|c| -norm.mean[c] * norm.scale);

        let (pad_x, pad_y) = (
            (lb.pad_x as usize).min(dst_w),
            (lb.pad_y as usize).min(dst_h),
        );
        let (mut inner_w, mut inner_h) = (
            (lb.inner_w as usize).min(dst_w - pad_x),
            (lb.inner_h as usize).min(dst_h - pad_y),
        );
        if image.width == 0 || image.height == 0 {
            (inner_w, inner_h) = (0, 0);
        }
        // Padding only around the inner rectangle, so each value is written once.
        for c in 0..3 {
            let value = (norm.pad[c] - norm.mean[c]) * norm.scale;
            let p = &mut self.data[c * plane..(c + 1) * plane];
            p[..pad_y * dst_w].fill(value);
            p[(pad_y + inner_h) * dst_w..].fill(value);
            for row in p[pad_y * dst_w..(pad_y + inner_h) * dst_w].chunks_exact_mut(dst_w) {
                row[..pad_x].fill(value);
                row[pad_x + inner_w..].fill(value);
            }
        }
        if inner_w == 0 || inner_h == 0 {
            return;
        }
        let pixels = image.pixels.as_slice();
        let stride = image.stride as usize;
        if lb.scale_x == 1.0
            && lb.scale_y == 1.0
            && inner_w <= image.width as usize
            && inner_h <= image.height as usize
        {
            // One source pixel per input value (a photo-sized input only padded to the
            // network's multiple): every bilinear weight would be 0, so copy. The values are
            // bit for bit those of the interpolating path below.
            for y in 0..inner_h {
                let src = &pixels[y * stride..y * stride + inner_w * channels];
                let out_row = (pad_y + y) * dst_w + pad_x;
                for (c, (&m, &offset)) in map.iter().zip(&offset).enumerate() {
                    let out = &mut self.data[c * plane + out_row..c * plane + out_row + inner_w];
                    for (o, px) in out.iter_mut().zip(src.chunks_exact(channels)) {
                        *o = px[m] as f32 * norm.scale + offset;
                    }
                }
            }
            return;
        }
        self.taps.clear();
        self.taps.extend((0..inner_w as u32).map(|x| {
            let (lo, hi, weight) = source_coord(x, lb.scale_x, image.width);
            Tap {
                left: lo * channels,
                right: hi * channels,
                weight,
            }
        }));
        for row in &mut self.rows {
            row.resize(inner_w * 3, 0.0);
        }
        self.row_of = [None, None];

        for y in 0..inner_h {
            let (y0, y1, wy) = source_coord(y as u32, lb.scale_y, image.height);
            let r0 = self.horizontal(pixels, stride, y0, &map, None);
            let r1 = if y1 == y0 {
                r0
            } else {
                self.horizontal(pixels, stride, y1, &map, Some(r0))
            };
            let (top, bottom) = (&self.rows[r0], &self.rows[r1]);
            let out_row = (pad_y + y) * dst_w + pad_x;
            for (c, &offset) in offset.iter().enumerate() {
                let out = &mut self.data[c * plane + out_row..c * plane + out_row + inner_w];
                let span = c * inner_w..(c + 1) * inner_w;
                let (t, b) = (&top[span.clone()], &bottom[span]);
                for ((o, &t), &b) in out.iter_mut().zip(t).zip(b) {
                    *o = (t + (b - t) * wy) * norm.scale + offset;
                }
            }
        }
    }

    /// Makes sure one of the two row buffers holds source row `y` interpolated
    /// horizontally (planar, network channel order) and returns its index. The buffer
    /// `keep` is not overwritten; otherwise the one holding the upper (older) row is.
    fn horizontal(
        &mut self,
        pixels: &[u8],
        stride: usize,
        y: usize,
        map: &[usize; 3],
        keep: Option<usize>,
    ) -> usize {
        if let Some(i) = self.row_of.iter().position(|r| *r == Some(y)) {
            return i;
        }
        let slot = match (keep, self.row_of) {
            (Some(k), _) => 1 - k,
            (None, [None, _]) => 0,
            (None, [_, None]) => 1,
            (None, [Some(a), Some(b)]) => usize::from(b < a),
        };
        let src = &pixels[y * stride..];
        let inner_w = self.taps.len();
        let (p0, rest) = self.rows[slot].split_at_mut(inner_w);
        let (p1, p2) = rest.split_at_mut(inner_w);
        let [m0, m1, m2] = *map;
        for (x, tap) in self.taps.iter().enumerate() {
            let (l, r) = (&src[tap.left..], &src[tap.right..]);
            let lerp = |m: usize| {
                let a = l[m] as f32;
                a + (r[m] as f32 - a) * tap.weight
            };
            p0[x] = lerp(m0);
            p1[x] = lerp(m1);
            p2[x] = lerp(m2);
        }
        self.row_of[slot] = Some(y);
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Normalisation = Normalisation {
        order: ChannelOrder::Rgb,
        mean: [0.0; 3],
        scale: 1.0,
        pad: [0.0; 3],
    };

    fn view(pixels: &[u8], w: u32, h: u32, stride: u32, format: PixelFormat) -> ImageView<'_> {
        ImageView {
            pixels: pixels.into(),
            width: w,
            height: h,
            stride,
            format,
        }
    }

    #[test]
    fn identity_size_copies_pixels_into_planes() {
        // 2×2 RGB with a padded stride of 8 bytes.
        let px = [
            10, 20, 30, 40, 50, 60, 0, 0, //
            70, 80, 90, 100, 110, 120, 0, 0,
        ];
        let img = view(&px, 2, 2, 8, PixelFormat::Rgb8);
        let mut t = InputTensor::default();
        t.fill(&img, &Letterbox::stretch(2, 2, 2, 2), &PLAIN);
        assert_eq!(
            t.data(),
            &[10., 40., 70., 100., 20., 50., 80., 110., 30., 60., 90., 120.]
        );
    }

    #[test]
    fn scale_one_with_padding_copies_each_pixel_to_its_place() {
        // 3×2 BGR, stride 12, into a 6×5 input at scale 1 with the photo at (2, 1).
        let px: Vec<u8> = (0..24).map(|i| (i * 11 % 256) as u8).collect();
        let img = view(&px, 3, 2, 12, PixelFormat::Bgr8);
        let lb = Letterbox {
            scale_x: 1.0,
            scale_y: 1.0,
            pad_x: 2,
            pad_y: 1,
            inner_w: 3,
            inner_h: 2,
            dst_w: 6,
            dst_h: 5,
        };
        let norm = Normalisation {
            order: ChannelOrder::Rgb,
            mean: [10.0, 20.0, 30.0],
            scale: 0.5,
            pad: [1.0, 2.0, 3.0],
        };
        let mut t = InputTensor::default();
        t.fill(&img, &lb, &norm);
        for c in 0..3 {
            for y in 0..5 {
                for x in 0..6 {
                    let got = t.data()[c * 30 + y * 6 + x];
                    let inside = (2..5).contains(&x) && (1..3).contains(&y);
                    let v = if inside {
                        // Network red is the photo's third byte (BGR).
                        px[(y - 1) * 12 + (x - 2) * 3 + (2 - c)] as f32
                    } else {
                        norm.pad[c]
                    };
                    assert_eq!(got, (v - norm.mean[c]) * norm.scale, "c {c} x {x} y {y}");
                }
            }
        }
    }

    #[test]
    fn bgr_source_into_rgb_network_swaps_channels_and_normalises() {
        let px = [1u8, 2, 3];
        let img = view(&px, 1, 1, 3, PixelFormat::Bgr8);
        let norm = Normalisation {
            order: ChannelOrder::Rgb,
            mean: [1.0, 2.0, 3.0],
            scale: 0.5,
            pad: [0.0; 3],
        };
        let mut t = InputTensor::default();
        t.fill(&img, &Letterbox::stretch(1, 1, 1, 1), &norm);
        assert_eq!(t.data(), &[(3.0 - 1.0) * 0.5, 0.0, (1.0 - 3.0) * 0.5]);
    }

    #[test]
    fn grey_fills_three_equal_channels() {
        let px = [7u8, 9];
        let img = view(&px, 2, 1, 2, PixelFormat::Gray8);
        let mut t = InputTensor::default();
        t.fill(&img, &Letterbox::stretch(2, 1, 2, 1), &PLAIN);
        assert_eq!(t.data(), &[7., 9., 7., 9., 7., 9.]);
    }

    #[test]
    fn upscaling_interpolates_between_pixels_and_letterbox_pads() {
        // 2×1 grey, 0 and 100, into a 4×4 letterbox: inner 4×2 at pad_y 1.
        let px = [0u8, 100];
        let img = view(&px, 2, 1, 2, PixelFormat::Gray8);
        let lb = Letterbox::fit(2, 1, 4, 4);
        assert_eq!((lb.inner_w, lb.inner_h, lb.pad_y), (4, 2, 1));
        let norm = Normalisation {
            pad: [255.0; 3],
            ..PLAIN
        };
        let mut t = InputTensor::default();
        t.fill(&img, &lb, &norm);
        let plane = &t.data()[..16];
        assert_eq!(&plane[0..4], &[255.0; 4]);
        // Centres of 4 outputs over 2 inputs: -0.25, 0.25, 0.75, 1.25 → clamped.
        assert_eq!(&plane[4..8], &[0.0, 25.0, 75.0, 100.0]);
        assert_eq!(&plane[8..12], &[0.0, 25.0, 75.0, 100.0]);
        assert_eq!(&plane[12..16], &[255.0; 4]);
    }

    #[test]
    fn downscaling_a_gradient_keeps_it_monotonic_and_in_range() {
        let (w, h) = (97u32, 61u32);
        let px: Vec<u8> = (0..h)
            .flat_map(|y| (0..w).map(move |x| ((x * 2 + y) % 256) as u8))
            .collect();
        let img = view(&px, w, h, w, PixelFormat::Gray8);
        let lb = Letterbox::stretch(w, h, 20, 13);
        let mut t = InputTensor::default();
        t.fill(&img, &lb, &PLAIN);
        let row0 = &t.data()[..20];
        assert!(row0.windows(2).all(|p| p[1] >= p[0]), "{row0:?}");
        assert!(t.data().iter().all(|v| (0.0..=255.0).contains(v)));
    }

    #[test]
    fn reused_buffers_give_the_same_result_for_a_different_size_in_between() {
        let px: Vec<u8> = (0..(30 * 20 * 3)).map(|i| (i * 7 % 251) as u8).collect();
        let img = view(&px, 30, 20, 90, PixelFormat::Rgb8);
        let lb = Letterbox::fit(30, 20, 64, 64);
        let mut t = InputTensor::default();
        t.fill(&img, &lb, &PLAIN);
        let first = t.data().to_vec();
        t.fill(&img, &Letterbox::fit(30, 20, 16, 8), &PLAIN);
        t.fill(&img, &lb, &PLAIN);
        assert_eq!(t.data(), &first[..]);
    }
}
