//! InsightFace SCRFD (`scrfd_500m_bnkps.onnx`, `scrfd_2.5g_bnkps.onnx`, and the models
//! without keypoints): RGB, `(x − 127.5) / 128`, strides 8/16/32 with two anchors per cell.
//!
//! Exports differ in their output names (`score_8` … in one, bare node numbers in
//! another) and in whether a batch dimension is present, so outputs are identified by what
//! they hold: the declared row length says the kind (1 score, 4 box distances, 10 keypoint
//! offsets) and, after each run, the row count says the stride.

use facelab_plugin_kit::api::{
    BBox, CreateArgs, ErrorCode, Face, Landmarks5, LicenceClass, PluginError, Point2,
};

use crate::detector::{Family, ModelIo, OrtDetector, Output};
use crate::options::DetectorOptions;
use crate::tensor::{ChannelOrder, Normalisation};
use crate::{load_model, model_info};

const STRIDES: [u32; 3] = [8, 16, 32];
/// Anchors per grid cell in every released SCRFD model.
const ANCHORS: usize = 2;
const SCORE: usize = 1;
const BOX: usize = 4;
const KPS: usize = 10;

/// The SCRFD family. Its outputs, grouped by kind, each in graph order; which output
/// serves which stride is settled per run by its row count.
pub struct Scrfd {
    scores: Vec<String>,
    boxes: Vec<String>,
    keypoints: Vec<String>,
}

impl Scrfd {
    /// Groups `io`'s outputs by row length; fails unless there are three score and three
    /// box outputs, and either three or no keypoint outputs.
    fn from_io(io: &ModelIo) -> Result<Self, PluginError> {
        let names = |row_len| -> Vec<String> {
            io.with_row_len(row_len)
                .into_iter()
                .map(|o| o.name.clone())
                .collect()
        };
        let (scores, boxes, keypoints) = (names(SCORE), names(BOX), names(KPS));
        if scores.len() != 3
            || boxes.len() != 3
            || !(keypoints.is_empty() || keypoints.len() == 3)
            || io.outputs.len() != scores.len() + boxes.len() + keypoints.len()
        {
            return Err(io.mismatch(
                "expected 6 or 9 outputs: score (rows of 1), box (rows of 4) and optionally \
                 keypoint (rows of 10) outputs at strides 8, 16 and 32",
            ));
        }
        Ok(Scrfd {
            scores,
            boxes,
            keypoints,
        })
    }
}

/// The output among `candidates` holding `rows` rows of `row_len` values.
fn with_rows<'a>(
    candidates: &'a [Output<'a>],
    row_len: usize,
    rows: usize,
    stride: u32,
) -> Result<&'a Output<'a>, PluginError> {
    let mut found = Vec::new();
    for o in candidates {
        let n = o.rows(row_len)?;
        if n == rows {
            return Ok(o);
        }
        found.push(format!("{} has {n}", o.name));
    }
    Err(PluginError::new(
        ErrorCode::INFERENCE,
        format!(
            "SCRFD: no output with {rows} rows of {row_len} for stride {stride} ({ANCHORS} anchors per cell); {}",
            found.join(", ")
        ),
        "",
    ))
}

impl Family for Scrfd {
    fn normalisation(&self) -> Normalisation {
        Normalisation {
            order: ChannelOrder::Rgb,
            mean: [127.5; 3],
            scale: 1.0 / 128.0,
            // InsightFace pads with black.
            pad: [0.0; 3],
        }
    }

