//! OpenCV's ResNet-10 SSD face detector.

use abi_stable::std_types::{RResult, RVec};
use facelab_plugin_kit::api::{
    CreateArgs, Detector, ErrorCode, Face, ImageView, LicenceClass, ModelInfo, PluginError,
};
use facelab_plugin_kit::geometry::{FaceFilter, Letterbox};
use facelab_plugin_kit::{check_readable, guard, model_file, parse_options};
use opencv::core::{Mat, Scalar, Vector};
use opencv::dnn::{self, Net};
use opencv::prelude::*;
use serde::Deserialize;

use crate::{backend_name, cv_error, image};

/// The network's training mean, BGR.
const MEAN: (f64, f64, f64) = (104.0, 177.0, 123.0);
/// Values per detection row: image id, class, score, x1, y1, x2, y2 (relative).
const ROW: usize = 7;

/// `[detector.options]` of kind `ssd`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SsdOptions {
    /// Faces scoring below this are dropped (the network's softmax score, 0 to 1).
    pub score_threshold: f32,
    /// Faces whose shorter side is below this many photo pixels are dropped.
    pub min_face_size: f32,
    /// Boxes overlapping more than this IoU are merged by NMS.
    pub nms_iou: f32,
    /// Side of the square network input.
    pub input_size: u32,
    /// Keep the aspect ratio (pad) instead of stretching the photo to a square.
    pub letterbox: bool,
    /// OpenCV worker threads; 0 keeps OpenCV's default (all cores).
    pub threads: u32,
}

impl Default for SsdOptions {
    fn default() -> Self {
        SsdOptions {
            score_threshold: 0.5,
            min_face_size: 10.0,
            nms_iou: 0.4,
            input_size: 300,
            letterbox: true,
            threads: 0,
        }
    }
}

/// A loaded SSD network.
pub struct Ssd {
    net: Net,
    options: SsdOptions,
    info: ModelInfo,
}

impl Ssd {
    /// Loads the model files in `args` and checks the network's output.
    pub fn new(args: &CreateArgs<'_>) -> Result<Self, PluginError> {
        let options: SsdOptions = parse_options(args.options_toml.as_str(), "detector.options")?;
        if !(0.0..=1.0).contains(&options.score_threshold) {
            return Err(PluginError::new(
                ErrorCode::INVALID_CONFIG,
                format!(
                    "detector.options.score_threshold = {} is out of range",
                    options.score_threshold
                ),
                "use a value from 0 to 1; 0.5 is the default",
            ));
        }
        if !(32..=2048).contains(&options.input_size) {
            return Err(PluginError::new(
                ErrorCode::INVALID_CONFIG,
                format!(
                    "detector.options.input_size = {} is out of range",
                    options.input_size
                ),
                "use 300 (the size the model was trained at) or another size from 32 to 2048",
            ));
        }
        if options.threads > 0 {
            opencv::core::set_num_threads(options.threads as i32)
                .map_err(|e| cv_error(ErrorCode::OTHER, "set_num_threads", e))?;
        }
        let files = args.model_files.as_slice();
        let (net, weights) = if let Ok(pb) = model_file(files, &[".pb"], "ssd") {
            let pbtxt = model_file(files, &[".pbtxt"], "ssd (TensorFlow)")?;
            check_readable(pb)?;
            check_readable(pbtxt)?;
            let net = dnn::read_net_from_tensorflow(pb, pbtxt).map_err(|e| load_error(pb, e))?;
            (net, pb)
        } else {
            let model = model_file(files, &[".caffemodel"], "ssd")?;
            let proto = model_file(files, &[".prototxt", ".prototxt.txt"], "ssd (Caffe)")?;
            check_readable(model)?;
            check_readable(proto)?;
            let net = dnn::read_net_from_caffe(proto, model).map_err(|e| load_error(model, e))?;
            (net, model)
        };
        let mut ssd = Ssd {
            net,
            info: ModelInfo {
                id: if args.model_id.is_empty() {
                    "ssd-res10".into()
                } else {
                    args.model_id.into()
                },
                backend: backend_name(),
                licence: LicenceClass::Permissive,
                input_width: options.input_size,
                input_height: options.input_size,
                embedding: None.into(),
            },
            options,
        };
        ssd.check_model(weights)?;
        Ok(ssd)
    }

