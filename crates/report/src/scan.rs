//! The scan task in `report.md` (a table per set, the ratios, the headline line) and in
//! `report.html` (photos per second as bars).

use std::fmt::Write as _;

use plotters::prelude::*;

use facelab_eval::bench::report::{
    Report, ScanHeadline, ScanResult, ScanSetResult, ScanSide, Spread,
};

/// `own size` or `long side ≤ N`.
fn variant(max_side: u32) -> String {
    if max_side == 0 {
        "own size".into()
    } else {
        format!("long side ≤ {max_side}")
    }
}

fn side_name(s: &ScanSide) -> String {
    match s.max_side {
        None => "facelab scan".into(),
        Some(m) => format!("script, {}", variant(m)),
    }
}

fn times(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}×")
    } else {
        "–".into()
    }
}

fn spread(s: &Spread, runs: usize) -> String {
    if runs > 1 {
        format!("{} ({:.2}–{:.2})", times(s.median), s.min, s.max)
    } else {
        times(s.median)
    }
}

/// One headline comparison as words: `camera 3.41× at long side ≤ 1280 (target 3×: met)`.
fn headline_words(h: &ScanHeadline) -> String {
    let mut text = format!(
        "{} {} at {}",
        h.set,
        times(h.photos_per_s_ratio),
        variant(h.max_side)
    );
    if let (Some(target), Some(met)) = (h.target_ratio, h.met) {
        let mut asks = vec![format!("≥ {target}×"), "faces ≥".to_owned()];
        if h.target_rss {
            asks.push("RSS ≤".into());
        }
        let _ = write!(
            text,
            " (target {}: {})",
            asks.join(", "),
            if met { "met" } else { "not met" }
        );
    }
    text
}

/// The headline line of each pipeline the scan task ran on (empty when it did not run). It
/// ends the headline table, so it is in `report.md` and in `docs/results.md`, which
/// `facelab bench` generates.
pub fn headline_lines(report: &Report) -> String {
    let mut s = String::new();
    for row in report.headline.iter().filter(|h| !h.scan.is_empty()) {
        let runs = report
            .tasks
            .scan
            .results
            .iter()
            .find(|r| r.pipeline == row.pipeline)
            .map(|r| r.runs)
            .unwrap_or(0);
        let sets: Vec<String> = row.scan.iter().map(headline_words).collect();
        let _ = writeln!(
            s,
            "\nScan speed, {}: facelab scan's photos/s ÷ the OpenCV-Python script's (median of {runs} run{}): {}.",
            row.pipeline,
            if runs == 1 { "" } else { "s" },
            sets.join("; ")
        );
    }
    s
}

/// One set: its photos, each side's measures, facelab ÷ each script variant, the headline,
/// facelab's time per stage and the notes.
fn set_section(s: &mut String, result: &ScanResult, set: &ScanSetResult) {
    let _ = writeln!(s, "### {}: {}\n", result.pipeline, set.set);
    if let Some(reason) = &set.skipped {
        let _ = writeln!(s, "skipped: {reason}\n");
        return;
    }
    if let Some(e) = &set.error {
        let _ = writeln!(s, "**failed:** {}\n", e.replace('\n', " "));
        return;
    }
    let _ = writeln!(
        s,
        "`{}`: {} photos{}{}.\n",
        set.folder,
        set.photos,
        if set.generated {
            ", camera size (made by make_camera_set.py)"
        } else {
            ""
        },
        set.taggable
            .map(|t| format!(", {t} taggable faces in the ground truth"))
            .unwrap_or_default()
    );
    sides_table(s, set);
    ratios_table(s, result, set);
    if let Some(h) = &set.headline {
        let _ = writeln!(s, "\nHeadline: {}.", headline_words(h));
    }
    if let Some(stages) = set.sides.first().and_then(|f| f.stage_seconds.as_ref()) {
        let parts: Vec<String> = stages.iter().map(|(k, v)| format!("{k} {v:.2}")).collect();
        let _ = writeln!(
            s,
            "\nfacelab's own time per stage (s, median): {}.",
            parts.join(", ")
        );
    }
    for note in &set.notes {
        let _ = writeln!(s, "\nNote: {note}");
    }
    s.push('\n');
}

/// Each side's measures (medians over runs; faces from the first run).
fn sides_table(s: &mut String, set: &ScanSetResult) {
    s.push_str("| side | photos / s | wall s | CPU s / photo | peak RSS MiB | faces found | taggable found | false positives |\n|---|---|---|---|---|---|---|---|\n");
    for side in &set.sides {
        let point = side.point;
        let _ = writeln!(
            s,
            "| {} | {:.2} | {:.1} | {:.3} | {:.0} | {} | {} | {} |",
            side_name(side),
            side.photos_per_s,
            side.wall_seconds,
            side.cpu_seconds_per_photo,
            side.peak_rss_mib,
            side.faces,
            point
                .map(|p| format!("{}/{}", p.found, p.taggable))
                .unwrap_or_else(|| "–".into()),
            point
                .map(|p| p.false_positives.to_string())
                .unwrap_or_else(|| "–".into()),
        );
    }
}

