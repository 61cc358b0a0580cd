//! Ultra-Light-Fast-Generic-Face-Detector (`version-RFB-320.onnx`, 1×3×240×320, and
//! `version-RFB-640.onnx`, 1×3×480×640): RGB, `(x − 127) / 128`. The graph decodes its
//! priors itself: `scores` [1, N, 2] are softmax probabilities (column 1 is "face") and
//! `boxes` [1, N, 4] are corners relative to the input (x1, y1, x2, y2 in 0–1).

use facelab_plugin_kit::api::{BBox, CreateArgs, ErrorCode, Face, LicenceClass, PluginError};

use crate::detector::{Family, ModelIo, OrtDetector, Output};
use crate::options::DetectorOptions;
use crate::tensor::{ChannelOrder, Normalisation};
use crate::{load_model, model_info};

/// The UltraFace family, with its score and box outputs' names.
pub struct UltraFace {
    scores: String,
    boxes: String,
}

impl UltraFace {
    /// Finds the two outputs by row length: 2 (background, face) and 4 (corners).
    fn from_io(io: &ModelIo) -> Result<Self, PluginError> {
        match (io.with_row_len(2).as_slice(), io.with_row_len(4).as_slice()) {
            ([scores], [boxes]) if io.outputs.len() == 2 => Ok(UltraFace {
                scores: scores.name.clone(),
                boxes: boxes.name.clone(),
            }),
            _ => Err(io.mismatch("expected 2 outputs: scores [1, N, 2] and boxes [1, N, 4]")),
        }
    }
}

impl Family for UltraFace {
    fn normalisation(&self) -> Normalisation {
        Normalisation {
            order: ChannelOrder::Rgb,
            mean: [127.0; 3],
            scale: 1.0 / 128.0,
            pad: [127.0; 3],
        }
    }

    fn outputs(&self) -> Vec<String> {
        vec![self.scores.clone(), self.boxes.clone()]
    }

    fn decode(
        &mut self,
        outputs: &[Output<'_>],
        w: u32,
        h: u32,
        min_score: f32,
    ) -> Result<Vec<Face>, PluginError> {
        let (scores, boxes) = (&outputs[0], &outputs[1]);
        let n = scores.rows(2)?;
        if boxes.rows(4)? != n {
            return Err(PluginError::new(
                ErrorCode::INFERENCE,
                format!(
                    "UltraFace: {} score rows but {} box rows",
                    n,
                    boxes.rows(4)?
                ),
                "",
            ));
        }
        let (w, h) = (w as f32, h as f32);
        Ok(scores
            .data
            .chunks_exact(2)
            .zip(boxes.data.chunks_exact(4))
            .filter(|(s, _)| s[1] >= min_score)
            .map(|(s, b)| {
                Face::new(
                    BBox::new(b[0] * w, b[1] * h, (b[2] - b[0]) * w, (b[3] - b[1]) * h),
                    s[1],
                )
            })
            .collect())
    }
}

/// Loads an UltraFace `.onnx` (fixed input).
pub fn load(
    args: &CreateArgs<'_>,
    options: DetectorOptions,
) -> Result<OrtDetector<UltraFace>, PluginError> {
    let (session, io) = load_model(args, &options, "UltraFace")?;
    let family = UltraFace::from_io(&io)?;
    // The graph's priors are built for its one input size.
    let Some(fixed) = io.fixed_size else {
        return Err(io.mismatch("its input size is dynamic; UltraFace graphs have a fixed input"));
    };
    let size = io.input_size(&options, fixed, false)?;
    let info = model_info(args, &options, "ultraface", LicenceClass::Permissive, size);
    OrtDetector::new(session, family, &io, size, options, info)
}
