//! The onnx-runtime plugin's options: the kit's shared keys plus the ONNX Runtime keys,
//! read from one flat table and validated once into typed values.

use facelab_plugin_kit::api::PluginError;
use facelab_plugin_kit::options::{
    self, check_threads, out_of_range, parse_with_backend, LandmarkSource,
};
use serde::Deserialize;

use crate::runtime::{Provider, SessionConfig};

/// The ONNX Runtime keys, taken by every kind (detectors and the embedder).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrtKeys {
    /// ONNX Runtime intra-op threads for this instance.
    pub threads: u32,
    /// Where to run: `"cpu"`, or `"cuda"` / `"openvino"` in builds with those features.
    pub execution_provider: Provider,
    /// The ONNX Runtime library file; default: `ORT_DYLIB_PATH`, else the newest
    /// `libonnxruntime.so.1.*` that `scripts/setup.sh` unpacked.
    pub ort_library: Option<String>,
    /// Let idle ONNX Runtime workers spin between operators (lower latency on an idle
    /// machine, slower when the cores are shared).
    pub intra_op_spinning: bool,
}

impl Default for OrtKeys {
    fn default() -> Self {
        OrtKeys {
            threads: 2,
            execution_provider: Provider::Cpu,
            ort_library: None,
            intra_op_spinning: false,
        }
    }
}

impl OrtKeys {
    /// Checks the thread count, naming the key in `section`.
    pub fn validate(&self, section: &str) -> Result<(), PluginError> {
        check_threads(section, self.threads, Some(OrtKeys::default().threads))
    }

    /// How to open the session.
    pub fn session(&self) -> SessionConfig<'_> {
        SessionConfig {
            ort_library: self.ort_library.as_deref(),
            threads: self.threads,
            provider: self.execution_provider,
            spinning: self.intra_op_spinning,
        }
    }
}

/// `[detector.options]` of every onnx-runtime detector kind.
#[derive(Debug, Clone)]
pub struct DetectorOptions {
    /// The keys every detector backend takes.
    pub shared: options::DetectorOptions,
    /// The ONNX Runtime keys.
    pub ort: OrtKeys,
}

impl DetectorOptions {
    /// Parses and validates the options table.
    pub fn parse(text: &str) -> Result<Self, PluginError> {
        let section = options::DetectorOptions::SECTION;
        let (shared, ort): (options::DetectorOptions, OrtKeys) = parse_with_backend(text, section)?;
        shared.validate()?;
        ort.validate(section)?;
        Ok(DetectorOptions { shared, ort })
    }
}

// The families read the shared keys (`options.input_width`) as if they were this struct's.
impl std::ops::Deref for DetectorOptions {
    type Target = options::DetectorOptions;
    fn deref(&self) -> &Self::Target {
        &self.shared
    }
}

/// `[recognizer.options]` of kind `embedder`.
#[derive(Debug, Clone)]
pub struct EmbedderOptions {
    /// The keys every embedder backend takes.
    pub shared: options::EmbedderOptions,
    /// The ONNX Runtime keys.
    pub ort: OrtKeys,
}

impl EmbedderOptions {
    /// Parses and validates the options table.
    pub fn parse(text: &str) -> Result<Self, PluginError> {
        let section = options::EmbedderOptions::SECTION;
        let (shared, ort): (options::EmbedderOptions, OrtKeys) = parse_with_backend(text, section)?;
        shared.mean3()?;
        if shared.landmarks != LandmarkSource::Box {
            return Err(out_of_range(
                section,
                "landmarks",
                "\"landmark106\"",
                "\"box\" on ONNX Runtime (landmark106 is a Caffe model: the opencv-dnn embedder runs it)",
            ));
        }
        ort.validate(section)?;
        Ok(EmbedderOptions { shared, ort })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use facelab_plugin_kit::options::option_key;

    #[test]
    fn a_misspelt_key_is_an_error_naming_it() {
        let e = DetectorOptions::parse("treads = 4").unwrap_err();
        assert_eq!(option_key(&e), Some("detector.options.treads"), "{e}");
    }

    #[test]
    fn an_out_of_range_value_names_the_key() {
        let e = DetectorOptions::parse("threads = 0").unwrap_err();
        assert_eq!(option_key(&e), Some("detector.options.threads"), "{e}");
        let e = DetectorOptions::parse("min_face_size = -3").unwrap_err();
        assert_eq!(
            option_key(&e),
            Some("detector.options.min_face_size"),
            "{e}"
        );
        let o = DetectorOptions::parse("execution_provider = \"cpu\"").unwrap();
        assert_eq!(o.ort.threads, 2);
        let e = DetectorOptions::parse("execution_provider = \"tpu\"").unwrap_err();
        assert_eq!(
            option_key(&e),
            Some("detector.options.execution_provider"),
            "{e}"
        );
        let e = EmbedderOptions::parse("profile = \"arcface-112\"\nthreads = 99").unwrap_err();
        assert_eq!(option_key(&e), Some("recognizer.options.threads"), "{e}");
    }
}
