//! `facelab plugins`: the plugin libraries on the search path and the configured model's
//! licence.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::ModelJson;
use facelab_engine::plugins::{load, LoadedPlugin, SearchPath};
use facelab_library::session::{open_detector, Outcome, RunContext};

fn discover(search: &SearchPath) -> Vec<PathBuf> {
    let (prefix, suffix) = (
        format!("{}facelab_", std::env::consts::DLL_PREFIX),
        std::env::consts::DLL_SUFFIX,
    );
    let mut seen = std::collections::BTreeMap::new();
    for dir in &search.dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut names: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        names.sort();
        for path in names {
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            if name.starts_with(&prefix) && name.ends_with(suffix) && path.is_file() {
                seen.entry(name).or_insert(path);
            }
        }
    }
    seen.into_values().collect()
}

/// `facelab plugins`.
pub fn run(ctx: &RunContext, json: bool) -> anyhow::Result<Outcome> {
    let (loaded, mut failures) = load_all(ctx);
    // The configured detector: instantiating it is what reveals its model's licence.
    let detector = open_detector(ctx);
    let configured = match &detector {
        Ok(d) => Some(ModelJson::from(&d.info)),
        Err(e) => {
            failures.push(format!("configured detector: {e:#}"));
            None
        }
    };
    let out = std::io::stdout();
    let mut out = out.lock();
    if json {
        print_json(&mut out, &loaded, &configured, &failures)?;
    } else {
        print_table(&mut out, ctx, &loaded, &configured)?;
    }
    for f in &failures {
        eprintln!("facelab: {f}");
    }
    Ok(Outcome::from_failures(failures.len()))
}

/// Loads every plugin library on the search path: the loaded ones, and the messages of
/// those that failed.
fn load_all(ctx: &RunContext) -> (Vec<LoadedPlugin>, Vec<String>) {
    let (config, verbose) = (&ctx.config, ctx.verbose);
    let search = SearchPath::new(&config.plugins.search_path, Some(&config.dir()));
    let mut loaded: Vec<LoadedPlugin> = Vec::new();
    let mut failures = Vec::new();
    for path in discover(&search) {
        match load(&path) {
            Ok(p) => loaded.push(p),
            Err(e) => failures.push(if verbose { e.verbose() } else { e.to_string() }),
        }
    }
    (loaded, failures)
}

#[derive(Serialize)]
struct Kind {
    name: String,
    description: String,
}

#[derive(Serialize)]
struct PluginJson {
    name: String,
    version: String,
    path: String,
    detectors: Vec<Kind>,
    recognizers: Vec<Kind>,
    capabilities: Vec<String>,
}

fn kinds(v: &abi_stable::std_types::RVec<facelab_plugin_api::KindInfo>) -> Vec<Kind> {
    v.iter()
        .map(|k| Kind {
            name: k.name.to_string(),
            description: k.description.to_string(),
        })
        .collect()
}

/// `facelab plugins --json`.
fn print_json(
    out: &mut impl Write,
    loaded: &[LoadedPlugin],
    configured: &Option<ModelJson>,
    failures: &[String],
) -> anyhow::Result<()> {
    let list: Vec<_> = loaded
        .iter()
        .map(|p| PluginJson {
            name: p.info.name.to_string(),
            version: p.info.version.to_string(),
            path: p.path.display().to_string(),
            detectors: kinds(&p.info.detectors),
            recognizers: kinds(&p.info.recognizers),
            capabilities: p.info.capabilities.iter().map(|c| c.to_string()).collect(),
        })
        .collect();
    let doc = serde_json::json!({
        "abi_version": facelab_plugin_api::ABI_VERSION,
        "plugins": list,
        "configured_detector": configured,
        "errors": failures,
    });
    writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    Ok(())
}

/// `facelab plugins` as a table.
fn print_table(
    out: &mut impl Write,
    ctx: &RunContext,
    loaded: &[LoadedPlugin],
    configured: &Option<ModelJson>,
) -> anyhow::Result<()> {
    let config = &ctx.config;
    writeln!(
        out,
        "{:<12} {:<8} {:<10} {:<14} DESCRIPTION",
        "PLUGIN", "VERSION", "ROLE", "KIND"
    )?;
    for p in loaded {
        for (role, kinds) in [
            ("detector", &p.info.detectors),
            ("recognizer", &p.info.recognizers),
        ] {
            for k in kinds.iter() {
                writeln!(
                    out,
                    "{:<12} {:<8} {:<10} {:<14} {}",
                    p.info.name, p.info.version, role, k.name, k.description
                )?;
            }
        }
    }
    if let Some(m) = configured {
        writeln!(
            out,
            "\nconfigured detector: {} ({}), model {} [licence: {}]",
            config.detector.plugin, config.detector.kind, m.id, m.licence
        )?;
    }
    Ok(())
}
