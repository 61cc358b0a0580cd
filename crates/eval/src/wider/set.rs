//! The set on disk: its images, their labelled boxes and the boxes each difficulty level
//! keeps, read from the official files and checked against each other.

use std::path::{Path, PathBuf};

use anyhow::bail;
use facelab_plugin_api::BBox;

use super::ground_truth::{
    parse_difficulty, parse_ground_truth, read_text, DifficultyEntry, TruthRecord, DIFFICULTY_FILE,
    GROUND_TRUTH_FILE,
};

/// A WIDER FACE difficulty level. Each level keeps a subset of the boxes; a harder level
/// keeps more (smaller, more occluded) faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Large, clear faces.
    Easy,
    /// Easy faces plus medium-sized or partly occluded ones.
    Medium,
    /// Nearly every labelled face, down to tiny and heavily occluded ones.
    Hard,
}

impl Level {
    /// The three levels, in the order of [`WiderImage::keep`] and of
    /// [`evaluate`](super::evaluate)'s result.
    pub const ALL: [Level; 3] = [Level::Easy, Level::Medium, Level::Hard];

    /// The level's name as WIDER FACE reports use it: `easy`, `medium` or `hard`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Easy => "easy",
            Level::Medium => "medium",
            Level::Hard => "hard",
        }
    }

    /// The level's position in [`Level::ALL`] and [`WiderImage::keep`].
    pub(super) fn slot(self) -> usize {
        self as usize
    }
}

/// One image of the set with its labelled faces.
#[derive(Debug, Clone)]
pub struct WiderImage {
    /// The image file: the set's `images` folder joined with [`WiderImage::name`].
    pub path: PathBuf,
    /// The relative name as the ground-truth file writes it, e.g.
    /// `0--Parade/0_Parade_marchingband_1_465.jpg`.
    pub name: String,
    /// Every labelled box, in file order, absolute pixels (top-left corner and size).
    pub boxes: Vec<BBox>,
    /// For easy, medium and hard (the order of [`Level::ALL`]): the 0-based indices into
    /// [`WiderImage::boxes`] of the boxes that count at that level. The others are ignored.
    pub keep: [Vec<usize>; 3],
    /// The `invalid` attribute of each box (in [`WiderImage::boxes`] order): the annotators
    /// could not judge the face.
    pub invalid: Vec<bool>,
}

/// A WIDER FACE validation set (or a subset of it) on disk.
#[derive(Debug, Clone)]
pub struct WiderSet {
    /// The folder holding `wider_face_val_bbx_gt.txt`, `difficulty.txt` and `images/`.
    pub root: PathBuf,
    /// The images in ground-truth file order.
    pub images: Vec<WiderImage>,
}

impl WiderSet {
    /// Reads `root/wider_face_val_bbx_gt.txt` and `root/difficulty.txt` and checks that they
    /// describe the same images, that every keep index names a box, and that every image is
    /// present under `root/images`. Errors name the file and line at fault.
    pub fn load(root: &Path) -> anyhow::Result<WiderSet> {
        let gt_path = root.join(GROUND_TRUTH_FILE);
        let difficulty_path = root.join(DIFFICULTY_FILE);
        let records = parse_ground_truth(&read_text(&gt_path)?, &gt_path)?;
        let mut levels = parse_difficulty(&read_text(&difficulty_path)?, &difficulty_path)?;
        let images_dir = root.join("images");

        let mut images = Vec::with_capacity(records.len());
        let mut missing = Vec::new();
        for record in records {
            let Some(entry) = levels.remove(&record.name) else {
                bail!(
                    "{}: no line for {} (listed at {}:{})",
                    difficulty_path.display(),
                    record.name,
                    gt_path.display(),
                    record.line
                );
            };
            let keep = keep_lists(&record, &entry, &gt_path, &difficulty_path)?;
            let path = images_dir.join(&record.name);
            if !path.is_file() {
                missing.push(path.clone());
            }
            images.push(WiderImage {
                path,
                name: record.name,
                boxes: record.boxes,
                keep,
                invalid: record.invalid,
            });
        }
        if let Some(extra) = levels.values().min_by_key(|entry| entry.line) {
            bail!(
                "{}:{}: {} is not in {}",
                difficulty_path.display(),
                extra.line,
                extra.name,
                gt_path.display()
            );
        }
        if let Some(first) = missing.first() {
            bail!(
                "{} of the {} images listed in {} are missing, the first is {}",
                missing.len(),
                images.len(),
                gt_path.display(),
                first.display()
            );
        }
        Ok(WiderSet {
            root: root.to_owned(),
            images,
        })
    }

    /// The number of faces that count at `level`: the kept boxes over all images.
    pub fn faces(&self, level: Level) -> usize {
        self.images
            .iter()
            .map(|image| image.keep[level.slot()].len())
            .sum()
    }
}

