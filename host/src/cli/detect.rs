//! `facelab detect`, `embed` and `compare`: the configured pipeline on photos the user
//! names.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use facelab_plugin_api::{Embedding, Face};
use facelab_plugin_kit::align::Profile;
use serde::Serialize;

use super::{FaceJson, ModelJson};
use facelab_engine::config::Config;
use facelab_engine::draw;
use facelab_engine::photo::{decode, decode_ahead, Photo};
use facelab_engine::pipeline::{cosine, largest, FaceDetector, FaceRecognizer, RecognizerMember};
use facelab_engine::robust::Pass;
use facelab_engine::ui::progress;
use facelab_library::identity::{self, Verdict};
use facelab_library::session::{open_detector, open_pipeline, Outcome, RunContext};
use facelab_models::manifest::ThresholdKind;

/// `facelab detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Photos to read.
    #[arg(required = true)]
    pub photos: Vec<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write each photo with its faces drawn into this folder.
    #[arg(long, value_name = "OUT_DIR")]
    pub draw: Option<PathBuf>,
}

/// One photo's result, as printed with `--json`.
#[derive(Serialize)]
struct PhotoResult {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exif_orientation: Option<u8>,
    faces: Vec<FaceJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detect_ms: Option<f64>,
    /// Which robust pass found the faces, when not the direct one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pass: Option<Pass>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// What happened to one photo.
struct Detection {
    photo: Result<Photo, String>,
    faces: Vec<Face>,
    pass: Option<Pass>,
    ms: f64,
    error: Option<String>,
}

/// Detects every photo, decoding the next one ahead.
fn detect_all(
    config: &Config,
    detector: &mut FaceDetector,
    paths: &[PathBuf],
    mut each: impl FnMut(&Path, Detection),
) {
    let max_pixels = config.images.max_pixels;
    let _ = decode_ahead(paths, max_pixels, |path, decoded| {
        let detection = match decoded {
            Err(e) => Detection {
                photo: Err(e.to_string()),
                faces: vec![],
                pass: None,
                ms: 0.0,
                error: Some(e.to_string()),
            },
            Ok(photo) => {
                let start = Instant::now();
                let result = detector.detect(&photo);
                let ms = start.elapsed().as_secs_f64() * 1e3;
                let (faces, pass, error) = match result {
                    Ok((f, pass)) => (f, Some(pass).filter(|p| *p != Pass::Direct), None),
                    Err(e) => (
                        vec![],
                        None,
                        Some(format!(
                            "{}: detector `{}` failed: {e}",
                            path.display(),
                            detector.kind
                        )),
                    ),
                };
                Detection {
                    photo: Ok(photo),
                    faces,
                    pass,
                    ms,
                    error,
                }
            }
        };
        each(path, detection);
        Ok::<(), std::convert::Infallible>(())
    });
}

fn draw_path(dir: &Path, photo: &Path, used: &mut std::collections::HashSet<PathBuf>) -> PathBuf {
    let stem = photo
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("photo");
    let mut candidate = dir.join(format!("{stem}.jpg"));
    let mut n = 2;
    while !used.insert(candidate.clone()) {
        candidate = dir.join(format!("{stem}-{n}.jpg"));
        n += 1;
    }
    candidate
}

pub fn detect(ctx: &RunContext, args: &DetectArgs) -> anyhow::Result<Outcome> {
    let config = &ctx.config;
    let mut detector = open_detector(ctx)?;
    if let Some(dir) = &args.draw {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create --draw folder {}", dir.display()))?;
    }
    let bar = progress(args.photos.len());
    let mut results = Vec::new();
    let mut failed = 0usize;
    let mut used = std::collections::HashSet::new();
    let stdout = std::io::stdout();
    if !args.json {
        writeln!(
            stdout.lock(),
            "{:<40} {:>4} {:>7} {:>7} {:>7} {:>7} {:>6}",
            "PHOTO",
            "FACE",
            "X",
            "Y",
            "W",
            "H",
            "SCORE"
        )?;
    }
    detect_all(config, &mut detector, &args.photos, |path, d| {
        bar.inc(1);
        if let Some(e) = &d.error {
            failed += 1;
            bar.suspend(|| eprintln!("facelab: {e}"));
        }
        if let (Some(dir), Ok(photo)) = (&args.draw, &d.photo) {
            let mut img = photo.to_rgb();
            draw::draw_faces(&mut img, &d.faces);
            let out = draw_path(dir, path, &mut used);
            if let Err(e) = img.save(&out) {
                failed += 1;
                bar.suspend(|| eprintln!("facelab: cannot write {}: {e}", out.display()));
            }
        }
        let shown = path.display().to_string();
        if args.json {
            let photo = d.photo.as_ref().ok();
            results.push(PhotoResult {
                path: shown,
                width: photo.map(|p| p.width),
                height: photo.map(|p| p.height),
                exif_orientation: photo.map(|p| p.exif_orientation),
                faces: d.faces.iter().map(FaceJson::from).collect(),
                detect_ms: photo.map(|_| d.ms),
                pass: d.pass,
                error: d.error,
            });
        } else if d.error.is_none() {
            bar.suspend(|| {
                let mut out = stdout.lock();
                if d.faces.is_empty() {
                    let _ = writeln!(out, "{shown:<40} {:>4}", "-");
                }
                for (i, f) in d.faces.iter().enumerate() {
                    let b = f.bbox;
                    let _ = writeln!(
                        out,
                        "{shown:<40} {:>4} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>6.3}",
                        i + 1,
                        b.x,
                        b.y,
                        b.width,
                        b.height,
                        f.score
                    );
                }
            });
        }
    });
    bar.finish_and_clear();
    if args.json {
        writeln!(stdout.lock(), "{}", serde_json::to_string_pretty(&results)?)?;
    }
    Ok(Outcome::from_failures(failed))
}

pub fn embed(ctx: &RunContext, args: &DetectArgs) -> anyhow::Result<Outcome> {
    let (mut detector, mut recognizer) = open_pipeline(ctx)?;
    if let Some(dir) = &args.draw {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create --draw folder {}", dir.display()))?;
    }
    let bar = progress(args.photos.len());
    let mut failed = 0;
    let mut results = Vec::new();
    let stdout = std::io::stdout();
    let profile = recognizer.profile.as_deref().and_then(Profile::parse);
    detect_all(&ctx.config, &mut detector, &args.photos, |path, d| {
        bar.inc(1);
        let (embeddings, error) = embed_photo(&mut recognizer, path, &d, profile, args);
        if let Some(e) = &error {
            failed += 1;
            bar.suspend(|| eprintln!("facelab: {e}"));
        }
        if args.json {
            let faces = faces_json(&d.faces, &embeddings);
            results.push(serde_json::json!({"path": path.display().to_string(), "faces": faces, "error": error}));
        } else if error.is_none() {
            bar.suspend(|| print_embeddings(&mut stdout.lock(), path, &embeddings));
        }
    });
    bar.finish_and_clear();
    if args.json {
        writeln!(
            stdout.lock(),
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "model": ModelJson::from(&recognizer.info),
                "members": recognizer.members().iter().map(member_json).collect::<Vec<_>>(),
                "photos": results,
            }))?
        )?;
    }
    Ok(Outcome::from_failures(failed))
}

