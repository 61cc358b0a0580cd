//! The data the tasks read, loaded once for all pipelines: the LFW pairs, the people of the
//! clustering task and its robustness variants, and the labelled detection sets.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::bench::suite::ClusteringTask;
use crate::faceeval::Pair;
use crate::voc::LabelledImage;

/// The LFW pairs and the images they use.
pub struct LfwData {
    /// The 6,000 pairs in 10 folds.
    pub pairs: Vec<Pair>,
    /// Every image of the pairs, sorted, once.
    pub images: Vec<PathBuf>,
}

/// The people of the clustering task: every image of every person with enough images.
pub struct PeopleData {
    /// Image paths, sorted.
    pub images: Vec<PathBuf>,
    /// The person of each image (0-based, in name order).
    pub labels: Vec<usize>,
    /// People.
    pub identities: usize,
}

/// Reads the LFW View 2 pairs; an error when the set is not there.
pub fn load_lfw(root: &Path) -> anyhow::Result<LfwData> {
    let pairs = crate::faceeval::lfw_pairs(root)?;
    let mut images: Vec<PathBuf> = pairs
        .iter()
        .flat_map(|p| [p.a.clone(), p.b.clone()])
        .collect();
    images.sort();
    images.dedup();
    if let Some(missing) = images.iter().find(|p| !p.is_file()) {
        anyhow::bail!("{} is listed in pairs.txt but missing", missing.display());
    }
    Ok(LfwData { pairs, images })
}

/// Lists `root/images/<Name>/*.jpg` (and `*.png`: the colour/grey robustness sets) and keeps
/// the people with at least `min_images`.
pub fn load_people(root: &Path, min_images: usize) -> anyhow::Result<PeopleData> {
    let dir = root.join("images");
    let mut people: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    people.sort();
    let (mut images, mut labels, mut identities) = (Vec::new(), Vec::new(), 0);
    for person in people {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&person)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("png"))
            })
            .collect();
        if files.len() < min_images {
            continue;
        }
        files.sort();
        labels.extend(std::iter::repeat_n(identities, files.len()));
        images.extend(files);
        identities += 1;
    }
    if identities == 0 {
        anyhow::bail!(
            "no person in {} has {min_images} or more images",
            dir.display()
        );
    }
    Ok(PeopleData {
        images,
        labels,
        identities,
    })
}

/// The union of two sorted path lists, sorted.
pub fn union(a: &[PathBuf], b: &[PathBuf]) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = a.iter().chain(b).cloned().collect();
    all.sort();
    all.dedup();
    all
}

/// A robustness variant or held-out check of the clustering task.
pub struct Variant {
    /// The folder's name: the set's name in the report.
    pub name: String,
    /// A held-out check (the task's `checks`), not a variant defaults are chosen on.
    pub check: bool,
    /// The people, or why the set was skipped.
    pub people: Result<PeopleData, String>,
}

/// Loads the clustering task's robustness variants, then its held-out checks; a missing
/// folder is reported (with the script that makes it), not fatal.
pub fn load_variants(task: &ClusteringTask, root: &Path) -> Vec<Variant> {
    let mut out = Vec::new();
    let sets = task.variants.iter().map(|v| (v, false));
    for (v, check) in sets.chain(task.checks.iter().map(|v| (v, true))) {
        let dir = ClusteringTask::variant_path(v, root);
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        let people = if dir.join("images").is_dir() {
            load_people(&dir, task.min_images).map_err(|e| format!("{e:#}"))
        } else {
            Err(format!(
                "{} not found (help: make it with benches/python/make_robustness_sets.py)",
                dir.join("images").display()
            ))
        };
        if let Err(e) = &people {
            eprintln!("facelab: bench: clustering variant {name} skipped: {e}");
        }
        out.push(Variant {
            name,
            check,
            people,
        });
    }
    out
}

/// The labelled sets of imglab files: the images of each file grouped by their folder's
/// name (`voc-groups`, `sprint`, `bbt`), in file order.
pub fn labelled_sets(
    files: Vec<(PathBuf, Vec<LabelledImage>)>,
) -> Vec<(String, Vec<LabelledImage>)> {
    let mut sets: Vec<(String, Vec<LabelledImage>)> = Vec::new();
    for (file, images) in files {
        for image in images {
            let folder = image
                .path
                .parent()
                .and_then(|p| p.file_name())
                .or_else(|| file.file_stem())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match sets.iter_mut().find(|(name, _)| *name == folder) {
                Some((_, v)) => v.push(image),
                None => sets.push((folder, vec![image])),
            }
        }
    }
    sets
}
