//! A gallery of named faces to score a face against: each person's confirmed faces and up
//! to three prototypes (k-means centres) of them.

use super::NEIGHBOURS;
use crate::search::{dot, dots, normalized, Matrix};

/// Confirmed faces of each person, as a gallery to score against.
pub struct Gallery {
    names: Vec<String>,
    ids: Vec<i64>,
    faces: Matrix,
    person_of_face: Vec<usize>,
    prototypes: Matrix,
    person_of_prototype: Vec<usize>,
}

fn kmeans_prototypes(rows: &[&[f32]], dim: usize) -> Vec<Vec<f32>> {
    let n = rows.len();
    let k = match n {
        0 => return vec![],
        1..=7 => 1,
        8..=19 => 2,
        _ => 3,
    };
    let mean = |members: &[usize]| -> Vec<f32> {
        let mut m = vec![0.0f32; dim];
        for &i in members {
            for (a, b) in m.iter_mut().zip(rows[i]) {
                *a += b;
            }
        }
        normalized(&m)
    };
    let all: Vec<usize> = (0..n).collect();
    let mut centres = vec![mean(&all)];
    if k == 1 {
        return centres;
    }
    // Farthest-point seeding, deterministic.
    centres.clear();
    let m = mean(&all);
    let first = (0..n)
        .max_by(|&a, &b| dot(rows[a], &m).total_cmp(&dot(rows[b], &m)))
        .unwrap_or(0);
    centres.push(rows[first].to_vec());
    while centres.len() < k {
        let far = (0..n)
            .min_by(|&a, &b| {
                let sa = centres
                    .iter()
                    .map(|c| dot(rows[a], c))
                    .fold(f32::MIN, f32::max);
                let sb = centres
                    .iter()
                    .map(|c| dot(rows[b], c))
                    .fold(f32::MIN, f32::max);
                sa.total_cmp(&sb)
            })
            .unwrap_or(0);
        centres.push(rows[far].to_vec());
    }
    for _ in 0..10 {
        let mut groups = vec![Vec::new(); k];
        for (i, r) in rows.iter().enumerate() {
            let best = (0..k)
                .max_by(|&a, &b| dot(r, &centres[a]).total_cmp(&dot(r, &centres[b])))
                .unwrap_or(0);
            groups[best].push(i);
        }
        centres = groups
            .iter()
            .filter(|g| !g.is_empty())
            .map(|g| mean(g))
            .collect();
    }
    centres
}

impl Gallery {
    /// A gallery from (face id, person index, vector) rows; `names[i]` is person `i`.
    pub fn new(names: Vec<String>, dim: usize, rows: &[(i64, usize, &[f32])]) -> Gallery {
        let mut faces = Matrix::new(dim);
        let mut person_of_face = Vec::new();
        let mut ids = Vec::new();
        let mut by_person_rows: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
        for &(id, p, v) in rows {
            if faces.push(id, v) {
                person_of_face.push(p);
                ids.push(id);
                by_person_rows[p].push(faces.len() - 1);
            }
        }
        let by_person: Vec<Vec<&[f32]>> = by_person_rows
            .iter()
            .map(|r| r.iter().map(|&i| faces.row(i)).collect())
            .collect();
        let mut prototypes = Matrix::new(dim);
        let mut person_of_prototype = Vec::new();
        let protos: Vec<(usize, Vec<f32>)> = by_person
            .iter()
            .enumerate()
            .flat_map(|(p, rows)| {
                kmeans_prototypes(rows, dim)
                    .into_iter()
                    .map(move |c| (p, c))
            })
            .collect();
        for (p, c) in protos {
            prototypes.push(p as i64, &c);
            person_of_prototype.push(p);
        }
        Gallery {
            names,
            ids,
            faces,
            person_of_face,
            prototypes,
            person_of_prototype,
        }
    }

    /// People in the gallery.
    pub fn people(&self) -> usize {
        self.names.len()
    }

    /// The name of person `p`.
    pub fn name(&self, p: usize) -> &str {
        &self.names[p]
    }

    /// Score of a normalised query for every person (NaN for people with no faces).
    pub fn scores(&self, q: &[f32], sims: &mut Vec<f32>) -> Vec<f32> {
        let np = self.names.len();
        let mut proto = vec![f32::NEG_INFINITY; np];
        sims.resize(self.prototypes.len(), 0.0);
        dots(q, &self.prototypes.data, self.prototypes.dim, sims);
        for (s, &p) in sims.iter().zip(&self.person_of_prototype) {
            proto[p] = proto[p].max(*s);
        }
        sims.resize(self.faces.len(), 0.0);
        dots(q, &self.faces.data, self.faces.dim, sims);
        let mut top: Vec<[f32; NEIGHBOURS]> = vec![[f32::NEG_INFINITY; NEIGHBOURS]; np];
        for (s, &p) in sims.iter().zip(&self.person_of_face) {
            let t = &mut top[p];
            if *s > t[NEIGHBOURS - 1] {
                let mut i = NEIGHBOURS - 1;
                while i > 0 && *s > t[i - 1] {
                    t[i] = t[i - 1];
                    i -= 1;
                }
                t[i] = *s;
            }
        }
        (0..np)
            .map(|p| {
                let got: Vec<f32> = top[p].iter().copied().filter(|v| v.is_finite()).collect();
                if got.is_empty() {
                    return f32::NAN;
                }
                let nn = got.iter().sum::<f32>() / got.len() as f32;
                0.5 * (proto[p] + nn)
            })
            .collect()
    }

    /// Face ids in the gallery.
    pub fn face_ids(&self) -> &[i64] {
        &self.ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gallery_scores_own_person_highest() {
        let names = vec!["a".to_string(), "b".to_string()];
        let a1 = [1.0, 0.1, 0.0];
        let a2 = [0.9, 0.0, 0.1];
        let b1 = [0.0, 1.0, 0.1];
        let rows: Vec<(i64, usize, &[f32])> = vec![(1, 0, &a1), (2, 0, &a2), (3, 1, &b1)];
        let g = Gallery::new(names, 3, &rows);
        let s = g.scores(&normalized(&[1.0, 0.05, 0.05]), &mut Vec::new());
        assert!(s[0] > 0.9 && s[1] < 0.2, "{s:?}");
    }
}