    fn outputs(&self) -> Vec<String> {
        [&self.scores, &self.boxes, &self.keypoints]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    fn decode(
        &mut self,
        outputs: &[Output<'_>],
        w: u32,
        h: u32,
        min_score: f32,
    ) -> Result<Vec<Face>, PluginError> {
        let (scores, rest) = outputs.split_at(self.scores.len());
        let (boxes, keypoints) = rest.split_at(self.boxes.len());
        let mut faces = Vec::new();
        for stride in STRIDES {
            let cols = (w / stride) as usize;
            let rows = (h / stride) as usize;
            let n = rows * cols * ANCHORS;
            let score = with_rows(scores, SCORE, n, stride)?.data;
            let dist = with_rows(boxes, BOX, n, stride)?.data;
            let kps = if keypoints.is_empty() {
                None
            } else {
                Some(with_rows(keypoints, KPS, n, stride)?.data)
            };
            let s = stride as f32;
            for (i, &p) in score.iter().enumerate() {
                if p < min_score {
                    continue;
                }
                // Anchor i sits at the centre-less grid point (col, row) × stride:
                // rows of cells, ANCHORS consecutive entries per cell.
                let cell = i / ANCHORS;
                let cx = (cell % cols) as f32 * s;
                let cy = (cell / cols) as f32 * s;
                let d = &dist[i * BOX..i * BOX + BOX];
                let (x1, y1) = (cx - d[0] * s, cy - d[1] * s);
                let (x2, y2) = (cx + d[2] * s, cy + d[3] * s);
                let landmarks = kps.map(|k| {
                    let k = &k[i * KPS..i * KPS + KPS];
                    Landmarks5 {
                        points: std::array::from_fn(|j| Point2 {
                            x: cx + k[2 * j] * s,
                            y: cy + k[2 * j + 1] * s,
                        }),
                    }
                });
                faces.push(Face {
                    bbox: BBox::new(x1, y1, x2 - x1, y2 - y1),
                    score: p,
                    landmarks: landmarks.into(),
                });
            }
        }
        Ok(faces)
    }
}

/// Loads an SCRFD `.onnx`.
pub fn load(
    args: &CreateArgs<'_>,
    options: DetectorOptions,
) -> Result<OrtDetector<Scrfd>, PluginError> {
    let (session, io) = load_model(args, &options, "SCRFD")?;
    let family = Scrfd::from_io(&io)?;
    let size = io.input_size(&options, (640, 640), false)?;
    let info = model_info(args, &options, "scrfd", LicenceClass::Research, size);
    OrtDetector::new(session, family, &io, size, options, info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_distances_and_keypoints_from_the_anchor_point() {
        // 32×32 input: stride 8 → 4×4 cells, 16 → 2×2, 32 → 1×1; two anchors per cell.
        let mut family = Scrfd {
            scores: vec!["a".into(), "b".into(), "c".into()],
            boxes: vec!["d".into(), "e".into(), "f".into()],
            keypoints: vec!["g".into(), "h".into(), "i".into()],
        };
        let zeros = |n: usize| vec![0.0f32; n];
        // Stride 16, cell (row 1, col 0), second anchor: index (1*2 + 0) * 2 + 1 = 5.
        let mut score16 = zeros(8);
        score16[5] = 0.9;
        let mut box16 = zeros(32);
        box16[20..24].copy_from_slice(&[0.5, 0.25, 1.0, 0.5]);
        let mut kps16 = zeros(80);
        kps16[50] = 0.25;
        kps16[51] = -0.25;
        let (s8, s32, b8, b32, k8, k32) = (
            zeros(32),
            zeros(2),
            zeros(128),
            zeros(8),
            zeros(320),
            zeros(20),
        );
        let out = |name: &'static str, data: &'static [f32]| Output {
            name,
            shape: &[],
            data,
        };
        let leak = |v: Vec<f32>| -> &'static [f32] { Box::leak(v.into_boxed_slice()) };
        // Outputs in graph order, deliberately not sorted by stride.
        let outputs = [
            out("a", leak(score16)),
            out("b", leak(s32)),
            out("c", leak(s8)),
            out("d", leak(b32)),
            out("e", leak(b8)),
            out("f", leak(box16)),
            out("g", leak(k8)),
            out("h", leak(kps16)),
            out("i", leak(k32)),
        ];
        let faces = family.decode(&outputs, 32, 32, 0.5).unwrap();
        assert_eq!(faces.len(), 1);
        let f = faces[0];
        // Anchor point (0, 16); distances × 16.
        assert_eq!(f.bbox, BBox::new(-8.0, 12.0, 24.0, 12.0));
        let p = f.landmarks.unwrap().points[0];
        assert_eq!((p.x, p.y), (4.0, 12.0));
    }
}
