//! The median, the one summary statistic every layer of facelab takes (timings, scores,
//! similarities). It lives here, at the bottom of the workspace, so there is one.

/// Median of `values` (reordered in place): the middle value, or the mean of the two middle
/// values of an even count; NaN for an empty slice.
pub fn median<T: Copy + Into<f64>>(values: &mut [T]) -> f64 {
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    let by = |a: &T, b: &T| (*a).into().total_cmp(&(*b).into());
    let (_, &mut upper, _) = values.select_nth_unstable_by(n / 2, by);
    if n % 2 == 1 {
        return upper.into();
    }
    // The lower middle is the largest value left of the upper one.
    let lower = values[..n / 2]
        .iter()
        .map(|&v| v.into())
        .fold(f64::NEG_INFINITY, f64::max);
    (lower + upper.into()) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&mut [3.0f64, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0f64, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut [0.5f32, 0.25]), 0.375);
        assert!(median::<f64>(&mut []).is_nan());
    }
}