/// The 0-based keep lists of one image: `entry`'s 1-based indices, each checked to name one
/// of `record`'s boxes.
fn keep_lists(
    record: &TruthRecord,
    entry: &DifficultyEntry,
    gt_path: &Path,
    difficulty_path: &Path,
) -> anyhow::Result<[Vec<usize>; 3]> {
    let mut keep: [Vec<usize>; 3] = Default::default();
    for level in Level::ALL {
        for &index in &entry.kept[level.slot()] {
            if index == 0 || index > record.boxes.len() {
                bail!(
                    "{}:{}: {} index {index} is out of range: {} has {} boxes in {}",
                    difficulty_path.display(),
                    entry.line,
                    level.name(),
                    record.name,
                    record.boxes.len(),
                    gt_path.display()
                );
            }
            keep[level.slot()].push(index - 1);
        }
    }
    Ok(keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a small set: ground truth, difficulty lines and empty image files.
    fn write_set(dir: &Path, gt: &str, difficulty: &str, images: &[&str]) {
        std::fs::write(dir.join(GROUND_TRUTH_FILE), gt).unwrap();
        std::fs::write(dir.join(DIFFICULTY_FILE), difficulty).unwrap();
        for name in images {
            let path = dir.join("images").join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"").unwrap();
        }
    }

    const SMALL_GT: &str = "0--Parade/a.jpg\n2\n\
        10 20 30 40 0 0 0 0 0 0\n\
        50 60 7 8 2 0 0 0 1 0\n\
        0--Parade/empty.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n\
        1--Handshaking/b.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n";
    const SMALL_IMAGES: [&str; 3] = [
        "0--Parade/a.jpg",
        "0--Parade/empty.jpg",
        "1--Handshaking/b.jpg",
    ];

    #[test]
    fn load_reads_the_official_layout() {
        let dir = tempfile::tempdir().unwrap();
        let difficulty = "# image_path easy=... medium=... hard=...\n\
            0--Parade/a.jpg easy=1 medium=1 hard=2,1\n\
            0--Parade/empty.jpg easy= medium= hard=\n\
            1--Handshaking/b.jpg easy= medium=1 hard=1\n";
        write_set(dir.path(), SMALL_GT, difficulty, &SMALL_IMAGES);
        let set = WiderSet::load(dir.path()).unwrap();
        let names: Vec<&str> = set.images.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, SMALL_IMAGES);
        let a = &set.images[0];
        assert_eq!(a.path, dir.path().join("images/0--Parade/a.jpg"));
        assert_eq!(
            a.boxes,
            [
                BBox::new(10.0, 20.0, 30.0, 40.0),
                BBox::new(50.0, 60.0, 7.0, 8.0)
            ]
        );
        assert_eq!(a.keep, [vec![0], vec![0], vec![0, 1]]);
        assert!(set.images[1].boxes.is_empty());
        assert_eq!(set.images[2].keep, [vec![], vec![0], vec![0]]);
        let faces: Vec<usize> = Level::ALL.iter().map(|&l| set.faces(l)).collect();
        assert_eq!(faces, [1, 2, 3]);
    }

    #[test]
    fn load_errors_name_the_file_and_line() {
        let good_lines = "0--Parade/a.jpg easy=1 medium=1 hard=1,2\n\
            0--Parade/empty.jpg easy= medium= hard=\n";
        let cases = [
            (
                format!("{good_lines}1--Handshaking/b.jpg easy= medium=1 hard=1,2\n"),
                "difficulty.txt:3: hard index 2 is out of range",
            ),
            (
                format!("{good_lines}1--Handshaking/b.jpg easy= hard=1 medium=1\n"),
                "difficulty.txt:3: expected `medium=...`",
            ),
            (
                format!("{good_lines}1--Handshaking/b.jpg easy= medium=x hard=1\n"),
                "difficulty.txt:3: medium index `x` is not a number",
            ),
            (good_lines.to_owned(), "difficulty.txt: no line for 1--Handshaking/b.jpg"),
            (
                format!("{good_lines}1--Handshaking/b.jpg easy= medium= hard=1\nc.jpg easy= medium= hard=\n"),
                "difficulty.txt:4: c.jpg is not in",
            ),
        ];
        for (difficulty, expected) in cases {
            let dir = tempfile::tempdir().unwrap();
            write_set(dir.path(), SMALL_GT, &difficulty, &SMALL_IMAGES);
            let message = WiderSet::load(dir.path()).unwrap_err().to_string();
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }

        let dir = tempfile::tempdir().unwrap();
        let bad_gt = SMALL_GT.replace("50 60 7 8", "50 60 seven 8");
        write_set(dir.path(), &bad_gt, "", &SMALL_IMAGES);
        let message = WiderSet::load(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("wider_face_val_bbx_gt.txt:4: box w `seven` is not a number"),
            "{message}"
        );

        let dir = tempfile::tempdir().unwrap();
        let difficulty = format!("{good_lines}1--Handshaking/b.jpg easy= medium= hard=1\n");
        write_set(dir.path(), SMALL_GT, &difficulty, &SMALL_IMAGES[..2]);
        let message = WiderSet::load(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("1 of the 3 images") && message.contains("b.jpg"),
            "{message}"
        );
    }

    /// `../shared/datasets/wider-face-val-mini` beside the repository, or under
    /// `$FACELAB_SHARED`, as the integration tests find it.
    fn mini_set_root() -> PathBuf {
        std::env::var_os("FACELAB_SHARED")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
            .join("datasets/wider-face-val-mini")
    }

    #[test]
    fn loads_the_mini_validation_set() {
        let root = mini_set_root();
        if !root.is_dir() {
            eprintln!(
                "SKIPPED: {} not found; set FACELAB_SHARED to run this test",
                root.display()
            );
            return;
        }
        let set = WiderSet::load(&root).unwrap();
        assert_eq!(set.images.len(), 305);
        for image in &set.images {
            let [easy, medium, hard] = &image.keep;
            assert!(
                easy.iter().all(|i| medium.contains(i)),
                "{}: easy ⊄ medium",
                image.name
            );
            assert!(
                medium.iter().all(|i| hard.contains(i)),
                "{}: medium ⊄ hard",
                image.name
            );
        }
        for level in Level::ALL {
            let faces = set.faces(level);
            eprintln!("wider-face-val-mini {}: {faces} faces", level.name());
            assert!(faces > 0);
        }
        let boxes: usize = set.images.iter().map(|i| i.boxes.len()).sum();
        eprintln!("wider-face-val-mini: {boxes} labelled boxes in all");
    }
}
