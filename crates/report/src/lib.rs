//! The bench report for people: Markdown ([`markdown`]), HTML with SVG charts ([`html`],
//! [`scan`]'s charts) and the results page ([`results`]), all rendered from one
//! [`facelab_eval::bench::report::Report`] (the data `report.json` holds). The renderers share
//! one palette ([`palette`]).
#![deny(missing_docs)]

pub mod html;
pub mod markdown;
pub mod palette;
pub mod scan;

use std::path::Path;

use anyhow::Context as _;
use facelab_eval::bench::report::Report;

/// Writes `report.json`, `report.md` and `report.html` into `out`.
pub fn write_report(report: &Report, out: &Path) -> anyhow::Result<()> {
    let write = |name: &str, text: String| {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    write("report.json", serde_json::to_string_pretty(report)? + "\n")?;
    write("report.md", crate::markdown::render(report))?;
    write("report.html", crate::html::render(report))?;
    Ok(())
}
