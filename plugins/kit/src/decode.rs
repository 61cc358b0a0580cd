//! Output decoders for detector families whose raw outputs are the same whichever backend
//! runs them (OpenCV DNN or ONNX Runtime), so each family is decoded in one place.

use facelab_plugin_api::{BBox, Face, Landmarks5, Point2};

/// YuNet's raw outputs at one stride, each row-major over the `(H/stride) × (W/stride)`
/// grid: `cls` and `obj` one value per cell, `bbox` four, `kps` ten.
#[derive(Debug, Clone, Copy)]
pub struct YunetLevel<'a> {
    /// The stride: 8, 16 or 32.
    pub stride: u32,
    /// Class scores.
    pub cls: &'a [f32],
    /// Objectness.
    pub obj: &'a [f32],
    /// Box deltas: centre offset in cells, log size in strides.
    pub bbox: &'a [f32],
    /// Five landmark offsets in cells, (x, y) pairs.
    pub kps: &'a [f32],
}

/// Decodes YuNet (2023mar) outputs for an input of `width × height` network pixels into
/// faces in network pixels, keeping those scoring at least `min_score`. The score is
/// `sqrt(cls × obj)`, as in OpenCV's `FaceDetectorYN`. Landmarks come in the
/// [`Landmarks5`] order (eye on the image's left first).
pub fn yunet(levels: &[YunetLevel<'_>], width: u32, height: u32, min_score: f32) -> Vec<Face> {
    let mut faces = Vec::new();
    for level in levels {
        let s = level.stride as f32;
        let cols = (width / level.stride) as usize;
        let rows = (height / level.stride) as usize;
        let cells = rows * cols;
        if level.cls.len() < cells
            || level.obj.len() < cells
            || level.bbox.len() < cells * 4
            || level.kps.len() < cells * 10
        {
            continue;
        }
        for idx in 0..cells {
            let score = (level.cls[idx].clamp(0.0, 1.0) * level.obj[idx].clamp(0.0, 1.0)).sqrt();
            if score < min_score {
                continue;
            }
            let (r, c) = ((idx / cols) as f32, (idx % cols) as f32);
            let b = &level.bbox[idx * 4..idx * 4 + 4];
            let cx = (c + b[0]) * s;
            let cy = (r + b[1]) * s;
            let w = b[2].exp() * s;
            let h = b[3].exp() * s;
            let k = &level.kps[idx * 10..idx * 10 + 10];
            let points = std::array::from_fn(|n| Point2 {
                x: (k[2 * n] + c) * s,
                y: (k[2 * n + 1] + r) * s,
            });
            faces.push(Face {
                bbox: BBox::new(cx - w / 2.0, cy - h / 2.0, w, h),
                score,
                landmarks: Some(Landmarks5 { points }).into(),
            });
        }
    }
    faces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yunet_decodes_a_single_confident_cell() {
        // 32×32 input, stride 16: a 2×2 grid. Cell (row 1, col 0) holds a face.
        let mut cls = [0.0f32; 4];
        let mut obj = [0.0f32; 4];
        cls[2] = 0.81;
        obj[2] = 1.0;
        let mut bbox = [0.0f32; 16];
        bbox[8..12].copy_from_slice(&[0.5, 0.5, 0.0, 0.0]); // centre of the cell, 16×16
        let kps = [0.5f32; 40];
        let level = YunetLevel {
            stride: 16,
            cls: &cls,
            obj: &obj,
            bbox: &bbox,
            kps: &kps,
        };
        let faces = yunet(&[level], 32, 32, 0.5);
        assert_eq!(faces.len(), 1);
        let f = faces[0];
        assert!((f.score - 0.9).abs() < 1e-6);
        assert_eq!(f.bbox, BBox::new(0.0, 16.0, 16.0, 16.0));
        assert_eq!(f.landmarks.unwrap().points[0], Point2 { x: 8.0, y: 24.0 });
    }
}
