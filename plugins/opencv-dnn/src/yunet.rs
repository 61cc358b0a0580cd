//! YuNet 2023mar through `readNetFromONNX`. OpenCV 4.6's `FaceDetectorYN` cannot load this
//! model, so the twelve outputs are decoded here (by the shared decoder in the kit).

use facelab_plugin_kit::api::{CreateArgs, ErrorCode, Face, LicenceClass, PluginError};
use facelab_plugin_kit::decode::{yunet, YunetLevel};
use facelab_plugin_kit::{check_readable, model_file, model_info};
use opencv::core::{Mat, Scalar};
use opencv::dnn;

use crate::backend_name;
use crate::dnn::{load_error, output_data, BlobSpec, DetectorOptions, DnnDetector, Family};

const STRIDES: [u32; 3] = [8, 16, 32];
/// Output names in the order they are requested: cls, obj, bbox, kps for each stride.
const OUTPUTS: [&str; 12] = [
    "cls_8", "cls_16", "cls_32", "obj_8", "obj_16", "obj_32", "bbox_8", "bbox_16", "bbox_32",
    "kps_8", "kps_16", "kps_32",
];

/// The YuNet family: BGR, 0–255, no mean, input a multiple of 32.
pub struct Yunet;

impl Family for Yunet {
    fn blob(&self) -> BlobSpec {
        BlobSpec {
            mean: Scalar::all(0.0),
            scale: 1.0,
            swap_rb: false,
            pad: Scalar::all(0.0),
        }
    }

    fn decode(
        &self,
        outputs: &[Mat],
        w: u32,
        h: u32,
        min_score: f32,
    ) -> Result<Vec<Face>, PluginError> {
        let mut levels = Vec::with_capacity(3);
        for (i, stride) in STRIDES.into_iter().enumerate() {
            levels.push(YunetLevel {
                stride,
                cls: output_data(outputs, i, OUTPUTS[i])?,
                obj: output_data(outputs, 3 + i, OUTPUTS[3 + i])?,
                bbox: output_data(outputs, 6 + i, OUTPUTS[6 + i])?,
                kps: output_data(outputs, 9 + i, OUTPUTS[9 + i])?,
            });
        }
        let cells = (w / 8) as usize * (h / 8) as usize;
        if levels[0].cls.len() != cells {
            return Err(PluginError::new(
                ErrorCode::INFERENCE,
                format!(
                    "cls_8 has {} values, expected {cells} for a {w}x{h} input",
                    levels[0].cls.len()
                ),
                "the model's input size differs from input_width/input_height",
            ));
        }
        Ok(yunet(&levels, w, h, min_score))
    }
}

/// Loads YuNet from its `.onnx`.
pub fn load(
    args: &CreateArgs<'_>,
    mut options: DetectorOptions,
) -> Result<DnnDetector<Yunet>, PluginError> {
    options.photo_sized_input.get_or_insert(true);
    let onnx = model_file(args.model_files.as_slice(), &[".onnx"], "yunet")?;
    check_readable(onnx)?;
    let net = dnn::read_net_from_onnx(onnx).map_err(|e| load_error(onnx, e))?;
    let size = options.input_size((640, 640), "640 for the 2023mar model")?;
    let info = model_info(
        args,
        "yunet",
        backend_name(),
        LicenceClass::Permissive,
        size,
    );
    DnnDetector::new(
        net,
        Yunet,
        onnx,
        "YuNet",
        Some(&OUTPUTS),
        size,
        options,
        info,
    )
}
