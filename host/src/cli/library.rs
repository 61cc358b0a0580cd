//! The face library's commands: `scan`, `people`, `tag`, `untag`, `import-labels`,
//! `suggest`, `confirm`, `reject`, `faces`, `export`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};

use facelab_engine::ui::progress;
use facelab_library::scan::Summary;
use facelab_library::session::{
    active_model, library_path, open_for_scan, open_library, prior, Outcome, RunContext,
};
use facelab_library::suggest;
use facelab_library::walk::{self, scan_options};
use facelab_library::{clusters, identity};
use facelab_library::{FaceRow, Library};

/// The face library commands.
#[derive(Debug, Subcommand)]
pub enum LibraryCommand {
    /// Scan folders into the face library: new and changed photos are detected and
    /// embedded, unchanged ones skipped, moved ones followed.
    Scan(ScanArgs),
    /// People: list, add, rename, merge.
    #[command(subcommand)]
    People(PeopleCommand),
    /// Name a face (ids from `facelab faces`); the person is added if new.
    Tag {
        /// Face id.
        face: i64,
        /// Person's name.
        person: String,
    },
    /// Remove a face's name.
    Untag {
        /// Face id.
        face: i64,
    },
    /// Name faces from a folder-per-person layout (DIR/<person>/<photo>): scans DIR, then
    /// confirms the largest face of each photo as its folder's person.
    ImportLabels {
        /// The folder of person folders.
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Suggest a person (or "unknown") for every face without a name.
    Suggest {
        /// Also list the faces whose answer is "unknown".
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Accept a suggestion (or name PERSON directly).
    Confirm {
        /// Face id.
        face: i64,
        /// Person [default: the pending suggestion].
        person: Option<String>,
    },
    /// Decline a suggestion (or PERSON): that pair is never suggested again.
    Reject {
        /// Face id.
        face: i64,
        /// Person [default: the pending suggestion].
        person: Option<String>,
    },
    /// List faces with their quality, names and suggestions (also faces below
    /// `library.min_quality`, which suggestions and clusters leave out).
    Faces {
        /// `add`: a face the detector missed (without one: list the faces).
        #[command(subcommand)]
        action: Option<super::xmp::FacesCommand>,
        /// Only the faces confirmed as this person.
        #[arg(long)]
        person: Option<String>,
        /// Only faces without a name.
        #[arg(long)]
        unlabelled: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Group the faces without a name into clusters (incremental; `--full` reclusters all,
    /// keeping ids by overlap). The algorithm is `[cluster]` in the config.
    Cluster {
        /// Recluster everything instead of adding new faces to existing clusters.
        #[arg(long)]
        full: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Clusters of unknown faces: list, show, name, merge, split.
    #[command(subcommand)]
    Clusters(super::clusters::ClustersCommand),
    /// Check the library: damaged pages, and faces stored twice by an older facelab (merged,
    /// keeping their names).
    Check {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export every face with its photo, box and names.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value = "json")]
        format: ExportFormat,
        /// Output file [default: standard output].
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// `facelab export --format`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// One JSON document.
    Json,
    /// Comma-separated values with a header line.
    Csv,
}

/// `facelab scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Folders to scan (recursively).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Re-detect every photo, not only those found by another detector.
    #[arg(long)]
    pub redetect: bool,
    /// Retry photos that failed before even if they have not changed.
    #[arg(long)]
    pub retry_failed: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `facelab people`.
#[derive(Debug, Subcommand)]
pub enum PeopleCommand {
    /// Everyone, with their number of named faces.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a person.
    Add {
        /// Name.
        name: String,
    },
    /// Rename a person; their faces keep the name.
    Rename {
        /// Current name.
        old: String,
        /// New name.
        new: String,
    },
    /// Move every face of FROM to INTO and remove FROM.
    Merge {
        /// The person that goes away.
        from: String,
        /// The person that stays.
        into: String,
    },
}

/// Runs a library command.
pub fn run(ctx: &RunContext, command: LibraryCommand) -> anyhow::Result<Outcome> {
    match command {
        LibraryCommand::Scan(a) => {
            let mut lib = open_library(ctx)?;
            let summary = scan_dirs(ctx, &mut lib, &a.dirs, a.redetect, a.retry_failed)?;
            print!("{}", walk::summary_text(&lib, &summary, a.json)?);
            Ok(Outcome::from_failures(summary.failures()))
        }
        LibraryCommand::People(c) => people(ctx, c),
        LibraryCommand::Tag { face, person } => {
            let mut lib = open_library(ctx)?;
            let added = lib.person(&person)?.is_none();
            let p = lib.confirm(face, &person, "user")?;
            if added {
                eprintln!("facelab: added a new person {:?}", p.name);
            }
            writeln!(std::io::stdout(), "face {face} is {}", p.name)?;
            Ok(Outcome::Success)
        }
        LibraryCommand::Untag { face } => {
            let mut lib = open_library(ctx)?;
            match lib.untag(face)? {
                Some(old) => writeln!(std::io::stdout(), "face {face} is no longer {old}")?,
                None => writeln!(std::io::stdout(), "face {face} had no name")?,
            }
            Ok(Outcome::Success)
        }
        LibraryCommand::ImportLabels { dir, json } => import_labels(ctx, &dir, json),
        LibraryCommand::Suggest { all, json } => suggest_cmd(ctx, all, json),
        LibraryCommand::Confirm { face, person } => {
            let mut lib = open_library(ctx)?;
            let person = pending_or(&lib, face, person)?;
            let p = lib.confirm(face, &person, "user")?;
            writeln!(std::io::stdout(), "face {face} is {}", p.name)?;
            Ok(Outcome::Success)
        }
        LibraryCommand::Reject { face, person } => {
            let mut lib = open_library(ctx)?;
            let person = pending_or(&lib, face, person)?;
            let p = lib.reject(face, &person)?;
            writeln!(
                std::io::stdout(),
                "face {face} is not {} (never suggested again)",
                p.name
            )?;
            Ok(Outcome::Success)
        }
        LibraryCommand::Faces {
            action: Some(c), ..
        } => super::xmp::faces_command(ctx, c),
        LibraryCommand::Faces {
            action: None,
            person,
            unlabelled,
            json,
        } => {
            let lib = open_library(ctx)?;
            let mut faces = lib.faces(person.as_deref())?;
            if unlabelled {
                faces.retain(|f| f.person.is_none());
            }
            let mut out = std::io::stdout().lock();
            if json {
                // Each face with its cluster under the active recognizer (null: in none), so
                // scripts can read the clustering.
                let member = match active_model(ctx) {
                    Ok(model) => clusters::membership(&lib, &model)?,
                    Err(_) => Default::default(),
                };
                let mut rows = serde_json::to_value(&faces)?;
                for r in rows.as_array_mut().into_iter().flatten() {
                    let id = r["id"].as_i64().and_then(|id| member.get(&id).copied());
                    r["cluster"] = serde_json::json!(id);
                }
                writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
            } else {
                let min_quality = ctx.config.library.min_quality;
                for f in &faces {
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
                    writeln!(
                        out,
                        "{}\t{}\t{:.0},{:.0} {:.0}x{:.0}\t{quality}\t{name}",
                        f.id, f.path, f.bbox[0], f.bbox[1], f.bbox[2], f.bbox[3]
                    )?;
                }
            }
            Ok(Outcome::Success)
        }
        LibraryCommand::Cluster { full, json } => {
            let model = active_model(ctx)?;
            let mut lib = open_library(ctx)?;
            let algo = &ctx.config.cluster;
            let min_quality = ctx.config.library.min_quality;
            // The recognizer's declared rule: the floor and fallback of threshold = "auto".
            let declared = prior(ctx)?.map(|p| p.default);
            let s = clusters::run_with(&mut lib, &model, algo, full, min_quality, declared)?;
            if json {
                writeln!(std::io::stdout(), "{}", serde_json::to_string_pretty(&s)?)?;
            } else {
                writeln!(
                    std::io::stdout(),
                    "{} clustering with {}: {} faces without a name, {} in {} clusters ({} joined existing clusters, {} new clusters, {} ids kept) in {:.2} s{}",
                    s.mode, s.algorithm, s.faces, s.clustered, s.clusters, s.joined, s.created, s.kept_ids, s.seconds,
                    below_note(s.below_min_quality, min_quality)
                )?;
                if let Some(t) = &s.threshold {
                    writeln!(std::io::stdout(), "threshold {t}")?;
                }
            }
            Ok(Outcome::Success)
        }
        LibraryCommand::Clusters(c) => super::clusters::run(ctx, c),
        LibraryCommand::Check { json } => {
            Ok(Outcome::from_failures(facelab_library::check::command(
                &library_path(ctx),
                ctx.config.library.busy_timeout_ms,
                json,
            )?))
        }
        LibraryCommand::Export { format, output } => {
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
    }
}

/// "; N faces below library.min_quality left out", or nothing.
fn below_note(n: usize, min_quality: facelab_engine::config::MinQuality) -> String {
    if n == 0 {
        return String::new();
    }
    format!(
        "; {n} faces below library.min_quality = {} left out (`facelab faces` lists them)",
        min_quality.value()
    )
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

fn pending_or(lib: &Library, face: i64, person: Option<String>) -> anyhow::Result<String> {
    match person {
        Some(p) => Ok(p),
        None => lib.suggestion(face)?.map(|(p, _)| p).ok_or_else(|| {
            anyhow::anyhow!(
                "face {face} has no pending suggestion (help: run `facelab suggest`, or name the person: `facelab confirm {face} NAME`)"
            )
        }),
    }
}

/// Scans `dirs` into `lib` with the configured pipeline.
pub fn scan_dirs(
    ctx: &RunContext,
    lib: &mut Library,
    dirs: &[PathBuf],
    redetect: bool,
    retry_failed: bool,
) -> anyhow::Result<Summary> {
    let config = &ctx.config;
    let req = walk::ScanRequest {
        config,
        dirs,
        redetect,
        retry_failed,
        detector_key: identity::detector_key(config)?,
        model: config
            .recognizer
            .as_ref()
            .map(|r| identity::embedding_key(config, r))
            .transpose()?,
    };
    walk::scan_folders(lib, &req, |n| open_for_scan(ctx, n), progress)
}

fn people(ctx: &RunContext, command: PeopleCommand) -> anyhow::Result<Outcome> {
    let mut lib = open_library(ctx)?;
    match command {
        PeopleCommand::List { json } => {
            let people = lib.people()?;
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&people)?)?;
            } else {
                for p in people {
                    writeln!(out, "{}\t{} faces", p.name, p.faces)?;
                }
            }
        }
        PeopleCommand::Add { name } => {
            let p = lib.add_person(&name)?;
            writeln!(std::io::stdout(), "added {}", p.name)?;
        }
        PeopleCommand::Rename { old, new } => {
            lib.rename_person(&old, &new)?;
            writeln!(std::io::stdout(), "renamed {old} to {new}")?;
        }
        PeopleCommand::Merge { from, into } => {
            let n = lib.merge_people(&from, &into)?;
            writeln!(
                std::io::stdout(),
                "merged {from} into {into} ({n} labels moved)"
            )?;
        }
    }
    Ok(Outcome::Success)
}

fn import_labels(ctx: &RunContext, dir: &Path, json: bool) -> anyhow::Result<Outcome> {
    let mut lib = open_library(ctx)?;
    let root = std::fs::canonicalize(dir).with_context(|| {
        format!(
            "{}: cannot read (help: give a folder with one sub-folder per person)",
            dir.display()
        )
    })?;
    let summary = scan_dirs(ctx, &mut lib, std::slice::from_ref(&root), false, false)?;
    let folders = walk::person_folders(&root, &scan_options(&ctx.config, false, false))?;
    let (mut labelled, mut no_face, mut kept, mut not_scanned) = (0usize, 0usize, 0usize, 0usize);
    let mut people = 0usize;
    for walk::PersonFolder { name, photos } in folders {
        let mut any = false;
        for file in photos {
            let Some(image) = lib.image_id(&file)? else {
                not_scanned += 1;
                continue;
            };
            let faces = lib.image_faces(image)?;
            let Some((face, _)) = faces.first() else {
                no_face += 1;
                continue;
            };
            let current = lib.person_of(*face)?;
            match current {
                Some(p) if !p.eq_ignore_ascii_case(&name) => {
                    kept += 1;
                    continue;
                }
                _ => {}
            }
            lib.confirm(*face, &name, "import")?;
            labelled += 1;
            any = true;
        }
        people += usize::from(any);
    }
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "scan": summary, "labelled": labelled, "people": people, "no_face": no_face,
                "kept_other_name": kept, "failed": summary.failed.len(),
            }))?
        )?;
    } else {
        writeln!(
            out,
            "named {labelled} faces of {people} people; {no_face} photos had no face, {kept} faces kept the different name they already had, {} photos failed",
            summary.failed.len() + not_scanned
        )?;
    }
    Ok(Outcome::from_failures(summary.failed.len()))
}

