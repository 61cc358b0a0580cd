//! YuNet (2023mar) on ONNX Runtime: `yunet_s_dynamic.onnx` at the photo's own size, or the
//! fixed 640×640 `face_detection_yunet_2023mar.onnx` letterboxed. The twelve outputs are
//! decoded by the kit's shared YuNet decoder, the same one the opencv-dnn plugin uses.

use facelab_plugin_kit::api::{CreateArgs, ErrorCode, Face, LicenceClass, PluginError};
use facelab_plugin_kit::decode::{yunet, YunetLevel};

use crate::detector::{Family, OrtDetector, Output};
use crate::options::DetectorOptions;
use crate::tensor::{ChannelOrder, Normalisation};
use crate::{load_model, model_info};

const STRIDES: [u32; 3] = [8, 16, 32];
/// The four heads, each at every stride, with their values per grid cell.
const HEADS: [(&str, usize); 4] = [("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)];

/// The YuNet family: BGR, 0–255, no mean; pads black.
pub struct Yunet;

/// Output names in fetch order: every head at strides 8, 16, 32.
fn output_names() -> Vec<String> {
    HEADS
        .iter()
        .flat_map(|(head, _)| STRIDES.iter().map(move |s| format!("{head}_{s}")))
        .collect()
}

impl Family for Yunet {
    fn normalisation(&self) -> Normalisation {
        Normalisation {
            order: ChannelOrder::Bgr,
            mean: [0.0; 3],
            scale: 1.0,
            pad: [0.0; 3],
        }
    }

    fn outputs(&self) -> Vec<String> {
        output_names()
    }

    fn decode(
        &mut self,
        outputs: &[Output<'_>],
        w: u32,
        h: u32,
        min_score: f32,
    ) -> Result<Vec<Face>, PluginError> {
        // Every output must hold exactly one row per grid cell of its stride, or the
        // decoder would read the wrong cells.
        for (head_index, (_, row_len)) in HEADS.iter().enumerate() {
            for (i, stride) in STRIDES.iter().enumerate() {
                let out = &outputs[head_index * 3 + i];
                let cells = ((w / stride) * (h / stride)) as usize;
                if out.rows(*row_len)? != cells {
                    return Err(PluginError::new(
                        ErrorCode::INFERENCE,
                        format!(
                            "YuNet output `{}` has {} rows, expected {cells} for a {w}x{h} input",
                            out.name,
                            out.rows(*row_len)?
                        ),
                        "",
                    ));
                }
            }
        }
        let levels: Vec<YunetLevel<'_>> = STRIDES
            .iter()
            .enumerate()
            .map(|(i, &stride)| YunetLevel {
                stride,
                cls: outputs[i].data,
                obj: outputs[3 + i].data,
                bbox: outputs[6 + i].data,
                kps: outputs[9 + i].data,
            })
            .collect();
        Ok(yunet(&levels, w, h, min_score))
    }
}

/// Loads YuNet from its `.onnx`, checking the twelve outputs by name and row length.
pub fn load(
    args: &CreateArgs<'_>,
    options: DetectorOptions,
) -> Result<OrtDetector<Yunet>, PluginError> {
    let (session, io) = load_model(args, &options, "YuNet")?;
    for (head, row_len) in HEADS {
        for stride in STRIDES {
            io.named(&format!("{head}_{stride}"), row_len)?;
        }
    }
    let size = io.input_size(&options, (640, 640), true)?;
    let info = model_info(args, &options, "yunet", LicenceClass::Permissive, size);
    OrtDetector::new(session, Yunet, &io, size, options, info)
}
