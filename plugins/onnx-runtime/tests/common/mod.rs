//! Shared by the integration tests and the `eval_voc` example: the shared models and
//! photos, creating detectors through the plugin's root module exactly as the host does,
//! and recall/precision against dlib imglab labels.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use abi_stable::std_types::{RStr, RVec};
use facelab_onnx_runtime::root_module;
use facelab_plugin_kit::api::{
    BBox, CreateArgs, DetectorBox, Face, ImageView, PixelFormat, PluginError,
};

/// The folders of `../shared` these tests read: the model mirror and the sample photos.
pub const SHARED_NEEDS: [&str; 2] = ["models", "datasets/samples"];

/// `../shared` when it holds [`SHARED_NEEDS`].
pub fn shared() -> Option<PathBuf> {
    facelab_plugin_kit::testing::locate_shared(&SHARED_NEEDS).ok()
}

/// Returns `../shared` (with [`SHARED_NEEDS`]); when it is missing, skips the calling test
/// with a message, or fails it with one when `FACELAB_REQUIRE_SHARED=1` (CI).
#[macro_export]
macro_rules! require_shared {
    () => {
        facelab_plugin_kit::require_shared!(&common::SHARED_NEEDS)
    };
}

/// A detector kind with its model file (relative to `shared/models`) and options.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// The plugin kind.
    pub kind: &'static str,
    /// The model file under `shared/models`.
    pub model: &'static str,
    /// Extra `[detector.options]` lines.
    pub options: &'static str,
}

/// Every kind with each model it supports, at the manifest's default thresholds.
pub const SETUPS: [Setup; 7] = [
    Setup {
        kind: "yunet",
        model: "yunet/yunet_s_dynamic.onnx",
        options: "score_threshold = 0.9",
    },
    Setup {
        kind: "yunet",
        model: "yunet/face_detection_yunet_2023mar.onnx",
        options: "score_threshold = 0.9",
    },
    Setup {
        kind: "scrfd",
        model: "scrfd/scrfd_500m_bnkps.onnx",
        options: "score_threshold = 0.5",
    },
    Setup {
        kind: "scrfd",
        model: "scrfd/scrfd_2.5g_bnkps.onnx",
        options: "score_threshold = 0.5",
    },
    Setup {
        kind: "ultraface",
        model: "ultraface/version-RFB-320.onnx",
        options: "score_threshold = 0.7",
    },
    Setup {
        kind: "ultraface",
        model: "ultraface/version-RFB-640.onnx",
        options: "score_threshold = 0.7",
    },
    Setup {
        kind: "retinaface",
        model: "retinaface/retinaface_mbnet0.25.onnx",
        options: "score_threshold = 0.5",
    },
];

/// Creates a detector through the root module's `new_detector`, as the host does.
pub fn create(kind: &str, files: &[&str], options: &str) -> Result<DetectorBox, PluginError> {
    let files: Vec<RStr<'_>> = files.iter().map(|f| RStr::from_str(f)).collect();
    let args = CreateArgs {
        kind: kind.into(),
        model_id: "".into(),
        model_files: files.as_slice().into(),
        options_toml: options.into(),
    };
    (root_module().new_detector())(&args).into_result()
}

/// Creates the detector of `setup`, panicking with the plugin's message on failure.
pub fn create_setup(shared: &Path, setup: &Setup) -> DetectorBox {
    let model = shared.join("models").join(setup.model);
    create(setup.kind, &[model.to_str().unwrap()], setup.options)
        .unwrap_or_else(|e| panic!("{} with {}: {e}", setup.kind, setup.model))
}

/// A decoded photo, tightly packed RGB.
pub struct Photo {
    /// The file.
    pub path: PathBuf,
    /// RGB bytes.
    pub rgb: Vec<u8>,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Photo {
    /// Decodes a JPEG or PNG.
    pub fn open(path: &Path) -> Photo {
        let img = image::open(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .to_rgb8();
        Photo {
            path: path.to_owned(),
            width: img.width(),
            height: img.height(),
            rgb: img.into_raw(),
        }
    }

    /// The photo as an [`ImageView`].
    pub fn view(&self) -> ImageView<'_> {
        ImageView::packed(&self.rgb, self.width, self.height, PixelFormat::Rgb8).unwrap()
    }
}

/// One labelled photo of an imglab XML file.
pub struct Labelled {
    /// The photo.
    pub photo: Photo,
    /// The labelled faces (boxes marked `ignore='1'` left out).
    pub boxes: Vec<BBox>,
}

/// Reads dlib's imglab XML with the host's reader and decodes each photo.
pub fn read_imglab(xml: &Path) -> Vec<Labelled> {
    facelab_eval::voc::read_imglab(xml)
        .unwrap()
        .into_iter()
        .map(|image| Labelled {
            photo: Photo::open(&image.path),
            boxes: image.boxes,
        })
        .collect()
}

/// How many faces match a label one-to-one at IoU ≥ `min_iou`, best score first (the
/// host's matcher).
pub fn matched(labels: &[BBox], faces: &[Face], min_iou: f32) -> usize {
    facelab_eval::voc::match_faces(labels, faces, min_iou).matched
}

/// Results of one detector over a labelled set.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Labelled faces.
    pub labelled: usize,
    /// Detections.
    pub detected: usize,
    /// Detections matched to a label.
    pub matched: usize,
    /// Milliseconds per `detect()` call, one per photo.
    pub millis: Vec<f64>,
    /// The faces found in each photo, in the set's order.
    pub faces: Vec<Vec<Face>>,
}

impl Evaluation {
    /// Matched / labelled.
    pub fn recall(&self) -> f64 {
        self.matched as f64 / self.labelled.max(1) as f64
    }

    /// Matched / detected.
    pub fn precision(&self) -> f64 {
        self.matched as f64 / self.detected.max(1) as f64
    }

    /// Median milliseconds per photo.
    pub fn median_ms(&self) -> f64 {
        let mut v = self.millis.clone();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => 0.0,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }
}

/// Runs `detector` on every photo of `set` (`rounds` times, keeping the last results and
/// every timing) and matches at IoU ≥ 0.5.
pub fn evaluate(detector: &mut DetectorBox, set: &[Labelled], rounds: usize) -> Evaluation {
    let mut e = Evaluation::default();
    for (round, item) in (0..rounds).flat_map(|r| set.iter().map(move |i| (r, i))) {
        let start = Instant::now();
        let faces: RVec<Face> = detector
            .detect(item.photo.view())
            .into_result()
            .unwrap_or_else(|err| panic!("{}: {err}", item.photo.path.display()));
        e.millis.push(start.elapsed().as_secs_f64() * 1000.0);
        if round + 1 == rounds {
            e.labelled += item.boxes.len();
            e.detected += faces.len();
            e.matched += matched(&item.boxes, &faces, 0.5);
            e.faces.push(faces.into_vec());
        }
    }
    e
}
