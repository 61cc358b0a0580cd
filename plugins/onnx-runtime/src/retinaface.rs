//! RetinaFace MobileNet-0.25 (`retinaface_mbnet0.25.onnx`, the Pytorch_Retinaface export):
//! BGR minus the mean (104, 117, 123), no scaling, dynamic input (photo-sized by default).
//!
//! The graph does not decode its priors. Its three outputs are identified by row length:
//! box deltas (4), class scores (2, softmax probabilities, column 1 is "face") and landmark
//! deltas (10; this export names that output `iou`, so names are not trusted). Priors are
//! the standard mnet0.25 configuration: min sizes [[16, 32], [64, 128], [256, 512]] at
//! steps [8, 16, 32] on `ceil(side / step)` grids, variances [0.1, 0.2].

use facelab_plugin_kit::api::{
    BBox, CreateArgs, ErrorCode, Face, Landmarks5, LicenceClass, PluginError, Point2,
};

use crate::detector::{Family, ModelIo, OrtDetector, Output};
use crate::options::DetectorOptions;
use crate::tensor::{ChannelOrder, Normalisation};
use crate::{load_model, model_info};

const STEPS: [u32; 3] = [8, 16, 32];
const MIN_SIZES: [[f32; 2]; 3] = [[16.0, 32.0], [64.0, 128.0], [256.0, 512.0]];
const VARIANCE: [f32; 2] = [0.1, 0.2];

/// A prior box in input pixels: centre and size (square).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Prior {
    cx: f32,
    cy: f32,
    size: f32,
}

/// The priors for a `width × height` input, in the order of the network's rows: per step,
/// row-major over the grid, then per min size.
fn priors(width: u32, height: u32) -> Vec<Prior> {
    let mut out = Vec::new();
    for (step, sizes) in STEPS.iter().zip(MIN_SIZES) {
        let (cols, rows) = (width.div_ceil(*step), height.div_ceil(*step));
        let s = *step as f32;
        for r in 0..rows {
            for c in 0..cols {
                for size in sizes {
                    out.push(Prior {
                        cx: (c as f32 + 0.5) * s,
                        cy: (r as f32 + 0.5) * s,
                        size,
                    });
                }
            }
        }
    }
    out
}

/// The RetinaFace family, with its outputs' names and the priors of the last input size.
pub struct RetinaFace {
    loc: String,
    conf: String,
    landmarks: String,
    priors: Vec<Prior>,
    priors_for: (u32, u32),
}

impl RetinaFace {
    fn from_io(io: &ModelIo) -> Result<Self, PluginError> {
        match (
            io.with_row_len(4).as_slice(),
            io.with_row_len(2).as_slice(),
            io.with_row_len(10).as_slice(),
        ) {
            ([loc], [conf], [landmarks]) if io.outputs.len() == 3 => Ok(RetinaFace {
                loc: loc.name.clone(),
                conf: conf.name.clone(),
                landmarks: landmarks.name.clone(),
                priors: Vec::new(),
                priors_for: (0, 0),
            }),
            _ => Err(io.mismatch(
                "expected 3 outputs: box deltas [1, N, 4], scores [1, N, 2] and landmark deltas [1, N, 10]",
            )),
        }
    }
}

impl Family for RetinaFace {
    fn normalisation(&self) -> Normalisation {
        let mean = [104.0, 117.0, 123.0];
        Normalisation {
            order: ChannelOrder::Bgr,
            mean,
            scale: 1.0,
            pad: mean,
        }
    }

    fn outputs(&self) -> Vec<String> {
        vec![self.loc.clone(), self.conf.clone(), self.landmarks.clone()]
    }

    fn decode(
        &mut self,
        outputs: &[Output<'_>],
        w: u32,
        h: u32,
        min_score: f32,
    ) -> Result<Vec<Face>, PluginError> {
        if self.priors_for != (w, h) {
            self.priors = priors(w, h);
            self.priors_for = (w, h);
        }
        let (loc, conf, lm) = (&outputs[0], &outputs[1], &outputs[2]);
        let n = self.priors.len();
        for (o, row_len) in [(loc, 4), (conf, 2), (lm, 10)] {
            if o.rows(row_len)? != n {
                return Err(PluginError::new(
                    ErrorCode::INFERENCE,
                    format!(
                        "RetinaFace output `{}` has {} rows, expected {n} priors for a {w}x{h} input",
                        o.name,
                        o.rows(row_len)?
                    ),
                    "",
                ));
            }
        }
        let mut faces = Vec::new();
        for (i, p) in self.priors.iter().enumerate() {
            let score = conf.data[i * 2 + 1];
            if score < min_score {
                continue;
            }
            let d = &loc.data[i * 4..i * 4 + 4];
            let cx = p.cx + d[0] * VARIANCE[0] * p.size;
            let cy = p.cy + d[1] * VARIANCE[0] * p.size;
            let bw = p.size * (d[2] * VARIANCE[1]).exp();
            let bh = p.size * (d[3] * VARIANCE[1]).exp();
            let l = &lm.data[i * 10..i * 10 + 10];
            let points = std::array::from_fn(|j| Point2 {
                x: p.cx + l[2 * j] * VARIANCE[0] * p.size,
                y: p.cy + l[2 * j + 1] * VARIANCE[0] * p.size,
            });
            faces.push(Face {
                bbox: BBox::new(cx - bw / 2.0, cy - bh / 2.0, bw, bh),
                score,
                landmarks: Some(Landmarks5 { points }).into(),
            });
        }
        Ok(faces)
    }
}

/// Loads RetinaFace from its `.onnx`.
pub fn load(
    args: &CreateArgs<'_>,
    options: DetectorOptions,
) -> Result<OrtDetector<RetinaFace>, PluginError> {
    let (session, io) = load_model(args, &options, "RetinaFace")?;
    let family = RetinaFace::from_io(&io)?;
    // Photo-sized by default, as the model was evaluated (Pytorch_Retinaface tests at the
    // original image size); `photo_sized_input = false` runs at 640×640 instead.
    let size = io.input_size(&options, (640, 640), true)?;
    let info = model_info(args, &options, "retinaface", LicenceClass::Research, size);
    OrtDetector::new(session, family, &io, size, options, info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priors_match_the_mnet_configuration() {
        let p = priors(640, 640);
        assert_eq!(p.len(), (80 * 80 + 40 * 40 + 20 * 20) * 2);
        assert_eq!(
            p[0],
            Prior {
                cx: 4.0,
                cy: 4.0,
                size: 16.0
            }
        );
        assert_eq!(
            p[1],
            Prior {
                cx: 4.0,
                cy: 4.0,
                size: 32.0
            }
        );
        assert_eq!(
            p[2],
            Prior {
                cx: 12.0,
                cy: 4.0,
                size: 16.0
            }
        );
        // Grids round up: a 100-pixel side has 13, 7 and 4 cells.
        assert_eq!(priors(100, 100).len(), (13 * 13 + 7 * 7 + 4 * 4) * 2);
    }
}
