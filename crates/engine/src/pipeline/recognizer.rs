//! [`FaceRecognizer`]: one recognizer plugin instance, or several fused
//! ([`crate::fusion`]), that aligns and embeds faces.

use abi_stable::std_types::{RSlice, RString};
use facelab_plugin_api::{
    Embedding, EmbeddingSpec, ErrorCode, Face, LicenceClass, Metric, ModelInfo, PluginError,
    RecognizerBox,
};

use crate::config::{Config, ModelSection};
use crate::fusion::{fuse, CosineRule};
use crate::photo::Photo;

use super::*;

/// One model of a recognizer: a plugin instance with the facts the host shows about it.
pub struct RecognizerMember {
    inner: RecognizerBox,
    /// The config key of its section: `recognizer`, or `recognizer.fuse[i]`.
    pub section: String,
    /// The plugin's name as the config gives it.
    pub plugin: String,
    /// The recognizer kind.
    pub kind: String,
    /// The model's facts, including the embedding's dimension and metric.
    pub info: ModelInfo,
    /// The model's own same-person threshold, in its own metric, from the manifest.
    pub threshold: Option<Threshold>,
    /// That threshold as a cosine rule (a euclidean one converted at the vector length the
    /// model declares).
    pub rule: Option<CosineRule>,
    /// The manifest's alignment profile, for drawing aligned crops.
    pub profile: Option<String>,
}

/// A recognizer: one model, or several whose embeddings are fused.
///
/// With one model it is that model: its vectors as the plugin gives them, its metric and
/// threshold. With several, [`FaceRecognizer::embed`] gives the fused vector
/// ([`crate::fusion::fuse`]): the cosine of two fused vectors is the mean of the models'
/// cosines, the threshold is the mean of the models' rules on cosine similarity, and the
/// facts below describe the whole.
pub struct FaceRecognizer {
    members: Vec<RecognizerMember>,
    /// The plugin's name; for fused models each model's, joined by `+`.
    pub plugin: String,
    /// The recognizer kind; for fused models each model's, joined by `+`.
    pub kind: String,
    /// The model's facts. Fused: the id of each model joined by `+`, the dimension their
    /// sum, cosine similarity, the licence class the most restrictive of theirs, the input
    /// size the largest.
    pub info: ModelInfo,
    /// The same-person threshold in the model's metric, from the manifest. Fused: the mean
    /// of the models' rules on cosine similarity ([`CosineRule::mean`]).
    pub threshold: Option<Threshold>,
    /// The manifest's alignment profile, for drawing aligned crops (fused: the first
    /// model's).
    pub profile: Option<String>,
    /// Things the user should know about this configuration.
    pub warnings: Vec<String>,
}

impl RecognizerMember {
    /// Creates the model of the section `name` of `config` from `plugins`, with its model
    /// resolved; the option warnings go to `warnings`.
    fn create(
        config: &Config,
        plugins: &PluginSet,
        (name, section): (&str, &ModelSection),
        model: &ResolvedModel,
        warnings: &mut Vec<String>,
    ) -> Result<RecognizerMember, PipelineError> {
        let plugin = plugins
            .get(&section.plugin)
            .expect("load_plugins loads every configured plugin");
        let options = prepared_options(
            config,
            (name, Role::Recognizer),
            section,
            &plugin.info.recognizers,
            model.manifest.as_ref(),
            warnings,
        )?;
        let profile = options
            .get("profile")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let create = plugin.module.new_recognizer();
        let inner = with_args(section, model, &options, |args| create(args))
            .into_result()
            .map_err(|e| create_error(config, name, section, e))?;
        let info = inner.info();
        Ok(RecognizerMember {
            inner,
            section: name.to_owned(),
            plugin: section.plugin.clone(),
            kind: section.kind.clone(),
            info,
            threshold: model.threshold,
            rule: model.manifest.as_ref().and_then(CosineRule::of_model),
            profile,
        })
    }

    /// The embedding's dimension (0 when the plugin declares none).
    pub fn dim(&self) -> usize {
        self.info.embedding.as_ref().map_or(0, |e| e.dim as usize)
    }

    /// Embeds `faces` of `photo`, one embedding per face. A plugin error fails this photo.
    fn embed(&mut self, photo: &Photo, faces: &[Face]) -> Result<Vec<Embedding>, PluginError> {
        let out = self
            .inner
            .embed(photo.view(), RSlice::from_slice(faces))
            .into_result()?
            .into_vec();
        if out.len() != faces.len() {
            return Err(PluginError::new(
                ErrorCode::INFERENCE,
                format!(
                    "recognizer returned {} embeddings for {} faces",
                    out.len(),
                    faces.len()
                ),
                "this is a bug in the plugin",
            ));
        }
        Ok(out)
    }
}

