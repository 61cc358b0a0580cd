//! What the ONNX Runtime detectors share: reading a model's declared inputs and outputs
//! at load time, choosing the input size, and the letterbox → tensor → run → decode →
//! map back → filter pipeline. Each family only says how to normalise pixels and how to
//! decode its outputs.

use abi_stable::std_types::{RResult, RVec};
use facelab_plugin_kit::api::{
    Detector, ErrorCode, Face, ImageView, ModelInfo, PixelFormat, PluginError,
};
use facelab_plugin_kit::geometry::{photo_sized_input, Letterbox};
use facelab_plugin_kit::{guard, model_mismatch, pixels};
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef};

use crate::options::DetectorOptions;
use crate::tensor::{InputTensor, Normalisation};

/// An error for a model that loads but is not one of the `family` the kind runs.
fn mismatch(file: &str, family: &str, what: impl std::fmt::Display) -> PluginError {
    model_mismatch(
        file,
        format_args!("is not the model the {family} detector expects"),
        what,
        "check `model` / `model_files` and `kind` in the config: each kind runs one model family (see plugins/onnx-runtime/README.md)",
    )
}

/// One declared output: its name and shape (`-1` for a dynamic dimension).
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    /// The output's name in the graph.
    pub name: String,
    /// The declared shape.
    pub shape: Vec<i64>,
}

impl Declared {
    /// The last dimension (values per row), when fixed.
    pub fn row_len(&self) -> Option<usize> {
        self.shape
            .last()
            .and_then(|&d| usize::try_from(d).ok())
            .filter(|&d| d > 0)
    }
}

/// A model's declared interface, read once from the session at load time.
#[derive(Debug, Clone)]
pub struct ModelIo {
    /// The model file, for messages.
    pub file: String,
    /// The family expected, for messages.
    pub family: &'static str,
    /// The single input's name.
    pub input: String,
    /// The input's fixed `(width, height)`, or `None` when both are dynamic.
    pub fixed_size: Option<(u32, u32)>,
    /// Every `f32` tensor output.
    pub outputs: Vec<Declared>,
}

impl ModelIo {
    /// Reads and checks the interface: one `f32` input shaped `[N, 3, H, W]` (H and W both
    /// fixed or both dynamic) and `f32` tensor outputs.
    pub fn read(session: &Session, file: &str, family: &'static str) -> Result<Self, PluginError> {
        let fail = |what: String| mismatch(file, family, what);
        let [input] = session.inputs() else {
            return Err(fail(format!(
                "expected one image input, found {} inputs",
                session.inputs().len()
            )));
        };
        let shape = input.dtype().tensor_shape().map(|s| s.to_vec());
        let float = input.dtype().tensor_type() == Some(TensorElementType::Float32);
        let dims = match shape.as_deref() {
            Some(&[_, c, h, w]) if float && (c == 3 || c < 0) => (h, w),
            _ => {
                return Err(fail(format!(
                    "input `{}` is {:?} {:?}, expected float32 [N, 3, H, W]",
                    input.name(),
                    input.dtype().tensor_type(),
                    shape.unwrap_or_default()
                )))
            }
        };
        let fixed_size = match dims {
            (h, w) if h > 0 && w > 0 => Some((w as u32, h as u32)),
            (h, w) if h <= 0 && w <= 0 => None,
            (h, w) => {
                return Err(fail(format!(
                    "input `{}` has one fixed and one dynamic side (H {h}, W {w}); not supported",
                    input.name()
                )))
            }
        };
        let outputs = session
            .outputs()
            .iter()
            .filter(|o| o.dtype().tensor_type() == Some(TensorElementType::Float32))
            .map(|o| Declared {
                name: o.name().to_owned(),
                shape: o
                    .dtype()
                    .tensor_shape()
                    .map(|s| s.to_vec())
                    .unwrap_or_default(),
            })
            .collect();
        Ok(ModelIo {
            file: file.to_owned(),
            family,
            input: input.name().to_owned(),
            fixed_size,
            outputs,
        })
    }

    /// An error saying what is wrong with this model, listing its outputs.
    pub fn mismatch(&self, what: impl std::fmt::Display) -> PluginError {
        mismatch(
            &self.file,
            self.family,
            format!(
                "{what}; the model's outputs are {}",
                self.describe_outputs()
            ),
        )
    }

