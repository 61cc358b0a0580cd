//! OpenCV's ResNet-10 SSD face detector (TensorFlow 8-bit or Caffe).

use facelab_plugin_kit::api::{CreateArgs, ErrorCode, Face, LicenceClass, PluginError};
use facelab_plugin_kit::{check_readable, model_file, model_info};
use opencv::core::{Mat, Scalar};
use opencv::dnn;
use opencv::prelude::*;

use crate::backend_name;
use crate::dnn::{load_error, output_data, BlobSpec, DetectorOptions, DnnDetector, Family};

/// Values per detection row: image id, class, score, x1, y1, x2, y2 (relative).
const ROW: usize = 7;

/// The SSD family: mean (104, 177, 123) BGR, no scaling, 300×300 by default.
pub struct Ssd;

impl Family for Ssd {
    fn blob(&self) -> BlobSpec {
        let mean = Scalar::new(104.0, 177.0, 123.0, 0.0);
        BlobSpec {
            mean,
            scale: 1.0,
            swap_rb: false,
            pad: mean,
        }
    }

    fn decode(
        &self,
        outputs: &[Mat],
        w: u32,
        h: u32,
        min_score: f32,
    ) -> Result<Vec<Face>, PluginError> {
        let shape = outputs
            .first()
            .map(|m| m.mat_size().to_vec())
            .unwrap_or_default();
        if shape.len() != 4 || shape[3] != ROW as i32 {
            return Err(PluginError::new(
                ErrorCode::INFERENCE,
                format!("SSD output shape {shape:?}, expected [1, 1, N, 7]"),
                "",
            ));
        }
        let data = output_data(outputs, 0, "detection_out")?;
        let (w, h) = (w as f32, h as f32);
        Ok(data
            .chunks_exact(ROW)
            .filter(|r| r[2] >= min_score)
            .map(|r| {
                Face::new(
                    facelab_plugin_kit::api::BBox::new(
                        r[3] * w,
                        r[4] * h,
                        (r[5] - r[3]) * w,
                        (r[6] - r[4]) * h,
                    ),
                    r[2],
                )
            })
            .collect())
    }
}

/// Loads the SSD from `.pb` + `.pbtxt` or `.caffemodel` + `.prototxt`.
pub fn load(
    args: &CreateArgs<'_>,
    options: DetectorOptions,
) -> Result<DnnDetector<Ssd>, PluginError> {
    let files = args.model_files.as_slice();
    let (net, weights) = if let Ok(pb) = model_file(files, &[".pb"], "ssd") {
        let pbtxt = model_file(files, &[".pbtxt"], "ssd (TensorFlow)")?;
        check_readable(pb)?;
        check_readable(pbtxt)?;
        (
            dnn::read_net_from_tensorflow(pb, pbtxt).map_err(|e| load_error(pb, e))?,
            pb,
        )
    } else {
        let model = model_file(files, &[".caffemodel"], "ssd")?;
        let proto = model_file(files, &[".prototxt", ".prototxt.txt"], "ssd (Caffe)")?;
        check_readable(model)?;
        check_readable(proto)?;
        (
            dnn::read_net_from_caffe(proto, model).map_err(|e| load_error(model, e))?,
            model,
        )
    };
    let size = (
        options.input_width.unwrap_or(300),
        options.input_height.unwrap_or(300),
    );
    let info = model_info(
        args,
        "ssd-res10",
        backend_name(),
        LicenceClass::Permissive,
        size,
    );
    DnnDetector::new(
        net,
        Ssd,
        weights,
        "SSD face detector",
        Some(&["detection_out"]),
        size,
        options,
        info,
    )
}
