//! `facelab models ...`: the manifest's models, their cache, fetching and verification.

use std::io::Write;

use clap::Subcommand;

use super::JsonFlag;
use facelab_engine::ui::FetchBars;
use facelab_library::session::{Outcome, RunContext};
use facelab_models::FileState;

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

fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.0} kB", bytes as f64 / 1024.0)
    }
}

/// `facelab models ...`.
pub fn run(ctx: &RunContext, command: ModelsCommand) -> anyhow::Result<Outcome> {
    let store = ctx.store()?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match command {
        ModelsCommand::List(JsonFlag { json }) => {
            if json {
                let list: Vec<_> = store
                    .manifest
                    .models
                    .iter()
                    .map(|m| serde_json::json!({"id": m.id, "role": m.role, "licence": m.licence, "size": m.size(), "cached": store.is_cached(m), "runs_on": m.runs_on, "description": m.description}))
                    .collect();
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"manifest": store.manifest.origin, "cache_dir": store.settings.cache_dir, "models": list})
                    )?
                )?;
            } else {
                writeln!(
                    out,
                    "{:<24} {:<10} {:<10} {:>9} {:<6} RUNS ON",
                    "ID", "ROLE", "LICENCE", "SIZE", "CACHED"
                )?;
                for m in &store.manifest.models {
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
                        human_size(m.size()),
                        if store.is_cached(m) { "yes" } else { "no" }
                    )?;
                }
                writeln!(out, "\ncache: {}", store.settings.cache_dir.display())?;
            }
            Ok(Outcome::Success)
        }
        ModelsCommand::Fetch { ids, all, json } => {
            if ids.is_empty() && !all {
                anyhow::bail!("name the model ids to fetch, or pass --all (help: `facelab models list` shows the ids)");
            }
            let models: Vec<_> = if all {
                store.manifest.models.iter().collect()
            } else {
                ids.iter()
                    .map(|id| store.model(id))
                    .collect::<Result<_, _>>()?
            };
            let mut failed = 0;
            let mut report = Vec::new();
            for m in models {
                let bars = FetchBars::default();
                let result = store.fetch(m, &bars);
                drop(bars);
                match result {
                    Ok(paths) => {
                        if !json {
                            writeln!(
                                out,
                                "ok      {:<24} {} file(s), {} [{}]",
                                m.id,
                                paths.len(),
                                human_size(m.size()),
                                m.licence.class.name()
                            )?;
                        }
                        report.push(serde_json::json!({"id": m.id, "ok": true, "files": paths}));
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("facelab: {e}");
                        if !json {
                            writeln!(out, "FAILED  {}", m.id)?;
                        }
                        report.push(
                            serde_json::json!({"id": m.id, "ok": false, "error": e.to_string()}),
                        );
                    }
                }
            }
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            }
            Ok(Outcome::from_failures(failed))
        }
        ModelsCommand::Verify { ids, json } => {
            let models: Vec<_> = if ids.is_empty() {
                store
                    .manifest
                    .models
                    .iter()
                    .filter(|m| m.files.iter().any(|f| store.cached_path(m, f).exists()))
                    .collect()
            } else {
                ids.iter()
                    .map(|id| store.model(id))
                    .collect::<Result<_, _>>()?
            };
            let mut bad = 0;
            let mut report = Vec::new();
            if !json {
                writeln!(out, "{:<24} {:<44} STATE", "ID", "FILE")?;
            }
            for m in models {
                let states = store.verify(m);
                let corrupt = states
                    .iter()
                    .any(|(_, s)| matches!(s, FileState::Corrupt { .. }));
                for (file, state) in &states {
                    let shown = match state {
                        FileState::Ok => "ok".to_owned(),
                        FileState::Missing => "missing".to_owned(),
                        FileState::Corrupt { actual, size } => {
                            format!("CORRUPT ({size} bytes, sha256 {actual})")
                        }
                    };
                    if !json {
                        writeln!(out, "{:<24} {:<44} {shown}", m.id, file)?;
                    }
                }
                // A corrupt file is reported, removed and fetched again.
                let repaired = if corrupt {
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
                } else {
                    false
                };
                let missing = states.iter().any(|(_, s)| *s == FileState::Missing);
                if (corrupt && !repaired) || (missing && !ids.is_empty()) {
                    bad += 1;
                }
                report.push(serde_json::json!({"id": m.id, "files": states.iter().map(|(f, s)| serde_json::json!({"file": f, "result": s})).collect::<Vec<_>>(), "repaired": repaired}));
            }
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            }
            Ok(Outcome::from_failures(bad))
        }
        ModelsCommand::Info { id, json } => {
            let m = store.model(&id)?;
            let states = store.verify(m);
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"model": m, "cache": states.iter().map(|(f, s)| serde_json::json!({"file": f, "path": store.settings.cache_dir.join(&m.id).join(f), "result": s})).collect::<Vec<_>>()})
                    )?
                )?;
                return Ok(Outcome::Success);
            }
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
            for (f, (_, state)) in m.files.iter().zip(&states) {
                writeln!(
                    out,
                    "  file {} ({} bytes, sha256 {}): {:?}",
                    f.name, f.size, f.sha256, state
                )?;
                for s in &f.sources {
                    writeln!(out, "    source {s}")?;
                }
            }
            Ok(Outcome::Success)
        }
    }
}