fn suggest_cmd(ctx: &RunContext, all: bool, json: bool) -> anyhow::Result<Outcome> {
    let model = active_model(ctx)?;
    let prior = prior(ctx)?;
    let mut lib = open_library(ctx)?;
    let min_quality = ctx.config.library.min_quality;
    let run = suggest::suggest(
        &mut lib,
        &model,
        prior,
        ctx.config.library.suggest_margin,
        min_quality,
    )?;
    let (suggestions, threshold) = (&run.suggestions, &run.threshold);
    let named = suggestions.iter().filter(|s| s.person.is_some()).count();
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "model": model, "threshold": threshold, "suggestions": suggestions,
                "min_quality": run.min_quality, "below_min_quality": run.below_min_quality,
                "margin": run.margin,
            }))?
        )?;
        return Ok(Outcome::Success);
    }
    for s in suggestions {
        match &s.person {
            Some(p) => writeln!(out, "{}\t{}\t{p}\t{:.3}", s.face, s.path, s.score)?,
            None if all => writeln!(
                out,
                "{}\t{}\tunknown\t{:.3}\t{}",
                s.face,
                s.path,
                s.score,
                s.reason.as_deref().unwrap_or("")
            )?,
            None => {}
        }
    }
    eprintln!(
        "facelab: {named} of {} faces without a name have a suggestion, {} are unknown; threshold {:.3} ({}{}), margin {:.4}{}",
        suggestions.len(),
        suggestions.len() - named,
        threshold.value,
        threshold.source,
        if threshold.source == "calibrated" {
            format!(
                " on {} own-person and {} other-person scores of your named faces",
                threshold.genuine, threshold.impostor
            )
        } else {
            String::new()
        },
        run.margin,
        below_note(run.below_min_quality, min_quality)
    );
    Ok(Outcome::Success)
}
