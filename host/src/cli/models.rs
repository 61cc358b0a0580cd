//! `facelab models ...`: the manifest's models, their cache, fetching and verification.
//!
//! Each subcommand builds one `Serialize` struct per output shape (`ModelList`,
//! `FetchEntry`, `VerifyEntry`, `ModelDetails`); `--json` prints it through `write_json`,
//! and the text printers read the same structs.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde::Serialize;

use super::JsonFlag;
use facelab_engine::ui::FetchBars;
use facelab_library::session::{Outcome, RunContext};
use facelab_models::manifest::Licence;
use facelab_models::{FetchError, FileState, Model, ModelStore, Role};

/// `facelab models ...`.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// A table of every model: id, role, licence class, size, cached, plugin kinds.
    List(JsonFlag),
    /// Fetch models into the cache from their sources, verifying each file's sha256.
    Fetch {
        /// Model ids.
        ids: Vec<String>,
        /// Fetch every model in the manifest.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Check cached files against their sha256; corrupt ones are fetched again.
    Verify {
        /// Model ids [default: every model with a file in the cache].
        ids: Vec<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Everything the manifest says about one model, and its cache state.
    Info {
        /// The model id.
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `facelab models ...`.
pub fn run(ctx: &RunContext, command: ModelsCommand) -> anyhow::Result<Outcome> {
    let store = ctx.store()?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match command {
        ModelsCommand::List(JsonFlag { json }) => list(&store, &mut out, json),
        ModelsCommand::Fetch { ids, all, json } => fetch(&store, &mut out, &ids, all, json),
        ModelsCommand::Verify { ids, json } => verify(&store, &mut out, &ids, json),
        ModelsCommand::Info { id, json } => info(&store, &mut out, &id, json),
    }
}

// ---------------------------------------------------------------------------------------
// Output shapes. Fields are declared in the order the earlier `json!` maps named the keys
// (the order they would print in with serde_json's `preserve_order`); this build prints
// them sorted, see `write_json`.

/// `models list --json`: the manifest, the cache folder and one row per model.
#[derive(Serialize)]
struct ModelList<'a> {
    manifest: &'a str,
    cache_dir: &'a Path,
    models: Vec<ModelRow<'a>>,
}

/// One model of `models list`.
#[derive(Serialize)]
struct ModelRow<'a> {
    id: &'a str,
    role: Role,
    licence: &'a Licence,
    /// Total bytes of its files.
    size: u64,
    /// Every file present with the right size (not hashed).
    cached: bool,
    runs_on: &'a [String],
    description: &'a str,
}

/// One model of `models fetch --json`: `files` when it is in the cache, else `error`.
#[derive(Serialize)]
struct FetchEntry<'a> {
    id: &'a str,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<Vec<PathBuf>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// One model of `models verify --json`.
#[derive(Serialize)]
struct VerifyEntry<'a> {
    id: &'a str,
    files: Vec<FileCheck>,
    /// Whether a corrupt file was fetched again and verified.
    repaired: bool,
}

/// One file of a [`VerifyEntry`].
#[derive(Serialize)]
struct FileCheck {
    file: String,
    result: FileState,
}

/// `models info --json`: the manifest entry and each file's cache state.
#[derive(Serialize)]
struct ModelDetails<'a> {
    model: &'a Model,
    cache: Vec<CachedFile>,
}

/// One file of a [`ModelDetails`], in manifest order.
#[derive(Serialize)]
struct CachedFile {
    file: String,
    path: PathBuf,
    result: FileState,
}

/// Writes `doc` as pretty JSON, one document per command.
///
/// It goes through `serde_json::Value` on purpose, as the `json!` maps this module used to
/// build did: serde_json is built without `preserve_order`, so every object (the manifest's
/// own types included) prints its keys sorted, and the manifest's `f32`s print as their
/// `f64` widening (`0.800000011920929`). Serialising the structs straight to text would
/// print declaration order and shortest `f32`s instead, a change for anyone reading or
/// diffing the output.
fn write_json(out: &mut impl Write, doc: &impl Serialize) -> anyhow::Result<()> {
    let value = serde_json::to_value(doc)?;
    writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    Ok(())
}

fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.0} kB", bytes as f64 / 1024.0)
    }
}

