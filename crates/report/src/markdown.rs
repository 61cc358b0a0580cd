//! `report.md`: the headline table first, then one table per task, the harness check, the
//! licences and the environment.

use std::fmt::Write as _;

use facelab_eval::bench::report::{MeanSd, Report, Status, Task};

/// `0.1234` as `0.123`, or `–` when absent.
fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "–".into(),
    }
}

/// A fraction as a percentage with its sd: `99.94 ± 0.13`.
fn pct(v: Option<MeanSd>) -> String {
    v.map(|m| format!("{:.2} ± {:.2}", m.mean * 100.0, m.sd * 100.0))
        .unwrap_or_else(|| "–".into())
}

/// An accuracy with its sd: `0.9733 ± 0.0061`.
fn acc(v: Option<MeanSd>) -> String {
    v.map(|m| format!("{:.4} ± {:.4}", m.mean, m.sd))
        .unwrap_or_else(|| "–".into())
}

/// The pipeline's name, marked when a model is research-only.
fn marked(report: &Report, pipeline: &str) -> String {
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

/// The headline table alone (printed after a run, and pasted into the README).
pub fn headline_table(report: &Report) -> String {
    let mut s = String::new();
    s.push_str("| pipeline | ORL 20% tagged | LFW accuracy | WIDER easy | WIDER medium | WIDER hard | ms / photo | ms / face |\n");
    s.push_str("|---|---|---|---|---|---|---|---|\n");
    for h in &report.headline {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
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

/// ORL faces found: images embedded from a detected face, of all, and the whole-frame
/// fallbacks.
fn found(e: &facelab_eval::bench::report::EmbedStats) -> String {
    let found = e.images.saturating_sub(e.whole_frame + e.failed);
    if e.whole_frame == 0 {
        format!("{found}/{}", e.images)
    } else {
        format!("{found}/{} ({} whole frame)", e.images, e.whole_frame)
    }
}

fn status_line<R>(s: &mut String, task: &Task<R>) -> bool {
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

/// The whole Markdown report.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let e = &r.environment;
    let _ = writeln!(s, "# facelab bench report\n");
    let _ = writeln!(
        s,
        "Suite `{}`, data `{}`, {} on {} ({} cores), {:.0} s{}.\n",
        r.suite,
        r.datasets_root,
        e.date,
        e.cpu_model.as_deref().unwrap_or("unknown CPU"),
        e.cores,
        r.wall_seconds,
        if r.resumed {
            ", resumed from the cache"
        } else {
            ""
        }
    );
    let size = r
        .headline
        .iter()
        .any(|h| h.ms_per_photo.is_some())
        .then(|| {
            r.tasks.speed.results.first().map(|s| {
                s.detect
                    .iter()
                    .map(|d| d.size.to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            })
        })
        .flatten();
    let _ = writeln!(s, "## Headline\n");
    s.push_str(&headline_table(r));
    let _ = writeln!(
        s,
        "\nORL: nearest class centroid, mean ± sd over seeded splits, %. LFW: View 2 10-fold accuracy ± sd. WIDER: AP at IoU 0.5 by the official rules. ms / photo: median detection time at the speed task's headline size (sizes timed: {}); ms / face: median embedding time of one face (alignment + forward).\n",
        size.unwrap_or_else(|| "none".into())
    );
    if !r.notices.is_empty() {
        let _ = writeln!(s, "## Notices\n");
        for n in &r.notices {
            let _ = writeln!(s, "- {n}");
        }
        s.push('\n');
    }

    let _ = writeln!(s, "## Pipelines\n");
    s.push_str("| pipeline | detector | recognizer | description |\n|---|---|---|---|\n");
    for p in &r.pipelines {
        let stage = |st: &facelab_eval::bench::report::StageEntry| {
            format!(
                "{} ({}:{}{}) [{}]",
                st.model,
                st.plugin,
                st.kind,
                st.landmarks
                    .as_ref()
                    .map(|l| format!(", {l} points"))
                    .unwrap_or_default(),
                st.licence_class
            )
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {}{} |",
            marked(r, &p.name),
            stage(&p.detector),
            p.recognizer
                .as_ref()
                .map(stage)
                .unwrap_or_else(|| "–".into()),
            p.description,
            p.error
                .as_ref()
                .map(|e| format!(" **could not run:** {e}"))
                .unwrap_or_default()
        );
    }

    let t = &r.tasks;
    let _ = writeln!(s, "\n## ORL identification\n");
    if status_line(&mut s, &t.orl) {
        s.push_str("| pipeline | tagged | nearest centroid % | 1-NN % | faces found | failed |\n|---|---|---|---|---|---|\n");
        for o in &t.orl.results {
            if let Some(e) = &o.error {
                let _ = writeln!(s, "| {} | – | error: {e} | | | |", o.pipeline);
            }
            for f in &o.fractions {
                let _ = writeln!(
                    s,
                    "| {} | {:.0}% ({}/subject) | {} | {} | {} | {} |",
                    marked(r, &o.pipeline),
                    f.tagged * 100.0,
                    f.tagged_per_subject,
                    pct(Some(f.centroid)),
                    pct(Some(f.knn)),
                    found(&o.embedding),
                    o.embedding.failed
                );
            }
        }
        let splits = t.orl.results.first().map(|o| o.splits).unwrap_or(0);
        let _ = writeln!(s, "\n{splits} seeded splits (seeds 0..{splits}) per fraction; cosine similarity. digiKam's 2019 engine reached 90% (96% with a better detector) at 20% tagged.");
    }

    let _ = writeln!(s, "\n## LFW View 2 verification\n");
    if status_line(&mut s, &t.lfw) {
        s.push_str("| pipeline | accuracy | ROC AUC | TAR @ FAR 1e-3 | threshold | images | whole frame | unreadable pairs |\n|---|---|---|---|---|---|---|---|\n");
        for l in &t.lfw.results {
            let _ = writeln!(
                s,
                "| {} | {:.4} ± {:.4} | {:.4} | {:.4} | {:.3} {} | {} | {} | {} |",
                marked(r, &l.pipeline),
                l.accuracy,
                l.accuracy_sd,
                l.roc_auc,
                l.tar_at_far_1e3,
                l.threshold,
                l.metric,
                l.embedding.images,
                l.embedding.whole_frame,
                l.unreadable_pairs
            );
        }
        s.push_str("\nThreshold chosen on 9 folds, tested on the 10th; the threshold shown is the one chosen on all 10, in the metric the model declares (cosine similarity, or euclidean distance for dlib). Images where the detector found no face are embedded from the whole frame.\n");
    }

    let _ = writeln!(s, "\n## WIDER FACE\n");
    if status_line(&mut s, &t.wider) {
        s.push_str("| pipeline | images | easy AP | medium AP | hard AP | faces (e/m/h) | detector options | median ms |\n|---|---|---|---|---|---|---|---|\n");
        for w in &t.wider.results {
            let ap = |i: usize| num(w.levels.get(i).map(|l| l.ap), 3);
            let faces: Vec<String> = w.levels.iter().map(|l| l.faces.to_string()).collect();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | `{}` | {} |",
                marked(r, &w.pipeline),
                w.images,
                ap(0),
                ap(1),
                ap(2),
                faces.join("/"),
                w.options,
                num(w.median_ms, 1)
            );
        }
        s.push_str("\nOfficial rules: boxes outside a level are ignored, scores normalised over the run, the PR curve sampled at 1,000 thresholds, IoU ≥ 0.5. The median time is at the evaluation's low score threshold; the speed task is the speed reference. PR curves are in report.html, with each pipeline's operating point marked.\n");
        s.push_str("\n**At each pipeline's own settings** (what a user gets): taggable faces are labelled boxes ≥ 32 px tall and not invalid, found at IoU ≥ 0.5 (one detection each); a false positive overlaps no labelled box of any size at IoU ≥ 0.3; precision is the share of detections that are not false positives.\n\n");
        s.push_str("| pipeline | threshold | second look (from, score, context, size) | taggable found | recall | false / 100 photos | precision | checked → kept | median ms |\n|---|---|---|---|---|---|---|---|---|\n");
        for w in &t.wider.results {
            let Some(o) = &w.operating_point else {
                continue;
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {}/{} | {:.3} | {:.1} | {:.3} | {} → {} | {} |",
                marked(r, &w.pipeline),
                num(o.threshold, 2),
                o.verify
                    .map(|v| format!("{}, {}, {}, {}", v[0], v[1], v[2], v[3]))
                    .unwrap_or_else(|| "off".into()),
                o.point.found,
                o.point.taggable,
                o.point.recall,
                o.point.false_per_100_photos,
                o.point.precision,
                o.verified.checked,
                o.verified.confirmed,
                num(o.median_ms, 1)
            );
        }
        for w in &t.wider.results {
            if let Some(rule) = &w.threshold_rule {
                let _ = writeln!(
                    s,
                    "\n{}: default-threshold rule, {}: {}",
                    w.pipeline,
                    rule.rule,
                    match (rule.threshold, rule.point) {
                        (Some(th), Some(p)) => format!(
                            "{th:.2} (recall {:.3}, {:.1} false per 100 photos, without a second look)",
                            p.recall, p.false_per_100_photos
                        ),
                        _ => "no threshold qualifies".into(),
                    }
                );
            }
        }
    }

    let _ = writeln!(s, "\n## Labelled group photos\n");
    if status_line(&mut s, &t.voc) {
        s.push_str("| pipeline | set | labelled | detected | matched | recall | precision | taggable found | false / 100 photos |\n|---|---|---|---|---|---|---|---|---|\n");
        for v in &t.voc.results {
            let o = &v.operating_point;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {:.3} | {:.3} | {}/{} | {:.1} |",
                marked(r, &v.pipeline),
                v.set,
                v.labelled,
                v.detected,
                v.matched,
                v.recall,
                v.precision,
                o.found,
                o.taggable,
                o.false_per_100_photos
            );
        }
        s.push_str("\nAt each pipeline's own settings. voc-groups: dlib's labels; sprint and bbt: benches/labels/samples.xml (faces a person would tag, reviewed by eye; see its README). Recall and precision count every labelled face, one-to-one at the task's IoU; taggable faces are those ≥ 32 px and not ignored.\n");
    }

    let _ = writeln!(s, "\n## Clustering (LFW people with enough images)\n");
    if status_line(&mut s, &t.clustering) {
        for c in &t.clustering.results {
            let _ = writeln!(
                s,
                "{}, {}: {} faces of {} people clustered; {} photos without a detected face left out.\n",
                c.pipeline, c.set, c.faces, c.identities, c.without_face
            );
        }
        s.push_str("| pipeline | set | method | threshold | pairwise P / R / F | BCubed P / R / F | clusters (true) | noise | ms |\n|---|---|---|---|---|---|---|---|---|\n");
        for c in &t.clustering.results {
            for m in &c.methods {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {:.3} / {:.3} / **{:.3}** | {:.3} / {:.3} / **{:.3}** | {} ({}) | {} | {:.0} |",
                    marked(r, &c.pipeline),
                    c.set,
                    m.method,
                    m.threshold.map(|t| format!("{t:.3}")).unwrap_or_else(|| "-".into()),
                    m.pairwise.precision,
                    m.pairwise.recall,
                    m.pairwise.f,
                    m.bcubed.precision,
                    m.bcubed.recall,
                    m.bcubed.f,
                    m.clusters,
                    c.identities,
                    m.noise,
                    m.ms
                );
            }
        }
        let worst = facelab_eval::bench::clustering::worst(&t.clustering.results);
        if worst.iter().any(|w| w.sets > 1) {
            s.push_str("\nThe worst set of each method (the same parameters on every set; BCubed):\n\n| pipeline | method | sets | worst precision | worst recall | worst F |\n|---|---|---|---|---|---|\n");
            for w in &worst {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {:.3} ({}) | {:.3} ({}) | **{:.3}** ({}) |",
                    marked(r, &w.pipeline),
                    w.method,
                    w.sets,
                    w.precision.0,
                    w.precision.1,
                    w.recall.0,
                    w.recall.1,
                    w.f.0,
                    w.f.1
                );
            }
        }
        let gated: Vec<_> = t
            .clustering
            .results
            .iter()
            .flat_map(|c| c.methods.iter().map(move |m| (c, m)))
            .filter_map(|(c, m)| m.quality_gate.as_ref().map(|g| (c, m, g)))
            .collect();
        if !gated.is_empty() {
            s.push_str("\nWith the faces below `[library] min_quality` left out, as `facelab cluster` does. \"All faces\" counts each face left out as a cluster of its own (what a user sees), so it compares with the BCubed F above.\n\n");
            s.push_str("| pipeline | method | min_quality | faces left out | pairwise P / R / F | BCubed P / R / F | BCubed F, all faces | clusters |\n|---|---|---|---|---|---|---|---|\n");
            for (c, m, g) in gated {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} of {} | {:.3} / {:.3} / **{:.3}** | {:.3} / {:.3} / **{:.3}** | {:.3} | {} |",
                    marked(r, &c.pipeline),
                    m.method,
                    g.min_quality,
                    g.excluded,
                    c.faces,
                    g.pairwise.precision,
                    g.pairwise.recall,
                    g.pairwise.f,
                    g.bcubed.precision,
                    g.bcubed.recall,
                    g.bcubed.f,
                    g.bcubed_all.f,
                    g.clusters
                );
            }
        }
    }

    let _ = writeln!(s, "\n## Speed\n");
    if status_line(&mut s, &t.speed) {
        s.push_str("| pipeline | load ms (plugins / detector / recognizer) | detection ms median (p90) per size | ms / face median (p90) | photos / s end to end | peak RSS MiB |\n|---|---|---|---|---|---|\n");
        for p in &t.speed.results {
            let sizes: Vec<String> = p
                .detect
                .iter()
                .map(|d| format!("{} px: {:.1} ({:.1})", d.size, d.median_ms, d.p90_ms))
                .collect();
            let _ = writeln!(
                s,
                "| {} | {:.0} / {:.0} / {} | {} | {} ({}) | {:.2} | {} |",
                marked(r, &p.pipeline),
                p.load.plugins_ms,
                p.load.detector_ms,
                num(p.load.recognizer_ms, 0),
                sizes.join("; "),
                num(p.embed_median_ms, 1),
                num(p.embed_p90_ms, 1),
                p.end_to_end_photos_per_s,
                num(p.peak_rss_mib, 0)
            );
        }
        let photos = t.speed.results.first().map(|p| p.photos).unwrap_or(0);
        let _ = writeln!(s, "\n{photos} photos, each resized to every size; one warm-up run per photo and size, then the timed runs. End to end: decode + detect + embed every face at the photos' own size. Peak RSS: the process's `VmHWM` over loading the pipeline and this task (reset before each pipeline, after the previous pipeline's memory went back to the OS); the accuracy tasks run after it, at other settings.");
    }

    let _ = writeln!(
        s,
        "\n## Scan speed: facelab scan beside the OpenCV-Python script\n"
    );
    if status_line(&mut s, &t.scan) {
        crate::scan::section(&mut s, r);
    }

    let _ = writeln!(s, "\n## Harness check\n");
    if r.harness_check.is_empty() {
        s.push_str("No task with a published counterpart ran.\n");
    } else {
        s.push_str("| pipeline | metric | measured | published | deviation | source and comparability |\n|---|---|---|---|---|---|\n");
        for h in &r.harness_check {
            let _ = writeln!(
                s,
                "| {} | {} | {:.4} | {:.4} | {:+.4} | {} |",
                h.pipeline, h.metric, h.measured, h.published, h.deviation, h.note
            );
        }
    }

    let _ = writeln!(s, "\n## Models and licences\n");
    s.push_str("| model | role | licence class | licence | backend | sha256 |\n|---|---|---|---|---|---|\n");
    for m in &r.models {
        let hashes: Vec<String> = m
            .files
            .iter()
            .map(|f| format!("{}: `{}`", f.name, f.sha256))
            .collect();
        let class = if m.licence_class == "research" {
            "**research only**".to_owned()
        } else {
            m.licence_class.clone()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            m.id,
            m.role,
            class,
            m.licence_text.as_deref().unwrap_or("–"),
            m.backend.as_deref().unwrap_or("–"),
            hashes.join("<br>")
        );
    }

    let _ = writeln!(s, "\n## Environment\n");
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".into());
    let _ = writeln!(s, "```");
    let _ = writeln!(s, "date         {}", e.date);
    let _ = writeln!(s, "cpu          {}", opt(&e.cpu_model));
    let _ = writeln!(s, "cores        {}", e.cores);
    let _ = writeln!(s, "os           {}", opt(&e.os));
    let _ = writeln!(s, "opencv       {}", opt(&e.opencv_version));
    let _ = writeln!(s, "onnxruntime  {}", opt(&e.onnxruntime_version));
    let _ = writeln!(
        s,
        "git commit   {}{}",
        opt(&e.git_commit),
        if e.git_dirty == Some(true) {
            " (with uncommitted changes)"
        } else {
            ""
        }
    );
    let _ = writeln!(s, "facelab      {}", e.facelab_version);
    let _ = writeln!(s, "```");
    s
}
