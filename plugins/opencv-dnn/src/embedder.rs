//! Face embedders on OpenCV DNN (MobileFaceNet ONNX, FaceNet TensorFlow, OpenFace Torch):
//! each face is aligned with the model's declared profile (`facelab_plugin_kit::align`),
//! batched into one blob, and embedded.

use abi_stable::std_types::{RResult, RSlice, RVec};
use facelab_plugin_kit::align::{warp, Profile};
use facelab_plugin_kit::api::{
    CreateArgs, Embedding, EmbeddingSpec, ErrorCode, Face, ImageView, LicenceClass, Metric,
    ModelInfo, PluginError, Recognizer,
};
use facelab_plugin_kit::{check_readable, guard, model_file, parse_options, pixels};
use opencv::core::{self, Mat, Scalar, Size, Vector};
use opencv::dnn::{self, Net};
use opencv::prelude::*;
use serde::Deserialize;

use crate::dnn::{load_error, mismatch};
use crate::{backend_name, cv_error};

/// `[recognizer.options]` of kind `embedder`. facelab fills `profile`, `colour`, `mean`,
/// `scale` and `dim` from the model manifest when the config does not set them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedderOptions {
    /// Alignment profile: `arcface-112`, `openface-96` or `facenet-160`.
    pub profile: String,
    /// Channel order the network expects: `bgr` or `rgb`.
    #[serde(default = "default_colour")]
    pub colour: String,
    /// Mean subtracted per channel (one value, or one per channel in network order).
    #[serde(default)]
    pub mean: Vec<f32>,
    /// Factor applied after subtracting the mean.
    #[serde(default = "one")]
    pub scale: f32,
    /// The embedding's dimension, checked at load time.
    pub dim: Option<u32>,
    /// L2-normalise the output.
    #[serde(default = "yes")]
    pub normalize: bool,
    /// OpenCV worker threads; 0 keeps OpenCV's default.
    #[serde(default)]
    pub threads: u32,
}

fn default_colour() -> String {
    "bgr".into()
}
fn one() -> f32 {
    1.0
}
fn yes() -> bool {
    true
}

/// A loaded embedding network.
pub struct Embedder {
    net: Net,
    profile: Profile,
    rgb: bool,
    mean: Scalar,
    scale: f64,
    normalize: bool,
    info: ModelInfo,
}

impl Embedder {
    /// Loads the model in `args` and checks it against the declared profile.
    pub fn new(args: &CreateArgs<'_>) -> Result<Self, PluginError> {
        let o: EmbedderOptions = parse_options(args.options_toml.as_str(), "recognizer.options")?;
        let profile =
            Profile::parse(&o.profile).ok_or_else(|| {
                PluginError::new(
                ErrorCode::INVALID_CONFIG,
                format!("recognizer.options.profile = \"{}\" is not a known profile", o.profile),
                "use arcface-112, openface-96 or facenet-160, as the model's documentation says",
            )
            })?;
        let rgb = match o.colour.as_str() {
            "rgb" => true,
            "bgr" => false,
            other => {
                return Err(PluginError::new(
                    ErrorCode::INVALID_CONFIG,
                    format!("recognizer.options.colour = \"{other}\""),
                    "use \"bgr\" or \"rgb\"",
                ))
            }
        };
        let mean = match o.mean.as_slice() {
            [] => Scalar::all(0.0),
            [m] => Scalar::all(*m as f64),
            [a, b, c, ..] => Scalar::new(*a as f64, *b as f64, *c as f64, 0.0),
            _ => {
                return Err(PluginError::new(
                    ErrorCode::INVALID_CONFIG,
                    "recognizer.options.mean needs 1 or 3 values",
                    "",
                ))
            }
        };
        if o.threads > 0 {
            core::set_num_threads(o.threads as i32)
                .map_err(|e| cv_error(ErrorCode::OTHER, "set_num_threads", e))?;
        }
        let files = args.model_files.as_slice();
        let (net, file) = if let Ok(onnx) = model_file(files, &[".onnx"], "embedder") {
            check_readable(onnx)?;
            (
                dnn::read_net_from_onnx(onnx).map_err(|e| load_error(onnx, e))?,
                onnx,
            )
        } else if let Ok(pb) = model_file(files, &[".pb"], "embedder") {
            check_readable(pb)?;
            (
                dnn::read_net_from_tensorflow(pb, "").map_err(|e| load_error(pb, e))?,
                pb,
            )
        } else {
            let t7 = model_file(files, &[".t7", ".onnx", ".pb"], "embedder")?;
            check_readable(t7)?;
            (
                dnn::read_net_from_torch(t7, true, true).map_err(|e| load_error(t7, e))?,
                t7,
            )
        };
        let mut e = Embedder {
            net,
            profile,
            rgb,
            mean,
            scale: o.scale as f64,
            normalize: o.normalize,
            info: ModelInfo {
                id: if args.model_id.is_empty() {
                    "embedder".into()
                } else {
                    args.model_id.into()
                },
                backend: backend_name(),
                licence: LicenceClass::Unknown,
                input_width: profile.size(),
                input_height: profile.size(),
                embedding: None.into(),
            },
        };
        // Probe: a grey crop of the profile's size must give one vector of the declared size.
        let size = profile.size() as i32;
        let probe = Mat::new_rows_cols_with_default(size, size, core::CV_8UC3, Scalar::all(128.0))
            .map_err(|e| load_error(file, e))?;
        let out = e.forward(&[probe]).map_err(|err| {
            mismatch(
                file,
                &format!("{} embedder", o.profile),
                format!("a {size}x{size} input fails: {}", err.message),
                "this model needs a different profile (input size)",
            )
        })?;
        let dim = out.first().map(|v| v.len()).unwrap_or(0) as u32;
        if let Some(expected) = o.dim.filter(|d| *d != dim) {
            return Err(mismatch(
                file,
                "embedder",
                format!("it gives {dim}-D embeddings, the manifest says {expected}"),
                "check model_files",
            ));
        }
        e.info.embedding = Some(EmbeddingSpec {
            dim,
            metric: Metric::Cosine,
        })
        .into();
        Ok(e)
    }

