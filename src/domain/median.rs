//! The median of measurements, and how far it can be trusted: a
//! distribution-free confidence interval from the order statistics, which
//! needs no assumption about how a noisy machine spreads the runs.

/// The median of `values` (the lower middle one for an even count); `None`
/// when there are none.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len().checked_sub(1)? / 2).copied()
}

/// An interval holding the true median with at least `confidence` (say
/// 0.95): the k-th smallest and k-th largest values, k as large as the
/// binomial distribution allows. `None` when there are too few values for
/// that confidence (five or fewer at 95 %).
pub fn median_interval(mut values: Vec<f64>, confidence: f64) -> Option<(f64, f64)> {
    let n = values.len();
    let alpha = 1.0 - confidence.clamp(0.0, 1.0);
    // The true median lies below the k-th smallest value only when fewer than
    // k values fall below it: P(Binomial(n, ½) ≤ k − 1), once for each end.
    let mut log_p = -(n as f64) * std::f64::consts::LN_2;
    let mut below = 0.0;
    let mut k = 0;
    for i in 0..n / 2 {
        below += log_p.exp();
        if 2.0 * below > alpha {
            break;
        }
        k = i + 1;
        log_p += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
    }
    if k == 0 {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some((values[k - 1], values[n - k]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_lower_middle() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.0));
        assert_eq!(median(Vec::new()), None);
    }

    fn shuffled(n: usize) -> Vec<f64> {
        // 1..=n in a scrambled order: the interval must not depend on it.
        (0..n).map(|i| ((i * 7919) % n + 1) as f64).collect()
    }

    #[test]
    fn the_interval_is_the_order_statistics_the_binomial_allows() {
        // Nine values: P(B ≤ 1) = 10/512, doubled 0.039 ≤ 0.05; P(B ≤ 2) = 46/512 is not.
        assert_eq!(median_interval(shuffled(9), 0.95), Some((2.0, 8.0)));
        // Thirty: the textbook 10th and 21st values.
        assert_eq!(median_interval(shuffled(30), 0.95), Some((10.0, 21.0)));
        // Six: only the extremes, at 96.9 %.
        assert_eq!(median_interval(shuffled(6), 0.95), Some((1.0, 6.0)));
        // More confidence asks for a wider interval.
        assert_eq!(median_interval(shuffled(30), 0.99), Some((8.0, 23.0)));
    }

    #[test]
    fn too_few_values_give_no_interval() {
        assert_eq!(median_interval(shuffled(5), 0.95), None);
        assert_eq!(median_interval(Vec::new(), 0.95), None);
        assert_eq!(median_interval(vec![1.0], 0.5), None);
    }

    #[test]
    fn the_interval_holds_the_median_of_many_values() {
        let (low, high) = median_interval(shuffled(2001), 0.95).expect("enough values");
        assert!(
            low < 1001.0 && 1001.0 < high && high - low < 100.0,
            "{low}..{high}"
        );
    }
}
