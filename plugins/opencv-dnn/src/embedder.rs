//! Face embedders on OpenCV DNN (MobileFaceNet and SFace ONNX, FaceNet TensorFlow, OpenFace
//! Torch): each face is aligned with the model's declared profile (`facelab_plugin_kit::align`;
//! SFace's `arcface-112-opencv` is `FaceRecognizerSF::alignCrop`'s crop), batched into one
//! blob, and embedded.

use abi_stable::std_types::{RResult, RSlice, RVec};
use facelab_plugin_kit::align::{fold_mirrored, warp, Profile};
use facelab_plugin_kit::api::{
    CreateArgs, Embedding, EmbeddingSpec, ErrorCode, Face, ImageView, Landmarks5, LicenceClass,
    Metric, ModelInfo, PluginError, Point2, Recognizer,
};
use facelab_plugin_kit::options::{self, parse_with_backend, LandmarkSource};
use facelab_plugin_kit::{check_readable, embed_guarded, model_file, model_info, model_mismatch};
use opencv::core::{self, Mat, Scalar, Size, Vector};
use opencv::dnn::{self, Net};
use opencv::prelude::*;

use crate::dnn::load_error;
use crate::{backend_name, cv_error, OpenCvKeys};

/// `[recognizer.options]` of kind `embedder`: the kit's shared keys plus `threads`.
#[derive(Debug, Clone)]
pub struct EmbedderOptions {
    /// The keys every embedder backend takes.
    pub shared: options::EmbedderOptions,
    /// The OpenCV keys.
    pub cv: OpenCvKeys,
}

impl EmbedderOptions {
    /// Parses and validates the options table (without touching OpenCV's threads).
    pub fn parse(text: &str) -> Result<Self, PluginError> {
        let (shared, cv): (options::EmbedderOptions, OpenCvKeys) =
            parse_with_backend(text, options::EmbedderOptions::SECTION)?;
        shared.mean3()?;
        Ok(EmbedderOptions { shared, cv })
    }
}

/// The 106-point landmark model (JD-106 layout), used for faces without landmarks.
struct Landmark106 {
    net: Net,
}

/// JD-106 indices of the five alignment points, in [`Landmarks5`] order: pupils 104 and
/// 105, nose tip 46, mouth corners 84 and 90. (Checked against YuNet's five points on 18
/// LFW faces: these are the nearest indices, at 3–7% of the face width.)
const JD106_FIVE: [usize; 5] = [104, 105, 46, 84, 90];

