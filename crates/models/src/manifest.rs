//! Parsing and validating the model manifest. Errors name the manifest file and line.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

mod source;

use source::safe_relative;
pub use source::Source;

/// The manifest shipped with facelab, embedded at build time.
pub const EMBEDDED_MANIFEST: &str = include_str!("../../../models/manifest.toml");
/// The name shown for the embedded manifest in messages.
pub const EMBEDDED_MANIFEST_NAME: &str = "models/manifest.toml (built in)";

/// What a model does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Finds faces.
    Detector,
    /// Embeds faces.
    Recognizer,
    /// Finds facial landmarks in a face crop.
    Landmarks,
}

impl Role {
    /// The manifest's word for it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Detector => "detector",
            Role::Recognizer => "recognizer",
            Role::Landmarks => "landmarks",
        }
    }
}

/// How a model's licence lets it be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LicenceClass {
    /// MIT, Apache-2.0, BSD, public domain and alike.
    Permissive,
    /// Non-commercial research use only.
    Research,
    /// No licence stated.
    Unknown,
}

impl LicenceClass {
    /// The manifest's word for it.
    pub fn name(self) -> &'static str {
        match self {
            LicenceClass::Permissive => "permissive",
            LicenceClass::Research => "research",
            LicenceClass::Unknown => "unknown",
        }
    }
}

/// A model's licence.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Licence {
    /// The class.
    pub class: LicenceClass,
    /// The licence as its source states it.
    pub text: String,
}

/// The network input a model expects.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Width in pixels (0 when dynamic).
    pub width: u32,
    /// Height in pixels (0 when dynamic).
    pub height: u32,
    /// Channel order: `bgr`, `rgb` or `grey`.
    pub colour: String,
    /// Per-channel mean subtracted before scaling.
    pub mean: Vec<f32>,
    /// Factor applied after mean subtraction.
    pub scale: f32,
}

/// A model's threshold: what it thresholds, the default and the usable range.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// `score` (detector confidence), `cosine` (similarity) or `euclidean` (distance).
    pub kind: ThresholdKind,
    /// The default.
    pub default: f32,
    /// The lowest usable value.
    pub min: f32,
    /// The highest usable value.
    pub max: f32,
    /// Detectors: candidates from this score up get a second look (the host's second look, `facelab_engine::verify`);
    /// absent, the detector keeps only faces at [`Threshold::default`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_from: Option<f32>,
    /// Detectors: the second look's score a candidate needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_second: Option<f32>,
}

/// What a [`Threshold`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ThresholdKind {
    /// Detector confidence.
    Score,
    /// Cosine similarity (higher is more alike).
    Cosine,
    /// Euclidean distance (lower is more alike).
    Euclidean,
}

impl ThresholdKind {
    /// The name the manifest writes.
    pub fn name(self) -> &'static str {
        match self {
            ThresholdKind::Score => "score",
            ThresholdKind::Cosine => "cosine",
            ThresholdKind::Euclidean => "euclidean",
        }
    }
}

/// A recognizer's embedding.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingInfo {
    /// Dimension.
    pub dim: u32,
    /// `cosine` or `euclidean`.
    pub metric: ThresholdKind,
    /// Whether the raw output is already L2-normalised.
    pub normalized: bool,
    /// The typical length of a raw vector, for a model that does not normalise and declares
    /// a euclidean threshold: the library compares unit vectors, and a distance `t` between
    /// vectors of length `r` is the cosine 1 − t²/(2r²). Absent: 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm: Option<f32>,
}

/// One file of a model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelFile {
    /// File name in the cache.
    pub name: String,
    /// Lowercase hex sha256.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Sources, tried in order.
    pub sources: Vec<Source>,
}

/// One model.
#[derive(Debug, Clone, Serialize)]
pub struct Model {
    /// Its id.
    pub id: String,
    /// What it does.
    pub role: Role,
    /// One line.
    pub description: String,
    /// Plugin kinds (`plugin:kind`) that run it.
    pub runs_on: Vec<String>,
    /// The preprocessing profile its plugin applies.
    pub preprocessing: String,
    /// Its licence.
    pub licence: Licence,
    /// Its input.
    pub input: InputSpec,
    /// Its threshold, if it has one.
    pub threshold: Option<Threshold>,
    /// The rule the default threshold was chosen by, with the command that recomputes it.
    pub threshold_rule: Option<String>,
    /// For recognizers, the embedding.
    pub embedding: Option<EmbeddingInfo>,
    /// Its files.
    pub files: Vec<ModelFile>,
}

impl Model {
    /// Total size of its files.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// All models, in manifest order.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// Where it came from.
    pub origin: String,
    /// The models.
    pub models: Vec<Model>,
}