impl FaceRecognizer {
    /// Builds the `[recognizer]` of `config` and its `[[recognizer.fuse]]` models from
    /// `plugins`, with `models` the resolved model of each, in config order
    /// ([`Config::recognizer_members`]).
    pub fn from_config(
        config: &Config,
        plugins: &PluginSet,
        models: &[ResolvedModel],
    ) -> Result<Self, PipelineError> {
        let sections = config.recognizer_members();
        if sections.is_empty() {
            return Err(config
                .invalid(
                    "recognizer".into(),
                    "is missing",
                    "add a [recognizer] section; config/facelab.toml shows one",
                )
                .into());
        }
        assert_eq!(
            sections.len(),
            models.len(),
            "one resolved model per member"
        );
        let mut warnings = Vec::new();
        let members = sections
            .iter()
            .zip(models)
            .map(|((name, section), model)| {
                RecognizerMember::create(config, plugins, (name, section), model, &mut warnings)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::of_members(members, warnings))
    }

    /// The recognizer of `members`: a lone model's facts as they are, or the fused ones.
    fn of_members(members: Vec<RecognizerMember>, warnings: Vec<String>) -> FaceRecognizer {
        if let [one] = members.as_slice() {
            return FaceRecognizer {
                plugin: one.plugin.clone(),
                kind: one.kind.clone(),
                info: one.info.clone(),
                threshold: one.threshold,
                profile: one.profile.clone(),
                warnings,
                members,
            };
        }
        let joined =
            |f: fn(&RecognizerMember) -> &str| members.iter().map(f).collect::<Vec<_>>().join("+");
        let mut backends: Vec<&str> = Vec::new();
        for m in &members {
            if !backends.contains(&m.info.backend.as_str()) {
                backends.push(m.info.backend.as_str());
            }
        }
        let licence = [LicenceClass::Research, LicenceClass::Unknown]
            .into_iter()
            .find(|c| members.iter().any(|m| m.info.licence == *c))
            .unwrap_or(LicenceClass::Permissive);
        let rules: Vec<Option<CosineRule>> = members.iter().map(|m| m.rule).collect();
        let info = ModelInfo {
            id: RString::from(joined(|m| m.info.id.as_str())),
            backend: RString::from(backends.join(" + ")),
            licence,
            input_width: members
                .iter()
                .map(|m| m.info.input_width)
                .max()
                .unwrap_or(0),
            input_height: members
                .iter()
                .map(|m| m.info.input_height)
                .max()
                .unwrap_or(0),
            embedding: Some(EmbeddingSpec {
                dim: members.iter().map(|m| m.dim() as u32).sum(),
                metric: Metric::Cosine,
            })
            .into(),
        };
        FaceRecognizer {
            plugin: joined(|m| m.plugin.as_str()),
            kind: joined(|m| m.kind.as_str()),
            info,
            threshold: CosineRule::mean(&rules).map(|r| r.threshold()),
            profile: members[0].profile.clone(),
            warnings,
            members,
        }
    }

    /// The models, in config order (one for a recognizer that is not fused).
    pub fn members(&self) -> &[RecognizerMember] {
        &self.members
    }

    /// Whether several models are fused.
    pub fn is_fused(&self) -> bool {
        self.members.len() > 1
    }

    /// Embeds `faces` of `photo`, one embedding per face: the model's own vectors, or for
    /// fused models the fused unit vectors ([`crate::fusion::fuse`]). A plugin error
    /// fails this photo.
    pub fn embed(&mut self, photo: &Photo, faces: &[Face]) -> Result<Vec<Embedding>, PluginError> {
        let per_member = self.embed_members(photo, faces)?;
        Ok(self.combine(per_member))
    }

    /// Each model's embeddings of `faces` of `photo`: one list per model, in config order,
    /// of one embedding per face.
    pub fn embed_members(
        &mut self,
        photo: &Photo,
        faces: &[Face],
    ) -> Result<Vec<Vec<Embedding>>, PluginError> {
        (0..self.members.len())
            .map(|i| self.embed_with(i, photo, faces))
            .collect()
    }

    /// Model `member`'s embeddings of `faces` of `photo` (for a face library that lacks
    /// only that model's). For fused models an error names the model and its section.
    pub fn embed_with(
        &mut self,
        member: usize,
        photo: &Photo,
        faces: &[Face],
    ) -> Result<Vec<Embedding>, PluginError> {
        let fused = self.is_fused();
        let m = &mut self.members[member];
        m.embed(photo, faces).map_err(|mut e| {
            if fused {
                e.message = format!("{} ([{}]): {}", m.info.id, m.section, e.message).into();
            }
            e
        })
    }

    /// The embeddings [`FaceRecognizer::embed`] gives for the models' `per_member`
    /// embeddings (as [`FaceRecognizer::embed_members`] returns them): a lone model's as
    /// they are, else each face's fused unit vector.
    pub fn combine(&self, mut per_member: Vec<Vec<Embedding>>) -> Vec<Embedding> {
        if per_member.len() == 1 {
            return per_member.pop().expect("one model");
        }
        let faces = per_member.first().map_or(0, Vec::len);
        (0..faces)
            .map(|f| {
                let parts: Vec<Option<&[f32]>> = per_member
                    .iter()
                    .map(|m| Some(m[f].values.as_slice()))
                    .collect();
                let dims: Vec<usize> = per_member.iter().map(|m| m[f].dim()).collect();
                Embedding {
                    values: fuse(&parts, &dims).into(),
                    normalized: true,
                }
            })
            .collect()
    }
}

/// The largest face: the one a single-face photo (a face set's crop, or "compare these two
/// photos") is about.
pub fn largest(faces: &[Face]) -> Option<&Face> {
    faces
        .iter()
        .max_by(|a, b| (a.bbox.width * a.bbox.height).total_cmp(&(b.bbox.width * b.bbox.height)))
}