/// The models named by `ids`, in that order; the first unknown id is the error.
fn named<'a>(store: &'a ModelStore, ids: &[String]) -> Result<Vec<&'a Model>, FetchError> {
    ids.iter().map(|id| store.model(id)).collect()
}

// ---------------------------------------------------------------------------------------
// list

/// `models list`.
fn list(store: &ModelStore, out: &mut impl Write, json: bool) -> anyhow::Result<Outcome> {
    let doc = ModelList {
        manifest: &store.manifest.origin,
        cache_dir: &store.settings.cache_dir,
        models: store
            .manifest
            .models
            .iter()
            .map(|m| ModelRow {
                id: &m.id,
                role: m.role,
                licence: &m.licence,
                size: m.size(),
                cached: store.is_cached(m),
                runs_on: &m.runs_on,
                description: &m.description,
            })
            .collect(),
    };
    if json {
        write_json(out, &doc)?;
    } else {
        print_list(out, &doc)?;
    }
    Ok(Outcome::Success)
}

fn print_list(out: &mut impl Write, doc: &ModelList) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<24} {:<10} {:<10} {:>9} {:<6} RUNS ON",
        "ID", "ROLE", "LICENCE", "SIZE", "CACHED"
    )?;
    for m in &doc.models {
        let runs_on = if m.runs_on.is_empty() {
            "-".to_owned()
        } else {
            m.runs_on.join(", ")
        };
        writeln!(
            out,
            "{:<24} {:<10} {:<10} {:>9} {:<6} {runs_on}",
            m.id,
            m.role.name(),
            m.licence.class.name(),
            human_size(m.size),
            if m.cached { "yes" } else { "no" }
        )?;
    }
    writeln!(out, "\ncache: {}", doc.cache_dir.display())
}

// ---------------------------------------------------------------------------------------
// fetch

/// `models fetch`: each model in turn; a failure is reported and the rest still fetched.
fn fetch(
    store: &ModelStore,
    out: &mut impl Write,
    ids: &[String],
    all: bool,
    json: bool,
) -> anyhow::Result<Outcome> {
    if ids.is_empty() && !all {
        anyhow::bail!("name the model ids to fetch, or pass --all (help: `facelab models list` shows the ids)");
    }
    let models = if all {
        store.manifest.models.iter().collect()
    } else {
        named(store, ids)?
    };
    let mut failed = 0;
    let mut report = Vec::new();
    for m in models {
        let bars = FetchBars::default();
        let result = store.fetch(m, &bars);
        drop(bars);
        let entry = match result {
            Ok(paths) => FetchEntry {
                id: &m.id,
                ok: true,
                files: Some(paths),
                error: None,
            },
            Err(e) => {
                failed += 1;
                eprintln!("facelab: {e}");
                FetchEntry {
                    id: &m.id,
                    ok: false,
                    files: None,
                    error: Some(e.to_string()),
                }
            }
        };
        if !json {
            print_fetched(out, m, &entry)?;
        }
        report.push(entry);
    }
    if json {
        write_json(out, &report)?;
    }
    Ok(Outcome::from_failures(failed))
}

/// The line for one fetched (or failed) model.
fn print_fetched(out: &mut impl Write, m: &Model, entry: &FetchEntry) -> std::io::Result<()> {
    match &entry.files {
        Some(paths) => writeln!(
            out,
            "ok      {:<24} {} file(s), {} [{}]",
            entry.id,
            paths.len(),
            human_size(m.size()),
            m.licence.class.name()
        ),
        None => writeln!(out, "FAILED  {}", entry.id),
    }
}

// ---------------------------------------------------------------------------------------
// verify