/// `embed --json`'s facts of one model of the recognizer: its model, its section of the
/// config, its embedding and its own same-person threshold.
fn member_json(m: &RecognizerMember) -> serde_json::Value {
    let mut doc = serde_json::json!(ModelJson::from(&m.info));
    doc["section"] = serde_json::json!(m.section);
    doc["dim"] = serde_json::json!(m.dim());
    doc["threshold"] = serde_json::json!(m.threshold);
    doc
}

/// Embeds the faces of one detected photo (writing their aligned crops with `--draw`):
/// the embeddings, and the photo's error if detection or embedding failed.
fn embed_photo(
    recognizer: &mut FaceRecognizer,
    path: &Path,
    d: &Detection,
    profile: Option<Profile>,
    args: &DetectArgs,
) -> (Vec<Embedding>, Option<String>) {
    let mut error = d.error.clone();
    let mut embeddings = Vec::new();
    if let (Ok(photo), None) = (&d.photo, &error) {
        match recognizer.embed(photo, &d.faces) {
            Ok(e) => embeddings = e,
            Err(e) => {
                error = Some(format!(
                    "{}: recognizer `{}` failed: {e}",
                    path.display(),
                    recognizer.kind
                ))
            }
        }
        if let (Some(dir), Some(profile)) = (&args.draw, profile) {
            save_crops(dir, path, photo, &d.faces, profile);
        }
    }
    (embeddings, error)
}

/// Writes each face's aligned crop as DIR/<stem>-face<N>.png (failures ignored).
fn save_crops(dir: &Path, path: &Path, photo: &Photo, faces: &[Face], profile: Profile) {
    for (i, face) in faces.iter().enumerate() {
        let m = profile.crop_to_photo(&face.bbox, face.landmarks.as_ref().into_option());
        let crop = facelab_plugin_kit::align::warp(&photo.view(), &m, profile.size(), true);
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("photo");
        let out = dir.join(format!("{stem}-face{}.png", i + 1));
        if let Some(img) = image::RgbImage::from_raw(profile.size(), profile.size(), crop) {
            let _ = img.save(&out);
        }
    }
}

/// Each face with its embedding (null where there is none), for `embed --json`.
fn faces_json(faces: &[Face], embeddings: &[Embedding]) -> Vec<serde_json::Value> {
    faces
        .iter()
        .zip(embeddings.iter().map(Some).chain(std::iter::repeat(None)))
        .map(|(f, e)| serde_json::json!({"face": FaceJson::from(f), "embedding": e.map(|e| e.values.to_vec()), "normalized": e.map(|e| e.normalized)}))
        .collect()
}

