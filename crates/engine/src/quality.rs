//! Face quality: how far a detected face can be trusted as evidence of who it is.
//!
//! A small, blurred, turned-away or barely-detected face embeds badly, and one such face
//! among a person's named faces pulls suggestions and clusters astray. Each face gets a
//! score in [0, 1], the product of four components, each in [0, 1]:
//!
//! | component | measured as | 0 at or below | 1 from |
//! |---|---|---|---|
//! | size | face box height `h`, photo pixels | [`SIZE_ZERO_PX`] 15.6 | [`SIZE_FULL_PX`] 32 |
//! | sharpness | variance of the 4-neighbour Laplacian of the grey face crop resized to [`CROP`]² = 32² | [`SHARPNESS_ZERO`] 46.8 | [`SHARPNESS_FULL`] 364 |
//! | pose | yaw and pitch proxies from the 5 landmarks; 1 when the detector gives none | \|yaw\| [`YAW_ZERO`] 2, \|pitch\| [`PITCH_ZERO`] 0.4 | \|yaw\| ≤ [`YAW_FULL`] 1, \|pitch\| ≤ [`PITCH_FULL`] 0.2 |
//! | detector | the detector's score | [`DETECTOR_ZERO`] 0.65 | [`DETECTOR_FULL`] 0.84 |
//!
//! Between its ends a component is linear in the logarithm of the measurement (size,
//! sharpness: both act as a scale) or in the measurement itself (pose: the product of a yaw
//! and a pitch part; detector score). The score is the product of the four, so one bad
//! component is enough to make a face bad.
//!
//! The proxies: in the frame of the eye line (so an in-plane tilt does not count), *yaw* is
//! the nose's offset from the eye midpoint in half eye distances (0 frontal, ±1 with the nose
//! in front of an eye) and *pitch* is where the nose lies between the eye line (0) and the
//! mouth line (1), minus the ArcFace template's 0.495 ([`FRONTAL_NOSE_DEPTH`]).
//!
//! # Where the constants come from
//! Each constant comes from one rule applied once to the shared data (the LFW people with five
//! or more photos, and WIDER mini for the detector score), never per photo. For size and
//! sharpness: 1 from the most degraded level whose rank-1 rate (nearest other face is the
//! same person) is within one point of full quality, 0 where the rate is half of it,
//! interpolated in the logarithm. For pose: 1 up to the largest yaw and pitch whose bins of
//! at least 30 faces are all within one point of frontal, 0 at twice that (an extrapolation).
//! For the detector score: 0 where half the detections at that score are faces, 1 where 95%
//! are. The measurements, and the commands that repeat them (`cargo test --release -p
//! facelab --test it -- --ignored --nocapture quality::measure_`), are in `docs/library.md`
//! ("Face quality").

use facelab_plugin_api::{Face, PixelFormat};
use serde::{Deserialize, Serialize};

use crate::photo::Photo;

/// Side of the square grey crop the sharpness is measured on, pixels.
pub const CROP: u32 = 32;

/// Face height (photo pixels) at and below which the size component is 0.
pub const SIZE_ZERO_PX: f32 = 15.6;
/// Face height (photo pixels) from which the size component is 1.
pub const SIZE_FULL_PX: f32 = 32.0;

/// Laplacian variance (of the [`CROP`]² crop) at and below which sharpness is 0.
pub const SHARPNESS_ZERO: f32 = 46.8;
/// Laplacian variance from which sharpness is 1.
pub const SHARPNESS_FULL: f32 = 364.0;

/// |yaw proxy| up to which the yaw part of the pose component is 1.
pub const YAW_FULL: f32 = 1.0;
/// |yaw proxy| from which the yaw part is 0.
pub const YAW_ZERO: f32 = 2.0;
/// |pitch proxy| up to which the pitch part of the pose component is 1.
pub const PITCH_FULL: f32 = 0.2;
/// |pitch proxy| from which the pitch part is 0.
pub const PITCH_ZERO: f32 = 0.4;

/// Detector score at and below which the detector component is 0.
pub const DETECTOR_ZERO: f32 = 0.65;
/// Detector score from which the detector component is 1.
pub const DETECTOR_FULL: f32 = 0.84;

/// Where the nose tip lies between the eye line (0) and the mouth line (1) in the ArcFace
/// alignment template, which every aligner warps faces to: the frontal pitch.
pub const FRONTAL_NOSE_DEPTH: f32 = 0.495;

