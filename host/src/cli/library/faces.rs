//! Reading faces out of the library: `faces` (the list) and `export`.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;

use facelab_library::clusters;
use facelab_library::session::{active_models, open_library, Outcome, RunContext};
use facelab_library::FaceRow;

use super::ExportFormat;

/// `facelab faces` without an action: list the faces.
pub(super) fn list(
    ctx: &RunContext,
    person: Option<String>,
    unlabelled: bool,
    json: bool,
) -> anyhow::Result<Outcome> {
    let lib = open_library(ctx)?;
    let mut faces = lib.faces(person.as_deref())?;
    if unlabelled {
        faces.retain(|f| f.person.is_none());
    }
    let mut out = std::io::stdout().lock();
    if json {
        // Each face with its cluster under the active recognizer (null: in none), so
        // scripts can read the clustering; its models listed with the active recognizer's
        // first (in config order), and the active models it has no embedding of.
        let models = active_models(ctx).ok();
        let member = match &models {
            Some(models) => clusters::membership(&lib, models)?,
            None => Default::default(),
        };
        let active = models.as_ref().map_or(&[][..], |m| m.members());
        let mut rows = serde_json::to_value(&faces)?;
        for (r, f) in rows.as_array_mut().into_iter().flatten().zip(&faces) {
            let id = member.get(&f.id).copied();
            r["cluster"] = serde_json::json!(id);
            let mut has = f.models.clone();
            has.sort_by_key(|m| {
                (
                    active.iter().position(|a| a == m).unwrap_or(active.len()),
                    m.clone(),
                )
            });
            r["models"] = serde_json::json!(has);
            let missing: Vec<&String> = active.iter().filter(|a| !f.models.contains(a)).collect();
            r["missing_models"] = serde_json::json!(missing);
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
    } else {
        let min_quality = ctx.config.library.min_quality;
        for f in &faces {
            writeln!(out, "{}", face_line(f, min_quality))?;
        }
    }
    Ok(Outcome::Success)
}

/// One face of the `facelab faces` table (without the newline).
fn face_line(f: &FaceRow, min_quality: facelab_engine::config::MinQuality) -> String {
    let name = match (&f.person, &f.suggestion) {
        (Some(p), _) => p.clone(),
        (None, Some((s, v))) => format!("{s}? ({v:.2})"),
        (None, None) => "-".into(),
    };
    // "q?" for a face an older facelab stored (measured by the next scan);
    // "(below min_quality)" for one that suggestions and clusters leave out.
    let quality = match &f.quality {
        None => "q?".to_owned(),
        Some(q) if !min_quality.passes(Some(q.score)) => {
            format!("q{:.2} (below min_quality)", q.score)
        }
        Some(q) => format!("q{:.2}", q.score),
    };
    format!(
        "{}\t{}\t{:.0},{:.0} {:.0}x{:.0}\t{quality}\t{name}",
        f.id, f.path, f.bbox[0], f.bbox[1], f.bbox[2], f.bbox[3]
    )
}

/// `facelab faces similar FACE`: the faces most like it, best first, with their photos
/// and names; which search answered goes to stderr (and into the JSON).
pub(super) fn similar(
    ctx: &RunContext,
    face: i64,
    limit: usize,
    exact: bool,
    json: bool,
) -> anyhow::Result<Outcome> {
    let models = active_models(ctx)?;
    let mut lib = open_library(ctx)?;
    let (found, path) = lib.similar_faces(&models, face, limit, exact)?;
    // Only the faces found: the library may hold millions.
    let rows: std::collections::HashMap<i64, FaceRow> = found
        .iter()
        .filter_map(|s| lib.face_row(s.face).transpose())
        .map(|f| f.map(|f| (f.id, f)))
        .collect::<Result<_, _>>()?;
    let mut out = std::io::stdout().lock();
    if json {
        let similar: Vec<serde_json::Value> = found
            .iter()
            .map(|s| {
                let row = rows.get(&s.face);
                serde_json::json!({
                    "face": s.face,
                    "similarity": s.similarity,
                    "path": row.map(|r| &r.path),
                    "bbox": row.map(|r| r.bbox),
                    "person": row.and_then(|r| r.person.as_ref()),
                })
            })
            .collect();
        let doc = serde_json::json!({
            "face": face,
            "models": models.members(),
            "search": path,
            "similar": similar,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        eprintln!(
            "faces most like face {face} ({}), by {path}:",
            models.members().join(" + ")
        );
        for s in &found {
            match rows.get(&s.face) {
                Some(r) => writeln!(
                    out,
                    "{:.4}\t{}",
                    s.similarity,
                    face_line(r, ctx.config.library.min_quality)
                )?,
                // A face of a photo that is missing now.
                None => writeln!(out, "{:.4}\t{}\t(photo missing)", s.similarity, s.face)?,
            }
        }
    }
    Ok(Outcome::Success)
}

/// `facelab export`.
pub(super) fn export(
    ctx: &RunContext,
    format: ExportFormat,
    output: Option<PathBuf>,
) -> anyhow::Result<Outcome> {
    let lib = open_library(ctx)?;
    let faces = lib.faces(None)?;
    let text = match format {
        ExportFormat::Json => {
            serde_json::to_string_pretty(&serde_json::json!({
                "library": lib.path(),
                "schema_version": facelab_library::SCHEMA_VERSION,
                "faces": faces,
            }))? + "\n"
        }
        ExportFormat::Csv => csv(&faces),
    };
    match output {
        Some(path) => std::fs::write(&path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(Outcome::Success)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn csv(faces: &[FaceRow]) -> String {
    let mut out = String::from(
        "face_id,path,path_utf8,x,y,width,height,score,quality,detector,person,suggestion,suggestion_score,rejected\n",
    );
    for f in faces {
        let (s, sv) = match &f.suggestion {
            Some((s, v)) => (s.clone(), format!("{v:.4}")),
            None => (String::new(), String::new()),
        };
        out += &format!(
            "{},{},{},{:.1},{:.1},{:.1},{:.1},{:.4},{},{},{},{},{},{}\n",
            f.id,
            csv_field(&f.path),
            f.path_utf8,
            f.bbox[0],
            f.bbox[1],
            f.bbox[2],
            f.bbox[3],
            f.score,
            f.quality
                .map(|q| format!("{:.4}", q.score))
                .unwrap_or_default(),
            csv_field(&f.detector),
            csv_field(f.person.as_deref().unwrap_or("")),
            csv_field(&s),
            sv,
            csv_field(&f.rejected.join(";")),
        );
    }
    out
}
