//! A histogram whose `observe` takes no lock: one atomic add for the bucket
//! and a compare-and-swap loop for the sum. prometheus-client's own histogram
//! locks a mutex per observation; the engine records one per claim.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

#[derive(Debug)]
struct Inner {
    /// Upper bounds, increasing; the `+Inf` bucket is implied.
    bounds: Box<[f64]>,
    /// Observations per bucket (not cumulative), one more than `bounds`.
    counts: Box<[AtomicU64]>,
    /// The sum of observations, as `f64` bits.
    sum: AtomicU64,
}

/// A lock-free histogram (cheap to clone: clones share the counts).
#[derive(Debug, Clone)]
pub struct AtomicHistogram(Arc<Inner>);

impl AtomicHistogram {
    /// A histogram with these bucket upper bounds (sorted here; NaN dropped).
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> Self {
        let mut bounds: Vec<f64> = bounds
            .into_iter()
            .filter(|b| !b.is_nan() && b.is_finite())
            .collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self(Arc::new(Inner {
            bounds: bounds.into_boxed_slice(),
            counts,
            sum: AtomicU64::new(0f64.to_bits()),
        }))
    }

    /// Count `value` in the first bucket whose bound is at least `value`.
    pub fn observe(&self, value: f64) {
        let inner = &*self.0;
        let bucket = inner.bounds.partition_point(|bound| *bound < value);
        if let Some(count) = inner.counts.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        // The closure always returns Some: the update cannot fail.
        let _ = inner
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }

    /// Sum, count and per-bucket counts (the last bucket is `+Inf`).
    pub fn get(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let inner = &*self.0;
        let buckets: Vec<(f64, u64)> = inner
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(inner.counts.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        // Counted from the buckets, so that count and `+Inf` always agree.
        let count = buckets.iter().map(|(_, n)| n).sum();
        (f64::from_bits(inner.sum.load(Ordering::Relaxed)), count, buckets)
    }
}

impl TypedMetric for AtomicHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.get();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_at_or_above_them() {
        let h = AtomicHistogram::new([1.0, 0.5, 2.0, f64::NAN]);
        for v in [0.1, 0.5, 0.7, 2.0, 9.0] {
            h.observe(v);
        }
        let (sum, count, buckets) = h.get();
        assert!((sum - 12.3).abs() < 1e-9);
        assert_eq!(count, 5);
        assert_eq!(buckets, vec![(0.5, 2), (1.0, 1), (2.0, 1), (f64::INFINITY, 1)]);
    }

    #[test]
    fn concurrent_observations_are_all_counted() {
        let h = AtomicHistogram::new([1.0]);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let h = h.clone();
                std::thread::spawn(move || (0..10_000).for_each(|_| h.observe(0.5)))
            })
            .collect();
        for t in threads {
            t.join().expect("joins");
        }
        let (sum, count, _) = h.get();
        assert_eq!(count, 40_000);
        assert_eq!(sum, 20_000.0, "0.5 adds exactly in binary");
    }
}
