//! dlib's ResNet face embedder (`dlib_face_recognition_resnet_model_v1.dat`, 128-D,
//! compared by euclidean distance with dlib's rule of 0.6), made to give face_recognition
//! 1.3's embeddings for the same photo and box.
//!
//! Model files, in the declared order: the ResNet `.dat`, then the 5-point shape predictor
//! `.dat` (the `dlib-resnet-128` manifest entry lists both). Alignment (`alignment`):
//! - `shape-predictor` (default): the shape predictor finds five points inside the face box,
//!   and the chip is dlib's `get_face_chip_details(shape, 150, 0.25)` cut by
//!   `extract_image_chips`, exactly face_recognition's path (one jitter);
//! - `detector`: the detector's own five landmarks, mapped onto dlib's chip template (the
//!   eye centres, nose tip and mouth corners of dlib's mean face, the same size and
//!   padding); the shape predictor file is then not needed.
//!
//! The vectors are returned as the network gives them: not normalised, metric euclidean.

use std::path::Path;

use abi_stable::std_types::{RResult, RSlice, RVec};
use facelab_plugin_kit::api::{
    CreateArgs, Embedding, EmbeddingSpec, ErrorCode, Face, ImageView, LicenceClass, Metric,
    ModelInfo, PluginError, Recognizer,
};
use facelab_plugin_kit::options::{check_threads, out_of_range, Colour, EmbedderOptions};
use facelab_plugin_kit::{check_readable, embed_guarded, model_info, model_mismatch};
use serde::Deserialize;

use crate::ffi::{FaceRect, Points, ResNet, ShapePredictor, RESNET_DIM};
use crate::image::packed_rgb;
use crate::{backend_name, model_error};

/// The manifest's preprocessing profile for this model.
pub const PROFILE: &str = "dlib-150";

/// Where the five alignment points come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Alignment {
    /// dlib's 5-point shape predictor inside the face box (face_recognition's path).
    #[default]
    ShapePredictor,
    /// The detector's five landmarks, mapped onto dlib's chip template.
    Detector,
}

/// `[recognizer.options]` of kind `resnet`. facelab fills `profile`, `colour`, `mean`,
/// `scale` and `dim` from the model manifest; each must say what this network takes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResnetOptions {
    /// The alignment profile: only `dlib-150`.
    pub profile: String,
    /// The channel order: only `rgb` (dlib's network takes RGB).
    pub colour: Colour,
    /// Must be zero: dlib's input layer subtracts its own mean.
    pub mean: Vec<f32>,
    /// Must be 1: dlib's input layer scales by itself.
    pub scale: f32,
    /// The embedding's dimension; 128 when given.
    pub dim: Option<u32>,
    /// Where the five alignment points come from.
    pub alignment: Alignment,
    /// Also embed each chip mirrored left to right and keep the mean (doubles the cost).
    pub mirror: bool,
    /// BLAS threads for the network's matrix products (OpenBLAS; its count is shared by the
    /// whole process). Unset: OpenBLAS's own default, one per core. facelab's scan sets 1:
    /// it runs a worker per core already, and OpenBLAS threads waiting on a busy core cost
    /// system time (a WIDER mini scan: 36.3 → 26.2 s).
    pub threads: Option<u32>,
}

impl Default for ResnetOptions {
    fn default() -> Self {
        ResnetOptions {
            profile: PROFILE.into(),
            colour: Colour::Rgb,
            mean: Vec::new(),
            scale: 1.0,
            dim: None,
            alignment: Alignment::default(),
            mirror: false,
            threads: None,
        }
    }
}

