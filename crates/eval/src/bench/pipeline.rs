//! One pipeline of the suite, opened: its detector and recognizer with their load times and
//! model facts, and the two loops every task builds on, each backed by the bench cache:
//! embed the largest face of every photo of a face set, and detect every face of a photo set.

use std::path::PathBuf;
use std::time::Instant;

use facelab_plugin_api::{BBox, Face};
use serde::{Deserialize, Serialize};

use super::cache::{CacheFile, KeyBuilder};
use super::report::{EmbedStats, LoadTimes, ModelEntry, ModelFileEntry};
use facelab_engine::config::Config;
use facelab_engine::photo::{decode_ahead, Photo};
use facelab_engine::pipeline::{
    largest, load_plugins, model_store, open_detector, open_recognizer, FaceDetector,
    FaceRecognizer, ResolvedModel,
};
use facelab_engine::plugins::PluginSet;
use facelab_engine::quality::Quality;
use facelab_engine::stats::median;
use facelab_engine::ui::{labelled_progress as progress, FetchBars};
use facelab_library::session::RunContext;
use facelab_models::fetch::hash_file;
use facelab_models::{ModelStore, Role};

/// An opened pipeline.
pub struct Opened {
    /// The config it runs with.
    pub config: Config,
    /// Its plugins (kept for opening the detector again with other options).
    plugins: PluginSet,
    /// The detector's resolved model.
    detector_model: ResolvedModel,
    /// The detector with the pipeline's options.
    pub detector: FaceDetector,
    /// The recognizer, if the pipeline has one.
    pub recognizer: Option<FaceRecognizer>,
    /// How long loading took.
    pub load: LoadTimes,
    /// The models, with sha256 and licence.
    pub models: Vec<ModelEntry>,
    /// The cache-key part that identifies the pipeline: its table, plugin versions and
    /// model hashes.
    pub identity: String,
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

/// The model entries of a resolved model (and of its landmark model, when it has one).
fn model_entries(
    store: &ModelStore,
    role: Role,
    model: &ResolvedModel,
    landmarks: Option<&str>,
    backend: &str,
) -> Vec<ModelEntry> {
    let mut out = Vec::new();
    let entry = |m: &facelab_models::Model, backend: Option<String>| ModelEntry {
        id: m.id.clone(),
        role: m.role.name().to_owned(),
        licence_class: m.licence.class.name().to_owned(),
        licence_text: Some(m.licence.text.clone()),
        backend,
        files: m
            .files
            .iter()
            .map(|f| ModelFileEntry {
                name: f.name.clone(),
                sha256: f.sha256.clone(),
            })
            .collect(),
    };
    match &model.manifest {
        Some(m) => out.push(entry(m, Some(backend.to_owned()))),
        None => out.push(ModelEntry {
            id: model.id.clone(),
            role: role.name().to_owned(),
            licence_class: "unknown".into(),
            licence_text: None,
            backend: Some(backend.to_owned()),
            files: model
                .files
                .iter()
                .map(|f| ModelFileEntry {
                    name: f.display().to_string(),
                    sha256: hash_file(f).map(|(h, _)| h).unwrap_or_default(),
                })
                .collect(),
        }),
    }
    if let Some(lm) = landmarks.and_then(|id| store.manifest.get(id)) {
        out.push(entry(lm, None));
    }
    out
}

impl Opened {
    /// Loads the plugins and models of `config`, timing each step, and prints licence
    /// notices.
    pub fn open(ctx: &RunContext, config: Config, table: &str) -> anyhow::Result<Opened> {
        let start = Instant::now();
        let plugins = load_plugins(&config)?;
        let plugins_ms = ms_since(start);
        let store = model_store(&config, ctx.cache_dir.as_deref())?;

        let start = Instant::now();
        let (detector, detector_model) =
            open_detector(&config, &plugins, &store, &FetchBars::default())?;
        let detector_ms = ms_since(start);
        let mut models = model_entries(
            &store,
            Role::Detector,
            &detector_model,
            None,
            &detector.info.backend,
        );

        let start = Instant::now();
        let (recognizer, recognizer_ms) =
            match open_recognizer(&config, &plugins, &store, &FetchBars::default())? {
                None => (None, None),
                Some((recognizer, resolved)) => {
                    let ms = ms_since(start);
                    // Every model of a fused recognizer, each with its landmark model.
                    let sections = config.recognizer_members();
                    let each = recognizer.members().iter().zip(&resolved).zip(&sections);
                    for ((member, model), (_, section)) in each {
                        models.extend(model_entries(
                            &store,
                            Role::Recognizer,
                            model,
                            section.landmarks.as_deref(),
                            &member.info.backend,
                        ));
                    }
                    (Some(recognizer), Some(ms))
                }
            };

        // The table as written names every model (fused ones too); the plugins' versions
        // and the model files' hashes are what it does not say.
        let mut identity = format!("pipeline\n{table}\n");
        let members = config.recognizer_members();
        let sections = std::iter::once(&config.detector).chain(members.iter().map(|(_, m)| *m));
        for section in sections {
            if let Some(p) = plugins.get(&section.plugin) {
                identity.push_str(&format!("plugin {} {}\n", p.info.name, p.info.version));
            }
        }
        for m in &models {
            for f in &m.files {
                identity.push_str(&format!("model {} {} {}\n", m.id, f.name, f.sha256));
            }
        }
        Ok(Opened {
            config,
            plugins,
            detector_model,
            detector,
            recognizer,
            load: LoadTimes {
                plugins_ms,
                detector_ms,
                recognizer_ms,
            },
            models,
            identity,
        })
    }