/// A manifest that cannot be used, with the line that is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{origin}:{line}: {message}")]
pub struct ManifestError {
    /// The manifest file.
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    model: Vec<Spanned<RawModel>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    id: Spanned<String>,
    role: Role,
    description: String,
    #[serde(default)]
    runs_on: Vec<String>,
    preprocessing: String,
    licence: Licence,
    input: InputSpec,
    threshold: Option<Threshold>,
    threshold_rule: Option<String>,
    embedding: Option<EmbeddingInfo>,
    files: Vec<Spanned<RawFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: String,
    sha256: String,
    size: u64,
    sources: Vec<String>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The manifest text being parsed and its name, for errors that name the line.
struct SourceText<'a> {
    text: &'a str,
    origin: &'a str,
}

impl SourceText<'_> {
    /// An error at byte `offset` of the text.
    fn err(&self, offset: usize, message: String) -> ManifestError {
        ManifestError {
            origin: self.origin.to_owned(),
            line: line_of(self.text, offset),
            message,
        }
    }

    /// One `[[model]]`: its id (valid and not in `seen`), files and threshold checked.
    fn model(
        &self,
        spanned: Spanned<RawModel>,
        seen: &mut HashMap<String, usize>,
    ) -> Result<Model, ManifestError> {
        let start = spanned.span().start;
        let m = spanned.into_inner();
        let id_at = m.id.span().start;
        let id = m.id.into_inner();
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(self.err(
                id_at,
                format!("model id `{id}` must be letters, digits, `-`, `_` or `.`"),
            ));
        }
        if let Some(first) = seen.insert(id.clone(), line_of(self.text, id_at)) {
            return Err(self.err(
                id_at,
                format!("duplicate model id `{id}` (first defined on line {first})"),
            ));
        }
        if m.files.is_empty() {
            return Err(self.err(start, format!("model `{id}` has no files")));
        }
        if let Some(t) = m.threshold {
            self.check_threshold(start, &id, t)?;
            if let Some(e) = m.embedding.filter(|e| e.metric != t.kind) {
                return Err(self.err(
                    start,
                    format!(
                        "model `{id}`: threshold kind = \"{}\" does not match its embedding's metric \"{}\" (help: give the threshold in the model's own metric: kind = \"{}\")",
                        t.kind.name(),
                        e.metric.name(),
                        e.metric.name()
                    ),
                ));
            }
        }
        let files = m
            .files
            .into_iter()
            .map(|f| self.file(&id, f))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Model {
            id,
            role: m.role,
            description: m.description,
            runs_on: m.runs_on,
            preprocessing: m.preprocessing,
            licence: m.licence,
            input: m.input,
            threshold: m.threshold,
            threshold_rule: m.threshold_rule,
            embedding: m.embedding,
            files,
        })
    }

    /// The default within the range; the second look's two values together, in [0, 1),
    /// below the default.
    fn check_threshold(&self, start: usize, id: &str, t: Threshold) -> Result<(), ManifestError> {
        if !(t.min <= t.default && t.default <= t.max) {
            return Err(self.err(
                start,
                format!(
                    "model `{id}`: threshold default {} is outside [{}, {}]",
                    t.default, t.min, t.max
                ),
            ));
        }
        let verify = [t.verify_from, t.verify_second];
        if verify.iter().flatten().any(|v| !(0.0..1.0).contains(v))
            || t.verify_from.is_some() != t.verify_second.is_some()
            || t.verify_from.is_some_and(|f| f >= t.default)
        {
            return Err(self.err(
                start,
                format!(
                    "model `{id}`: verify_from and verify_second go together, in [0, 1), with verify_from below the default {}",
                    t.default
                ),
            ));
        }
        Ok(())
    }

    /// One `[[model.files]]` of model `id`: sha256, plain name, parsed sources.
    fn file(&self, id: &str, f: Spanned<RawFile>) -> Result<ModelFile, ManifestError> {
        let at = f.span().start;
        let f = f.into_inner();
        if f.sha256.len() != 64
            || !f
                .sha256
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        {
            return Err(self.err(
                at,
                format!(
                    "model `{id}`, file `{}`: sha256 must be 64 lowercase hex digits",
                    f.name
                ),
            ));
        }
        if !safe_relative(&f.name) || f.name.contains('/') {
            return Err(self.err(
                at,
                format!(
                    "model `{id}`: file name `{}` must be a plain file name",
                    f.name
                ),
            ));
        }
        if f.sources.is_empty() {
            return Err(self.err(at, format!("model `{id}`, file `{}`: no sources", f.name)));
        }
        let sources = f
            .sources
            .iter()
            .map(|s| s.parse::<Source>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(at, format!("model `{id}`, file `{}`: {e}", f.name)))?;
        Ok(ModelFile {
            name: f.name,
            sha256: f.sha256,
            size: f.size,
            sources,
        })
    }
}

impl Manifest {
    /// The manifest built into the binary.
    pub fn embedded() -> Manifest {
        Manifest::parse(EMBEDDED_MANIFEST, EMBEDDED_MANIFEST_NAME)
            .expect("the built-in manifest is valid (tested)")
    }

