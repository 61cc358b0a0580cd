//! Detector geometry shared by every backend: letterboxing, mapping network outputs back
//! to absolute photo pixels, filtering and non-maximum suppression.

use facelab_plugin_api::{BBox, Face, Landmarks5, Point2};

/// The coarsest stride of the detector families: a network input's sides are multiples of it.
pub const INPUT_MULTIPLE: u32 = 32;

/// The network input that runs a detector at a `width × height` photo's own size: scaled
/// down so that the longer side is at most `max_side`, each side rounded up to a multiple of
/// [`INPUT_MULTIPLE`].
pub fn photo_sized_input(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let scale = (max_side as f32 / width.max(height).max(1) as f32).min(1.0);
    let up = |v: u32| {
        ((v as f32 * scale).round() as u32)
            .max(INPUT_MULTIPLE)
            .div_ceil(INPUT_MULTIPLE)
            * INPUT_MULTIPLE
    };
    (up(width), up(height))
}

/// How a photo of `src_w × src_h` was fitted into a `dst_w × dst_h` network input while
/// keeping its aspect ratio: scaled by `scale`, then placed at `(pad_x, pad_y)` with the
/// rest padded. Plain resizing (which distorts non-square photos) is the special case
/// with two independent scales; see [`Letterbox::stretch`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Horizontal scale from photo to network pixels.
    pub scale_x: f32,
    /// Vertical scale from photo to network pixels.
    pub scale_y: f32,
    /// Left padding in network pixels.
    pub pad_x: u32,
    /// Top padding in network pixels.
    pub pad_y: u32,
    /// Width of the scaled photo inside the input.
    pub inner_w: u32,
    /// Height of the scaled photo inside the input.
    pub inner_h: u32,
    /// Network input width.
    pub dst_w: u32,
    /// Network input height.
    pub dst_h: u32,
}