/// The raw measurements of one face, before they are mapped to components.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Measures {
    /// Face box height, photo pixels.
    pub height_px: f32,
    /// Variance of the 4-neighbour Laplacian of the grey crop resized to [`CROP`]².
    pub laplacian_variance: f32,
    /// Nose offset from the eye midpoint along the eye line, in half eye distances: 0 for
    /// a frontal face, ±1 with the nose in front of an eye. `None` without landmarks.
    pub yaw: Option<f32>,
    /// Nose depth between the eye line (0) and the mouth line (1) minus the frontal
    /// [`FRONTAL_NOSE_DEPTH`]. `None` without landmarks.
    pub pitch: Option<f32>,
    /// The detector's score.
    pub detector_score: f32,
}

/// A face's quality: the components and their product.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// From the face height.
    pub size: f32,
    /// From the Laplacian variance of the resized crop.
    pub sharpness: f32,
    /// From the landmarks' yaw and pitch proxies; 1 without landmarks.
    pub pose: f32,
    /// From the detector score.
    pub detector: f32,
    /// The product of the four: the face's quality.
    pub score: f32,
}

impl Quality {
    /// The four components in a fixed order (size, sharpness, pose, detector), for storage.
    pub fn parts(&self) -> [f32; 4] {
        [self.size, self.sharpness, self.pose, self.detector]
    }

    /// A quality from its stored components; the score is their product.
    pub fn from_parts(p: [f32; 4]) -> Quality {
        Quality {
            size: p[0],
            sharpness: p[1],
            pose: p[2],
            detector: p[3],
            score: p.iter().product(),
        }
    }
}

/// The quality of `face` in `photo` (the box and landmarks in its absolute pixels).
pub fn assess(photo: &Photo, face: &Face) -> Quality {
    measure(photo, face).quality()
}

/// The raw measurements of `face` in `photo`.
pub fn measure(photo: &Photo, face: &Face) -> Measures {
    let (yaw, pitch) = match face.landmarks.as_ref().into_option() {
        Some(l) => pose_proxies(&l.points.map(|p| (p.x, p.y))).unzip(),
        None => (None, None),
    };
    Measures {
        height_px: face.bbox.height.max(0.0),
        laplacian_variance: grey_crop(photo, face)
            .map(|c| laplacian_variance(&c, CROP as usize))
            .unwrap_or(0.0),
        yaw,
        pitch,
        detector_score: face.score,
    }
}

/// Linear from 0 at `zero` to 1 at `full` (either order), clamped.
fn ramp(x: f32, zero: f32, full: f32) -> f32 {
    if !x.is_finite() {
        return 0.0;
    }
    ((x - zero) / (full - zero)).clamp(0.0, 1.0)
}

/// [`ramp`] in the logarithm of `x`.
fn log_ramp(x: f32, zero: f32, full: f32) -> f32 {
    if x <= 0.0 {
        return 0.0;
    }
    ramp(x.ln(), zero.ln(), full.ln())
}

impl Measures {
    /// The components and the score.
    pub fn quality(&self) -> Quality {
        let size = log_ramp(self.height_px, SIZE_ZERO_PX, SIZE_FULL_PX);
        let sharpness = log_ramp(self.laplacian_variance, SHARPNESS_ZERO, SHARPNESS_FULL);
        let pose = match (self.yaw, self.pitch) {
            (Some(y), Some(p)) => {
                ramp(y.abs(), YAW_ZERO, YAW_FULL) * ramp(p.abs(), PITCH_ZERO, PITCH_FULL)
            }
            // No landmarks: nothing is known about the pose, so it costs nothing.
            _ => 1.0,
        };
        let detector = ramp(self.detector_score, DETECTOR_ZERO, DETECTOR_FULL);
        Quality {
            size,
            sharpness,
            pose,
            detector,
            score: size * sharpness * pose * detector,
        }
    }
}

