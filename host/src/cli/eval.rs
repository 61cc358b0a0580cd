//! `facelab eval-voc`, `eval-wider`, `eval-orl` and `eval-lfw`: one task of `facelab bench`
//! run on the configured pipeline. Each protocol has one implementation, in
//! `bench::tasks`; these commands only build a one-pipeline suite and print its result.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;

use facelab_eval::bench::report::{Report, Task};
use facelab_eval::bench::suite::{LfwTask, OrlTask, Suite, Tasks, VocTask, WiderTask};
use facelab_eval::bench::{run_suite, RunPlan};
use facelab_eval::operating::{choose, probe, Chosen, Truth};
use facelab_library::session::{require_recognizer, Outcome, RunContext};

/// `facelab eval-voc`.
#[derive(Debug, Args)]
pub struct EvalVocArgs {
    /// The imglab XML file with labelled boxes.
    pub xml: PathBuf,
    /// IoU needed to match a detection to a labelled face.
    #[arg(long, default_value_t = 0.5)]
    pub iou: f32,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `facelab eval-wider`.
#[derive(Debug, Args)]
pub struct EvalWiderArgs {
    /// The WIDER FACE folder (images/, wider_face_val_bbx_gt.txt, difficulty.txt).
    #[arg(default_value = "../shared/datasets/wider-face-val-mini")]
    pub root: PathBuf,
    /// Override a detector option for this run, e.g. `-o score_threshold=0.02` (the
    /// evaluation wants low-score detections for a full PR curve).
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Evaluate only the first N images.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print JSON (with the PR curves) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Instead of AP, choose the detector model's default threshold and verification
    /// settings by the stated rules (docs/detection.md) and print them for the manifest.
    #[arg(long, conflicts_with = "options")]
    pub choose_threshold: bool,
}

/// `facelab eval-orl`.
#[derive(Debug, Args)]
pub struct EvalOrlArgs {
    /// The ORL folder (sX/Y.pgm).
    #[arg(default_value = "../shared/datasets/orl")]
    pub root: PathBuf,
    /// Fractions of each subject's 10 images that are tagged.
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.2,0.5")]
    pub tagged: Vec<f64>,
    /// Seeded random splits per fraction.
    #[arg(long, default_value_t = 10)]
    pub splits: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `facelab eval-lfw`.
#[derive(Debug, Args)]
pub struct EvalLfwArgs {
    /// The LFW folder (pairs.txt, images/).
    #[arg(default_value = "../shared/datasets/lfw")]
    pub root: PathBuf,
    /// Print JSON (with the ROC curve).
    #[arg(long)]
    pub json: bool,
}

/// Parses `KEY=VALUE` overrides (values in TOML syntax; a bare word is a string).
fn parse_overrides(overrides: &[String]) -> anyhow::Result<toml::Table> {
    let mut table = toml::Table::new();
    for o in overrides {
        let (key, value) = o
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--option {o}: expected KEY=VALUE"))?;
        let value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_owned()));
        table.insert(key.trim().to_owned(), value);
    }
    Ok(table)
}

/// Runs `tasks` on the configured pipeline and returns the report.
fn run_one(ctx: &RunContext, tasks: Tasks, wider_options: toml::Table) -> anyhow::Result<Report> {
    let suite = Suite::single_pipeline(&ctx.config, tasks, wider_options);
    let plan = RunPlan {
        suite: &suite,
        // Task paths are the command's arguments: relative to the working folder.
        root: PathBuf::from("."),
        pipelines: &[],
        tasks: &[],
        cache: None,
        resume: false,
    };
    let (report, _) = run_suite(ctx, &plan)?;
    if let Some(e) = report.pipelines.iter().find_map(|p| p.error.as_ref()) {
        anyhow::bail!("{e}");
    }
    Ok(report)
}

/// The single result of a task, or why there is none (the data set is missing, or the
/// task failed: its reason was printed on stderr).
fn only<'a, R>(task: &'a Task<R>, root: &Path) -> anyhow::Result<&'a R> {
    task.results.first().ok_or_else(|| {
        anyhow::anyhow!(
            "{}: {}",
            root.display(),
            task.reason
                .as_deref()
                .unwrap_or("the task failed (see the messages above)")
        )
    })
}

/// Prints `result` with the pipeline's models as JSON.
fn print_json<R: Serialize>(report: &Report, result: &R) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct Doc<'a, R> {
        pipeline: &'a facelab_eval::bench::report::PipelineEntry,
        #[serde(flatten)]
        result: &'a R,
    }
    let doc = Doc {
        pipeline: &report.pipelines[0],
        result,
    };
    writeln!(std::io::stdout(), "{}", serde_json::to_string_pretty(&doc)?)?;
    Ok(())
}

fn models(report: &Report) -> String {
    let p = &report.pipelines[0];
    match &p.recognizer {
        Some(r) => format!("{} + {}", p.detector.model, r.model),
        None => format!(
            "{} ({}, {})",
            p.detector.model, p.detector.plugin, p.detector.kind
        ),
    }
}

fn num(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into())
}