impl ResnetOptions {
    /// Parses the table and checks each declared fact against this network.
    pub fn parse(text: &str) -> Result<Self, PluginError> {
        let section = EmbedderOptions::SECTION;
        let o: ResnetOptions = facelab_plugin_kit::parse_options(text, section)?;
        if o.profile != PROFILE {
            return Err(out_of_range(
                section,
                "profile",
                format!("\"{}\"", o.profile),
                "\"dlib-150\" (dlib's own 150x150 face chip; this kind runs only dlib's ResNet)",
            ));
        }
        if o.colour != Colour::Rgb {
            return Err(out_of_range(
                section,
                "colour",
                "\"bgr\"",
                "\"rgb\" (dlib's network takes RGB)",
            ));
        }
        if o.mean.iter().any(|m| *m != 0.0) {
            return Err(out_of_range(
                section,
                "mean",
                format!("{:?}", o.mean),
                "0 (dlib's input layer subtracts its own mean)",
            ));
        }
        if o.scale != 1.0 {
            return Err(out_of_range(
                section,
                "scale",
                o.scale,
                "1 (dlib's input layer scales by itself)",
            ));
        }
        if let Some(d) = o.dim.filter(|d| *d as usize != RESNET_DIM) {
            return Err(out_of_range(
                section,
                "dim",
                d,
                "128 (dlib's ResNet gives 128-D embeddings)",
            ));
        }
        if let Some(t) = o.threads {
            check_threads(section, t, None)?;
        }
        Ok(o)
    }
}

/// A loaded ResNet embedder.
pub struct DlibResnet {
    net: ResNet,
    shape: Option<ShapePredictor>,
    mirror: bool,
    info: ModelInfo,
}

/// The kind's declared files, for messages.
const FILES: &str = "the ResNet .dat (dlib_face_recognition_resnet_model_v1.dat), then the 5-point shape predictor .dat (shape_predictor_5_face_landmarks.dat)";

impl DlibResnet {
    /// Loads the network (and the shape predictor for `alignment = "shape-predictor"`).
    pub fn new(args: &CreateArgs<'_>) -> Result<Self, PluginError> {
        let options = ResnetOptions::parse(args.options_toml.as_str())?;
        if let Some(t) = options.threads {
            crate::ffi::set_blas_threads(t);
        }
        let files: Vec<&str> = args.model_files.iter().map(|f| f.as_str()).collect();
        let needed = match options.alignment {
            Alignment::ShapePredictor => 2,
            Alignment::Detector => 1,
        };
        if files.len() < needed
            || files
                .iter()
                .any(|f| !f.to_ascii_lowercase().ends_with(".dat"))
        {
            return Err(PluginError::new(
                ErrorCode::MODEL,
                format!(
                    "the dlib resnet needs {needed} .dat file(s), {}, but got [{}]",
                    if needed == 2 { FILES } else { "the ResNet .dat" },
                    files.join(", ")
                ),
                "use model = \"dlib-resnet-128\", which lists both, or list them in this order in `model_files`",
            ));
        }
        check_readable(files[0])?;
        let net = ResNet::load(Path::new(files[0])).map_err(|e| {
            model_error(
                files[0],
                "dlib's ResNet face embedder (dlib_face_recognition_resnet_model_v1.dat)",
                &e,
            )
        })?;
        let shape = match options.alignment {
            Alignment::Detector => None,
            Alignment::ShapePredictor => {
                check_readable(files[1])?;
                let what = "dlib's 5-point shape predictor (shape_predictor_5_face_landmarks.dat)";
                let sp = ShapePredictor::load(Path::new(files[1]))
                    .map_err(|e| model_error(files[1], what, &e))?;
                if sp.num_parts != 5 {
                    return Err(model_mismatch(
                        files[1],
                        format_args!("is not {what}"),
                        format_args!("it is a {}-point shape predictor", sp.num_parts),
                        "the ResNet's chip template is defined for the 5-point predictor; list shape_predictor_5_face_landmarks.dat second in `model_files` (model = \"dlib-resnet-128\" does)",
                    ));
                }
                Some(sp)
            }
        };
        Ok(DlibResnet {
            net,
            shape,
            mirror: options.mirror,
            info: ModelInfo {
                embedding: Some(EmbeddingSpec {
                    dim: RESNET_DIM as u32,
                    metric: Metric::Euclidean,
                })
                .into(),
                ..model_info(
                    args,
                    "dlib-resnet-128",
                    backend_name(),
                    LicenceClass::Permissive,
                    (150, 150),
                )
            },
        })
    }
}

/// A face box as dlib's inclusive rectangle (the inverse of the detectors' conversion).
pub fn rect_of(face: &Face) -> FaceRect {
    let b = face.bbox;
    let (l, t) = (b.x.round() as i64, b.y.round() as i64);
    FaceRect {
        left: l,
        top: t,
        right: (b.x + b.width).round() as i64 - 1,
        bottom: (b.y + b.height).round() as i64 - 1,
    }
}

