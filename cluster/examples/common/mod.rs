//! Reading the embedding files of the measurements: one face per line,
//! `identity<TAB>photo path<TAB>space-separated floats` (written by `scripts/embed.py`).

use std::path::Path;

/// Embeddings with their true identities.
pub struct Dataset {
    /// Row-major embeddings.
    pub data: Vec<f32>,
    /// Floats per row.
    pub dim: usize,
    /// Identity index per row.
    pub truth: Vec<u32>,
    /// Identity names, indexed by `truth`.
    #[allow(dead_code)]
    pub names: Vec<String>,
}

impl Dataset {
    /// Rows.
    #[allow(dead_code)]
    pub fn len(&self) -> usize {
        self.truth.len()
    }
}

/// Reads an embedding file.
pub fn read(path: &Path) -> Result<Dataset, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (mut data, mut truth, mut names) = (Vec::new(), Vec::new(), Vec::<String>::new());
    let mut dim = 0;
    for (no, line) in text.lines().enumerate() {
        let mut parts = line.splitn(3, '\t');
        let (Some(name), Some(_), Some(floats)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "{}:{}: expected 3 tab-separated fields",
                path.display(),
                no + 1
            ));
        };
        let before = data.len();
        for f in floats.split_whitespace() {
            data.push(
                f.parse::<f32>()
                    .map_err(|e| format!("{}:{}: {e}", path.display(), no + 1))?,
            );
        }
        let d = data.len() - before;
        if dim == 0 {
            dim = d;
        } else if d != dim {
            return Err(format!(
                "{}:{}: {d} floats, expected {dim}",
                path.display(),
                no + 1
            ));
        }
        let id = match names.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                names.push(name.to_owned());
                names.len() - 1
            }
        };
        truth.push(id as u32);
    }
    Ok(Dataset {
        data,
        dim,
        truth,
        names,
    })
}
