//! Face alignment for recognizers: each model declares its profile, and the profile says
//! how a face is cut out of the photo. Nothing here is guessed from a model graph.
//!
//! - `arcface-112`: a 5-point similarity transform (Umeyama) onto the standard ArcFace
//!   template in a 112×112 crop.
//! - `arcface-112-opencv`: the same template and transform, sampled in OpenCV's pixel
//!   convention ([`PixelConvention::Integer`]) instead of facelab's own
//!   ([`PixelConvention::Centre`]): the crop `cv::FaceRecognizerSF::alignCrop` cuts (OpenCV
//!   4.x `modules/objdetect/src/face_recognize.cpp`: `getSimilarityTransformMatrix` onto this
//!   template, then `warpAffine(src, dst, M, Size(112, 112), INTER_LINEAR)` with its default
//!   constant 0 border). SFace (`sface-2021dec`) was trained on and is published with that
//!   crop. Every other ArcFace model keeps `arcface-112`, whose numbers the tests assert.
//! - `openface-96`: an affine transform of the outer eye corners and the nose onto OpenFace's
//!   96×96 template. With only the five standard landmarks the outer eye corners are
//!   estimated from the eye centres (0.28 inter-ocular distances outwards, the mean ratio of
//!   the 68-point model), which is documented as an approximation.
//! - `facenet-160`: the face box's longer side plus 20%, square and centred, resized to
//!   160×160; landmarks are not used, and there is no rotation (FaceNet 20180408 was trained
//!   on unrotated MTCNN crops: davidsandberg/facenet `align_dataset_mtcnn.py`, the box plus
//!   a fixed margin, resized). Measured on LFW fold 1 with the model's own standardisation
//!   (`benches/python/facenet_lfw.py`, 600 pairs): this crop 0.9833, FaceNet's own LFW crop
//!   (MTCNN box + 16 px a side, resized to 160×160) 0.9833, and a similarity from the five
//!   landmarks onto the mean landmark positions of those crops 0.9800, so the crop is not
//!   what cost accuracy (the standardisation was; see `facenet-512` in the manifest) and the
//!   box crop stays: it needs no landmarks, so it works with every detector.
//! - A box-based fallback for detectors without landmarks: the five points are placed at
//!   their mean positions inside the box (the ArcFace template scaled to the box), which
//!   gives a usable but less precise alignment.

use facelab_plugin_api::{BBox, ImageView, Landmarks5, PixelFormat, Point2};

/// The ArcFace 5-point template in a 112×112 crop, in [`Landmarks5`] order.
pub const ARCFACE_112: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// OpenFace's 96×96 template for (outer corner of the image-left eye, outer corner of the
/// image-right eye, nose tip): `MINMAX_TEMPLATE` points 36, 45 and 33 scaled to 96.
pub const OPENFACE_96: [[f32; 2]; 3] = [[15.3354, 20.6064], [80.5596, 19.9824], [47.4792, 55.5072]];

/// A 2×3 affine matrix mapping crop pixels to photo pixels: `x = m[0]·u + m[1]·v + m[2]`,
/// `y = m[3]·u + m[4]·v + m[5]`.
pub type Affine = [f32; 6];