    /// A second detector with `overrides` replacing entries of the detector's options.
    pub fn detector_with(&self, overrides: &toml::Table) -> anyhow::Result<(FaceDetector, Config)> {
        let mut config = self.config.clone();
        for (k, v) in overrides {
            config.detector.options.insert(k.clone(), v.clone());
        }
        let detector = FaceDetector::from_config(&config, &self.plugins, &self.detector_model)?;
        Ok((detector, config))
    }
}

/// A face as five numbers (x, y, width, height, score), absolute pixels.
pub type FaceRow = [f32; 5];

fn to_row(f: &Face) -> FaceRow {
    [f.bbox.x, f.bbox.y, f.bbox.width, f.bbox.height, f.score]
}

/// A face from its row.
pub fn from_row(r: &FaceRow) -> Face {
    Face::new(BBox::new(r[0], r[1], r[2], r[3]), r[4])
}

/// One photo of a face set: its largest face and that face's embedding.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbedRecord {
    /// The largest face found; `None` when nothing was found and the whole frame was used.
    pub face: Option<FaceRow>,
    /// The embedding; `None` when the photo failed.
    pub embedding: Option<Vec<f32>>,
    /// The found face's quality ([`facelab_engine::quality`]); `None` for the whole frame, and in
    /// records cached before facelab measured quality.
    #[serde(default)]
    pub quality: Option<Quality>,
    /// Why it failed.
    pub error: Option<String>,
    /// Detection time, ms.
    pub detect_ms: f64,
    /// Embedding time, ms.
    pub embed_ms: f64,
}

/// One photo of a detection set: every face found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DetectRecord {
    /// The faces.
    pub faces: Vec<FaceRow>,
    /// Why it failed.
    pub error: Option<String>,
    /// Detection time, ms.
    pub detect_ms: f64,
}

/// Where one pipeline's cache files go, and whether old records are reused.
pub struct CacheScope<'a> {
    /// `DIR/cache/<pipeline>`; `None` keeps the records in memory only.
    pub dir: Option<PathBuf>,
    /// The pipeline's name, for progress labels.
    pub label: String,
    /// [`Opened::identity`].
    pub identity: &'a str,
    /// `--resume`.
    pub resume: bool,
}

impl CacheScope<'_> {
    /// The cache of data set `set`, keyed by the pipeline's identity and `extra` (task
    /// settings that change records); each record is checked against its file.
    pub fn open<R: Serialize + serde::de::DeserializeOwned + Clone>(
        &self,
        set: &str,
        extra: &str,
    ) -> anyhow::Result<CacheFile<R>> {
        let key = KeyBuilder::default()
            .part("identity", self.identity)
            .part("extra", extra)
            .finish();
        match &self.dir {
            Some(dir) => CacheFile::open(dir, set, &key, self.resume),
            None => Ok(CacheFile::in_memory()),
        }
    }
}