    /// Reads a manifest file.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
            origin: path.display().to_string(),
            line: 0,
            message: format!("cannot read: {e}"),
        })?;
        Manifest::parse(&text, &path.display().to_string())
    }

    /// Parses and validates manifest text.
    pub fn parse(text: &str, origin: &str) -> Result<Manifest, ManifestError> {
        let src = SourceText { text, origin };
        let raw: RawManifest = toml::from_str(text).map_err(|e| {
            src.err(
                e.span().map(|s| s.start).unwrap_or(0),
                e.message().to_owned(),
            )
        })?;
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut models = Vec::new();
        for spanned in raw.model {
            models.push(src.model(spanned, &mut seen)?);
        }
        Ok(Manifest {
            origin: origin.to_owned(),
            models,
        })
    }

    /// The model with this id.
    pub fn get(&self, id: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.id == id)
    }

    /// Every id, for "did you mean" messages.
    pub fn ids(&self) -> Vec<&str> {
        self.models.iter().map(|m| m.id.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"
[[model]]
id = "a"
role = "detector"
description = "d"
preprocessing = "p"
licence = { class = "permissive", text = "MIT" }
input = { width = 1, height = 1, colour = "bgr", mean = [0.0], scale = 1.0 }

[[model.files]]
name = "a.onnx"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
size = 1
sources = ["mirror:a/a.onnx"]
"#;

    #[test]
    fn the_built_in_manifest_is_valid_and_lists_the_shared_models() {
        let m = Manifest::parse(EMBEDDED_MANIFEST, "built in").unwrap();
        for id in [
            "ssd-tf-uint8",
            "ssd-res10-caffe",
            "yunet-2023mar",
            "mobilefacenet-128",
            "facenet-512",
            "scrfd-500m",
            "landmark106",
        ] {
            assert!(m.get(id).is_some(), "{id} missing");
        }
        assert_eq!(
            m.get("scrfd-500m").unwrap().licence.class,
            LicenceClass::Research
        );
    }

    #[test]
    fn a_threshold_in_another_metric_than_the_embedding_is_refused() {
        // SFace compares by cosine; a euclidean threshold for it is a mistake the manifest
        // names, with the model's metric.
        let text = EMBEDDED_MANIFEST.replace(
            "threshold = { kind = \"cosine\", default = 0.32, min = 0.1, max = 0.8 }",
            "threshold = { kind = \"euclidean\", default = 1.128, min = 0.5, max = 1.5 }",
        );
        assert_ne!(text, EMBEDDED_MANIFEST, "sface's threshold line moved");
        let e = Manifest::parse(&text, "user manifest")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("model `sface-2021dec`")
                && e.contains("threshold kind = \"euclidean\"")
                && e.contains("metric \"cosine\""),
            "{e}"
        );
    }

    #[test]
    fn a_second_look_needs_both_values_below_the_default() {
        let with = |t: &str| {
            ONE.replace(
                "input = {",
                &format!("threshold = {{ kind = \"score\", default = 0.8, min = 0.3, max = 0.99{t} }}\ninput = {{"),
            )
        };
        let m = Manifest::parse(&with(", verify_from = 0.75, verify_second = 0.7"), "m").unwrap();
        let t = m.get("a").unwrap().threshold.unwrap();
        assert_eq!((t.verify_from, t.verify_second), (Some(0.75), Some(0.7)));
        for bad in [
            ", verify_from = 0.75",
            ", verify_from = 0.8, verify_second = 0.7",
            ", verify_from = 0.5, verify_second = 1.5",
        ] {
            let e = Manifest::parse(&with(bad), "m").unwrap_err();
            assert!(
                e.message
                    .contains("verify_from and verify_second go together"),
                "{bad}: {e}"
            );
        }
        // The built-in YuNet carries its rule and figures.
        let yunet = Manifest::embedded().get("yunet-2023mar").cloned().unwrap();
        assert!(yunet.threshold.unwrap().verify_from.is_some());
        assert!(yunet.threshold_rule.unwrap().contains("--choose-threshold"));
    }

    #[test]
    fn duplicate_id_is_rejected_with_its_line() {
        let text = format!("{ONE}{ONE}");
        let e = Manifest::parse(&text, "m.toml").unwrap_err();
        assert_eq!(e.line, 17, "{e}");
        assert!(
            e.to_string()
                .contains("duplicate model id `a` (first defined on line 3)"),
            "{e}"
        );
    }

    #[test]
    fn unknown_role_is_rejected_with_its_line() {
        let e =
            Manifest::parse(&ONE.replace("\"detector\"", "\"classifier\""), "m.toml").unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("classifier"), "{e}");
    }

    #[test]
    fn missing_sha256_is_rejected_with_its_line() {
        let text = ONE.replace(
            "sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n",
            "",
        );
        let e = Manifest::parse(&text, "m.toml").unwrap_err();
        assert!(e.message.contains("missing field `sha256`"), "{e}");
        assert!((10..=13).contains(&e.line), "{e}");
    }

    #[test]
    fn unsafe_archive_paths_are_rejected() {
        let text = ONE.replace("mirror:a/a.onnx", "pypi:x==1#../../etc/passwd");
        let e = Manifest::parse(&text, "m.toml").unwrap_err();
        assert!(e.message.contains("without `..`"), "{e}");
    }
}
