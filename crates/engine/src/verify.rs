//! Verification: a second look at the faces a detector is unsure of, for every detector
//! plugin alike.
//!
//! A detector's score threshold trades found faces against false boxes. Faces a person
//! would tag often score just under a strict threshold because they are small: at the
//! photo's scale the network sees only a few pixels of them. So the detector runs at a lower
//! *candidate* threshold; candidates at or above the *accept* threshold are kept as they
//! are, and each candidate below it is looked at again: the square around it, with context
//! ([`Verify::context`] times its long side), is cut out, scaled to [`Verify::size`] pixels
//! and detected again, once as it is and once mirrored. The candidate's *evidence* is the
//! mean of its own score and the two second scores (the best face each second pass finds on
//! it, IoU ≥ [`SECOND_LOOK_IOU`] once mapped back, else 0). It stays when the evidence reaches
//! [`Verify::second`].
//!
//! Measured on WIDER mini with YuNet 2023mar (candidates 0.3–0.8, faces ≥ 22 px): one second
//! look at context 2 and 160 px keeps 74 of 146 real faces and 40 of 499 false boxes at 0.7;
//! the mean of the three scores at context 3, 240 px keeps 66 and 19; the SSD ResNet-10 as a
//! second opinion keeps 29 and 11; landmark geometry (eye distance, nose offset, eye–mouth
//! height) does not tell them apart. Re-running at twice the photo size finds fewer faces.
//! See docs/detection.md.

use facelab_plugin_api::{BBox, Face, PluginError, Point2};
use facelab_plugin_kit::geometry::iou;

use crate::config::RobustOptions;
use crate::photo::Photo;
use facelab_models::manifest::Threshold;

/// IoU at which the second pass's face is the candidate.
pub const SECOND_LOOK_IOU: f32 = 0.4;

/// The verification settings of one detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verify {
    /// Candidates score at least this.
    pub from: f32,
    /// Faces scoring at least this are kept without a second look.
    pub accept: f32,
    /// The evidence (mean of the candidate's score and its two second scores) a candidate
    /// needs.
    pub second: f32,
    /// Side of the square cut around a candidate, as a multiple of its long side.
    pub context: f32,
    /// Side of that square once scaled, in pixels.
    pub size: u32,
}

/// What verification did to one photo's faces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VerifyCounts {
    /// Faces kept without a second look.
    pub accepted: usize,
    /// Candidates looked at again.
    pub checked: usize,
    /// Candidates kept after the second look.
    pub confirmed: usize,
}

impl VerifyCounts {
    /// Adds another photo's counts.
    pub fn add(&mut self, o: VerifyCounts) {
        self.accepted += o.accepted;
        self.checked += o.checked;
        self.confirmed += o.confirmed;
    }
}

/// The square of side `context ×` the face's long side around the face's centre, scaled to
/// `size × size` pixels (bilinear; outside the photo is mid-grey), mirrored left to right
/// when `mirror`, and the map from its (unmirrored) pixels back to the photo's:
/// `photo = origin + crop / scale`.
pub fn context_crop(
    photo: &Photo,
    bbox: &BBox,
    context: f32,
    size: u32,
    mirror: bool,
) -> (Photo, Point2, f32) {
    let side = bbox.width.max(bbox.height).max(1.0) * context;
    let origin = Point2 {
        x: bbox.x + bbox.width / 2.0 - side / 2.0,
        y: bbox.y + bbox.height / 2.0 - side / 2.0,
    };
    let scale = size as f32 / side;
    let c = photo.format.channels();
    let (w, h) = (photo.width as i64, photo.height as i64);
    let row = photo.width as usize * c;
    let px = |x: i64, y: i64, ch: usize| -> f32 {
        if x < 0 || y < 0 || x >= w || y >= h {
            127.0
        } else {
            photo.pixels[y as usize * row + x as usize * c + ch] as f32
        }
    };
    let n = size as usize;
    let mut pixels = vec![0u8; n * n * c];
    for oy in 0..n {
        let sy = origin.y + (oy as f32 + 0.5) / scale - 0.5;
        let (y0, fy) = (sy.floor() as i64, sy - sy.floor());
        for ox in 0..n {
            let from = if mirror { n - 1 - ox } else { ox };
            let sx = origin.x + (from as f32 + 0.5) / scale - 0.5;
            let (x0, fx) = (sx.floor() as i64, sx - sx.floor());
            for ch in 0..c {
                let top = px(x0, y0, ch) * (1.0 - fx) + px(x0 + 1, y0, ch) * fx;
                let bottom = px(x0, y0 + 1, ch) * (1.0 - fx) + px(x0 + 1, y0 + 1, ch) * fx;
                pixels[(oy * n + ox) * c + ch] = (top * (1.0 - fy) + bottom * fy).round() as u8;
            }
        }
    }
    let crop = Photo {
        pixels,
        width: size,
        height: size,
        ..photo.clone_header()
    };
    (crop, origin, scale)
}