/// `facelab eval-voc`.
pub fn voc(ctx: &RunContext, args: &EvalVocArgs) -> anyhow::Result<Outcome> {
    let tasks = Tasks {
        voc: Some(VocTask {
            enabled: true,
            path: args.xml.clone(),
            pipelines: None,
            iou: args.iou,
            labels: Vec::new(),
        }),
        ..Tasks::default()
    };
    let report = run_one(ctx, tasks, toml::Table::new())?;
    let r = only(&report.tasks.voc, &args.xml)?;
    if args.json {
        print_json(&report, r)?;
    } else {
        writeln!(
            std::io::stdout(),
            "{}: {} labelled, {} detected, {} matched at IoU >= {}\nrecall {:.3}  precision {:.3}",
            models(&report),
            r.labelled,
            r.detected,
            r.matched,
            args.iou,
            r.recall,
            r.precision,
        )?;
    }
    Ok(Outcome::from_failures(r.failed))
}

/// `facelab eval-wider`.
pub fn wider(ctx: &RunContext, args: &EvalWiderArgs) -> anyhow::Result<Outcome> {
    if args.choose_threshold {
        let chosen = choose_for_config(ctx, &args.root, args.limit)?;
        if args.json {
            serde_json::to_writer_pretty(std::io::stdout().lock(), &chosen)?;
            println!();
        } else {
            print_choice(&chosen)?;
        }
        return Ok(Outcome::from_failures(0));
    }
    let tasks = Tasks {
        wider: Some(WiderTask {
            enabled: true,
            path: args.root.clone(),
            pipelines: None,
            iou: 0.5,
            limit: args.limit,
        }),
        ..Tasks::default()
    };
    let report = run_one(ctx, tasks, parse_overrides(&args.options)?)?;
    let r = only(&report.tasks.wider, &args.root)?;
    if args.json {
        print_json(&report, r)?;
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{} on {} images of {}",
            models(&report),
            r.images,
            args.root.display()
        )?;
        for l in &r.levels {
            writeln!(out, "  {:<6} AP {:.3}  ({} faces)", l.level, l.ap, l.faces)?;
        }
        writeln!(out, "  median {} ms/photo", num(r.median_ms))?;
        if let Some(o) = &r.operating_point {
            let p = &o.point;
            writeln!(
                out,
                "at the config's own settings (threshold {}{}): {} of {} taggable faces found (recall {:.3}), {:.1} false positives per 100 photos, precision {:.3}",
                num(o.threshold),
                o.verify
                    .map(|v| format!(", second look from {} at evidence {}", v[0], v[1]))
                    .unwrap_or_default(),
                p.found,
                p.taggable,
                p.recall,
                p.false_per_100_photos,
                p.precision
            )?;
        }
        if let Some(rule) = &r.threshold_rule {
            writeln!(
                out,
                "threshold rule ({}): {}",
                rule.rule,
                rule.threshold
                    .map(|t| format!("{t:.2}"))
                    .unwrap_or_else(|| "none qualifies".into())
            )?;
        }
    }
    Ok(Outcome::from_failures(r.failed))
}

fn print_choice(c: &facelab_eval::operating::Chosen) -> anyhow::Result<()> {
    use facelab_eval::operating::{ACCEPT_MAX_FALSE_PER_100, VERIFY_MAX_FALSE_PER_100};
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} on {} photos, detections from score {}",
        c.model, c.photos, c.floor
    )?;
    let Some(choice) = &c.choice else {
        writeln!(
            out,
            "no threshold keeps false positives at or below {ACCEPT_MAX_FALSE_PER_100} per 100 photos"
        )?;
        return Ok(());
    };
    writeln!(out, "  threshold  recall  false/100 photos  precision")?;
    for (t, p) in choice
        .sweep
        .iter()
        .filter(|(t, _)| ((t * 100.0).round() as i32) % 5 == 0)
    {
        writeln!(
            out,
            "  {t:>9.2}  {:>6.3}  {:>16.1}  {:>9.3}",
            p.recall, p.false_per_100_photos, p.precision
        )?;
    }
    let a = &choice.accept_point;
    writeln!(
        out,
        "rule: the lowest threshold with at most {ACCEPT_MAX_FALSE_PER_100} false positives per 100 photos: {:.2} (recall {:.3}, {:.1} false per 100 photos)",
        choice.accept, a.recall, a.false_per_100_photos
    )?;
    match choice.verify {
        Some((from, second, p)) => {
            writeln!(
                out,
                "rule: the second look with the best recall at most {VERIFY_MAX_FALSE_PER_100} false per 100 photos: from {from:.2}, second score {second:.2} (recall {:.3}, {:.1} false per 100 photos, precision {:.3})",
                p.recall, p.false_per_100_photos, p.precision
            )?;
            writeln!(
                out,
                "manifest: default = {:.2}, verify_from = {from:.2}, verify_second = {second:.2}",
                choice.accept
            )?;
        }
        None => {
            writeln!(out, "rule: no second look finds more faces within {VERIFY_MAX_FALSE_PER_100} false per 100 photos")?;
            writeln!(out, "manifest: default = {:.2}", choice.accept)?;
        }
    }
    Ok(())
}