/// Yaw and pitch proxies from the five landmarks (eye left, eye right, nose, mouth left,
/// mouth right, in image pixels), in the frame of the eye line so an in-plane tilt does not
/// count. `None` when the points are degenerate (eyes on one spot, mouth not below them).
pub fn pose_proxies(p: &[(f32, f32); 5]) -> Option<(f32, f32)> {
    let eye_mid = ((p[0].0 + p[1].0) / 2.0, (p[0].1 + p[1].1) / 2.0);
    let mouth_mid = ((p[3].0 + p[4].0) / 2.0, (p[3].1 + p[4].1) / 2.0);
    let (ex, ey) = (p[1].0 - p[0].0, p[1].1 - p[0].1);
    let d = (ex * ex + ey * ey).sqrt();
    if d < 1e-3 || !d.is_finite() {
        return None;
    }
    // u along the eyes, v perpendicular, pointing down the face.
    let u = (ex / d, ey / d);
    let v = (-u.1, u.0);
    let dot = |a: (f32, f32), b: (f32, f32)| a.0 * b.0 + a.1 * b.1;
    let nose = (p[2].0 - eye_mid.0, p[2].1 - eye_mid.1);
    let mouth = (mouth_mid.0 - eye_mid.0, mouth_mid.1 - eye_mid.1);
    let mouth_depth = dot(mouth, v);
    if mouth_depth < 1e-3 {
        return None;
    }
    let yaw = dot(nose, u) / (d / 2.0);
    let pitch = dot(nose, v) / mouth_depth - FRONTAL_NOSE_DEPTH;
    Some((yaw, pitch))
}

/// The face box of `photo` in grey, resized to [`CROP`]² (area-weighted when shrinking);
/// `None` when the box holds no pixel of the photo.
fn grey_crop(photo: &Photo, face: &Face) -> Option<Vec<f32>> {
    let b = &face.bbox;
    let x0 = b.x.max(0.0).floor() as u32;
    let y0 = b.y.max(0.0).floor() as u32;
    let x1 = ((b.x + b.width).min(photo.width as f32).ceil() as u32).min(photo.width);
    let y1 = ((b.y + b.height).min(photo.height as f32).ceil() as u32).min(photo.height);
    if x1 <= x0 || y1 <= y0 || !b.width.is_finite() || !b.height.is_finite() {
        return None;
    }
    let (w, h) = (x1 - x0, y1 - y0);
    let ch = photo.format.channels();
    let stride = photo.width as usize * ch;
    let mut grey = image::GrayImage::new(w, h);
    for y in 0..h {
        let row = (y0 + y) as usize * stride;
        for x in 0..w {
            let i = row + (x0 + x) as usize * ch;
            let px = &photo.pixels[i..i + ch];
            let v = match photo.format {
                PixelFormat::Gray8 => px[0] as u32,
                PixelFormat::Rgb8 => {
                    (299 * px[0] as u32 + 587 * px[1] as u32 + 114 * px[2] as u32) / 1000
                }
                PixelFormat::Bgr8 => {
                    (299 * px[2] as u32 + 587 * px[1] as u32 + 114 * px[0] as u32) / 1000
                }
            };
            grey.put_pixel(x, y, image::Luma([v as u8]));
        }
    }
    let resized = image::imageops::resize(&grey, CROP, CROP, image::imageops::FilterType::Triangle);
    Some(resized.into_raw().into_iter().map(f32::from).collect())
}