impl Recognizer for DlibResnet {
    fn info(&self) -> ModelInfo {
        self.info.clone()
    }

    fn embed(
        &mut self,
        image: ImageView<'_>,
        faces: RSlice<'_, Face>,
    ) -> RResult<RVec<Embedding>, PluginError> {
        embed_guarded(&image, faces.len(), false, || {
            for (i, f) in faces.iter().enumerate() {
                let b = f.bbox;
                let finite = [b.x, b.y, b.width, b.height].iter().all(|v| v.is_finite());
                if !finite || b.width < 1.0 || b.height < 1.0 {
                    return Err(PluginError::new(
                        ErrorCode::INVALID_INPUT,
                        format!(
                            "face {i} has no area ({}x{} at {},{}): dlib cannot align it",
                            b.width, b.height, b.x, b.y
                        ),
                        "this is a detector bug; faces need a box of at least 1x1 pixel",
                    ));
                }
            }
            let rects: Vec<FaceRect> = faces.iter().map(rect_of).collect();
            let landmarks: Vec<f32>;
            let points = match &self.shape {
                Some(sp) => Points::Predict(sp),
                None => {
                    let mut v = Vec::with_capacity(faces.len() * 10);
                    for (i, f) in faces.iter().enumerate() {
                        let l = f.landmarks.as_ref().into_option().ok_or_else(|| {
                            PluginError::new(
                                ErrorCode::INVALID_INPUT,
                                format!("face {i} has no landmarks, and alignment = \"detector\" needs the detector's five points"),
                                "use a detector with landmarks (e.g. yunet), or alignment = \"shape-predictor\"",
                            )
                        })?;
                        v.extend(l.points.iter().flat_map(|p| [p.x, p.y]));
                    }
                    landmarks = v;
                    Points::Given(&landmarks)
                }
            };
            let rgb = packed_rgb(&image);
            let (values, _) = self
                .net
                .embed(&rgb.as_rgb(), &rects, points, self.mirror)
                .map_err(|e| PluginError::new(ErrorCode::INFERENCE, format!("dlib: {e}"), ""))?;
            Ok(values
                .chunks_exact(RESNET_DIM)
                .map(<[f32]>::to_vec)
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use facelab_plugin_kit::api::BBox;
    use facelab_plugin_kit::options::option_key;

    #[test]
    fn the_manifest_facts_are_checked() {
        let ok = ResnetOptions::parse(
            "profile = \"dlib-150\"\ncolour = \"rgb\"\nmean = [0.0, 0.0, 0.0]\nscale = 1.0\ndim = 128",
        )
        .unwrap();
        assert_eq!(ok.alignment, Alignment::ShapePredictor);
        for (text, key) in [
            ("profile = \"arcface-112\"", "profile"),
            ("colour = \"bgr\"", "colour"),
            ("mean = [127.5]", "mean"),
            ("scale = 0.5", "scale"),
            ("dim = 512", "dim"),
            ("alignment = \"box\"", "alignment"),
            ("normalize = true", "normalize"),
            ("threads = 0", "threads"),
            ("threads = 65", "threads"),
        ] {
            let e = ResnetOptions::parse(text).unwrap_err();
            assert_eq!(
                option_key(&e),
                Some(format!("recognizer.options.{key}").as_str()),
                "{e}"
            );
        }
        let d = ResnetOptions::parse("alignment = \"detector\"").unwrap();
        assert_eq!(d.alignment, Alignment::Detector);
        assert_eq!(
            ResnetOptions::parse("threads = 1").unwrap().threads,
            Some(1)
        );
    }

    #[test]
    fn the_blas_dlib_links_takes_a_thread_count() {
        // setup.sh installs OpenBLAS for libblas.so.3; without it the scan's `threads = 1`
        // would silently leave OpenBLAS at one thread per core.
        assert!(
            crate::ffi::set_blas_threads(1),
            "libblas.so.3 is not OpenBLAS"
        );
    }

    #[test]
    fn boxes_become_dlibs_inclusive_rectangles() {
        let f = Face::new(BBox::new(10.0, 20.0, 100.0, 200.0), 1.0);
        assert_eq!(
            rect_of(&f),
            FaceRect {
                left: 10,
                top: 20,
                right: 109,
                bottom: 219
            }
        );
    }
}
