//! A synthetic panel of intermittent daily demand for benchmarks: each series is made from its
//! own index by a small deterministic generator (SplitMix64), so any series can be rebuilt alone
//! and a panel of millions never has to be held in memory.

/// SplitMix64: a fixed, well-known 64-bit mixer; plenty for test data.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Series `index` of panel `seed`: `days` values. Most series are slow: each day a sale with a
/// probability between 2 % and 60 % (weekends busier), of a geometric size with mean 1 to 4
/// units. One series in twenty is a fast mover: it sells on 85–99 % of days, 3 to 12 units on a
/// weekday and half as much again on Fridays and Saturdays. About 70 % zeros overall.
pub fn series(seed: u64, index: u64, days: usize, out: &mut Vec<f64>) {
    let mut r = Mix(seed ^ index.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    let fast = r.unit() < 0.05;
    let (p, mean_size) = if fast { (0.85 + 0.14 * r.unit(), 3.0 + 9.0 * r.unit()) } else { (0.02 + 0.58 * r.unit() * r.unit(), 1.0 + 3.0 * r.unit()) };
    out.clear();
    for d in 0..days {
        let weekend = d % 7 >= 5;
        // This day's chance of a sale and mean size: fast movers sell bigger at the weekend,
        // slow series sell more often.
        let (chance, size) = if fast { (p, mean_size * if weekend { 1.5 } else { 1.0 }) } else { ((p * if weekend { 1.3 } else { 0.9 }).min(0.95), mean_size) };
        let v = if r.unit() < chance { 1.0 + (-(r.unit().max(1e-12)).ln() * (size - 1.0)).floor() } else { 0.0 };
        out.push(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_index_gives_the_same_series_and_most_days_are_zero() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        series(1, 42, 730, &mut a);
        series(1, 42, 730, &mut b);
        assert_eq!(a, b);
        series(1, 43, 730, &mut b);
        assert_ne!(a, b);
        let mut zeros = 0usize;
        for i in 0..1000 {
            series(1, i, 730, &mut a);
            zeros += a.iter().filter(|v| **v == 0.0).count();
        }
        let share = zeros as f64 / 730_000.0;
        assert!((0.6..0.85).contains(&share), "{share}");
        let fast = (0..1000).filter(|i| {
            series(1, *i, 730, &mut a);
            crate::classify(&a) == crate::Class::Smooth || crate::classify(&a) == crate::Class::Erratic
        });
        let fast = fast.count();
        assert!((25..80).contains(&fast), "{fast} fast movers in 1,000");
    }

    #[test]
    fn on_the_fast_movers_the_weekly_model_beats_the_flat_forecast() {
        let (mut y, mut fast, mut flat_sse, mut weekly_sse) = (Vec::new(), 0, 0.0, 0.0);
        for i in 0..2000 {
            series(7, i, 730, &mut y);
            let (train, test) = y.split_at(702);
            if !matches!(crate::classify(train), crate::Class::Smooth | crate::Class::Erratic) {
                continue;
            }
            fast += 1;
            let sse = |f: Vec<f64>| f.iter().zip(test).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
            flat_sse += sse(crate::forecast(crate::Method::Auto, train, 28));
            weekly_sse += sse(crate::forecast(crate::Method::AutoSeasonal(7), train, 28));
        }
        assert!(fast >= 50, "{fast}");
        // Sizes are geometric (variance ≈ mean²) and the weekend effect is ×1.5 on 2 days of 7:
        // the best any model can gain over a flat forecast here is about 5 % of the squared error.
        assert!(weekly_sse < 0.99 * flat_sse, "weekly {weekly_sse} vs flat {flat_sse} over {fast} fast movers");
    }
}