/// Variance of the 4-neighbour Laplacian over the interior of a `side`² image.
fn laplacian_variance(img: &[f32], side: usize) -> f32 {
    let (mut sum, mut sq, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for y in 1..side - 1 {
        for x in 1..side - 1 {
            let c = img[y * side + x];
            let l = img[(y - 1) * side + x]
                + img[(y + 1) * side + x]
                + img[y * side + x - 1]
                + img[y * side + x + 1]
                - 4.0 * c;
            sum += l as f64;
            sq += (l as f64) * (l as f64);
            n += 1.0;
        }
    }
    if n == 0.0 {
        return 0.0;
    }
    let mean = sum / n;
    (sq / n - mean * mean).max(0.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use facelab_plugin_api::{BBox, Landmarks5, Point2};

    /// The ArcFace 112×112 template: a frontal face.
    const TEMPLATE: [(f32, f32); 5] = [
        (38.2946, 51.6963),
        (73.5318, 51.5014),
        (56.0252, 71.7366),
        (41.5493, 92.3655),
        (70.7299, 92.2041),
    ];

    #[test]
    fn the_template_face_is_frontal() {
        let landmarks = Landmarks5 {
            points: TEMPLATE.map(|(x, y)| Point2 { x, y }),
        };
        let mut f = Face::new(BBox::new(0.0, 0.0, 112.0, 112.0), 0.95);
        f.landmarks = Some(landmarks).into();
        let m = measure(&photo(vec![0; 112 * 112], 112), &f);
        assert!(m.yaw.unwrap().abs() < 0.01);
    }

    #[test]
    fn the_alignment_template_is_frontal_at_any_tilt() {
        let (yaw, pitch) = pose_proxies(&TEMPLATE).unwrap();
        assert!(yaw.abs() < 0.01 && pitch.abs() < 0.01, "{yaw} {pitch}");
        // Rotated 30° in the image plane: still frontal.
        let (s, c) = 30f32.to_radians().sin_cos();
        let rotated = TEMPLATE.map(|(x, y)| (c * x - s * y, s * x + c * y));
        let (yaw, pitch) = pose_proxies(&rotated).unwrap();
        assert!(yaw.abs() < 0.01 && pitch.abs() < 0.01, "{yaw} {pitch}");
    }

    #[test]
    fn a_nose_towards_one_eye_is_a_turned_face() {
        let mut turned = TEMPLATE;
        turned[2].0 = 70.0;
        let (yaw, _) = pose_proxies(&turned).unwrap();
        assert!(yaw > 0.7, "{yaw}");
        let mut up = TEMPLATE;
        up[2].1 = 56.0;
        let (_, pitch) = pose_proxies(&up).unwrap();
        assert!(pitch < -0.3, "{pitch}");
        // Degenerate points say nothing.
        assert!(pose_proxies(&[(1.0, 1.0); 5]).is_none());
    }

    #[test]
    fn components_follow_their_measurements_and_the_score_is_their_product() {
        let good = Measures {
            height_px: 200.0,
            laplacian_variance: 10.0 * SHARPNESS_FULL,
            yaw: Some(0.0),
            pitch: Some(0.0),
            detector_score: 0.99,
        };
        let q = good.quality();
        assert_eq!(q.parts(), [1.0; 4]);
        assert_eq!(q.score, 1.0);
        let small = Measures {
            height_px: SIZE_ZERO_PX,
            ..good
        };
        assert_eq!(small.quality().size, 0.0);
        assert_eq!(small.quality().score, 0.0);
        let mid = Measures {
            height_px: (SIZE_ZERO_PX * SIZE_FULL_PX).sqrt(),
            yaw: Some(-(YAW_FULL + YAW_ZERO) / 2.0),
            ..good
        }
        .quality();
        assert!((mid.size - 0.5).abs() < 1e-4, "{mid:?}");
        assert!((mid.pose - 0.5).abs() < 1e-4, "{mid:?}");
        assert!((mid.score - 0.25).abs() < 1e-4, "{mid:?}");
        let unknown_pose = Measures {
            yaw: None,
            pitch: None,
            ..good
        };
        assert_eq!(unknown_pose.quality().pose, 1.0);
        assert_eq!(Quality::from_parts(mid.parts()), mid);
    }

    fn photo(pixels: Vec<u8>, side: u32) -> Photo {
        Photo {
            path: "t.pgm".into(),
            pixels,
            width: side,
            height: side,
            format: PixelFormat::Gray8,
            exif_orientation: 1,
        }
    }

    #[test]
    fn sharpness_does_not_depend_on_the_face_size_and_falls_with_blur() {
        // A checkerboard of 8 squares across the face, drawn at 128 and at 256 pixels.
        let board = |side: u32| {
            let cell = side / 8;
            photo(
                (0..side * side)
                    .map(|i| {
                        if ((i % side) / cell + (i / side) / cell).is_multiple_of(2) {
                            40
                        } else {
                            200
                        }
                    })
                    .collect(),
                side,
            )
        };
        let face = |side: u32| Face::new(BBox::new(0.0, 0.0, side as f32, side as f32), 0.95);
        let a = measure(&board(128), &face(128)).laplacian_variance;
        let b = measure(&board(256), &face(256)).laplacian_variance;
        assert!((a / b - 1.0).abs() < 0.1, "{a} {b}");
        let blurred = {
            let p = board(256);
            let img = image::GrayImage::from_raw(256, 256, p.pixels).unwrap();
            photo(image::imageops::blur(&img, 12.0).into_raw(), 256)
        };
        let c = measure(&blurred, &face(256)).laplacian_variance;
        assert!(c < 0.2 * b, "{c} {b}");
        // A box outside the photo has nothing to measure.
        let outside = Face::new(BBox::new(300.0, 300.0, 10.0, 10.0), 0.9);
        assert_eq!(measure(&board(128), &outside).laplacian_variance, 0.0);
    }
}
