//! `facelab export-xmp`, `facelab import-xmp` and `facelab faces add`: face tags that
//! travel with the photos (the work lives in [`facelab_library::xmp`] and
//! [`facelab_library::manual`]).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use facelab_plugin_api::BBox;

use facelab_library::manual::{add_drawn_face, PhotoRecord};
use facelab_library::paths::display_path;
use facelab_library::session::{open_library, open_recognizer, Outcome, RunContext};
use facelab_library::xmp::sync::{export_photo, import_photo, Exported, Target};
use facelab_library::Library;

/// `facelab export-xmp`.
#[derive(Debug, Args)]
pub struct ExportXmpArgs {
    /// Photos or folders [default: every photo in the library].
    pub paths: Vec<PathBuf>,
    /// Write a sidecar `photo.jpg.xmp` beside each photo (the default; digiKam reads it).
    #[arg(long, conflicts_with = "in_place")]
    pub sidecar: bool,
    /// Write the packet into the JPEG files themselves; other formats are skipped with a
    /// notice.
    #[arg(long)]
    pub in_place: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `facelab import-xmp`.
#[derive(Debug, Args)]
pub struct ImportXmpArgs {
    /// Photos or folders [default: every photo in the library].
    pub paths: Vec<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `facelab faces add|…`.
#[derive(Debug, Subcommand)]
pub enum FacesCommand {
    /// Add a face the detector missed: it is measured and embedded like any other, and
    /// kept through rescans and detector switches.
    Add {
        /// The photo (already scanned).
        photo: PathBuf,
        /// The box in pixels of the upright photo (as `facelab faces` shows boxes).
        #[arg(long = "box", value_name = "X,Y,W,H")]
        bbox: String,
        /// Name the face.
        #[arg(long)]
        name: Option<String>,
    },
    /// The faces most like FACE under the configured recognizer, best first (on a
    /// PostgreSQL library with pgvector, from its HNSW index; else every face compared).
    Similar {
        /// Face id (as `facelab faces` lists them).
        face: i64,
        /// How many faces.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Compare every stored face instead of using pgvector's approximate index.
        #[arg(long)]
        exact: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The library's photos named by `paths` (files or folders; none: all), and one error per
/// path that is missing or holds no scanned photo.
fn photos(lib: &Library, paths: &[PathBuf]) -> anyhow::Result<(Vec<PhotoRecord>, Vec<String>)> {
    let mut roots = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        match std::fs::canonicalize(p) {
            Ok(c) => roots.push(c),
            Err(e) => errors.push(format!(
                "{}: {e} (help: give photos or folders that exist)",
                display_path(p)
            )),
        }
    }
    if !paths.is_empty() && roots.is_empty() {
        return Ok((Vec::new(), errors));
    }
    let found = lib.photos_under(&roots)?;
    for r in &roots {
        if !found.iter().any(|p| p.path.starts_with(r)) {
            errors.push(format!(
                "{}: no scanned photo here (help: run `facelab scan` on its folder first)",
                display_path(r)
            ));
        }
    }
    Ok((found, errors))
}

/// Runs `export-xmp`.
pub fn export(ctx: &RunContext, a: &ExportXmpArgs) -> anyhow::Result<Outcome> {
    let mut lib = open_library(ctx)?;
    let (photos, mut failed) = photos(&lib, &a.paths)?;
    let target = if a.in_place {
        Target::InPlace
    } else {
        Target::Sidecar
    };
    let (mut written, mut unchanged, mut no_names, mut not_jpeg) = (0usize, 0, 0, 0);
    let mut faces = 0usize;
    for e in &failed {
        eprintln!("facelab: {e}");
    }
    for p in &photos {
        match export_photo(&mut lib, p, target) {
            Ok(Exported::Written { faces: n, .. }) => {
                written += 1;
                faces += n;
            }
            Ok(Exported::Unchanged) => unchanged += 1,
            Ok(Exported::NoNames) => no_names += 1,
            Ok(Exported::NotJpeg) => {
                not_jpeg += 1;
                eprintln!(
                    "facelab: {}: skipped, not a JPEG (--in-place writes only into JPEG files; `export-xmp --sidecar` writes a sidecar for it)",
                    display_path(&p.path)
                );
            }
            Err(e) => {
                eprintln!("facelab: {e}");
                failed.push(e.to_string());
            }
        }
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "target": if a.in_place { "in-place" } else { "sidecar" },
                "photos": photos.len(), "written": written, "faces": faces,
                "unchanged": unchanged, "no_names": no_names, "not_jpeg": not_jpeg,
                "failed": failed,
            }))?
        )?;
    } else {
        writeln!(
            out,
            "wrote the regions of {faces} named faces into {written} {}; {unchanged} already up to date, {no_names} photos without named faces, {not_jpeg} skipped (not JPEG), {} failed",
            if a.in_place { "photos" } else { "sidecars" },
            failed.len()
        )?;
    }
    Ok(Outcome::from_failures(failed.len()))
}