/// The least-squares similarity transform (rotation, uniform scale, translation) that maps
/// `src` onto `dst` (Umeyama 1991, without reflection). Returns the matrix from `src` to
/// `dst` coordinates.
pub fn similarity(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Affine {
    let n = src.len().min(dst.len()) as f64;
    let mean = |p: &[[f32; 2]]| {
        let (sx, sy) = p
            .iter()
            .fold((0.0, 0.0), |(a, b), q| (a + q[0] as f64, b + q[1] as f64));
        (sx / n, sy / n)
    };
    let (msx, msy) = mean(src);
    let (mdx, mdy) = mean(dst);
    // For 2-D similarity the optimum has a closed form: with centred points,
    // a = Σ(sx·dx + sy·dy) / Σ|s|², b = Σ(sx·dy − sy·dx) / Σ|s|².
    let (mut num_a, mut num_b, mut den) = (0.0f64, 0.0f64, 0.0f64);
    for (s, d) in src.iter().zip(dst) {
        let (sx, sy) = (s[0] as f64 - msx, s[1] as f64 - msy);
        let (dx, dy) = (d[0] as f64 - mdx, d[1] as f64 - mdy);
        num_a += sx * dx + sy * dy;
        num_b += sx * dy - sy * dx;
        den += sx * sx + sy * sy;
    }
    let (a, b) = if den > 0.0 {
        (num_a / den, num_b / den)
    } else {
        (1.0, 0.0)
    };
    let tx = mdx - (a * msx - b * msy);
    let ty = mdy - (b * msx + a * msy);
    [
        a as f32, -b as f32, tx as f32, b as f32, a as f32, ty as f32,
    ]
}

/// The inverse of an affine matrix (identity when singular).
pub fn invert(m: &Affine) -> Affine {
    let det = m[0] * m[4] - m[1] * m[3];
    if det.abs() < 1e-12 {
        return [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
    }
    let (a, b, c, d) = (m[4] / det, -m[1] / det, -m[3] / det, m[0] / det);
    [a, b, -(a * m[2] + b * m[5]), c, d, -(c * m[2] + d * m[5])]
}

/// Applies an affine matrix to a point.
pub fn apply(m: &Affine, x: f32, y: f32) -> (f32, f32) {
    (m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5])
}

/// The exact affine transform mapping three `src` points onto three `dst` points.
pub fn affine3(src: &[[f32; 2]; 3], dst: &[[f32; 2]; 3]) -> Affine {
    // Solve [x y 1] · coefficients = target for each output coordinate.
    let m = [
        src[0][0], src[0][1], 1.0, src[1][0], src[1][1], 1.0, src[2][0], src[2][1], 1.0,
    ];
    let det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6])
        + m[2] * (m[3] * m[7] - m[4] * m[6]);
    if det.abs() < 1e-9 {
        return [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
    }
    let solve = |t: [f32; 3]| {
        let d = |c0: [f32; 3], c1: [f32; 3], c2: [f32; 3]| {
            c0[0] * (c1[1] * c2[2] - c1[2] * c2[1]) - c1[0] * (c0[1] * c2[2] - c0[2] * c2[1])
                + c2[0] * (c0[1] * c1[2] - c0[2] * c1[1])
        };
        let col0 = [m[0], m[3], m[6]];
        let col1 = [m[1], m[4], m[7]];
        let col2 = [m[2], m[5], m[8]];
        [
            d(t, col1, col2) / det,
            d(col0, t, col2) / det,
            d(col0, col1, t) / det,
        ]
    };
    let x = solve([dst[0][0], dst[1][0], dst[2][0]]);
    let y = solve([dst[0][1], dst[1][1], dst[2][1]]);
    [x[0], x[1], x[2], y[0], y[1], y[2]]
}

/// Landmarks as `[x, y]` pairs.
pub fn points(l: &Landmarks5) -> [[f32; 2]; 5] {
    l.points.map(|p| [p.x, p.y])
}

/// The fallback landmarks for a face box without them: the ArcFace template's points at
/// their relative positions, placed in the box.
pub fn landmarks_from_box(b: &BBox) -> Landmarks5 {
    Landmarks5 {
        points: ARCFACE_112.map(|[x, y]| Point2 {
            x: b.x + x / 112.0 * b.width,
            y: b.y + y / 112.0 * b.height,
        }),
    }
}

/// Where the value of pixel `(i, j)` sits, in the continuous coordinates that landmarks,
/// templates and [`Affine`] matrices use.
///
/// The two conventions differ by half a pixel on both sides of a warp: for a crop-to-photo
/// matrix of scale `s` (photo pixels per crop pixel) the sampled point moves by
/// `(s − 1) / 2` photo pixels, so they agree only at scale 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PixelConvention {
    /// Pixel `(i, j)` is the square `[i, i+1) × [j, j+1)` and its value sits at its centre
    /// `(i + ½, j + ½)`: facelab's own ([`warp`] samples crop pixel `(u, v)` at
    /// `M·(u + ½, v + ½) − ½`), which does not depend on the resolution.
    #[default]
    Centre,
    /// Pixel `(i, j)`'s value sits at the integer point `(i, j)`: OpenCV's `warpAffine`
    /// (`dst(u, v) = src(M⁻¹·(u, v))`), and so the crop of `FaceRecognizerSF::alignCrop`.
    Integer,
}

