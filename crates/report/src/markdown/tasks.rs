//! The task sections' bodies: the status line, then each task's tables and what they
//! measure. [`super::sections`] names them ([`super::sections::ORL`], ...).

use std::fmt::Write as _;

use facelab_eval::bench::report::{ClusteringResult, Report};

use super::{found, marked, num, pct, status_line};

/// ORL: accuracy per tagged fraction, nearest centroid and 1-NN, with the faces found.
pub(super) fn orl(s: &mut String, r: &Report) {
    let task = &r.tasks.orl;
    if !status_line(s, task) {
        return;
    }
    s.push_str("| pipeline | tagged | nearest centroid % | 1-NN % | faces found | failed |\n|---|---|---|---|---|---|\n");
    for o in &task.results {
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
    let splits = task.results.first().map(|o| o.splits).unwrap_or(0);
    let _ = writeln!(s, "\n{splits} seeded splits (seeds 0..{splits}) per fraction; cosine similarity. digiKam's 2019 engine reached 90% (96% with a better detector) at 20% tagged.");
}

/// LFW View 2: 10-fold accuracy, ROC AUC, TAR at FAR 1e-3 and the threshold.
pub(super) fn lfw(s: &mut String, r: &Report) {
    if !status_line(s, &r.tasks.lfw) {
        return;
    }
    s.push_str("| pipeline | accuracy | ROC AUC | TAR @ FAR 1e-3 | threshold | images | whole frame | unreadable pairs |\n|---|---|---|---|---|---|---|---|\n");
    for l in &r.tasks.lfw.results {
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

/// WIDER FACE: AP per level, the operating point, the default-threshold rule.
pub(super) fn wider(s: &mut String, r: &Report) {
    if !status_line(s, &r.tasks.wider) {
        return;
    }
    wider_ap(s, r);
    wider_operating_points(s, r);
    wider_threshold_rules(s, r);
}

/// AP per level by the official rules.
fn wider_ap(s: &mut String, r: &Report) {
    s.push_str("| pipeline | images | easy AP | medium AP | hard AP | faces (e/m/h) | detector options | median ms |\n|---|---|---|---|---|---|---|---|\n");
    for w in &r.tasks.wider.results {
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
}

/// What a user gets at each pipeline's own settings.
fn wider_operating_points(s: &mut String, r: &Report) {
    s.push_str("\n**At each pipeline's own settings** (what a user gets): taggable faces are labelled boxes ≥ 32 px tall and not invalid, found at IoU ≥ 0.5 (one detection each); a false positive overlaps no labelled box of any size at IoU ≥ 0.3; precision is the share of detections that are not false positives.\n\n");
    s.push_str("| pipeline | threshold | second look (from, score, context, size) | taggable found | recall | false / 100 photos | precision | checked → kept | median ms |\n|---|---|---|---|---|---|---|---|---|\n");
    for w in &r.tasks.wider.results {
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
}

/// The default-threshold rule on each run's detections, one line per pipeline.
fn wider_threshold_rules(s: &mut String, r: &Report) {
    for w in &r.tasks.wider.results {
        let Some(rule) = &w.threshold_rule else {
            continue;
        };
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

/// The labelled group photos at each pipeline's own settings.
pub(super) fn voc(s: &mut String, r: &Report) {
    if !status_line(s, &r.tasks.voc) {
        return;
    }
    s.push_str("| pipeline | set | labelled | detected | matched | recall | precision | taggable found | false / 100 photos |\n|---|---|---|---|---|---|---|---|---|\n");
    for v in &r.tasks.voc.results {
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

/// Clustering: every method on every set, the worst set, the quality gate.
pub(super) fn clustering(s: &mut String, r: &Report) {
    if !status_line(s, &r.tasks.clustering) {
        return;
    }
    clustering_methods(s, r);
    clustering_worst(s, r);
    clustering_gated(s, r);
    clustering_merges(s, r);
}

/// Each set's faces, then every method on every set.
fn clustering_methods(s: &mut String, r: &Report) {
    let results = &r.tasks.clustering.results;
    for c in results {
        let _ = writeln!(
            s,
            "{}, {}: {} faces of {} people clustered; {} photos without a detected face left out.\n",
            c.pipeline,
            set_name(c),
            c.faces,
            c.identities,
            c.without_face
        );
    }
    s.push_str("| pipeline | set | method | threshold | pairwise P / R / F | BCubed P / R / F | clusters (true) | noise | ms |\n|---|---|---|---|---|---|---|---|---|\n");
    for c in results {
        for m in &c.methods {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.3} / {:.3} / **{:.3}** | {:.3} / {:.3} / **{:.3}** | {} ({}) | {} | {:.0} |",
                marked(r, &c.pipeline),
                set_name(c),
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
}

/// A set's name as the tables show it: a held-out check says so.
fn set_name(c: &ClusteringResult) -> String {
    if c.check {
        format!("{} (held-out check)", c.set)
    } else {
        c.set.clone()
    }
}

/// The worst set of each method, when a method ran on more than one set.
fn clustering_worst(s: &mut String, r: &Report) {
    use facelab_eval::bench::clustering::{worst, PRECISION_FLOOR};
    let worst = worst(&r.tasks.clustering.results);
    if !worst.iter().any(|w| w.sets > 1) {
        return;
    }
    let _ = write!(
        s,
        "\nThe worst set of each method (the same parameters on every set; BCubed; held-out checks take no part). Safe F: the lowest F, counting a set where precision fell below {PRECISION_FLOOR} as 0.\n\n| pipeline | method | sets | worst precision | worst recall | worst F | worst safe F |\n|---|---|---|---|---|---|---|\n"
    );
    for w in &worst {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.3} ({}) | {:.3} ({}) | **{:.3}** ({}) | {:.3} ({}) |",
            marked(r, &w.pipeline),
            w.method,
            w.sets,
            w.precision.0,
            w.precision.1,
            w.recall.0,
            w.recall.1,
            w.f.0,
            w.f.1,
            w.f_safe.0,
            w.f_safe.1
        );
    }
}

/// The methods again with the faces below `[library] min_quality` left out.
fn clustering_gated(s: &mut String, r: &Report) {
    let gated: Vec<_> = r
        .tasks
        .clustering
        .results
        .iter()
        .flat_map(|c| c.methods.iter().map(move |m| (c, m)))
        .filter_map(|(c, m)| m.quality_gate.as_ref().map(|g| (c, m, g)))
        .collect();
    if gated.is_empty() {
        return;
    }
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

/// What `clusters suggest-merges` proposes on each clustering, and the scores after merging.
fn clustering_merges(s: &mut String, r: &Report) {
    let rows: Vec<_> = r
        .tasks
        .clustering
        .results
        .iter()
        .flat_map(|c| c.methods.iter().map(move |m| (c, m)))
        .filter_map(|(c, m)| m.merges.as_ref().map(|g| (c, m, g)))
        .collect();
    if rows.is_empty() {
        return;
    }
    s.push_str("
Merge suggestions (`facelab clusters suggest-merges`): pairs of groups (two or more faces) whose mean cross similarity reaches the recognizer's same-person threshold, how many are one person, and the groups once a user has confirmed every one of them. A split is a pair of groups of one person.

");
    s.push_str("| pipeline | set | method | threshold | likely pairs (one person) | splits | groups per person | BCubed P / R / F after |
|---|---|---|---|---|---|---|---|
");
    for (c, m, g) in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.3} | {} ({}) | {} | {:.2} → {:.2} | {:.3} / {:.3} / **{:.3}** |",
            marked(r, &c.pipeline),
            set_name(c),
            m.method,
            g.threshold,
            g.likely,
            g.right,
            g.splits,
            g.groups_per_person,
            g.groups_per_person_after,
            g.bcubed_after.precision,
            g.bcubed_after.recall,
            g.bcubed_after.f
        );
    }
}

/// Naming through the face library: what `suggest` answered after `import-labels`.
pub(super) fn naming(s: &mut String, r: &Report) {
    let task = &r.tasks.naming;
    if !status_line(s, task) {
        return;
    }
    s.push_str("| pipeline | faces named | named right | named wrong | strangers unknown | no answer | threshold | margin | seconds |\n|---|---|---|---|---|---|---|---|---|\n");
    for n in &task.results {
        let _ = writeln!(
            s,
            "| {} | {}/{} | {}/{} ({}) | {} ({}) | {}/{} ({}) | {} | {} ({}) | {} | {:.0} |",
            marked(r, &n.pipeline),
            n.labelled,
            n.named_photos,
            n.right,
            n.known,
            share(n.right, n.known),
            n.wrong,
            share(n.wrong, n.known),
            n.strangers_unknown,
            n.strangers,
            share(n.strangers_unknown, n.strangers),
            n.no_answer,
            num(Some(n.threshold), 3),
            n.threshold_source,
            num(Some(n.margin), 4),
            n.seconds
        );
    }
    s.push_str("\nAs a user names people, with the real `facelab` in child processes (the pipeline's detector and recognizer, the library's default settings, a new library): `import-labels` names the first photos of each person from person folders, `scan` reads the people's other photos and every photo of people nobody named (strangers), and `suggest --json` answers a name or \"unknown\" for each. A photo counts once, by its largest face; no answer: no face was found, or the face was left out of `suggest`. Threshold (and where it came from) and margin: as `suggest` used them. Seconds: the three commands, models loaded by each.\n");
}

/// `n` of `of` as a percentage (`97.6%`), or `–` of nothing.
fn share(n: usize, of: usize) -> String {
    if of == 0 {
        "–".into()
    } else {
        format!("{:.1}%", n as f64 * 100.0 / of as f64)
    }
}

/// Load, detection and embedding times, photos per second and peak memory.
pub(super) fn speed(s: &mut String, r: &Report) {
    if !status_line(s, &r.tasks.speed) {
        return;
    }
    s.push_str("| pipeline | load ms (plugins / detector / recognizer) | detection ms median (p90) per size | ms / face median (p90) | ms / face, faces of a photo in one call | photos / s end to end | peak RSS MiB |\n|---|---|---|---|---|---|---|\n");
    for p in &r.tasks.speed.results {
        let sizes: Vec<String> = p
            .detect
            .iter()
            .map(|d| format!("{} px: {:.1} ({:.1})", d.size, d.median_ms, d.p90_ms))
            .collect();
        let _ = writeln!(
            s,
            "| {} | {:.0} / {:.0} / {} | {} | {} ({}) | {} | {:.2} | {} |",
            marked(r, &p.pipeline),
            p.load.plugins_ms,
            p.load.detector_ms,
            num(p.load.recognizer_ms, 0),
            sizes.join("; "),
            num(p.embed_median_ms, 1),
            num(p.embed_p90_ms, 1),
            match p.embed_batched_ms_per_face {
                Some(ms) => format!("{ms:.1} ({} photos)", p.embed_batched_photos),
                None => "–".into(),
            },
            p.end_to_end_photos_per_s,
            num(p.peak_rss_mib, 0)
        );
    }
    let photos = r.tasks.speed.results.first().map(|p| p.photos).unwrap_or(0);
    let _ = writeln!(s, "\n{photos} photos, each resized to every size; one warm-up run per photo and size, then the timed runs. Embedding: one face per call, median (p90) over every face found; and each photo's faces in one call (after one untimed call), the call's time ÷ its faces, median over the photos with 2 or more faces. End to end: decode + detect + embed every face at the photos' own size. Peak RSS: the process's `VmHWM` over loading the pipeline and this task (reset before each pipeline, after the previous pipeline's memory went back to the OS); the accuracy tasks run after it, at other settings.");
}

/// `facelab scan` beside the script ([`crate::scan::section`]).
pub(super) fn scan(s: &mut String, r: &Report) {
    if status_line(s, &r.tasks.scan) {
        crate::scan::section(s, r);
    }
}