    /// `name [shape], …` for messages.
    pub fn describe_outputs(&self) -> String {
        if self.outputs.is_empty() {
            return "none".into();
        }
        self.outputs
            .iter()
            .map(|o| format!("{} {:?}", o.name, o.shape))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The outputs whose rows hold `row_len` values, in graph order.
    pub fn with_row_len(&self, row_len: usize) -> Vec<&Declared> {
        self.outputs
            .iter()
            .filter(|o| o.row_len() == Some(row_len))
            .collect()
    }

    /// The output called `name`, checked to have rows of `row_len` values.
    pub fn named(&self, name: &str, row_len: usize) -> Result<&Declared, PluginError> {
        let o = self
            .outputs
            .iter()
            .find(|o| o.name == name)
            .ok_or_else(|| self.mismatch(format!("output `{name}` is missing")))?;
        if o.row_len() != Some(row_len) {
            return Err(self.mismatch(format!(
                "output `{name}` has shape {:?}, expected rows of {row_len}",
                o.shape
            )));
        }
        Ok(o)
    }

    /// The network input size policy for this model under `options`.
    ///
    /// A fixed-input model runs at its own size; options that contradict it are errors.
    /// A dynamic model runs at `input_width × input_height` (default `default_size`), or
    /// photo-sized when `photo_sized_input` (default `photo_sized_default`) is on.
    pub fn input_size(
        &self,
        options: &DetectorOptions,
        default_size: (u32, u32),
        photo_sized_default: bool,
    ) -> Result<InputSize, PluginError> {
        let config = |what: String, help: &str| {
            PluginError::new(
                ErrorCode::INVALID_CONFIG,
                format!("{}: {what}", self.file),
                help,
            )
        };
        if let Some((w, h)) = self.fixed_size {
            if options.photo_sized_input == Some(true) {
                return Err(config(
                    format!("photo_sized_input = true, but the model's input is fixed at {w}x{h}"),
                    "remove photo_sized_input, or use a model with a dynamic input",
                ));
            }
            let wanted = (
                options.input_width.unwrap_or(w),
                options.input_height.unwrap_or(h),
            );
            if wanted != (w, h) {
                return Err(config(
                    format!(
                        "input_width x input_height = {}x{}, but the model's input is fixed at {w}x{h}",
                        wanted.0, wanted.1
                    ),
                    "remove input_width and input_height for this model",
                ));
            }
            return Ok(InputSize::Fixed(w, h));
        }
        if options.photo_sized_input.unwrap_or(photo_sized_default) {
            return Ok(InputSize::PhotoSized {
                max_side: options.max_input_side,
            });
        }
        let (w, h) = options.input_size(default_size, "640 is usual")?;
        Ok(InputSize::Fixed(w, h))
    }
}

/// The network input size for a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputSize {
    /// Always `width × height`.
    Fixed(u32, u32),
    /// The photo's size, scaled down to fit `max_side`, rounded up to a multiple of 32.
    PhotoSized {
        /// Cap on the longer side.
        max_side: u32,
    },
}

impl InputSize {
    /// The input for a `width × height` photo.
    pub fn for_photo(self, width: u32, height: u32) -> (u32, u32) {
        match self {
            InputSize::Fixed(w, h) => (w, h),
            InputSize::PhotoSized { max_side } => photo_sized_input(width, height, max_side),
        }
    }

    /// `(width, height)` for [`ModelInfo`]: `(0, 0)` when photo-sized.
    pub fn declared(self) -> (u32, u32) {
        match self {
            InputSize::Fixed(w, h) => (w, h),
            InputSize::PhotoSized { .. } => (0, 0),
        }
    }
}

/// One output of a run, in the order the family asked for.
#[derive(Debug, Clone, Copy)]
pub struct Output<'a> {
    /// The output's name.
    pub name: &'a str,
    /// Its actual shape.
    pub shape: &'a [i64],
    /// Its values, row-major.
    pub data: &'a [f32],
}

impl Output<'_> {
    /// Rows of `row_len` values, or an error when the data is not a whole number of rows.
    pub fn rows(&self, row_len: usize) -> Result<usize, PluginError> {
        if !self.data.len().is_multiple_of(row_len) {
            return Err(PluginError::new(
                ErrorCode::INFERENCE,
                format!(
                    "output `{}` has {} values ({:?}), not rows of {row_len}",
                    self.name,
                    self.data.len(),
                    self.shape
                ),
                "",
            ));
        }
        Ok(self.data.len() / row_len)
    }
}

