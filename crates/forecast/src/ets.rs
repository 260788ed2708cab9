//! Exponential smoothing with an additive season, ETS(A,N,A), for the fast movers: products that
//! sell most days and whose week has a shape (weekends busier). Error-correction form:
//!
//! ```text
//! e_t = y_t − (ℓ_{t−1} + s_{t−m})
//! ℓ_t = ℓ_{t−1} + α·e_t
//! s_t = s_{t−m} + γ·e_t
//! ŷ_{n+h} = ℓ_n + s_{n+h−m⌈h/m⌉}
//! ```
//!
//! Initial states by the classical decomposition: ℓ₀ is the mean of the first season, s the
//! first season's deviations from it (they sum to zero). α ∈ [0.01, 0.5] and γ ∈ [0.01, 0.3]
//! minimise the in-sample one-step squared error by coordinate-wise golden-section search (two
//! rounds of 16 evaluations per parameter): 65 passes over the series, about 155 µs of wall
//! time per series on two threads for two years of days (BENCHMARKS.md) — against roughly
//! 60 ms per series for a full AutoETS search in the reference library, which
//! is why [`crate::auto_seasonal`] fits it only where the series needs it, and keeps it only
//! when it beats plain SES on the corrected AIC.

/// A fitted ETS(A,N,A).
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub alpha: f64,
    pub gamma: f64,
    /// Level after the last observation.
    pub level: f64,
    /// Seasonal states; `season[i]` belongs to the period `n + i` after the end (i < m).
    pub season: Vec<f64>,
    /// In-sample sum of squared one-step errors (from period m on).
    pub sse: f64,
    /// Number of one-step errors in `sse`.
    pub errors: usize,
}

impl Fit {
    /// Forecast for the next `h` periods (not clamped: demand callers clamp at zero).
    pub fn forecast(&self, h: usize) -> Vec<f64> {
        let m = self.season.len().max(1);
        (0..h).map(|i| self.level + self.season.get(i % m).copied().unwrap_or(0.0)).collect()
    }

    /// Corrected AIC of the fit with Gaussian errors; `k` parameters α, γ, ℓ₀ and m − 1 free
    /// seasonal states.
    pub fn aicc(&self) -> f64 {
        let k = (3 + self.season.len().saturating_sub(1)) as f64;
        aicc(self.sse, self.errors, k)
    }
}

/// Corrected AIC from a sum of squared errors over `n` errors with `k` parameters (infinite
/// when there are too few errors to judge).
pub fn aicc(sse: f64, n: usize, k: f64) -> f64 {
    let n = n as f64;
    if n <= k + 1.0 {
        return f64::INFINITY;
    }
    n * (sse.max(1e-12) / n).ln() + 2.0 * k + 2.0 * k * (k + 1.0) / (n - k - 1.0)
}

/// ETS(A,N,A) with season `m` and fixed α, γ; `None` when the series is shorter than two
/// seasons or `m` is below 2.
pub fn fit(y: &[f64], m: usize, alpha: f64, gamma: f64) -> Option<Fit> {
    if m < 2 || y.len() < 2 * m {
        return None;
    }
    let mut season = vec![0.0; m];
    let (level, sse) = run(y, &mut season, alpha, gamma);
    // Rotate so that season[i] is the state of period n + i.
    let n = y.len();
    let season = (0..m).map(|i| season[(n + i) % m]).collect();
    Some(Fit { alpha, gamma, level, season, sse, errors: n - m })
}

/// The recursion itself, from the first season's decomposition: returns the last level and the
/// in-sample squared one-step error; `season` (length m, overwritten) ends with the state of
/// period t at index t mod m. No allocation: the search calls it some 64 times per series.
fn run(y: &[f64], season: &mut [f64], alpha: f64, gamma: f64) -> (f64, f64) {
    let m = season.len();
    let level0 = y[..m].iter().sum::<f64>() / m as f64;
    for (s, v) in season.iter_mut().zip(y) {
        *s = v - level0;
    }
    let (mut level, mut sse, mut j) = (level0, 0.0, 0);
    for &v in &y[m..] {
        let e = v - (level + season[j]);
        sse += e * e;
        level += alpha * e;
        season[j] += gamma * e;
        j += 1;
        if j == m {
            j = 0;
        }
    }
    (level, sse)
}

/// ETS(A,N,A) with α and γ chosen by least squares (see the module notes).
pub fn fit_optimized(y: &[f64], m: usize) -> Option<Fit> {
    use crate::golden;
    if m < 2 || y.len() < 2 * m {
        return None;
    }
    let mut scratch = vec![0.0; m];
    let mut cost = |a: f64, g: f64| run(y, &mut scratch, a, g).1;
    let (mut alpha, mut gamma) = (0.1, 0.05);
    // 14 narrowings leave α within 0.0005 and γ within 0.0003 of the section's minimum.
    for _ in 0..2 {
        alpha = golden(0.01, 0.5, 14, |a| cost(a, gamma));
        gamma = golden(0.01, 0.3, 14, |g| cost(alpha, g));
    }
    fit(y, m, alpha, gamma)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn states_and_forecast_by_hand() {
        // m = 2, first season 4, 2 → ℓ₀ = 3, s = (+1, −1).
        // t=2, y=6: ŷ = 3 + 1 = 4, e = 2 → ℓ = 3 + 0.5·2 = 4, s₀ = 1 + 0.25·2 = 1.5.
        // t=3, y=2: ŷ = 4 − 1 = 3, e = −1 → ℓ = 3.5, s₁ = −1 − 0.25 = −1.25.
        // n = 4: the next period is t=4 (season 0), then t=5 (season 1).
        let f = fit(&[4.0, 2.0, 6.0, 2.0], 2, 0.5, 0.25).unwrap();
        assert!(close(f.level, 3.5) && close(f.season[0], 1.5) && close(f.season[1], -1.25), "{f:?}");
        assert!(close(f.sse, 4.0 + 1.0) && f.errors == 2);
        let fc = f.forecast(3);
        assert!(close(fc[0], 5.0) && close(fc[1], 2.25) && close(fc[2], 5.0), "{fc:?}");
        assert!(fit(&[1.0, 2.0, 3.0], 2, 0.5, 0.25).is_none(), "shorter than two seasons");
    }

    #[test]
    fn the_optimizer_finds_the_least_squares_parameters_of_a_grid() {
        let y: Vec<f64> = (0..140).map(|t| 10.0 + [3.0, -1.0, -1.0, -1.0, 0.0, 4.0, -4.0][t % 7] + ((t * 7919) % 5) as f64 - 2.0 + t as f64 * 0.02).collect();
        let best = fit_optimized(&y, 7).unwrap();
        let mut grid = f64::INFINITY;
        for i in 0..=49 {
            for j in 0..=29 {
                grid = grid.min(fit(&y, 7, 0.01 + 0.01 * i as f64, 0.01 + 0.01 * j as f64).unwrap().sse);
            }
        }
        assert!(best.sse <= grid * 1.001, "optimizer {} vs grid {grid}", best.sse);
        assert!((0.01..=0.5).contains(&best.alpha) && (0.01..=0.3).contains(&best.gamma));
    }

    #[test]
    fn aicc_penalises_parameters_and_refuses_tiny_samples() {
        assert!(aicc(10.0, 100, 9.0) > aicc(10.0, 100, 2.0));
        assert_eq!(aicc(1.0, 5, 9.0), f64::INFINITY);
    }
}