impl PixelConvention {
    /// A crop-to-photo matrix `m` written in this convention, rewritten in facelab's
    /// ([`PixelConvention::Centre`], what [`warp`] takes), so that [`warp`] samples the same
    /// photo point for each crop pixel as `m` does in this convention.
    pub fn to_centre(self, m: &Affine) -> Affine {
        match self {
            PixelConvention::Centre => *m,
            // Centre coordinates are integer ones plus ½ on both sides: M_c(p) = M(p − ½) + ½.
            PixelConvention::Integer => {
                let (x, y) = apply(m, -0.5, -0.5);
                [m[0], m[1], x + 0.5, m[3], m[4], y + 0.5]
            }
        }
    }
}

/// How to cut a face out for one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum Profile {
    /// 5-point similarity onto the ArcFace template, 112×112.
    #[serde(rename = "arcface-112")]
    Arcface112,
    /// [`Profile::Arcface112`] in OpenCV's pixel convention ([`PixelConvention::Integer`]):
    /// `FaceRecognizerSF::alignCrop`'s crop.
    #[serde(rename = "arcface-112-opencv")]
    Arcface112Opencv,
    /// Outer eyes and nose affine onto OpenFace's template, 96×96.
    #[serde(rename = "openface-96")]
    Openface96,
    /// Box's longer side + 20%, square, 160×160, no rotation.
    #[serde(rename = "facenet-160")]
    Facenet160,
}

impl Profile {
    /// The profile named in a manifest or config.
    pub fn parse(name: &str) -> Option<Profile> {
        match name {
            "arcface-112" => Some(Profile::Arcface112),
            "arcface-112-opencv" => Some(Profile::Arcface112Opencv),
            "openface-96" => Some(Profile::Openface96),
            "facenet-160" => Some(Profile::Facenet160),
            _ => None,
        }
    }

    /// The name a manifest or config uses.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Arcface112 => "arcface-112",
            Profile::Arcface112Opencv => "arcface-112-opencv",
            Profile::Openface96 => "openface-96",
            Profile::Facenet160 => "facenet-160",
        }
    }

    /// The crop side in pixels.
    pub fn size(self) -> u32 {
        match self {
            Profile::Arcface112 | Profile::Arcface112Opencv => 112,
            Profile::Openface96 => 96,
            Profile::Facenet160 => 160,
        }
    }

    /// The pixel convention the profile's template and landmarks are read in.
    pub fn pixels(self) -> PixelConvention {
        match self {
            Profile::Arcface112Opencv => PixelConvention::Integer,
            Profile::Arcface112 | Profile::Openface96 | Profile::Facenet160 => {
                PixelConvention::Centre
            }
        }
    }

    /// The matrix from crop pixels to photo pixels for a face, in facelab's pixel
    /// convention (what [`warp`] takes), whatever the profile's own [`Profile::pixels`].
    pub fn crop_to_photo(self, bbox: &BBox, landmarks: Option<&Landmarks5>) -> Affine {
        let fallback;
        let lm = match landmarks {
            Some(l) => l,
            None => {
                fallback = landmarks_from_box(bbox);
                &fallback
            }
        };
        let m = match self {
            Profile::Arcface112 | Profile::Arcface112Opencv => {
                invert(&similarity(&points(lm), &ARCFACE_112))
            }
            Profile::Openface96 => {
                let p = points(lm);
                let (l, r) = (p[0], p[1]);
                let (dx, dy) = (r[0] - l[0], r[1] - l[1]);
                let outer_l = [l[0] - 0.28 * dx, l[1] - 0.28 * dy];
                let outer_r = [r[0] + 0.28 * dx, r[1] + 0.28 * dy];
                invert(&affine3(&[outer_l, outer_r, p[2]], &OPENFACE_96))
            }
            Profile::Facenet160 => {
                let side = bbox.width.max(bbox.height) * 1.2;
                let (cx, cy) = (bbox.x + bbox.width / 2.0, bbox.y + bbox.height / 2.0);
                let s = side / 160.0;
                [s, 0.0, cx - side / 2.0, 0.0, s, cy - side / 2.0]
            }
        };
        self.pixels().to_centre(&m)
    }
}