/// `facelab eval-orl`.
pub fn orl(ctx: &RunContext, args: &EvalOrlArgs) -> anyhow::Result<Outcome> {
    let tasks = Tasks {
        orl: Some(OrlTask {
            enabled: true,
            path: args.root.clone(),
            pipelines: None,
            tagged: args.tagged.clone(),
            splits: args.splits,
        }),
        ..Tasks::default()
    };
    require_recognizer(&ctx.config)?;
    let report = run_one(ctx, tasks, toml::Table::new())?;
    let r = only(&report.tasks.orl, &args.root)?;
    if let Some(e) = &r.error {
        anyhow::bail!("{}: {e}", args.root.display());
    }
    if args.json {
        print_json(&report, r)?;
    } else {
        let mut out = std::io::stdout().lock();
        let e = &r.embedding;
        writeln!(
            out,
            "ORL, {}, {} seeded splits ({} of {} photos without a detected face, embedded from the whole frame)",
            models(&report),
            r.splits,
            e.whole_frame,
            e.images
        )?;
        for f in &r.fractions {
            writeln!(
                out,
                "  {:>3.0}% tagged: nearest centroid {:.2}% ± {:.2}, 1-NN {:.2}% ± {:.2}",
                f.tagged * 100.0,
                f.centroid.mean * 100.0,
                f.centroid.sd * 100.0,
                f.knn.mean * 100.0,
                f.knn.sd * 100.0
            )?;
        }
        writeln!(out, "  median embed {} ms/face", num(e.median_embed_ms))?;
    }
    Ok(Outcome::Success)
}

/// `facelab eval-lfw`.
pub fn lfw(ctx: &RunContext, args: &EvalLfwArgs) -> anyhow::Result<Outcome> {
    let tasks = Tasks {
        lfw: Some(LfwTask {
            enabled: true,
            path: args.root.clone(),
            pipelines: None,
        }),
        ..Tasks::default()
    };
    require_recognizer(&ctx.config)?;
    let report = run_one(ctx, tasks, toml::Table::new())?;
    let r = only(&report.tasks.lfw, &args.root)?;
    if args.json {
        print_json(&report, r)?;
    } else {
        let e = &r.embedding;
        writeln!(
            std::io::stdout(),
            "LFW View 2, {}: accuracy {:.4} ± {:.4}, ROC AUC {:.4}, TAR@FAR=1e-3 {:.4}, threshold {:.3} {} ({} images, {} without a detected face, embedded from the whole frame; {} pairs unreadable); median embed {} ms/face",
            models(&report),
            r.accuracy,
            r.accuracy_sd,
            r.roc_auc,
            r.tar_at_far_1e3,
            r.threshold,
            r.metric,
            e.images,
            e.whole_frame,
            r.unreadable_pairs,
            num(e.median_embed_ms)
        )?;
    }
    Ok(Outcome::from_failures(r.unreadable_pairs))
}

/// Runs the configured detector over the WIDER set at `root` at the model's lowest usable
/// threshold, gives every face its second look, and chooses by the rules above.
fn choose_for_config(
    ctx: &RunContext,
    root: &std::path::Path,
    limit: Option<usize>,
) -> anyhow::Result<Chosen> {
    let mut set = facelab_eval::wider::WiderSet::load(root)?;
    if let Some(n) = limit {
        set.images.truncate(n);
    }
    let mut config = ctx.config.clone();
    let store = ctx.store()?;
    let model = store.manifest.get(&config.detector.model).cloned();
    let floor = model
        .as_ref()
        .and_then(|m| m.threshold)
        .map(|t| t.min)
        .unwrap_or(0.3);
    config.detector.options.insert(
        "score_threshold".into(),
        toml::Value::Float(f64::from(floor)),
    );
    config.detection.verify = false;
    let robust = config.detection;
    let mut detector = facelab_library::session::open_detector(&ctx.with_config(config))?;
    let paths: Vec<std::path::PathBuf> = set.images.iter().map(|i| i.path.clone()).collect();
    let bar = facelab_engine::ui::labelled_progress(paths.len(), "detecting, second looks");
    let probes = probe(
        &mut detector,
        &paths,
        ctx.config.images.max_pixels,
        robust.verify_context,
        robust.verify_size,
        &mut || bar.inc(1),
    )?;
    bar.finish_and_clear();
    let truths: Vec<Truth> = set.images.iter().map(Truth::wider).collect();
    Ok(Chosen {
        model: model
            .map(|m| m.id)
            .unwrap_or_else(|| detector.info.id.to_string()),
        floor,
        photos: paths.len(),
        choice: choose(&truths, &probes, floor),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_parse_as_toml_values_with_bare_strings() {
        let t = parse_overrides(&["score_threshold=0.02".into(), "colour=bgr".into()]).unwrap();
        assert_eq!(t["score_threshold"].as_float(), Some(0.02));
        assert_eq!(t["colour"].as_str(), Some("bgr"));
        assert!(parse_overrides(&["nokey".into()]).is_err());
    }
}