    /// A model that loads but is not an SSD face detector fails here, naming the file.
    fn check_model(&mut self, weights: &str) -> Result<(), PluginError> {
        let mismatch = |what: String| {
            PluginError::new(
                ErrorCode::MODEL,
                format!("{weights} is not an SSD face detector: {what}"),
                "point model_files at OpenCV's res10 SSD face model (.pb + .pbtxt, or .caffemodel + .prototxt)",
            )
        };
        if self.net.empty().unwrap_or(true) {
            return Err(mismatch("the network is empty".into()));
        }
        let outputs: Vector<String> = self
            .net
            .get_unconnected_out_layers_names()
            .map_err(|e| load_error(weights, e))?;
        if outputs.len() != 1 || outputs.get(0).map(|n| n != "detection_out").unwrap_or(true) {
            return Err(mismatch(format!(
                "expected one output `detection_out`, found {:?}",
                outputs.to_vec()
            )));
        }
        let probe =
            Mat::new_rows_cols_with_default(64, 64, opencv::core::CV_8UC3, Scalar::all(0.0))
                .map_err(|e| load_error(weights, e))?;
        let out = self
            .forward(&probe)
            .map_err(|e| mismatch(e.message.to_string()))?;
        let shape = out.mat_size();
        if shape.len() != 4 || shape[3] != ROW as i32 {
            return Err(mismatch(format!(
                "output shape {:?}, expected [1, 1, N, 7]",
                &*shape
            )));
        }
        Ok(())
    }

    fn forward(&mut self, bgr: &Mat) -> Result<Mat, PluginError> {
        let s = self.options.input_size;
        let (w, h) = (bgr.cols() as u32, bgr.rows() as u32);
        let lb = self.geometry(w, h);
        let mean = Scalar::new(MEAN.0, MEAN.1, MEAN.2, 0.0);
        let blob = image::letterbox_blob(bgr, &lb, mean, mean, 1.0, false)?;
        debug_assert_eq!((lb.dst_w, lb.dst_h), (s, s));
        self.net
            .set_input(&blob, "", 1.0, Scalar::default())
            .map_err(|e| cv_error(ErrorCode::INFERENCE, "set_input", e))?;
        self.net
            .forward_single("")
            .map_err(|e| cv_error(ErrorCode::INFERENCE, "SSD forward", e))
    }

    fn geometry(&self, w: u32, h: u32) -> Letterbox {
        let s = self.options.input_size;
        if self.options.letterbox {
            Letterbox::fit(w, h, s, s)
        } else {
            Letterbox::stretch(w, h, s, s)
        }
    }

    fn detect_faces(&mut self, view: &ImageView<'_>) -> Result<Vec<Face>, PluginError> {
        let bgr = image::to_bgr_mat(view)?;
        let out = self.forward(&bgr)?;
        let lb = self.geometry(view.width, view.height);
        let data: &[f32] = out
            .data_typed()
            .map_err(|e| cv_error(ErrorCode::INFERENCE, "reading SSD output", e))?;
        let s = self.options.input_size as f32;
        let faces = data
            .chunks_exact(ROW)
            .filter(|r| r[2] >= self.options.score_threshold)
            .map(|r| Face::new(lb.box_to_src(r[3] * s, r[4] * s, r[5] * s, r[6] * s), r[2]))
            .collect();
        let filter = FaceFilter {
            score_threshold: self.options.score_threshold,
            min_face_size: self.options.min_face_size,
            nms_iou: self.options.nms_iou,
        };
        Ok(filter.apply(faces, view.width, view.height))
    }
}

fn load_error(file: &str, e: opencv::Error) -> PluginError {
    PluginError::new(
        ErrorCode::MODEL,
        format!(
            "cannot load model {file}: {}",
            e.message.lines().next().unwrap_or("")
        ),
        "the file is corrupt or not the format its name says; fetch it again or fix model_files",
    )
}

impl Detector for Ssd {
    fn info(&self) -> ModelInfo {
        self.info.clone()
    }

    fn detect(&mut self, image: ImageView<'_>) -> RResult<RVec<Face>, PluginError> {
        guard("SSD detection", || {
            self.detect_faces(&image).map(RVec::from)
        })
    }
}