/// The evidence for `face`: the mean of its score and the best scores of two second passes
/// of `detect` on its context crop, as it is and mirrored, among the faces they find on the
/// candidate (IoU ≥ [`SECOND_LOOK_IOU`] once mapped back; 0 when none).
pub fn evidence(
    photo: &Photo,
    face: &Face,
    context: f32,
    size: u32,
    detect: &mut dyn FnMut(&Photo) -> Result<Vec<Face>, PluginError>,
) -> Result<f32, PluginError> {
    let mut sum = face.score;
    for mirror in [false, true] {
        let (crop, origin, scale) = context_crop(photo, &face.bbox, context, size, mirror);
        let n = size as f32;
        sum += detect(&crop)?
            .iter()
            .filter(|second| {
                let x = if mirror {
                    n - second.bbox.x - second.bbox.width
                } else {
                    second.bbox.x
                };
                let b = BBox::new(
                    origin.x + x / scale,
                    origin.y + second.bbox.y / scale,
                    second.bbox.width / scale,
                    second.bbox.height / scale,
                );
                iou(&b, &face.bbox) >= SECOND_LOOK_IOU
            })
            .map(|second| second.score)
            .fold(0.0, f32::max);
    }
    Ok(sum / 3.0)
}

/// Keeps `faces` at or above the accept threshold and the candidates below it that a second
/// pass of `detect` on their context crop confirms.
pub fn verify(
    photo: &Photo,
    faces: Vec<Face>,
    v: &Verify,
    detect: &mut dyn FnMut(&Photo) -> Result<Vec<Face>, PluginError>,
) -> Result<(Vec<Face>, VerifyCounts), PluginError> {
    let mut counts = VerifyCounts::default();
    let mut kept = Vec::with_capacity(faces.len());
    for face in faces {
        if face.score >= v.accept {
            counts.accepted += 1;
            kept.push(face);
            continue;
        }
        if face.score < v.from {
            continue;
        }
        counts.checked += 1;
        if evidence(photo, &face, v.context, v.size, detect)? >= v.second {
            counts.confirmed += 1;
            kept.push(face);
        }
    }
    Ok((kept, counts))
}

/// The verification settings for a detector whose faces are kept from `accept` up (the
/// score threshold its options give): the config's `[detection]` values, else the model's
/// manifest. `None` when off, when the model declares none, or when the candidate
/// threshold is not below `accept` (a low threshold for a PR curve needs no second look).
pub fn settings(
    robust: &RobustOptions,
    threshold: Option<&Threshold>,
    accept: f32,
) -> Option<Verify> {
    if !robust.verify {
        return None;
    }
    let from = robust
        .verify_from
        .or(threshold.and_then(|t| t.verify_from))?;
    let second = robust
        .verify_score
        .or(threshold.and_then(|t| t.verify_second))?;
    (from < accept).then_some(Verify {
        from,
        accept,
        second,
        context: robust.verify_context,
        size: robust.verify_size,
    })
}