/// Mirrors packed 3-channel `size × size` pixels left to right, in place.
pub fn mirror_crop(pixels: &mut [u8], size: u32) {
    let row = size as usize * 3;
    for line in pixels.chunks_exact_mut(row) {
        let n = line.len() / 3;
        for a in 0..n / 2 {
            let b = n - 1 - a;
            for c in 0..3 {
                line.swap(a * 3 + c, b * 3 + c);
            }
        }
    }
}

/// The embeddings of crops given as (face, its mirror image) pairs, one per face: the mean
/// of each pair, L2-normalised again when `normalize` (each half already is).
pub fn fold_mirrored(pairs: Vec<Vec<f32>>, normalize: bool) -> Vec<Vec<f32>> {
    pairs
        .chunks(2)
        .map(|p| {
            let mut v = p[0].clone();
            if let Some(m) = p.get(1) {
                v.iter_mut().zip(m).for_each(|(a, b)| *a = 0.5 * (*a + b));
            }
            if normalize {
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                if norm > 0.0 {
                    v.iter_mut().for_each(|x| *x /= norm);
                }
            }
            v
        })
        .collect()
}

/// Samples a `size × size` crop through `crop_to_photo` (bilinear, black outside the
/// photo) into packed 3-channel pixels in `rgb` or BGR order.
pub fn warp(view: &ImageView<'_>, crop_to_photo: &Affine, size: u32, rgb: bool) -> Vec<u8> {
    let c = view.format.channels();
    let px = view.pixels.as_slice();
    let stride = view.stride as usize;
    let (w, h) = (view.width as i64, view.height as i64);
    let fetch = |x: i64, y: i64| -> [f32; 3] {
        if x < 0 || y < 0 || x >= w || y >= h {
            return [0.0; 3];
        }
        let i = y as usize * stride + x as usize * c;
        let (r, g, b) = match view.format {
            PixelFormat::Gray8 => (px[i], px[i], px[i]),
            PixelFormat::Rgb8 => (px[i], px[i + 1], px[i + 2]),
            PixelFormat::Bgr8 => (px[i + 2], px[i + 1], px[i]),
        };
        [r as f32, g as f32, b as f32]
    };
    let mut out = Vec::with_capacity((size * size * 3) as usize);
    for v in 0..size {
        for u in 0..size {
            // Pixel centres: crop pixel (u, v) covers [u, u+1).
            let (x, y) = apply(crop_to_photo, u as f32 + 0.5, v as f32 + 0.5);
            let (x, y) = (x - 0.5, y - 0.5);
            let (x0, y0) = (x.floor() as i64, y.floor() as i64);
            let (fx, fy) = (x - x0 as f32, y - y0 as f32);
            let (a, b, cc, d) = (
                fetch(x0, y0),
                fetch(x0 + 1, y0),
                fetch(x0, y0 + 1),
                fetch(x0 + 1, y0 + 1),
            );
            let mut rgbv = [0u8; 3];
            for k in 0..3 {
                let top = a[k] + (b[k] - a[k]) * fx;
                let bottom = cc[k] + (d[k] - cc[k]) * fx;
                rgbv[k] = (top + (bottom - top) * fy).round().clamp(0.0, 255.0) as u8;
            }
            if rgb {
                out.extend_from_slice(&rgbv);
            } else {
                out.extend_from_slice(&[rgbv[2], rgbv[1], rgbv[0]]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_crop_reverses_each_row_and_keeps_channel_order() {
        // 3 × 3 crop, pixel (x, y) = [x, y, 9].
        let mut px: Vec<u8> = (0..3u8)
            .flat_map(|y| (0..3u8).flat_map(move |x| [x, y, 9]))
            .collect();
        mirror_crop(&mut px, 3);
        for y in 0..3u8 {
            for x in 0..3u8 {
                let i = (y as usize * 3 + x as usize) * 3;
                assert_eq!(&px[i..i + 3], &[2 - x, y, 9]);
            }
        }
        let mut twice = px.clone();
        mirror_crop(&mut twice, 3);
        mirror_crop(&mut twice, 3);
        assert_eq!(twice, px);
    }

    #[test]
    fn fold_mirrored_averages_each_pair() {
        let v = fold_mirrored(
            vec![
                vec![1.0, 0.0],
                vec![0.0, 1.0],
                vec![3.0, 4.0],
                vec![3.0, 4.0],
            ],
            true,
        );
        assert_eq!(v.len(), 2);
        assert!((v[0][0] - 0.5f32.sqrt()).abs() < 1e-6 && (v[0][1] - 0.5f32.sqrt()).abs() < 1e-6);
        assert!((v[1][0] - 0.6).abs() < 1e-6 && (v[1][1] - 0.8).abs() < 1e-6);
        let raw = fold_mirrored(vec![vec![2.0, 0.0], vec![0.0, 2.0]], false);
        assert_eq!(raw, vec![vec![1.0, 1.0]]);
    }

    #[test]
    fn similarity_recovers_a_known_transform() {
        // Scale 2, rotate 30°, translate (10, -5).
        let (s, t) = (2.0f32, 30f32.to_radians());
        let m = [
            s * t.cos(),
            -s * t.sin(),
            10.0,
            s * t.sin(),
            s * t.cos(),
            -5.0,
        ];
        let dst: Vec<[f32; 2]> = ARCFACE_112
            .iter()
            .map(|p| {
                let (x, y) = apply(&m, p[0], p[1]);
                [x, y]
            })
            .collect();
        let got = similarity(&ARCFACE_112, &dst);
        for (a, b) in got.iter().zip(m) {
            assert!((a - b).abs() < 1e-3, "{got:?} vs {m:?}");
        }
        let back = invert(&got);
        let (x, y) = apply(&back, dst[2][0], dst[2][1]);
        assert!((x - ARCFACE_112[2][0]).abs() < 1e-3 && (y - ARCFACE_112[2][1]).abs() < 1e-3);
    }

    /// Five points of a slightly turned face, in photo pixels.
    fn face_points() -> Landmarks5 {
        Landmarks5 {
            points: [
                [100.0, 120.0],
                [160.0, 110.0],
                [130.0, 150.0],
                [105.0, 180.0],
                [155.0, 175.0],
            ]
            .map(|[x, y]| Point2 { x, y }),
        }
    }

    #[test]
    fn arcface_alignment_puts_the_eyes_on_the_template() {
        let lm = face_points();
        let m = Profile::Arcface112.crop_to_photo(&BBox::new(80.0, 80.0, 110.0, 130.0), Some(&lm));
        let to_crop = invert(&m);
        for (i, t) in ARCFACE_112.iter().enumerate().take(2) {
            let (u, v) = apply(&to_crop, lm.points[i].x, lm.points[i].y);
            assert!(
                (u - t[0]).abs() < 3.0 && (v - t[1]).abs() < 3.0,
                "eye {i} lands at ({u}, {v}), template {t:?}"
            );
        }
    }

    #[test]
    fn arcface_112_opencv_samples_where_warp_affine_does() {
        // Landmarks at 3× the template plus 10: OpenCV's warpAffine fills crop pixel (u, v)
        // from photo pixel (3u + 10, 3v + 10) exactly; facelab's own convention samples the
        // centre of the crop pixel's 3 × 3 footprint, one photo pixel further on. Both land
        // on whole pixels, so the values are exact: red holds x, green holds y (mod 251).
        let (w, h) = (360u32, 360u32);
        let value = |i: u32| (i % 251) as u8;
        let px: Vec<u8> = (0..h)
            .flat_map(|y| (0..w).flat_map(move |x| [value(x), value(y), 7]))
            .collect();
        let view = ImageView::packed(&px, w, h, PixelFormat::Rgb8).unwrap();
        let lm = Landmarks5 {
            points: ARCFACE_112.map(|[x, y]| Point2 {
                x: 3.0 * x + 10.0,
                y: 3.0 * y + 10.0,
            }),
        };
        let bbox = BBox::new(0.0, 0.0, w as f32, h as f32);
        for (profile, offset) in [(Profile::Arcface112Opencv, 10), (Profile::Arcface112, 11)] {
            let crop = warp(&view, &profile.crop_to_photo(&bbox, Some(&lm)), 112, true);
            let mut checked = 0;
            for v in 0..112u32 {
                for u in 0..112u32 {
                    let (x, y) = (3 * u + offset, 3 * v + offset);
                    // Next to the ramp's wrap a sample a hair off the pixel blends 250 and 0.
                    if [x, y].iter().any(|c| c % 251 == 0 || c % 251 == 250) {
                        continue;
                    }
                    let i = ((v * 112 + u) * 3) as usize;
                    assert_eq!(
                        crop[i..i + 3],
                        [value(x), value(y), 7],
                        "{}: crop pixel ({u}, {v})",
                        profile.name()
                    );
                    checked += 1;
                }
            }
            assert!(checked > 12_000, "{checked}");
        }
    }

    #[test]
    fn the_other_profiles_keep_facelabs_pixel_centres() {
        let lm = face_points();
        let bbox = BBox::new(80.0, 80.0, 110.0, 130.0);
        assert_eq!(
            Profile::Arcface112.crop_to_photo(&bbox, Some(&lm)),
            invert(&similarity(&points(&lm), &ARCFACE_112))
        );
        for p in [
            Profile::Arcface112,
            Profile::Openface96,
            Profile::Facenet160,
        ] {
            assert_eq!(p.pixels(), PixelConvention::Centre, "{}", p.name());
            assert_eq!(Profile::parse(p.name()), Some(p));
        }
        let opencv = Profile::Arcface112Opencv;
        assert_eq!(opencv.pixels(), PixelConvention::Integer);
        assert_eq!(Profile::parse("arcface-112-opencv"), Some(opencv));
        assert_eq!(opencv.size(), 112);
        // The same similarity, half a pixel moved through it on both sides.
        let m = invert(&similarity(&points(&lm), &ARCFACE_112));
        let c = opencv.crop_to_photo(&bbox, Some(&lm));
        for (u, v) in [(0.0, 0.0), (55.0, 71.0), (111.0, 111.0)] {
            let (x, y) = apply(&c, u + 0.5, v + 0.5);
            let (ox, oy) = apply(&m, u, v);
            assert!((x - 0.5 - ox).abs() < 1e-3 && (y - 0.5 - oy).abs() < 1e-3);
        }
    }

    #[test]
    fn affine3_maps_the_three_points_exactly() {
        let src = [[10.0, 10.0], [50.0, 12.0], [30.0, 40.0]];
        let m = affine3(&src, &OPENFACE_96);
        for (s, d) in src.iter().zip(OPENFACE_96) {
            let (x, y) = apply(&m, s[0], s[1]);
            assert!((x - d[0]).abs() < 1e-3 && (y - d[1]).abs() < 1e-3);
        }
    }

    #[test]
    fn warp_with_identity_copies_pixels_and_swaps_channels() {
        let px: Vec<u8> = (0..4 * 4 * 3).map(|i| i as u8).collect();
        let view = ImageView::packed(&px, 4, 4, PixelFormat::Rgb8).unwrap();
        let out = warp(&view, &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0], 4, true);
        assert_eq!(out, px);
        let bgr = warp(&view, &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0], 4, false);
        assert_eq!(&bgr[..3], &[2, 1, 0]);
    }
}
