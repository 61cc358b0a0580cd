//! `report.md`: the headline table first, then one table per task, the harness check, the
//! licences and the environment. Each section is its own function ([`sections`]); the
//! results page ([`crate::results`]) reuses them.

pub mod sections;
mod tasks;

use std::fmt::Write as _;

use facelab_eval::bench::report::{EmbedStats, MeanSd, Report, Status, Task};

/// `0.1234` as `0.123`, or `–` when absent.
pub(crate) fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "–".into(),
    }
}

/// A fraction as a percentage with its sd: `99.94 ± 0.13`.
pub(crate) fn pct(v: Option<MeanSd>) -> String {
    v.map(|m| format!("{:.2} ± {:.2}", m.mean * 100.0, m.sd * 100.0))
        .unwrap_or_else(|| "–".into())
}

/// An accuracy with its sd: `0.9733 ± 0.0061`.
pub(crate) fn acc(v: Option<MeanSd>) -> String {
    v.map(|m| format!("{:.4} ± {:.4}", m.mean, m.sd))
        .unwrap_or_else(|| "–".into())
}

/// The pipeline's name, marked when a model is research-only.
pub(crate) fn marked(report: &Report, pipeline: &str) -> String {
    let research = report
        .pipelines
        .iter()
        .any(|p| p.name == pipeline && p.research_only);
    if research {
        format!("{pipeline} †")
    } else {
        pipeline.to_owned()
    }
}

/// ORL faces found: images embedded from a detected face, of all, and the whole-frame
/// fallbacks.
pub(crate) fn found(e: &EmbedStats) -> String {
    let found = e.images.saturating_sub(e.whole_frame + e.failed);
    if e.whole_frame == 0 {
        format!("{found}/{}", e.images)
    } else {
        format!("{found}/{} ({} whole frame)", e.images, e.whole_frame)
    }
}

/// The task's data set when it ran (true: its tables follow), else why not (false).
pub(crate) fn status_line<R>(s: &mut String, task: &Task<R>) -> bool {
    match task.status {
        Status::Ran => {
            if let Some(d) = &task.dataset {
                let _ = writeln!(s, "Data: `{d}`.\n");
            }
            true
        }
        Status::Skipped => {
            let _ = writeln!(
                s,
                "skipped: {}\n",
                task.reason.as_deref().unwrap_or("no reason given")
            );
            false
        }
        Status::Off => {
            s.push_str("Not in this suite.\n\n");
            false
        }
    }
}

/// The headline table alone: printed after a run, and the top of `docs/results.md`
/// ([`crate::results`]).
pub fn headline_table(report: &Report) -> String {
    let mut s = String::new();
    // The naming column, when the naming task ran.
    let naming = &report.tasks.naming.results;
    let (named_header, named_rule) = if naming.is_empty() {
        ("", "")
    } else {
        (" named right / wrong / strangers unknown |", "---|")
    };
    let _ = writeln!(
        s,
        "| pipeline | ORL 20% tagged | LFW accuracy |{named_header} WIDER easy | WIDER medium | WIDER hard | ms / photo | ms / face |"
    );
    let _ = writeln!(s, "|---|---|---|{named_rule}---|---|---|---|---|");
    for h in &report.headline {
        let named = if naming.is_empty() {
            String::new()
        } else {
            let n = naming.iter().find(|n| n.pipeline == h.pipeline);
            format!(
                " {} |",
                n.map(|n| format!("{} / {} / {}", n.right, n.wrong, n.strangers_unknown))
                    .unwrap_or_else(|| "–".into())
            )
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} |{named} {} | {} | {} | {} | {} |",
            marked(report, &h.pipeline),
            pct(h.orl_20),
            acc(h.lfw),
            num(h.wider_easy, 3),
            num(h.wider_medium, 3),
            num(h.wider_hard, 3),
            num(h.ms_per_photo, 1),
            num(h.ms_per_face, 1)
        );
    }
    if report.pipelines.iter().any(|p| p.research_only) {
        s.push_str("\n† a model of this pipeline is licensed for non-commercial research only.\n");
    }
    s.push_str(&crate::scan::headline_lines(report));
    s
}

/// The whole Markdown report: the title, the headline, the notices, the pipelines, then
/// each of [`sections::ALL`] in turn.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    sections::title(&mut s, r);
    let _ = writeln!(s, "## Headline\n");
    s.push_str(&headline_table(r));
    sections::headline_legend(&mut s, r);
    sections::notices(&mut s, r);
    let _ = writeln!(s, "## Pipelines\n");
    sections::pipelines(&mut s, r);
    for section in sections::ALL {
        section.write(&mut s, r, "##");
    }
    s
}