/// The score threshold faces are kept from (from the prepared options) and the second look
/// of the detector `plugin_kind` (`plugin:kind`) with its prepared plugin `options`: when it
/// is on, the plugin's `score_threshold` becomes the candidate threshold (the host keeps the
/// faces at the old one and looks again at the rest). A `verify_from` that leaves nothing
/// to look at is a warning.
pub fn for_detector(
    robust: &RobustOptions,
    plugin_kind: &str,
    manifest: Option<&facelab_models::Model>,
    options: &mut toml::Table,
    warnings: &mut Vec<String>,
) -> (Option<f32>, Option<Verify>) {
    let accept = options
        .get("score_threshold")
        .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)));
    let declared = manifest
        .filter(|m| m.runs_on.iter().any(|k| k == plugin_kind))
        .and_then(|m| m.threshold);
    let verify = accept.and_then(|a| settings(robust, declared.as_ref(), a as f32));
    if let Some(v) = verify {
        options.insert(
            "score_threshold".into(),
            toml::Value::Float(f64::from(v.from)),
        );
    } else if let (Some(from), Some(a)) = (robust.verify_from, accept) {
        if f64::from(from) >= a {
            warnings.push(format!(
                "detection.verify_from = {from} is not below the score threshold {a}: no face gets a second look"
            ));
        }
    }
    (accept.map(|a| a as f32), verify)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crop_maps_back_to_the_photo() {
        let photo = Photo::from_image(
            "t.png".into(),
            image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(100, 80, |x, y| {
                image::Rgb([x as u8, y as u8, 9])
            })),
        );
        let bbox = BBox::new(40.0, 30.0, 10.0, 10.0);
        let (crop, origin, scale) = context_crop(&photo, &bbox, 2.0, 80, false);
        assert_eq!((crop.width, crop.height), (80, 80));
        assert_eq!(origin, Point2 { x: 35.0, y: 25.0 });
        assert_eq!(scale, 4.0);
        // Crop pixel (42, 22) is photo (35 + 42.5/4 - 0.5, 25 + 22.5/4 - 0.5) ≈ (45.1, 30.1).
        let i = (22 * 80 + 42) * 3;
        assert_eq!(&crop.pixels[i..i + 3], &[45, 30, 9]);
        // Mirrored, crop pixel (79 - 42, 22) is the same photo pixel.
        let (m, _, _) = context_crop(&photo, &bbox, 2.0, 80, true);
        let j = (22 * 80 + 37) * 3;
        assert_eq!(&m.pixels[j..j + 3], &[45, 30, 9]);
        // Outside the photo is grey.
        let (edge, _, _) = context_crop(&photo, &BBox::new(0.0, 0.0, 10.0, 10.0), 4.0, 40, false);
        assert_eq!(&edge.pixels[..3], &[127, 127, 127]);
    }

    #[test]
    fn the_second_look_takes_the_manifest_values_unless_the_config_sets_them() {
        let manifest = Threshold {
            kind: facelab_models::manifest::ThresholdKind::Score,
            default: 0.8,
            min: 0.3,
            max: 0.99,
            verify_from: Some(0.75),
            verify_second: Some(0.7),
        };
        let robust = RobustOptions::default();
        let v = settings(&robust, Some(&manifest), 0.8).unwrap();
        assert_eq!((v.from, v.accept, v.second), (0.75, 0.8, 0.7));
        let own = RobustOptions {
            verify_from: Some(0.5),
            ..robust
        };
        assert_eq!(settings(&own, Some(&manifest), 0.8).unwrap().from, 0.5);
        // A PR-curve run at a low threshold has nothing to look at again.
        assert_eq!(settings(&robust, Some(&manifest), 0.02), None);
        // Off, or a model that declares none.
        let off = RobustOptions {
            verify: false,
            ..robust
        };
        assert_eq!(settings(&off, Some(&manifest), 0.8), None);
        let plain = Threshold {
            verify_from: None,
            verify_second: None,
            ..manifest
        };
        assert_eq!(settings(&robust, Some(&plain), 0.8), None);
    }
}
