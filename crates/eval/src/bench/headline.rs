//! The headline table: one row per pipeline that ran, its key figure from each task.

use super::report::{HeadlineRow, MeanSd, PipelineEntry, TaskResults};
use super::suite::Suite;

/// One headline row per pipeline that ran.
pub(super) fn rows(
    pipelines: &[PipelineEntry],
    tasks: &TaskResults,
    suite: &Suite,
) -> Vec<HeadlineRow> {
    let size = suite.tasks.speed.as_ref().map(|s| s.headline_size);
    pipelines
        .iter()
        .filter(|p| p.error.is_none())
        .map(|p| {
            let orl = tasks.orl.results.iter().find(|r| r.pipeline == p.name);
            let lfw = tasks.lfw.results.iter().find(|r| r.pipeline == p.name);
            let wider = tasks.wider.results.iter().find(|r| r.pipeline == p.name);
            let speed = tasks.speed.results.iter().find(|r| r.pipeline == p.name);
            let ap = |level: &str| {
                wider.and_then(|w| w.levels.iter().find(|l| l.level == level).map(|l| l.ap))
            };
            HeadlineRow {
                pipeline: p.name.clone(),
                research_only: p.research_only,
                orl_20: orl.and_then(|o| {
                    o.fractions
                        .iter()
                        .find(|f| (f.tagged - 0.2).abs() < 1e-9)
                        .map(|f| f.centroid)
                }),
                lfw: lfw.map(|l| MeanSd {
                    mean: l.accuracy,
                    sd: l.accuracy_sd,
                }),
                wider_easy: ap("easy"),
                wider_medium: ap("medium"),
                wider_hard: ap("hard"),
                ms_per_photo: speed.and_then(|s| {
                    s.detect
                        .iter()
                        .find(|d| Some(d.size) == size)
                        .map(|d| d.median_ms)
                }),
                ms_per_face: speed.and_then(|s| s.embed_median_ms),
                scan: tasks
                    .scan
                    .results
                    .iter()
                    .filter(|r| r.pipeline == p.name)
                    .flat_map(|r| r.sets.iter().filter_map(|s| s.headline.clone()))
                    .collect(),
            }
        })
        .collect()
}