impl Landmark106 {
    fn load(files: &[abi_stable::std_types::RStr<'_>]) -> Result<Self, PluginError> {
        let model = model_file(files, &[".caffemodel"], "landmark106")?;
        let proto = model_file(files, &[".prototxt"], "landmark106")?;
        check_readable(model)?;
        check_readable(proto)?;
        let net = dnn::read_net_from_caffe(proto, model).map_err(|e| load_error(model, e))?;
        Ok(Landmark106 { net })
    }

    /// The five alignment points of the face in `bbox`.
    fn five(
        &mut self,
        image: &ImageView<'_>,
        bbox: &facelab_plugin_kit::api::BBox,
    ) -> Result<Landmarks5, PluginError> {
        let m = [
            bbox.width / 112.0,
            0.0,
            bbox.x,
            0.0,
            bbox.height / 112.0,
            bbox.y,
        ];
        let bytes = warp(image, &m, 112, false);
        let crop = Mat::from_slice(&bytes)
            .and_then(|m| m.reshape(3, 112).and_then(|m| m.try_clone()))
            .map_err(|e| cv_error(ErrorCode::INFERENCE, "landmark crop", e))?;
        let blob = dnn::blob_from_image(
            &crop,
            1.0 / 127.5,
            Size::new(112, 112),
            Scalar::all(127.5),
            false,
            false,
            core::CV_32F,
        )
        .map_err(|e| cv_error(ErrorCode::INFERENCE, "landmark blob", e))?;
        self.net
            .set_input(&blob, "", 1.0, Scalar::default())
            .map_err(|e| cv_error(ErrorCode::INFERENCE, "landmark input", e))?;
        let out = self
            .net
            .forward_single("bn6_3_scale")
            .map_err(|e| cv_error(ErrorCode::INFERENCE, "landmark forward", e))?;
        let p = out
            .data_typed::<f32>()
            .map_err(|e| cv_error(ErrorCode::INFERENCE, "landmark output", e))?;
        if p.len() < 212 {
            return Err(PluginError::new(
                ErrorCode::INFERENCE,
                format!("landmark106 gave {} values, expected 212", p.len()),
                "",
            ));
        }
        Ok(Landmarks5 {
            points: JD106_FIVE.map(|i| Point2 {
                x: bbox.x + p[2 * i] * bbox.width,
                y: bbox.y + p[2 * i + 1] * bbox.height,
            }),
        })
    }
}

/// A loaded embedding network.
pub struct Embedder {
    net: Net,
    profile: Profile,
    rgb: bool,
    mean: Scalar,
    scale: f64,
    normalize: bool,
    mirror: bool,
    /// Whether the graph takes several faces in one blob. FaceNet's TensorFlow graph does
    /// not on OpenCV 4.6 (its flatten Reshape fails in the fully connected layer at batch
    /// > 1), so such a model embeds one face per forward pass.
    batches: bool,
    info: ModelInfo,
    landmarks: Option<Landmark106>,
}

impl Embedder {
    /// Loads the model in `args` and checks it against the declared profile.
    pub fn new(args: &CreateArgs<'_>) -> Result<Self, PluginError> {
        let EmbedderOptions { shared: o, cv } = EmbedderOptions::parse(args.options_toml.as_str())?;
        let (profile, rgb, m) = (o.profile, o.rgb(), o.mean3()?);
        let mean = Scalar::new(m[0] as f64, m[1] as f64, m[2] as f64, 0.0);
        cv.apply_threads(options::EmbedderOptions::SECTION)?;
        let files = args.model_files.as_slice();
        let landmarks = match o.landmarks {
            LandmarkSource::Box => None,
            LandmarkSource::Landmark106 => Some(Landmark106::load(files)?),
        };
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
            mirror: o.mirror,
            batches: false,
            landmarks,
            info: model_info(
                args,
                "embedder",
                backend_name(),
                LicenceClass::Unknown,
                (profile.size(), profile.size()),
            ),
        };
        // Probe: a grey crop of the profile's size must give one vector of the declared size.
        let size = profile.size() as i32;
        let probe = Mat::new_rows_cols_with_default(size, size, core::CV_8UC3, Scalar::all(128.0))
            .map_err(|e| load_error(file, e))?;
        let out = e.forward(std::slice::from_ref(&probe)).map_err(|err| {
            model_mismatch(
                file,
                format_args!("does not fit the {} embedder", o.profile.name()),
                format_args!("a {size}x{size} input fails: {}", err.message),
                "this model needs a different profile (input size)",
            )
        })?;
        let dim = out.first().map(|v| v.len()).unwrap_or(0) as u32;
        // A second probe of two faces in one blob: batching is an optimisation, so a graph
        // that refuses it still works, one face at a time.
        e.batches = true;
        let pair = [probe.clone(), probe];
        e.batches = matches!(e.forward(&pair), Ok(v) if v.len() == 2 && v[1].len() == dim as usize);
        if let Some(expected) = o.dim.filter(|d| *d != dim) {
            return Err(model_mismatch(
                file,
                "does not fit the embedder",
                format_args!("it gives {dim}-D embeddings, the manifest says {expected}"),
                "check `model` / `model_files` in [recognizer]: they must name the embedding model the options describe",
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
        if crops.len() > 1 && !self.batches {
            let mut out = Vec::with_capacity(crops.len());
            for c in crops {
                out.extend(self.forward(std::slice::from_ref(c))?);
            }
            return Ok(out);
        }
        let size = self.profile.size() as i32;
        // (x − mean) · scale per channel, as the manifest declares: no per-model special case.
        let v: Vector<Mat> = crops.iter().cloned().collect();
        let blob = dnn::blob_from_images(
            &v,
            self.scale,
            Size::new(size, size),
            self.mean,
            false,
            false,
            core::CV_32F,
        )
        .map_err(|e| cv_error(ErrorCode::INFERENCE, "blob", e))?;
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
    pub fn align(&mut self, image: &ImageView<'_>, face: &Face) -> Result<Mat, PluginError> {
        let size = self.profile.size();
        let found = match (
            face.landmarks.as_ref().into_option(),
            self.landmarks.as_mut(),
        ) {
            (Some(l), _) => Some(*l),
            (None, Some(model)) => Some(model.five(image, &face.bbox)?),
            (None, None) => None,
        };
        let m = self.profile.crop_to_photo(&face.bbox, found.as_ref());
        let bytes = warp(image, &m, size, self.rgb);
        let flat =
            Mat::from_slice(&bytes).map_err(|e| cv_error(ErrorCode::INFERENCE, "crop", e))?;
        flat.reshape(3, size as i32)
            .and_then(|m| m.try_clone())
            .map_err(|e| cv_error(ErrorCode::INFERENCE, "crop", e))
    }
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
        embed_guarded(&image, faces.len(), self.normalize, || {
            let mut crops = Vec::with_capacity(faces.len() * (1 + usize::from(self.mirror)));
            for f in faces.iter() {
                let crop = self.align(&image, f)?;
                if self.mirror {
                    let mut mirrored = Mat::default();
                    core::flip(&crop, &mut mirrored, 1)
                        .map_err(|e| cv_error(ErrorCode::INFERENCE, "mirror", e))?;
                    crops.extend([crop, mirrored]);
                } else {
                    crops.push(crop);
                }
            }
            let vectors = self.forward(&crops)?;
            Ok(if self.mirror {
                fold_mirrored(vectors, self.normalize)
            } else {
                vectors
            })
        })
    }
}
