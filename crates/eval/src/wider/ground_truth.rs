//! The official ground-truth files: `wider_face_val_bbx_gt.txt` (every labelled box of every
//! image) and `difficulty.txt` (the boxes each level keeps), parsed into records with the
//! file line of each for messages. [`super::WiderSet::load`] joins them.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context};
use facelab_plugin_api::BBox;

use super::Level;

/// The ground-truth boxes in the official layout.
pub(super) const GROUND_TRUTH_FILE: &str = "wider_face_val_bbx_gt.txt";
/// The per-image keep lists of the three levels.
pub(super) const DIFFICULTY_FILE: &str = "difficulty.txt";

pub(super) fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// One image of the ground-truth file.
pub(super) struct TruthRecord {
    pub(super) name: String,
    /// 1-based line of the name, for messages.
    pub(super) line: usize,
    pub(super) boxes: Vec<BBox>,
    /// The `invalid` attribute of each box.
    pub(super) invalid: Vec<bool>,
}

/// Parses the official layout: a name line, a count line, then one line per box
/// (`x y w h blur expression illumination invalid occlusion pose`; only the first four are
/// used). A count of 0 is followed by a single all-zero box line, which is skipped.
pub(super) fn parse_ground_truth(text: &str, path: &Path) -> anyhow::Result<Vec<TruthRecord>> {
    let at = |line: usize| format!("{}:{line}", path.display());
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .peekable();
    let mut records: Vec<TruthRecord> = Vec::new();
    let mut seen = HashMap::new();
    while let Some((line, name)) = lines.next() {
        if name.is_empty() {
            continue;
        }
        if let Some(first) = seen.insert(name.to_owned(), line) {
            bail!("{}: {name} is already listed at line {first}", at(line));
        }
        let (count_line, count) = lines
            .next()
            .ok_or_else(|| anyhow!("{}: {name} has no box count line", at(line)))?;
        let count: usize = count
            .parse()
            .map_err(|_| anyhow!("{}: expected a box count, found `{count}`", at(count_line)))?;
        let mut boxes = Vec::with_capacity(count);
        let mut invalid = Vec::with_capacity(count);
        for _ in 0..count {
            let (box_line, text) = lines
                .next()
                .ok_or_else(|| anyhow!("{}: {name} ends before its {count} boxes", at(line)))?;
            let (b, bad) = parse_box(text).map_err(|e| anyhow!("{}: {e}", at(box_line)))?;
            boxes.push(b);
            invalid.push(bad);
        }
        if count == 0 {
            // The official file writes a placeholder box for empty images; a file without it
            // goes straight on to the next name, which is not a box line.
            if lines
                .peek()
                .is_some_and(|(_, next)| parse_box(next).is_ok())
            {
                lines.next();
            }
        }
        records.push(TruthRecord {
            name: name.to_owned(),
            line,
            boxes,
            invalid,
        });
    }
    Ok(records)
}

/// The first four fields of a box line as a box, and its `invalid` attribute (the eighth
/// field; absent counts as valid).
fn parse_box(text: &str) -> Result<(BBox, bool), String> {
    let mut fields = text.split_whitespace();
    let mut next = |what: &str| -> Result<f32, String> {
        let field = fields
            .next()
            .ok_or_else(|| format!("box line has no {what}: `{text}`"))?;
        field
            .parse()
            .map_err(|_| format!("box {what} `{field}` is not a number"))
    };
    let b = BBox::new(next("x")?, next("y")?, next("w")?, next("h")?);
    let invalid = text.split_whitespace().nth(7) == Some("1");
    Ok((b, invalid))
}

/// One line of `difficulty.txt`.
pub(super) struct DifficultyEntry {
    pub(super) name: String,
    pub(super) line: usize,
    /// 1-based box indices kept at easy, medium and hard.
    pub(super) kept: [Vec<usize>; 3],
}

/// Parses `difficulty.txt`: `#` comments, then `name easy=i,j medium=... hard=...` with
/// 1-based box indices (an empty list after `=` keeps nothing).
pub(super) fn parse_difficulty(
    text: &str,
    path: &Path,
) -> anyhow::Result<HashMap<String, DifficultyEntry>> {
    let mut entries = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let at = || format!("{}:{line}", path.display());
        let content = raw.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = content.split_whitespace().collect();
        let [name, lists @ ..] = fields.as_slice() else {
            continue;
        };
        if lists.len() != Level::ALL.len() {
            bail!(
                "{}: expected `name easy=... medium=... hard=...`, found {} fields",
                at(),
                fields.len()
            );
        }
        let mut kept: [Vec<usize>; 3] = Default::default();
        for (level, field) in Level::ALL.into_iter().zip(lists) {
            let indices = field
                .strip_prefix(level.name())
                .and_then(|rest| rest.strip_prefix('='))
                .ok_or_else(|| {
                    anyhow!("{}: expected `{}=...`, found `{field}`", at(), level.name())
                })?;
            let slot = &mut kept[level.slot()];
            for index in indices.split(',').filter(|s| !s.is_empty()) {
                let index: usize = index.parse().map_err(|_| {
                    anyhow!("{}: {} index `{index}` is not a number", at(), level.name())
                })?;
                slot.push(index);
            }
            slot.sort_unstable();
            if let Some(pair) = slot.windows(2).find(|pair| pair[0] == pair[1]) {
                bail!("{}: {} lists box {} twice", at(), level.name(), pair[0]);
            }
        }
        let entry = DifficultyEntry {
            name: (*name).to_owned(),
            line,
            kept,
        };
        if let Some(first) = entries.insert(entry.name.clone(), entry) {
            bail!(
                "{}: {} is already listed at line {}",
                at(),
                first.name,
                first.line
            );
        }
    }
    Ok(entries)
}
