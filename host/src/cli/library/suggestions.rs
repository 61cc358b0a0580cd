//! Guessing names for unnamed faces: `suggest` and `cluster`.

use std::io::Write as _;

use facelab_engine::config::MinQuality;
use facelab_library::clusters;
use facelab_library::session::{
    active_models, note_unused_models, open_library, prior, Outcome, RunContext,
};
use facelab_library::suggest;

/// `facelab suggest`.
pub(super) fn suggest(ctx: &RunContext, all: bool, json: bool) -> anyhow::Result<Outcome> {
    let models = active_models(ctx)?;
    let prior = prior(ctx)?;
    let mut lib = open_library(ctx)?;
    note_unused_models(&lib, &models)?;
    let min_quality = ctx.config.library.min_quality;
    let run = suggest::suggest(
        &mut lib,
        &models,
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
                "model": models.key(), "models": models.members(), "threshold": threshold, "suggestions": suggestions,
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

/// `facelab cluster`.
pub(super) fn cluster(ctx: &RunContext, full: bool, json: bool) -> anyhow::Result<Outcome> {
    let models = active_models(ctx)?;
    let mut lib = open_library(ctx)?;
    note_unused_models(&lib, &models)?;
    let algo = &ctx.config.cluster;
    let min_quality = ctx.config.library.min_quality;
    // The recognizer's declared rule: the floor and fallback of threshold = "auto".
    let declared = prior(ctx)?.map(|p| p.default);
    let s = clusters::run_with(&mut lib, &models, algo, full, min_quality, declared)?;
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

/// "; N faces below library.min_quality left out", or nothing.
fn below_note(n: usize, min_quality: MinQuality) -> String {
    if n == 0 {
        return String::new();
    }
    format!(
        "; {n} faces below library.min_quality = {} left out (`facelab faces` lists them)",
        min_quality.value()
    )
}
