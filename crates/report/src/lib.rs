//! The bench report for people: Markdown ([`markdown`]), HTML with SVG charts ([`html`],
//! [`scan`]'s charts) and the results page ([`results`]), all rendered from one
//! [`facelab_eval::bench::report::Report`] (the data `report.json` holds). The renderers share
//! one palette ([`palette`]).
#![deny(missing_docs)]

pub mod html;
pub mod markdown;
pub mod palette;
pub mod results;
pub mod scan;

use std::path::Path;

use anyhow::Context as _;
use facelab_eval::bench::report::{Report, SCHEMA_VERSION};

/// Writes `report.json` into `out`, then the renderings of [`write_rendered`].
pub fn write_report(report: &Report, out: &Path) -> anyhow::Result<()> {
    write(
        &out.join("report.json"),
        serde_json::to_string_pretty(report)? + "\n",
    )?;
    write_rendered(report, out)
}

/// Writes `report.md`, `report.html` and `results.md` into `out`.
pub fn write_rendered(report: &Report, out: &Path) -> anyhow::Result<()> {
    write(&out.join("report.md"), crate::markdown::render(report))?;
    write(&out.join("report.html"), crate::html::render(report))?;
    write(&out.join("results.md"), crate::results::render(report))
}

/// Writes `text` to `path`, an error naming the file when it cannot.
pub fn write(path: &Path, text: String) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Reads back a `report.json` that `facelab bench` wrote; an error names the file and what
/// to do about it.
pub fn read_report(path: &Path) -> anyhow::Result<Report> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {} (help: pass the report.json that `facelab bench` wrote into its --out folder)",
            path.display()
        )
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not JSON (help: pass the report.json that `facelab bench` wrote)",
            path.display()
        )
    })?;
    match value.get("schema_version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        found => anyhow::bail!(
            "{} has schema version {}, this facelab reads version {SCHEMA_VERSION} (help: run `facelab bench` again to write it anew)",
            path.display(),
            found.map_or_else(|| "none".to_owned(), |v| v.to_string())
        ),
    }
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a facelab bench report (help: it must match docs/bench.schema.json; run `facelab bench` again to write it anew)",
            path.display()
        )
    })
}

#[cfg(test)]
mod fixture;

#[cfg(test)]
mod tests {
    use super::*;
    use facelab_eval::bench::report::Status;

    #[test]
    fn a_report_read_back_renders_the_same() {
        // report.json → Report → report.json and every rendering, byte for byte: what
        // `facelab bench --render` relies on. The fixture has NaN ratios, written as null.
        for mut report in [crate::fixture::report(), crate::fixture::empty()] {
            // An optional number that is not finite is written as null, like an absent one,
            // and read back as absent: the Markdown shows both as –, but the HTML's speed
            // chart would have drawn the NaN point. The fixture's NaN WIDER hard AP (there for
            // the Markdown's –) goes.
            for h in &mut report.headline {
                h.wider_hard = h.wider_hard.filter(|v| v.is_finite());
            }
            let dir = tempfile::tempdir().unwrap();
            let dir = dir.path();
            write_report(&report, dir).unwrap();
            let back = read_report(&dir.join("report.json")).unwrap();
            assert_eq!(
                serde_json::to_string_pretty(&back).unwrap() + "\n",
                std::fs::read_to_string(dir.join("report.json")).unwrap()
            );
            for (name, text) in [
                ("report.md", crate::markdown::render(&back)),
                ("report.html", crate::html::render(&back)),
                ("results.md", crate::results::render(&back)),
            ] {
                let written = std::fs::read_to_string(dir.join(name)).unwrap();
                assert!(
                    written == text,
                    "{name} differs after reading the report back"
                );
            }
        }
    }

    #[test]
    fn a_report_written_before_the_naming_task_and_batched_embedding_still_reads() {
        let mut value = serde_json::to_value(crate::fixture::report()).unwrap();
        value["tasks"].as_object_mut().unwrap().remove("naming");
        for speed in value["tasks"]["speed"]["results"].as_array_mut().unwrap() {
            let speed = speed.as_object_mut().unwrap();
            speed.remove("embed_batched_ms_per_face");
            speed.remove("embed_batched_photos");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(&path, value.to_string()).unwrap();
        let old = read_report(&path).unwrap();
        assert_eq!(old.tasks.naming.status, Status::Off);
        let speed = &old.tasks.speed.results[0];
        assert_eq!(
            (speed.embed_batched_ms_per_face, speed.embed_batched_photos),
            (None, 0)
        );
        // Rendered without the naming column and section.
        let md = crate::markdown::render(&old);
        assert!(!md.contains("strangers unknown |"), "{md}");
        assert!(
            md.contains("## Naming through the face library\n\nNot in this suite.\n"),
            "{md}"
        );
    }

    #[test]
    fn reading_a_bad_report_names_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let error = |text: Option<&str>| {
            let path = dir.path().join("report.json");
            let _ = std::fs::remove_file(&path);
            if let Some(text) = text {
                std::fs::write(&path, text).unwrap();
            }
            format!("{:#}", read_report(&path).unwrap_err())
        };
        let missing = error(None);
        assert!(
            missing.contains("cannot read") && missing.contains("report.json (help:"),
            "{missing}"
        );
        let not_json = error(Some("{"));
        assert!(not_json.contains("is not JSON"), "{not_json}");
        let old = error(Some(r#"{"schema_version": 0}"#));
        assert!(
            old.contains("schema version 0, this facelab reads version 1"),
            "{old}"
        );
        let partial = error(Some(r#"{"schema_version": 1}"#));
        assert!(
            partial.contains("is not a facelab bench report") && partial.contains("missing field"),
            "{partial}"
        );
    }
}