/// Runs `import-xmp`.
pub fn import(ctx: &RunContext, a: &ImportXmpArgs) -> anyhow::Result<Outcome> {
    let mut lib = open_library(ctx)?;
    let (photos, mut failed) = photos(&lib, &a.paths)?;
    for e in &failed {
        eprintln!("facelab: {e}");
    }
    let mut embedder = None;
    let mut open = || open_recognizer(ctx).map_err(|e| format!("{e:#}"));
    let max_pixels = ctx.config.images.max_pixels;
    let mut total = facelab_library::xmp::sync::Imported::default();
    for p in &photos {
        match import_photo(&mut lib, p, &mut open, &mut embedder, max_pixels) {
            Ok(r) => {
                for (face, have, xmp) in &r.conflicts {
                    eprintln!(
                        "facelab: {}: face {face} is {have} in the library and {xmp} in the XMP; kept {have} (help: `facelab tag {face} NAME` to change it)",
                        display_path(&p.path)
                    );
                }
                total.sources += r.sources;
                total.regions += r.regions;
                total.named += r.named;
                total.created += r.created;
                total.unchanged += r.unchanged;
                total.conflicts.extend(r.conflicts);
                total.full_frame += r.full_frame;
                total.ignored += r.ignored;
                total.duplicates += r.duplicates;
            }
            Err(e) => {
                eprintln!("facelab: {e}");
                failed.push(e);
            }
        }
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "photos": photos.len(), "import": total, "failed": failed,
            }))?
        )?;
    } else {
        writeln!(
            out,
            "read {} face regions from {} XMP sources of {} photos: named {} detected faces, created {} faces, {} already named so, {} conflicts kept; ignored {} full-frame, {} other, {} duplicates; {} failed",
            total.regions, total.sources, photos.len(), total.named, total.created,
            total.unchanged, total.conflicts.len(), total.full_frame, total.ignored,
            total.duplicates, failed.len()
        )?;
    }
    Ok(Outcome::from_failures(failed.len()))
}

fn parse_box(s: &str) -> anyhow::Result<BBox> {
    let v: Vec<f32> = s
        .split(',')
        .map(|p| p.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .ok()
        .filter(|v: &Vec<f32>| v.len() == 4 && v.iter().all(|x| x.is_finite()))
        .with_context(|| {
            format!("--box {s:?}: expected four numbers X,Y,W,H in pixels (help: for example --box 120,80,64,64)")
        })?;
    if v[2] < 1.0 || v[3] < 1.0 {
        anyhow::bail!("--box {s:?}: width and height must be at least 1 pixel");
    }
    Ok(BBox::new(v[0], v[1], v[2], v[3]))
}

/// Runs `faces add`.
pub fn faces_add(
    ctx: &RunContext,
    photo: PathBuf,
    bbox: String,
    name: Option<String>,
) -> anyhow::Result<Outcome> {
    let b = parse_box(&bbox)?;
    let mut lib = open_library(ctx)?;
    let path = std::fs::canonicalize(&photo).with_context(|| {
        format!(
            "{}: cannot read (help: give the path of a scanned photo)",
            photo.display()
        )
    })?;
    let record = lib.photo_at(&path)?.with_context(|| {
        format!(
            "{}: not in the face library (help: run `facelab scan` on its folder first)",
            display_path(&path)
        )
    })?;
    let mut rec = open_recognizer(ctx)?;
    let id = add_drawn_face(
        &mut lib,
        &record,
        b,
        rec.as_mut().map(|(r, k)| (r, &*k)),
        ctx.config.images.max_pixels,
    )
    .with_context(|| format!("--box {bbox}"))?;
    let mut out = std::io::stdout().lock();
    match name {
        Some(n) => {
            let p = lib.confirm(id, &n, "user")?;
            writeln!(
                out,
                "face {id} added to {} as {}",
                display_path(&path),
                p.name
            )?;
        }
        None => writeln!(out, "face {id} added to {}", display_path(&path))?,
    }
    Ok(Outcome::Success)
}