/// Embeds the largest face of every photo (the whole frame when none is found), from the
/// cache where it can. Returns one record per path, in order.
pub fn embed_set(
    detector: &mut FaceDetector,
    recognizer: &mut FaceRecognizer,
    max_pixels: u64,
    cache: &mut CacheFile<EmbedRecord>,
    paths: &[PathBuf],
    label: &str,
) -> anyhow::Result<(Vec<EmbedRecord>, EmbedStats)> {
    let todo: Vec<&PathBuf> = paths.iter().filter(|p| cache.get(p).is_none()).collect();
    let cached = paths.len() - todo.len();
    let bar = progress(todo.len(), label);
    let mut fresh_ms = Vec::new();
    decode_ahead(&todo, max_pixels, |path, decoded| {
        bar.inc(1);
        let record = match decoded {
            Err(e) => EmbedRecord {
                face: None,
                embedding: None,
                quality: None,
                error: Some(e.to_string()),
                detect_ms: 0.0,
                embed_ms: 0.0,
            },
            Ok(photo) => embed_one(detector, recognizer, &photo),
        };
        if let Some(e) = &record.error {
            bar.suspend(|| eprintln!("facelab: {}: {e}", path.display()));
        } else {
            fresh_ms.push(record.embed_ms);
        }
        cache.put(path, record)
    })?;
    bar.finish_and_clear();
    cache.flush()?;
    let records: Vec<EmbedRecord> = paths
        .iter()
        .map(|p| cache.get(p).cloned().expect("every path was embedded"))
        .collect();
    let stats = EmbedStats {
        images: paths.len(),
        whole_frame: records
            .iter()
            .filter(|r| r.face.is_none() && r.embedding.is_some())
            .count(),
        failed: records.iter().filter(|r| r.embedding.is_none()).count(),
        cached,
        median_embed_ms: (!fresh_ms.is_empty()).then(|| median(&mut fresh_ms)),
    };
    Ok((records, stats))
}

fn embed_one(
    detector: &mut FaceDetector,
    recognizer: &mut FaceRecognizer,
    photo: &Photo,
) -> EmbedRecord {
    let start = Instant::now();
    let detected = detector.detect(photo);
    let detect_ms = ms_since(start);
    let faces = match detected {
        Ok((faces, _)) => faces,
        Err(e) => {
            return EmbedRecord {
                face: None,
                embedding: None,
                quality: None,
                error: Some(format!("detector failed: {e}")),
                detect_ms,
                embed_ms: 0.0,
            }
        }
    };
    let found = largest(&faces).copied();
    let quality = found
        .as_ref()
        .map(|f| facelab_engine::quality::assess(photo, f));
    // The face sets are crops: a photo without a detected face is embedded whole.
    let face = found.unwrap_or_else(|| {
        Face::new(
            BBox::new(0.0, 0.0, photo.width as f32, photo.height as f32),
            0.0,
        )
    });
    let start = Instant::now();
    let embedded = recognizer.embed(photo, &[face]);
    let embed_ms = ms_since(start);
    match embedded {
        Ok(e) => EmbedRecord {
            face: found.as_ref().map(to_row),
            embedding: Some(e[0].values.to_vec()),
            quality,
            error: None,
            detect_ms,
            embed_ms,
        },
        Err(e) => EmbedRecord {
            face: found.as_ref().map(to_row),
            embedding: None,
            quality,
            error: Some(format!("recognizer failed: {e}")),
            detect_ms,
            embed_ms,
        },
    }
}

/// Detects every face of every photo, from the cache where it can. Returns one record per
/// path, in order, and how many came from the cache.
pub fn detect_set(
    detector: &mut FaceDetector,
    max_pixels: u64,
    cache: &mut CacheFile<DetectRecord>,
    paths: &[PathBuf],
    label: &str,
) -> anyhow::Result<(Vec<DetectRecord>, usize)> {
    let todo: Vec<&PathBuf> = paths.iter().filter(|p| cache.get(p).is_none()).collect();
    let cached = paths.len() - todo.len();
    let bar = progress(todo.len(), label);
    decode_ahead(&todo, max_pixels, |path, decoded| {
        bar.inc(1);
        let record = match decoded {
            Err(e) => DetectRecord {
                faces: vec![],
                error: Some(e.to_string()),
                detect_ms: 0.0,
            },
            Ok(photo) => {
                let start = Instant::now();
                let result = detector.detect(&photo);
                let detect_ms = ms_since(start);
                match result {
                    Ok((faces, _)) => DetectRecord {
                        faces: faces.iter().map(to_row).collect(),
                        error: None,
                        detect_ms,
                    },
                    Err(e) => DetectRecord {
                        faces: vec![],
                        error: Some(format!("detector failed: {e}")),
                        detect_ms,
                    },
                }
            }
        };
        if let Some(e) = &record.error {
            bar.suspend(|| eprintln!("facelab: {}: {e}", path.display()));
        }
        cache.put(path, record)
    })?;
    bar.finish_and_clear();
    cache.flush()?;
    let records = paths
        .iter()
        .map(|p| cache.get(p).cloned().expect("every path was detected"))
        .collect();
    Ok((records, cached))
}