/// `models verify`: hashes the cached files; a corrupt one is fetched again. Fails for a
/// corrupt file that could not be repaired, and for a missing file of a model named by id.
fn verify(
    store: &ModelStore,
    out: &mut impl Write,
    ids: &[String],
    json: bool,
) -> anyhow::Result<Outcome> {
    let models = if ids.is_empty() {
        store
            .manifest
            .models
            .iter()
            .filter(|m| m.files.iter().any(|f| store.cached_path(m, f).exists()))
            .collect()
    } else {
        named(store, ids)?
    };
    let mut bad = 0;
    let mut report = Vec::new();
    if !json {
        writeln!(out, "{:<24} {:<44} STATE", "ID", "FILE")?;
    }
    for m in models {
        let files: Vec<FileCheck> = store
            .verify(m)
            .into_iter()
            .map(|(file, result)| FileCheck { file, result })
            .collect();
        if !json {
            print_checks(out, &m.id, &files)?;
        }
        let corrupt = files
            .iter()
            .any(|c| matches!(c.result, FileState::Corrupt { .. }));
        let missing = files.iter().any(|c| c.result == FileState::Missing);
        let repaired = corrupt && repair(store, m);
        if (corrupt && !repaired) || (missing && !ids.is_empty()) {
            bad += 1;
        }
        report.push(VerifyEntry {
            id: &m.id,
            files,
            repaired,
        });
    }
    if json {
        write_json(out, &report)?;
    }
    Ok(Outcome::from_failures(bad))
}

/// Fetches a model with a corrupt file again (the store removes the corrupt file first);
/// whether that gave verified files.
fn repair(store: &ModelStore, m: &Model) -> bool {
    match store.fetch(m, &FetchBars::default()) {
        Ok(_) => {
            eprintln!(
                "facelab: {}: corrupt file(s) fetched again and verified",
                m.id
            );
            true
        }
        Err(e) => {
            eprintln!("facelab: {e}");
            false
        }
    }
}

/// The table rows of one model's files.
fn print_checks(out: &mut impl Write, id: &str, files: &[FileCheck]) -> std::io::Result<()> {
    for c in files {
        let shown = match &c.result {
            FileState::Ok => "ok".to_owned(),
            FileState::Missing => "missing".to_owned(),
            FileState::Corrupt { actual, size } => {
                format!("CORRUPT ({size} bytes, sha256 {actual})")
            }
        };
        writeln!(out, "{:<24} {:<44} {shown}", id, c.file)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// info

/// `models info`.
fn info(store: &ModelStore, out: &mut impl Write, id: &str, json: bool) -> anyhow::Result<Outcome> {
    let model = store.model(id)?;
    let cache = store
        .verify(model)
        .into_iter()
        .map(|(file, result)| CachedFile {
            path: store.settings.cache_dir.join(&model.id).join(&file),
            file,
            result,
        })
        .collect();
    let doc = ModelDetails { model, cache };
    if json {
        write_json(out, &doc)?;
    } else {
        print_info(out, &doc)?;
    }
    Ok(Outcome::Success)
}

fn print_info(out: &mut impl Write, doc: &ModelDetails) -> std::io::Result<()> {
    let m = doc.model;
    writeln!(out, "{} ({})\n  {}", m.id, m.role.name(), m.description)?;
    writeln!(
        out,
        "  licence:       {} — {}",
        m.licence.class.name(),
        m.licence.text
    )?;
    writeln!(
        out,
        "  runs on:       {}",
        if m.runs_on.is_empty() {
            "no plugin kind yet".to_owned()
        } else {
            m.runs_on.join(", ")
        }
    )?;
    writeln!(out, "  preprocessing: {}", m.preprocessing)?;
    let i = &m.input;
    writeln!(
        out,
        "  input:         {}x{} {}, mean {:?}, scale {}",
        i.width, i.height, i.colour, i.mean, i.scale
    )?;
    if let Some(t) = m.threshold {
        writeln!(
            out,
            "  threshold:     {:?} default {}, usable {}..{}",
            t.kind, t.default, t.min, t.max
        )?;
        if let (Some(from), Some(second)) = (t.verify_from, t.verify_second) {
            writeln!(
                out,
                "  second look:   candidates from {from}, kept at evidence {second}"
            )?;
        }
    }
    if let Some(rule) = &m.threshold_rule {
        writeln!(out, "  chosen by:     {rule}")?;
    }
    if let Some(e) = m.embedding {
        writeln!(
            out,
            "  embedding:     {}-D, {:?}, normalised: {}",
            e.dim, e.metric, e.normalized
        )?;
    }
    for (f, c) in m.files.iter().zip(&doc.cache) {
        writeln!(
            out,
            "  file {} ({} bytes, sha256 {}): {:?}",
            f.name, f.size, f.sha256, c.result
        )?;
        for s in &f.sources {
            writeln!(out, "    source {s}")?;
        }
    }
    Ok(())
}