/// facelab ÷ each script variant: the median ratio (and its range over runs).
fn ratios_table(s: &mut String, result: &ScanResult, set: &ScanSetResult) {
    s.push_str("\n| facelab ÷ script | photos / s | CPU s / photo | peak RSS | faces found | taggable found |\n|---|---|---|---|---|---|\n");
    for r in &set.ratios {
        let _ = writeln!(
            s,
            "| {} | **{}** | {} | {} | {:+} | {} |",
            variant(r.max_side),
            spread(&r.photos_per_s, result.runs),
            spread(&r.cpu_per_photo, result.runs),
            spread(&r.peak_rss, result.runs),
            r.faces_difference,
            r.taggable_difference
                .map(|d| format!("{d:+}"))
                .unwrap_or_else(|| "–".into())
        );
    }
}

/// The task's section body (after its status line).
pub fn section(s: &mut String, report: &Report) {
    let results = &report.tasks.scan.results;
    if let Some(r) = results.first() {
        let _ = writeln!(
            s,
            "`facelab scan` (a new library each run) and {} (--threads {}, --score {}) on the same photos, in turn, {} run{}; each run is measured from outside the process: wall time from start to exit, CPU time (user + system) and peak RSS from `wait4`. Photos/s is the set's photos over the wall time, loading included. Ratios are facelab ÷ the script within each run, then the median (min–max over runs): above 1 for photos/s, below 1 for CPU and memory favour facelab. Faces found come from the first run; taggable faces (≥ 32 px tall, not invalid) are matched one-to-one at IoU ≥ 0.5, as the operating point.\n",
            r.script.as_deref().unwrap_or("the script"),
            r.threads,
            r.score,
            r.runs,
            if r.runs == 1 { "" } else { "s" }
        );
    }
    for r in results {
        for set in &r.sets {
            set_section(s, r, set);
        }
    }
}

/// Photos per second of every side, grouped by set, as SVG bars.
fn bars(groups: &[(String, Vec<(String, f64)>)]) -> Result<String, String> {
    let error = |e: &dyn std::fmt::Display| e.to_string();
    let top = groups
        .iter()
        .flat_map(|(_, b)| b.iter().map(|(_, v)| *v))
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.45;
    let width = groups
        .iter()
        .map(|(_, b)| b.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| error(&e))?;
        let names: Vec<String> = groups.iter().map(|(n, _)| n.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption("Scan speed", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(52)
            .build_cartesian_2d(0.0..groups.len() as f64, 0.0..top)
            .map_err(|e| error(&e))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(groups.len() * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - i as f64 - 0.5).abs() < 0.01 {
                    names.get(i).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("photos per second")
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| error(&e))?;
        let step = 0.8 / width as f64;
        for k in 0..width {
            let c = crate::palette::colour(k);
            let rects = groups.iter().enumerate().filter_map(|(g, (_, b))| {
                let (_, v) = b.get(k)?;
                let x = g as f64 + 0.1 + k as f64 * step;
                Some(Rectangle::new([(x, 0.0), (x + step * 0.9, *v)], c.filled()))
            });
            let label = groups
                .iter()
                .find_map(|(_, b)| b.get(k).map(|(n, _)| n.clone()))
                .unwrap_or_default();
            chart
                .draw_series(rects)
                .map_err(|e| error(&e))?
                .label(label)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .draw()
            .map_err(|e| error(&e))?;
        root.present().map_err(|e| error(&e))?;
    }
    Ok(svg)
}

/// The section's chart: photos per second of each side, per pipeline and set.
pub fn charts(report: &Report) -> Vec<(String, Result<String, String>)> {
    let groups: Vec<(String, Vec<(String, f64)>)> = report
        .tasks
        .scan
        .results
        .iter()
        .flat_map(|r| {
            let many = report.tasks.scan.results.len() > 1;
            r.sets.iter().filter(|s| !s.sides.is_empty()).map(move |s| {
                let name = if many {
                    format!("{} {}", r.pipeline, s.set)
                } else {
                    s.set.clone()
                };
                let bars = s
                    .sides
                    .iter()
                    .map(|d| (side_name(d), d.photos_per_s))
                    .collect();
                (name, bars)
            })
        })
        .collect();
    if groups.is_empty() {
        return Vec::new();
    }
    vec![(
        "Scan: photos per second of facelab scan and the script, per set".into(),
        bars(&groups),
    )]
}
