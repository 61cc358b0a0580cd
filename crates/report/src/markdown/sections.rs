//! The sections of `report.md`, one function each. A titled section is a [`Section`]: its
//! title and its body (a task's, in the `tasks` module, starts with the task's status line);
//! the results page writes the same sections at another heading level.

use std::fmt::Write as _;

use facelab_eval::bench::report::{Report, StageEntry};

use super::{marked, tasks};

/// A titled section of the report.
pub struct Section {
    /// Its heading's text (the HTML report finds a section's charts by it).
    pub title: &'static str,
    /// Writes what follows the heading.
    pub body: fn(&mut String, &Report),
}

impl Section {
    /// Writes the heading at `level` (`##`, `###`) after a blank line, then the body.
    pub fn write(&self, s: &mut String, r: &Report, level: &str) {
        let _ = writeln!(s, "\n{level} {}\n", self.title);
        (self.body)(s, r);
    }
}

/// ORL identification.
pub const ORL: Section = Section {
    title: "ORL identification",
    body: tasks::orl,
};
/// LFW View 2 verification.
pub const LFW: Section = Section {
    title: "LFW View 2 verification",
    body: tasks::lfw,
};
/// WIDER FACE: AP, the operating point and the default-threshold rule.
pub const WIDER: Section = Section {
    title: "WIDER FACE",
    body: tasks::wider,
};
/// The hand-labelled group photos at each pipeline's own settings.
pub const VOC: Section = Section {
    title: "Labelled group photos",
    body: tasks::voc,
};
/// Clustering.
pub const CLUSTERING: Section = Section {
    title: "Clustering (LFW people with enough images)",
    body: tasks::clustering,
};
/// Naming through the face library.
pub const NAMING: Section = Section {
    title: "Naming through the face library",
    body: tasks::naming,
};
/// Speed and memory.
pub const SPEED: Section = Section {
    title: "Speed",
    body: tasks::speed,
};
/// `facelab scan` beside the OpenCV-Python script.
pub const SCAN: Section = Section {
    title: "Scan speed: facelab scan beside the OpenCV-Python script",
    body: tasks::scan,
};
/// Measured against published figures.
pub const HARNESS: Section = Section {
    title: "Harness check",
    body: harness_check,
};
/// The models, their licences and hashes.
pub const MODELS: Section = Section {
    title: "Models and licences",
    body: models,
};
/// The machine and software.
pub const ENVIRONMENT: Section = Section {
    title: "Environment",
    body: environment,
};

/// The sections after the pipelines, in report order.
pub const ALL: [Section; 11] = [
    ORL,
    LFW,
    WIDER,
    VOC,
    CLUSTERING,
    NAMING,
    SPEED,
    SCAN,
    HARNESS,
    MODELS,
    ENVIRONMENT,
];

/// The report's title and the line that says what ran where.
pub fn title(s: &mut String, r: &Report) {
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
}

/// What each headline column measures (after the headline table).
pub fn headline_legend(s: &mut String, r: &Report) {
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
    let _ = writeln!(
        s,
        "\nORL: nearest class centroid, mean ± sd over seeded splits, %. LFW: View 2 10-fold accuracy ± sd. WIDER: AP at IoU 0.5 by the official rules. ms / photo: median detection time at the speed task's headline size (sizes timed: {}); ms / face: median embedding time of one face (alignment + forward).\n",
        size.unwrap_or_else(|| "none".into())
    );
    if let Some(n) = r.tasks.naming.results.first() {
        let _ = writeln!(
            s,
            "Named right / wrong / strangers unknown: what `facelab suggest` answered after `facelab import-labels` named {} photos of each of {} people: right and wrong of their {} other photos, \"unknown\" of the {} photos of strangers (the naming task).\n",
            n.named_photos / n.people.max(1),
            n.people,
            n.known,
            n.strangers
        );
    }
}

/// The notices as a list under their own heading; nothing when there are none.
pub fn notices(s: &mut String, r: &Report) {
    if r.notices.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Notices\n");
    for n in &r.notices {
        let _ = writeln!(s, "- {n}");
    }
    s.push('\n');
}

/// One model of a pipeline: `model (plugin:kind, N points) [licence class]`.
fn stage(st: &StageEntry) -> String {
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
}

/// The pipelines table: detector, recognizer, description, and why one could not run.
pub fn pipelines(s: &mut String, r: &Report) {
    s.push_str("| pipeline | detector | recognizer | description |\n|---|---|---|---|\n");
    for p in &r.pipelines {
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
}

/// Measured beside published figures, or a line saying none ran.
fn harness_check(s: &mut String, r: &Report) {
    if r.harness_check.is_empty() {
        s.push_str("No task with a published counterpart ran.\n");
        return;
    }
    s.push_str("| pipeline | metric | measured | published | deviation | source and comparability |\n|---|---|---|---|---|---|\n");
    for h in &r.harness_check {
        let _ = writeln!(
            s,
            "| {} | {} | {:.4} | {:.4} | {:+.4} | {} |",
            h.pipeline, h.metric, h.measured, h.published, h.deviation, h.note
        );
    }
}

/// Each model: role, licence class and text, backend, each file's sha256.
fn models(s: &mut String, r: &Report) {
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
}

/// The machine and software, as a code block.
fn environment(s: &mut String, r: &Report) {
    let e = &r.environment;
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
}