/// One line per embedding: the photo, the face number, the dimension and the first values.
fn print_embeddings(out: &mut impl Write, path: &Path, embeddings: &[Embedding]) {
    for (i, e) in embeddings.iter().enumerate() {
        let head: Vec<String> = e.values.iter().take(4).map(|v| format!("{v:.3}")).collect();
        let _ = writeln!(
            out,
            "{}\tface {}\t{}-D\t[{}, …]",
            path.display(),
            i + 1,
            e.dim(),
            head.join(", ")
        );
    }
}

pub fn compare(ctx: &RunContext, a: &Path, b: &Path, json: bool) -> anyhow::Result<Outcome> {
    let (mut detector, mut recognizer) = open_pipeline(ctx)?;
    // Per photo: each model's vector, and the recognizer's (fused when there are several).
    let mut parts: Vec<Vec<Vec<f32>>> = Vec::new();
    let mut vectors = Vec::new();
    for path in [a, b] {
        let photo = decode(path, ctx.config.images.max_pixels)?;
        let (faces, _) = detector
            .detect(&photo)
            .map_err(|e| anyhow::anyhow!("{}: detector failed: {e}", path.display()))?;
        let face = largest(&faces).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: no face found (help: try [detection] closeup_padding or rotation_retry)",
                path.display()
            )
        })?;
        let per_model = recognizer
            .embed_members(&photo, std::slice::from_ref(face))
            .map_err(|e| anyhow::anyhow!("{}: recognizer failed: {e}", path.display()))?;
        parts.push(per_model.iter().map(|m| m[0].values.to_vec()).collect());
        vectors.push(recognizer.combine(per_model)[0].values.to_vec());
    }
    let similarity = cosine(&vectors[0], &vectors[1]);
    // The model's own metric and threshold decide (dlib: euclidean distance ≤ 0.6); fused
    // models, the mean of their cosines against the mean of their rules.
    let verdict = recognizer
        .threshold
        .as_ref()
        .and_then(|t| identity::verdict(&vectors[0], &vectors[1], t));
    // Each model by its own metric and threshold.
    let members: Vec<(String, f32, Option<Verdict>)> = recognizer
        .members()
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (va, vb) = (&parts[0][i], &parts[1][i]);
            let v = m
                .threshold
                .as_ref()
                .and_then(|t| identity::verdict(va, vb, t));
            (m.info.id.to_string(), cosine(va, vb), v)
        })
        .collect();
    if json {
        let members: Vec<serde_json::Value> = members
            .iter()
            .map(|(id, s, v)| verdict_json(id, *s, v.as_ref()))
            .collect();
        let mut doc = verdict_json(&recognizer.info.id, similarity, verdict.as_ref());
        doc["a"] = serde_json::json!(a);
        doc["b"] = serde_json::json!(b);
        doc["members"] = serde_json::json!(members);
        writeln!(std::io::stdout(), "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        let mut out = std::io::stdout().lock();
        let id = recognizer.info.id.to_string();
        writeln!(out, "{}", verdict_text(&id, similarity, verdict.as_ref()))?;
        if recognizer.is_fused() {
            for (id, s, v) in &members {
                writeln!(out, "  {}", verdict_text(id, *s, v.as_ref()))?;
            }
        }
    }
    Ok(Outcome::Success)
}

/// The name of a verdict's metric.
fn metric_name(v: &Verdict) -> &'static str {
    match v.metric {
        ThresholdKind::Euclidean => "euclidean",
        _ => "cosine",
    }
}

/// `compare --json`'s fields for model `id`: the cosine `similarity` and its own verdict.
fn verdict_json(id: &str, similarity: f32, verdict: Option<&Verdict>) -> serde_json::Value {
    serde_json::json!({
        "model": id, "similarity": similarity,
        "metric": verdict.map(metric_name), "value": verdict.map(|v| v.value),
        "threshold": verdict.map(|v| v.threshold), "same_person": verdict.map(|v| v.same_person),
    })
}

/// `compare`'s line for model `id`: its verdict by its own metric, or the cosine
/// `similarity` when it declares no threshold.
fn verdict_text(id: &str, similarity: f32, verdict: Option<&Verdict>) -> String {
    match verdict {
        Some(v) => format!(
            "{} {:.3} ({id}; threshold {:.3}) — {}",
            if v.metric == ThresholdKind::Euclidean {
                "distance"
            } else {
                "similarity"
            },
            v.value,
            v.threshold,
            if v.same_person {
                "same person"
            } else {
                "different people"
            }
        ),
        None => format!(
            "similarity {similarity:.3} ({id}) — the model declares no same-person threshold"
        ),
    }
}
