//! Summary statistics of timings and scores, in one place for every command and task.

pub use facelab_cluster::stats::median;

/// The p-th percentile (nearest rank) of `values`, sorted in place; NaN for an empty slice.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() as f64) * p).ceil() as usize;
    values
        .get(rank.saturating_sub(1))
        .copied()
        .unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentile() {
        let mut v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&mut v, 0.9), 9.0);
        assert_eq!(percentile(&mut v, 1.0), 10.0);
        assert!(percentile(&mut [], 0.9).is_nan());
    }
}
