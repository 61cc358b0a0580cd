//! Which model made a stored face or embedding, and how its vectors compare.
//!
//! The library owns these keys: every face row carries its detector's key and every
//! embedding row its recognizer's, so switching models never mixes two models' vectors.
//! A model given by its own `model_files` must carry a `model` label, because the files'
//! names say nothing stable about which network they hold: two different models would
//! otherwise share one key.
//!
//! Each recognizer declares its same-person rule in the manifest, as a cosine similarity
//! or a euclidean distance threshold. The library compares L2-normalised vectors by cosine
//! similarity, so a euclidean threshold `t` becomes the equivalent rule on vectors of the
//! length `r` the model declares (`embedding.norm`, 1 when absent): cosine ≥ 1 − t²/(2r²)
//! (‖a − b‖² = 2r² − 2r² cos θ for ‖a‖ = ‖b‖ = r), so a model whose vectors are not unit
//! length keeps its own rule. docs/library.md ("Suggestions") works it through for dlib.

use facelab_engine::config::{Config, ConfigError, ModelSection};
pub use facelab_engine::fusion::{cosine_of_distance, fuse, CosineRule};
use facelab_models::manifest::{Threshold, ThresholdKind};

/// The key stored with each face: which detector found it.
pub fn detector_key(config: &Config) -> Result<String, ConfigError> {
    let section = &config.detector;
    let model = model_label(config, "detector", section)?;
    Ok(format!("{}:{}:{model}", section.plugin, section.kind))
}

/// The key stored with each embedding of the recognizer model of the section `name`
/// (`recognizer`, `recognizer.fuse[i]`): the model, plus its landmark model when one
/// re-derives the alignment points (the vectors differ).
pub fn embedding_key(
    config: &Config,
    name: &str,
    section: &ModelSection,
) -> Result<String, ConfigError> {
    let model = model_label(config, name, section)?;
    Ok(match &section.landmarks {
        Some(l) => format!("{model}+{l}"),
        None => model.to_owned(),
    })
}

/// The recognizer the library compares faces with: the embedding key of each of its
/// models, in config order (one, or several fused). Each model's vectors are stored under
/// its own key; two faces compare by their fused vectors ([`fuse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelKeys(Vec<String>);

impl ModelKeys {
    /// The keys of the config's `[recognizer]` and `[[recognizer.fuse]]` models; `None`
    /// without a `[recognizer]`.
    pub fn of_config(config: &Config) -> Result<Option<ModelKeys>, ConfigError> {
        let keys = config
            .recognizer_members()
            .into_iter()
            .map(|(name, section)| embedding_key(config, &name, section))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((!keys.is_empty()).then_some(ModelKeys(keys)))
    }

    /// The embedding key of each model, in config order.
    pub fn members(&self) -> &[String] {
        &self.0
    }

    /// The key the recognizer's clusters are stored under: the model's key, or for fused
    /// models each one's joined by `+` (a change of models starts new clusters, as a
    /// change of one model does).
    pub fn key(&self) -> String {
        self.0.join("+")
    }
}

impl From<&str> for ModelKeys {
    /// The keys of a recognizer of one model.
    fn from(key: &str) -> ModelKeys {
        ModelKeys(vec![key.to_owned()])
    }
}

impl From<Vec<String>> for ModelKeys {
    /// The keys of fused models, in their order.
    ///
    /// # Panics
    /// When `keys` is empty.
    fn from(keys: Vec<String>) -> ModelKeys {
        assert!(!keys.is_empty(), "a recognizer has at least one model");
        ModelKeys(keys)
    }
}

/// The same-person rule the config's recognizer declares through `manifest`, on cosine
/// similarity: one model's, or the mean of the fused models' ([`CosineRule::mean`]);
/// `None` without a recognizer, or when a model is not in the manifest or declares none.
pub fn declared_rule(config: &Config, manifest: &facelab_models::Manifest) -> Option<CosineRule> {
    let members = config.recognizer_members();
    let rules: Vec<Option<CosineRule>> = members
        .iter()
        .map(|(_, m)| manifest.get(&m.model).and_then(CosineRule::of_model))
        .collect();
    CosineRule::mean(&rules)
}

/// The model's name: its manifest id or the user's label; the kind for a plugin kind that
/// needs no model file (the example plugin).
fn model_label<'a>(
    config: &Config,
    name: &str,
    section: &'a ModelSection,
) -> Result<&'a str, ConfigError> {
    if !section.model.is_empty() {
        return Ok(&section.model);
    }
    if !section.model_files.is_empty() {
        return Err(config.invalid(
            format!("{name}.model"),
            "is missing: the face library stores faces and embeddings under the model's name, and `model_files` alone names no model",
            format!("add a label for these files to [{name}], e.g. model = \"my-model-v1\", and keep it while the files stay the same"),
        ));
    }
    Ok(&section.kind)
}

/// Two faces compared by the model's own metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// The metric the model declares.
    pub metric: ThresholdKind,
    /// Cosine similarity, or euclidean distance, of the two vectors as the model gave them.
    pub value: f32,
    /// The model's threshold in the same metric.
    pub threshold: f32,
    /// Whether that says "the same person".
    pub same_person: bool,
}