impl Letterbox {
    /// Aspect-preserving fit, centred, padding the short side.
    pub fn fit(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> Self {
        let scale = (dst_w as f32 / src_w.max(1) as f32).min(dst_h as f32 / src_h.max(1) as f32);
        let inner_w = ((src_w as f32 * scale).round() as u32).clamp(1, dst_w);
        let inner_h = ((src_h as f32 * scale).round() as u32).clamp(1, dst_h);
        Letterbox {
            scale_x: inner_w as f32 / src_w.max(1) as f32,
            scale_y: inner_h as f32 / src_h.max(1) as f32,
            pad_x: (dst_w - inner_w) / 2,
            pad_y: (dst_h - inner_h) / 2,
            inner_w,
            inner_h,
            dst_w,
            dst_h,
        }
    }

    /// Plain resize to the input size, distorting the aspect ratio.
    pub fn stretch(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> Self {
        Letterbox {
            scale_x: dst_w as f32 / src_w.max(1) as f32,
            scale_y: dst_h as f32 / src_h.max(1) as f32,
            pad_x: 0,
            pad_y: 0,
            inner_w: dst_w,
            inner_h: dst_h,
            dst_w,
            dst_h,
        }
    }

    /// Maps a point in network pixels back to photo pixels.
    pub fn point_to_src(&self, x: f32, y: f32) -> Point2 {
        Point2 {
            x: (x - self.pad_x as f32) / self.scale_x,
            y: (y - self.pad_y as f32) / self.scale_y,
        }
    }

    /// Maps a box given by its corners in network pixels back to photo pixels.
    pub fn box_to_src(&self, x1: f32, y1: f32, x2: f32, y2: f32) -> BBox {
        let a = self.point_to_src(x1, y1);
        let b = self.point_to_src(x2, y2);
        BBox::new(a.x, a.y, b.x - a.x, b.y - a.y)
    }

    /// Maps a face (box and landmarks) in network pixels back to photo pixels.
    pub fn face_to_src(&self, mut f: Face) -> Face {
        let b = f.bbox;
        f.bbox = self.box_to_src(b.x, b.y, b.x + b.width, b.y + b.height);
        f.landmarks = f.landmarks.map(|l| self.landmarks_to_src(&l));
        f
    }

    /// Maps landmarks in network pixels back to photo pixels.
    pub fn landmarks_to_src(&self, lm: &Landmarks5) -> Landmarks5 {
        Landmarks5 {
            points: lm.points.map(|p| self.point_to_src(p.x, p.y)),
        }
    }
}

/// Intersection over union of two boxes (0 when either is empty).
pub fn iou(a: &BBox, b: &BBox) -> f32 {
    let x1 = a.x.max(b.x);
    let y1 = a.y.max(b.y);
    let x2 = (a.x + a.width).min(b.x + b.width);
    let y2 = (a.y + a.height).min(b.y + b.height);
    let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
    let union = a.width.max(0.0) * a.height.max(0.0) + b.width.max(0.0) * b.height.max(0.0) - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

/// Clips a box to the `width × height` image; the result may be empty.
pub fn clip(b: &BBox, width: u32, height: u32) -> BBox {
    let x1 = b.x.clamp(0.0, width as f32);
    let y1 = b.y.clamp(0.0, height as f32);
    let x2 = (b.x + b.width).clamp(0.0, width as f32);
    let y2 = (b.y + b.height).clamp(0.0, height as f32);
    BBox::new(x1, y1, x2 - x1, y2 - y1)
}

/// Greedy non-maximum suppression: keeps the highest-scoring face of every group that
/// overlaps by more than `iou_threshold`. The result is sorted by descending score.
pub fn nms(mut faces: Vec<Face>, iou_threshold: f32) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Face> = Vec::with_capacity(faces.len());
    for face in faces {
        if kept
            .iter()
            .all(|k| iou(&k.bbox, &face.bbox) <= iou_threshold)
        {
            kept.push(face);
        }
    }
    kept
}

/// The filters every detector applies after decoding its raw output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceFilter {
    /// Faces scoring below this are dropped.
    pub score_threshold: f32,
    /// Faces whose shorter side (after clipping) is below this many pixels are dropped.
    pub min_face_size: f32,
    /// IoU above which two faces are the same face.
    pub nms_iou: f32,
}

impl FaceFilter {
    /// Clips every face to the image, drops low scores, small and empty boxes, then
    /// applies NMS.
    pub fn apply(&self, faces: Vec<Face>, width: u32, height: u32) -> Vec<Face> {
        let faces = faces
            .into_iter()
            .filter(|f| f.score >= self.score_threshold && f.score.is_finite())
            .map(|mut f| {
                f.bbox = clip(&f.bbox, width, height);
                f
            })
            .filter(|f| f.bbox.width.min(f.bbox.height) >= self.min_face_size.max(1.0))
            .collect();
        nms(faces, self.nms_iou)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_photo_sized_input_is_capped_and_rounded_up_to_the_stride() {
        assert_eq!(photo_sized_input(4000, 3000, 1280), (1280, 960));
        assert_eq!(photo_sized_input(500, 333, 1280), (512, 352));
        assert_eq!(photo_sized_input(10, 10, 1280), (32, 32));
        assert_eq!(photo_sized_input(0, 0, 1280), (32, 32));
    }

    #[test]
    fn letterbox_of_wide_photo_pads_top_and_bottom_and_maps_back() {
        let lb = Letterbox::fit(1000, 500, 300, 300);
        assert_eq!((lb.inner_w, lb.inner_h), (300, 150));
        assert_eq!((lb.pad_x, lb.pad_y), (0, 75));
        let b = lb.box_to_src(30.0, 75.0 + 15.0, 60.0, 75.0 + 45.0);
        assert!((b.x - 100.0).abs() < 1e-3 && (b.y - 50.0).abs() < 1e-3);
        assert!((b.width - 100.0).abs() < 1e-3 && (b.height - 100.0).abs() < 1e-3);
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_faces() {
        let a = Face::new(BBox::new(0.0, 0.0, 10.0, 10.0), 0.9);
        let b = Face::new(BBox::new(1.0, 1.0, 10.0, 10.0), 0.8);
        let c = Face::new(BBox::new(50.0, 50.0, 10.0, 10.0), 0.7);
        let kept = nms(vec![b, c, a], 0.4);
        assert_eq!(kept, vec![a, c]);
    }

    #[test]
    fn filter_drops_small_and_weak_faces_and_clips() {
        let f = FaceFilter {
            score_threshold: 0.5,
            min_face_size: 8.0,
            nms_iou: 0.4,
        };
        let faces = vec![
            Face::new(BBox::new(-5.0, -5.0, 20.0, 20.0), 0.9),
            Face::new(BBox::new(40.0, 40.0, 5.0, 5.0), 0.9),
            Face::new(BBox::new(20.0, 20.0, 20.0, 20.0), 0.3),
        ];
        let kept = f.apply(faces, 100, 100);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].bbox, BBox::new(0.0, 0.0, 15.0, 15.0));
    }
}