    /// Embeds aligned crops (each `profile.size()` square, 8-bit, network channel order).
    fn forward(&mut self, crops: &[Mat]) -> Result<Vec<Vec<f32>>, PluginError> {
        let size = self.profile.size() as i32;
        let blob = if self.profile == Profile::Facenet160 {
            prewhitened_blob(crops)?
        } else {
            let v: Vector<Mat> = crops.iter().cloned().collect();
            dnn::blob_from_images(
                &v,
                self.scale,
                Size::new(size, size),
                self.mean,
                false,
                false,
                core::CV_32F,
            )
            .map_err(|e| cv_error(ErrorCode::INFERENCE, "blob", e))?
        };
        self.net
            .set_input(&blob, "", 1.0, Scalar::default())
            .map_err(|e| cv_error(ErrorCode::INFERENCE, "set_input", e))?;
        let out = self
            .net
            .forward_single("")
            .map_err(|e| cv_error(ErrorCode::INFERENCE, "embedder forward", e))?;
        let data = out
            .data_typed::<f32>()
            .map_err(|e| cv_error(ErrorCode::INFERENCE, "embedder output", e))?;
        let n = crops.len().max(1);
        let dim = data.len() / n;
        Ok(data
            .chunks_exact(dim.max(1))
            .take(crops.len())
            .map(|v| {
                let mut v = v.to_vec();
                if self.normalize {
                    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    if norm > 0.0 {
                        v.iter_mut().for_each(|x| *x /= norm);
                    }
                }
                v
            })
            .collect())
    }

    /// Aligns one face into a crop `Mat` in the network's channel order.
    pub fn align(&self, image: &ImageView<'_>, face: &Face) -> Result<Mat, PluginError> {
        let size = self.profile.size();
        let m = self
            .profile
            .crop_to_photo(&face.bbox, face.landmarks.as_ref().into_option());
        let bytes = warp(image, &m, size, self.rgb);
        let flat =
            Mat::from_slice(&bytes).map_err(|e| cv_error(ErrorCode::INFERENCE, "crop", e))?;
        flat.reshape(3, size as i32)
            .and_then(|m| m.try_clone())
            .map_err(|e| cv_error(ErrorCode::INFERENCE, "crop", e))
    }
}

/// FaceNet's per-image standardisation: (x − mean) / max(std, 1/√n), NCHW float.
fn prewhitened_blob(crops: &[Mat]) -> Result<Mat, PluginError> {
    let v: Vector<Mat> = crops.iter().cloned().collect();
    let size = crops.first().map(|m| m.rows()).unwrap_or(160);
    let mut blob = dnn::blob_from_images(
        &v,
        1.0,
        Size::new(size, size),
        Scalar::all(0.0),
        false,
        false,
        core::CV_32F,
    )
    .map_err(|e| cv_error(ErrorCode::INFERENCE, "blob", e))?;
    let per = (3 * size * size) as usize;
    let data = blob
        .data_typed_mut::<f32>()
        .map_err(|e| cv_error(ErrorCode::INFERENCE, "blob", e))?;
    for img in data.chunks_mut(per) {
        let n = img.len() as f32;
        let mean = img.iter().sum::<f32>() / n;
        let std = (img.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / n)
            .sqrt()
            .max(1.0 / n.sqrt());
        img.iter_mut().for_each(|x| *x = (*x - mean) / std);
    }
    Ok(blob)
}

impl Recognizer for Embedder {
    fn info(&self) -> ModelInfo {
        self.info.clone()
    }

    fn embed(
        &mut self,
        image: ImageView<'_>,
        faces: RSlice<'_, Face>,
    ) -> RResult<RVec<Embedding>, PluginError> {
        guard("embedding", || {
            pixels::validate(&image)?;
            if faces.is_empty() {
                return Ok(RVec::new());
            }
            let crops = faces
                .iter()
                .map(|f| self.align(&image, f))
                .collect::<Result<Vec<_>, _>>()?;
            let normalized = self.normalize;
            Ok(self
                .forward(&crops)?
                .into_iter()
                .map(|v| Embedding {
                    values: RVec::from(v),
                    normalized,
                })
                .collect())
        })
    }
}