/// Compares `a` and `b` by the metric and threshold `t` declares: cosine similarity at or
/// above it, or euclidean distance at or below it. `None` for a score threshold.
pub fn verdict(a: &[f32], b: &[f32], t: &Threshold) -> Option<Verdict> {
    let (value, same_person) = match t.kind {
        ThresholdKind::Cosine => {
            let v = facelab_cluster::linalg::cosine(a, b);
            (v, v >= t.default)
        }
        ThresholdKind::Euclidean => {
            let d = facelab_cluster::linalg::distance(a, b);
            (d, d <= t.default)
        }
        ThresholdKind::Score => return None,
    };
    Some(Verdict {
        metric: t.kind,
        value,
        threshold: t.default,
        same_person,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threshold(kind: ThresholdKind, default: f32, min: f32, max: f32) -> Threshold {
        Threshold {
            kind,
            default,
            min,
            max,
            verify_from: None,
            verify_second: None,
        }
    }

    use crate::search::normalized as unit;

    #[test]
    fn a_euclidean_threshold_becomes_the_equivalent_cosine_rule() {
        // dlib's rule: distance 0.6, usable 0.4..0.8.
        let t = threshold(ThresholdKind::Euclidean, 0.6, 0.4, 0.8);
        let rule = CosineRule::from_threshold(&t).unwrap();
        assert!((rule.default - 0.82).abs() < 1e-6, "{rule:?}");
        assert!((rule.min - 0.68).abs() < 1e-6 && (rule.max - 0.92).abs() < 1e-6);
        // On unit vectors both rules give the same verdict, on either side of the line.
        for angle in [0.3f32, 0.55, 0.6, 0.65, 0.9] {
            let a = unit(&[1.0, 0.0, 0.0]);
            let b = unit(&[angle.cos(), angle.sin(), 0.0]);
            let by_distance = verdict(&a, &b, &t).unwrap().same_person;
            let by_cosine = facelab_cluster::linalg::cosine(&a, &b) >= rule.default;
            assert_eq!(by_distance, by_cosine, "angle {angle}");
        }
    }

    #[test]
    fn a_euclidean_threshold_on_longer_vectors_converts_at_their_length() {
        // dlib: vectors about 1.42 long; its 0.6 on them is the angle whose chord is 0.6/1.42.
        let t = threshold(ThresholdKind::Euclidean, 0.6, 0.4, 0.8);
        let rule = CosineRule::with_norm(&t, 1.42).unwrap();
        assert!((rule.default - 0.9107).abs() < 1e-3, "{rule:?}");
        for angle in [0.3f32, 0.4, 0.42, 0.44, 0.5] {
            let a: Vec<f32> = unit(&[1.0, 0.0, 0.0]).iter().map(|x| x * 1.42).collect();
            let b: Vec<f32> = unit(&[angle.cos(), angle.sin(), 0.0])
                .iter()
                .map(|x| x * 1.42)
                .collect();
            let by_distance = verdict(&a, &b, &t).unwrap().same_person;
            let by_cosine = facelab_cluster::linalg::cosine(&a, &b) >= rule.default;
            assert_eq!(by_distance, by_cosine, "angle {angle}");
        }
        // The manifest declares that length for dlib's model.
        let m = facelab_models::Manifest::embedded();
        let dlib = CosineRule::of_model(m.get("dlib-resnet-128").unwrap()).unwrap();
        assert_eq!(dlib, rule);
    }

    #[test]
    fn compare_honours_each_metric() {
        let a = [0.6, 0.8, 0.0];
        let b = [0.8, 0.6, 0.0];
        // cos = 0.96, distance = 0.283.
        let cos = threshold(ThresholdKind::Cosine, 0.97, 0.2, 0.99);
        let v = verdict(&a, &b, &cos).unwrap();
        assert!(!v.same_person && (v.value - 0.96).abs() < 1e-5);
        let euc = threshold(ThresholdKind::Euclidean, 0.6, 0.4, 0.8);
        let v = verdict(&a, &b, &euc).unwrap();
        // Cosine ≥ 0.6 would also say "same" here; at 0.25 only the distance rule is right.
        assert!(v.same_person && (v.value - 0.2828).abs() < 1e-3);
        let tight = threshold(ThresholdKind::Euclidean, 0.25, 0.1, 0.8);
        assert!(!verdict(&a, &b, &tight).unwrap().same_person);
        assert!(verdict(&a, &b, &threshold(ThresholdKind::Score, 0.5, 0.0, 1.0)).is_none());
    }

    #[test]
    fn model_files_without_a_label_are_refused() {
        let text = "[detector]\nplugin = \"onnx-runtime\"\nkind = \"yunet\"\nmodel_files = [\"mine.onnx\"]\n";
        let mut config = Config::parse(text, std::path::Path::new("t.toml")).unwrap();
        let e = detector_key(&config).unwrap_err().to_string();
        assert!(
            e.contains("detector.model") && e.contains("model = "),
            "{e}"
        );
        config.detector.model = "mine-v1".into();
        assert!(detector_key(&config).unwrap().ends_with(":mine-v1"));
    }
}