/// One detector family on ONNX Runtime.
pub trait Family: Send {
    /// How pixels become network values.
    fn normalisation(&self) -> Normalisation;
    /// The outputs to fetch after a run, in the order [`Family::decode`] receives them.
    fn outputs(&self) -> Vec<String>;
    /// Decodes the outputs into faces in network pixels of a `width × height` input,
    /// keeping those scoring at least `min_score`.
    fn decode(
        &mut self,
        outputs: &[Output<'_>],
        width: u32,
        height: u32,
        min_score: f32,
    ) -> Result<Vec<Face>, PluginError>;
}

/// A loaded model of some family.
pub struct OrtDetector<F: Family> {
    session: Session,
    family: F,
    input: String,
    outputs: Vec<String>,
    size: InputSize,
    options: DetectorOptions,
    info: ModelInfo,
    tensor: InputTensor,
}

impl<F: Family> OrtDetector<F> {
    /// Wraps a loaded session and proves it with a probe detection on a grey image, so a
    /// model that loads but does not run or decode fails here, naming its file.
    pub fn new(
        session: Session,
        family: F,
        io: &ModelIo,
        size: InputSize,
        options: DetectorOptions,
        info: ModelInfo,
    ) -> Result<Self, PluginError> {
        let mut detector = OrtDetector {
            session,
            outputs: family.outputs(),
            family,
            input: io.input.clone(),
            size,
            options,
            info,
            tensor: InputTensor::default(),
        };
        let grey = [128u8; 64 * 64];
        let probe = ImageView::packed(&grey, 64, 64, PixelFormat::Gray8)
            .expect("a 64x64 buffer holds a 64x64 image");
        detector
            .detect_faces(&probe)
            .map_err(|e| io.mismatch(format!("a probe run failed: {}", e.message)))?;
        Ok(detector)
    }

    fn run(&mut self, lb: &Letterbox) -> Result<Vec<Face>, PluginError> {
        let inference = |stage: &str, e: ort::Error| {
            PluginError::new(
                ErrorCode::INFERENCE,
                format!("{} ({stage}): {e}", self.info.id),
                "",
            )
        };
        let shape = [1usize, 3, lb.dst_h as usize, lb.dst_w as usize];
        let input = TensorRef::from_array_view((shape, self.tensor.data()))
            .map_err(|e| inference("input tensor", e))?;
        let results = self
            .session
            .run(ort::inputs![self.input.as_str() => input])
            .map_err(|e| inference("run", e))?;
        let mut outputs = Vec::with_capacity(self.outputs.len());
        for name in &self.outputs {
            let value = results.get(name).ok_or_else(|| {
                PluginError::new(
                    ErrorCode::INFERENCE,
                    format!("{}: output `{name}` missing after the run", self.info.id),
                    "",
                )
            })?;
            let (shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| inference(name, e))?;
            outputs.push(Output { name, shape, data });
        }
        self.family
            .decode(&outputs, lb.dst_w, lb.dst_h, self.options.score_threshold)
    }

    fn detect_faces(&mut self, view: &ImageView<'_>) -> Result<Vec<Face>, PluginError> {
        pixels::validate(view)?;
        let (in_w, in_h) = self.size.for_photo(view.width, view.height);
        let lb = self.options.fit_input(view.width, view.height, in_w, in_h);
        self.tensor.fill(view, &lb, &self.family.normalisation());
        let faces = self.run(&lb)?;
        Ok(self
            .options
            .faces_in_photo(&lb, faces, view.width, view.height))
    }
}

impl<F: Family> Detector for OrtDetector<F> {
    fn info(&self) -> ModelInfo {
        self.info.clone()
    }

    fn detect(&mut self, image: ImageView<'_>) -> RResult<RVec<Face>, PluginError> {
        guard("detection", || self.detect_faces(&image).map(RVec::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photo_sized_input_rounds_up_to_32_and_caps_the_long_side() {
        let s = InputSize::PhotoSized { max_side: 1280 };
        assert_eq!(s.for_photo(500, 332), (512, 352));
        assert_eq!(s.for_photo(4000, 3000), (1280, 960));
        assert_eq!(s.for_photo(10, 10), (32, 32));
        assert_eq!(InputSize::Fixed(640, 480).for_photo(1, 1), (640, 480));
    }
}
