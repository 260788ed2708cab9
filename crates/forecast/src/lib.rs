//! Demand forecasting for store × product series, most of them intermittent (many zero days).
//! Pure computation: no I/O, no clock, no randomness — the same input gives the same output.
//!
//! Methods follow their usual definitions (as in the reference library `statsforecast`):
//! naive, seasonal naive, historic average, simple exponential smoothing (fixed α, or α chosen
//! in [0.1, 0.3] by least squares), Croston (classic α = 0.1, or optimized), SBA, TSB, ADIDA and
//! IMAPA. [`Method::Auto`] chooses per series from the Syntetos–Boylan class. Forecasts are flat
//! (one mean per future period) and come with quantiles from a negative binomial whose mean is
//! the forecast and whose dispersion is the series' own.

#![forbid(unsafe_code)]

pub mod ets;
pub mod eval;
pub mod replenish;
pub mod synthetic;

/// Syntetos–Boylan cut-offs.
pub const ADI_CUTOFF: f64 = 1.32;
pub const CV2_CUTOFF: f64 = 0.49;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    Naive,
    SeasonalNaive(usize),
    HistoricAverage,
    Ses(f64),
    SesOptimized,
    CrostonClassic,
    CrostonOptimized,
    Sba,
    Tsb {
        alpha_d: f64,
        alpha_p: f64,
    },
    Adida,
    Imapa,
    /// ETS(A,N,A) with this season length, α and γ optimized (see [`ets`]).
    Ets(usize),
    /// Chosen per series from its Syntetos–Boylan class (see [`auto`]).
    Auto,
    /// [`Method::Auto`], except that fast movers get a seasonal ETS of this season length when
    /// it earns its parameters (see [`auto_seasonal`]). What HQ runs on daily sales (7).
    AutoSeasonal(usize),
}

impl Method {
    pub fn name(&self) -> String {
        match self {
            Method::Naive => "Naive".into(),
            Method::SeasonalNaive(s) => format!("SeasonalNaive({s})"),
            Method::HistoricAverage => "HistoricAverage".into(),
            Method::Ses(a) => format!("SES(α={a})"),
            Method::SesOptimized => "SESOptimized".into(),
            Method::CrostonClassic => "CrostonClassic".into(),
            Method::CrostonOptimized => "CrostonOptimized".into(),
            Method::Sba => "CrostonSBA".into(),
            Method::Tsb { alpha_d, alpha_p } => format!("TSB(αd={alpha_d},αp={alpha_p})"),
            Method::Adida => "ADIDA".into(),
            Method::Imapa => "IMAPA".into(),
            Method::Ets(m) => format!("ETS(A,N,A,{m})"),
            Method::Auto => "Auto".into(),
            Method::AutoSeasonal(m) => format!("Auto(season {m})"),
        }
    }

    /// Every method the evaluation compares.
    pub fn all() -> Vec<Method> {
        vec![
            Method::Naive,
            Method::HistoricAverage,
            Method::SeasonalNaive(12),
            Method::SesOptimized,
            Method::CrostonClassic,
            Method::CrostonOptimized,
            Method::Sba,
            Method::Tsb { alpha_d: 0.1, alpha_p: 0.1 },
            Method::Adida,
            Method::Imapa,
            Method::Ets(12),
            Method::Auto,
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    NoDemand,
    Smooth,
    Intermittent,
    Erratic,
    Lumpy,
}

/// Average inter-demand interval and squared coefficient of variation of the non-zero sizes.
pub fn adi_cv2(y: &[f64]) -> Option<(f64, f64)> {
    let sizes: Vec<f64> = y.iter().copied().filter(|v| *v > 0.0).collect();
    if sizes.is_empty() {
        return None;
    }
    let adi = y.len() as f64 / sizes.len() as f64;
    let mean = sizes.iter().sum::<f64>() / sizes.len() as f64;
    let var = sizes.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / sizes.len() as f64;
    Some((adi, var / (mean * mean)))
}

pub fn classify(y: &[f64]) -> Class {
    match adi_cv2(y) {
        None => Class::NoDemand,
        Some((adi, cv2)) => match (adi >= ADI_CUTOFF, cv2 >= CV2_CUTOFF) {
            (false, false) => Class::Smooth,
            (true, false) => Class::Intermittent,
            (false, true) => Class::Erratic,
            (true, true) => Class::Lumpy,
        },
    }
}

/// One-step SES over `x` with level starting at `x[0]`: the forecast after the last value and
/// the in-sample sum of squared one-step errors.
pub fn ses(x: &[f64], alpha: f64) -> (f64, f64) {
    let Some(&first) = x.first() else { return (0.0, 0.0) };
    let mut level = first;
    let mut sse = 0.0;
    for &v in &x[1..] {
        sse += (v - level).powi(2);
        level = alpha * v + (1.0 - alpha) * level;
    }
    (level, sse)
}

/// SES with α in [lo, hi] minimising the one-step squared error (golden-section search; 24
/// steps narrow [0.1, 0.3] to 2·10⁻⁶).
pub fn ses_optimized(x: &[f64], lo: f64, hi: f64) -> (f64, f64) {
    if x.len() < 2 {
        return (x.first().copied().unwrap_or(0.0), lo);
    }
    let alpha = golden(lo, hi, 24, |a| ses(x, a).1);
    (ses(x, alpha).0, alpha)
}

/// Golden-section minimum of a unimodal `f` on [lo, hi] after `steps` narrowings.
pub(crate) fn golden(lo: f64, hi: f64, steps: usize, mut f: impl FnMut(f64) -> f64) -> f64 {
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (lo, hi);
    let mut c = b - phi * (b - a);
    let mut d = a + phi * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..steps {
        if fc <= fd {
            b = d;
            d = c;
            fd = fc;
            c = b - phi * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + phi * (b - a);
            fd = f(d);
        }
    }
    (a + b) / 2.0
}

/// Non-zero sizes and the intervals before each (the first counted from the start).
fn sizes_intervals(y: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut sizes = Vec::new();
    let mut intervals = Vec::new();
    let mut last = None;
    for (i, &v) in y.iter().enumerate() {
        if v > 0.0 {
            sizes.push(v);
            intervals.push(match last {
                None => (i + 1) as f64,
                Some(j) => (i - j) as f64,
            });
            last = Some(i);
        }
    }
    (sizes, intervals)
}

fn croston(y: &[f64], optimized: bool, factor: f64) -> f64 {
    let (sizes, intervals) = sizes_intervals(y);
    if sizes.is_empty() {
        return 0.0;
    }
    let (z, p) =
        if optimized { (ses_optimized(&sizes, 0.1, 0.3).0, ses_optimized(&intervals, 0.1, 0.3).0) } else { (ses(&sizes, 0.1).0, ses(&intervals, 0.1).0) };
    if p <= 0.0 {
        return 0.0;
    }
    factor * z / p
}

fn tsb(y: &[f64], alpha_d: f64, alpha_p: f64) -> f64 {
    let (sizes, _) = sizes_intervals(y);
    if sizes.is_empty() {
        return 0.0;
    }
    let occurrence: Vec<f64> = y.iter().map(|v| if *v > 0.0 { 1.0 } else { 0.0 }).collect();
    ses(&occurrence, alpha_p).0 * ses(&sizes, alpha_d).0
}

/// Sums of non-overlapping buckets of `k`, aligned on the end (the oldest remainder dropped).
fn buckets(y: &[f64], k: usize) -> Vec<f64> {
    let skip = y.len() % k;
    y[skip..].chunks(k).map(|c| c.iter().sum()).collect()
}

fn mean_interval(y: &[f64]) -> Option<usize> {
    let (_, intervals) = sizes_intervals(y);
    if intervals.is_empty() {
        return None;
    }
    Some(((intervals.iter().sum::<f64>() / intervals.len() as f64).round() as usize).max(1))
}

fn adida_at(y: &[f64], k: usize) -> f64 {
    let b = buckets(y, k);
    if b.is_empty() {
        return 0.0;
    }
    ses_optimized(&b, 0.1, 0.3).0 / k as f64
}

fn adida(y: &[f64]) -> f64 {
    match mean_interval(y) {
        None => 0.0,
        Some(k) => adida_at(y, k.min(y.len())),
    }
}

fn imapa(y: &[f64]) -> f64 {
    match mean_interval(y) {
        None => 0.0,
        Some(k) => {
            let k = k.min(y.len());
            (1..=k).map(|j| adida_at(y, j)).sum::<f64>() / k as f64
        }
    }
}

/// The automatic choice: SES (optimized) for smooth and erratic series; for intermittent and
/// lumpy ones the mean of SES, ADIDA and IMAPA (each unbiased-ish and differently smoothed, so
/// their errors partly cancel); nothing for a series that never sold.
pub fn auto(y: &[f64]) -> f64 {
    match classify(y) {
        Class::NoDemand => 0.0,
        Class::Smooth | Class::Erratic => ses_optimized(y, 0.1, 0.3).0,
        Class::Intermittent | Class::Lumpy => {
            // SES is ADIDA at level 1, ADIDA the top level of IMAPA: each level is fitted once.
            let k = mean_interval(y).unwrap_or(1).min(y.len());
            let levels: Vec<f64> = (1..=k).map(|j| adida_at(y, j)).collect();
            let imapa = levels.iter().sum::<f64>() / k as f64;
            (levels[0] + levels[k - 1] + imapa) / 3.0
        }
    }
}

/// [`auto`] for slow and intermittent series; for fast movers (smooth or erratic: sold in most
/// periods) with at least three seasons of history, a seasonal ETS(A,N,A) when its corrected
/// AIC beats optimized SES scored on the same periods, else SES. Not clamped.
pub fn auto_seasonal(y: &[f64], m: usize, h: usize) -> Vec<f64> {
    let flat = |v: f64| vec![v; h];
    match classify(y) {
        Class::Smooth | Class::Erratic if m >= 2 && y.len() >= 3 * m => {
            let (level, alpha) = ses_optimized(y, 0.1, 0.3);
            let Some(seasonal) = ets::fit_optimized(y, m) else { return flat(level) };
            // SES's one-step errors over the periods the seasonal model is scored on.
            let mut l = y[0];
            let mut sse = 0.0;
            for (t, &v) in y.iter().enumerate().skip(1) {
                if t >= m {
                    sse += (v - l).powi(2);
                }
                l = alpha * v + (1.0 - alpha) * l;
            }
            if seasonal.aicc() < ets::aicc(sse, y.len() - m, 2.0) {
                seasonal.forecast(h)
            } else {
                flat(level)
            }
        }
        _ => flat(auto(y)),
    }
}

/// Forecast of `method` for the next `h` periods of `y` (oldest first).
pub fn forecast(method: Method, y: &[f64], h: usize) -> Vec<f64> {
    if y.is_empty() {
        return vec![0.0; h];
    }
    let flat = |v: f64| vec![v.max(0.0); h];
    match method {
        Method::Naive => flat(y[y.len() - 1]),
        Method::SeasonalNaive(s) if s > 0 && y.len() >= s => (0..h).map(|i| y[y.len() - s + (i % s)]).collect(),
        Method::SeasonalNaive(_) => flat(y[y.len() - 1]),
        Method::HistoricAverage => flat(y.iter().sum::<f64>() / y.len() as f64),
        Method::Ses(alpha) => flat(ses(y, alpha).0),
        Method::SesOptimized => flat(ses_optimized(y, 0.1, 0.3).0),
        Method::CrostonClassic => flat(croston(y, false, 1.0)),
        Method::CrostonOptimized => flat(croston(y, true, 1.0)),
        Method::Sba => flat(croston(y, false, 0.95)),
        Method::Tsb { alpha_d, alpha_p } => flat(tsb(y, alpha_d, alpha_p)),
        Method::Adida => flat(adida(y)),
        Method::Imapa => flat(imapa(y)),
        Method::Ets(m) => match ets::fit_optimized(y, m) {
            Some(f) => f.forecast(h).into_iter().map(|v| v.max(0.0)).collect(),
            None => flat(ses_optimized(y, 0.1, 0.3).0),
        },
        Method::Auto => flat(auto(y)),
        Method::AutoSeasonal(m) => auto_seasonal(y, m, h).into_iter().map(|v| v.max(0.0)).collect(),
    }
}

/// Quantile `p` of a count with mean `mean` and the dispersion (variance / mean, at least 1)
/// of the series it comes from: negative binomial, Poisson when not over-dispersed.
pub fn quantile(mean: f64, dispersion: f64, p: f64) -> f64 {
    if mean <= 0.0 {
        return 0.0;
    }
    let d = dispersion.max(1.0 + 1e-9);
    // NB with mean m and variance d·m: r = m / (d − 1), success probability q = 1 / d.
    let r = mean / (d - 1.0);
    let q = 1.0 / d;
    let mut pmf = q.powf(r); // P(0)
    let mut cdf = pmf;
    let mut k = 0.0;
    while cdf < p && k < 1e6 {
        pmf *= (k + r) / (k + 1.0) * (1.0 - q);
        k += 1.0;
        cdf += pmf;
    }
    k
}

/// P(Y ≤ k) for the distribution of [`quantile`] (0 for k < 0).
pub fn cdf(mean: f64, dispersion: f64, k: f64) -> f64 {
    if k < 0.0 {
        return 0.0;
    }
    if mean <= 0.0 {
        return 1.0;
    }
    let d = dispersion.max(1.0 + 1e-9);
    let (r, q) = (mean / (d - 1.0), 1.0 / d);
    let mut pmf = q.powf(r);
    let mut cdf = pmf;
    let mut i = 0.0;
    while i < k {
        pmf *= (i + r) / (i + 1.0) * (1.0 - q);
        i += 1.0;
        cdf += pmf;
    }
    cdf.min(1.0)
}

/// Variance over mean of a series (its index of dispersion), 1 when it is not defined.
pub fn dispersion(y: &[f64]) -> f64 {
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n.max(1.0);
    if mean <= 0.0 || y.len() < 2 {
        return 1.0;
    }
    let var = y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (var / mean).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn ses_by_hand() {
        // level 2 → 0.5·4 + 0.5·2 = 3 → 0.5·0 + 0.5·3 = 1.5; errors 2, −3.
        let (f, sse) = ses(&[2.0, 4.0, 0.0], 0.5);
        assert!(close(f, 1.5) && close(sse, 4.0 + 9.0), "{f} {sse}");
    }

    #[test]
    fn croston_sba_and_tsb_by_hand() {
        let y = [0.0, 3.0, 0.0, 0.0, 6.0];
        // Sizes 3, 6 and intervals 2, 3: SES(0.1) → size 3 + 0.1·3 = 3.3, interval 2 + 0.1·1 = 2.1.
        assert!(close(forecast(Method::CrostonClassic, &y, 1)[0], 3.3 / 2.1));
        assert!(close(forecast(Method::Sba, &y, 1)[0], 0.95 * 3.3 / 2.1));
        // Occurrence 0,1,0,0,1 smoothed with 0.1 from 0: 0 → 0.1 → 0.09 → 0.081 → 0.1729.
        assert!(close(forecast(Method::Tsb { alpha_d: 0.1, alpha_p: 0.1 }, &y, 1)[0], 0.1729 * 3.3));
    }

    #[test]
    fn adida_aggregates_by_the_mean_interval_from_the_end() {
        // Intervals 2, 2, 2 → buckets of 2 from the end: [0,2],[0,2],[0,2] → sums 2,2,2 → 2/2 = 1.
        let y = [0.0, 2.0, 0.0, 2.0, 0.0, 2.0];
        assert!(close(forecast(Method::Adida, &y, 3)[2], 1.0));
        // IMAPA averages levels 1 and 2: level 1 is SES over the raw series.
        let level1 = ses_optimized(&y, 0.1, 0.3).0;
        assert!(close(forecast(Method::Imapa, &y, 1)[0], (level1 + 1.0) / 2.0));
    }

    #[test]
    fn optimized_ses_stays_in_its_bounds_and_finds_the_least_squares_alpha() {
        let y = [5.0, 0.0, 0.0, 7.0, 1.0, 0.0, 0.0, 9.0, 0.0, 2.0];
        let (_, alpha) = ses_optimized(&y, 0.1, 0.3);
        assert!((0.1..=0.3).contains(&alpha));
        let best = (0..=200).map(|i| 0.1 + 0.001 * i as f64).map(|a| (ses(&y, a).1, a)).fold((f64::MAX, 0.0), |m, x| if x.0 < m.0 { x } else { m });
        assert!((alpha - best.1).abs() < 0.002, "{alpha} vs grid {}", best.1);
    }

    #[test]
    fn naive_seasonal_and_average() {
        let y = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(forecast(Method::Naive, &y, 2), vec![4.0, 4.0]);
        assert_eq!(forecast(Method::SeasonalNaive(2), &y, 3), vec![3.0, 4.0, 3.0]);
        assert_eq!(forecast(Method::HistoricAverage, &y, 1), vec![2.5]);
    }

    #[test]
    fn classes_and_quantiles() {
        assert_eq!(classify(&[0.0, 0.0]), Class::NoDemand);
        assert_eq!(classify(&[5.0, 5.0, 6.0, 5.0]), Class::Smooth);
        assert_eq!(classify(&[0.0, 0.0, 5.0, 0.0, 0.0, 5.0]), Class::Intermittent);
        assert_eq!(classify(&[0.0, 0.0, 1.0, 0.0, 0.0, 20.0]), Class::Lumpy);
        // Poisson(1): P(0) = 0.368, P(≤1) = 0.736, P(≤2) = 0.920.
        assert_eq!(quantile(1.0, 1.0, 0.5), 1.0);
        assert_eq!(quantile(1.0, 1.0, 0.9), 2.0);
        assert_eq!(quantile(0.0, 3.0, 0.95), 0.0);
        // Over-dispersion widens the upper quantile.
        assert!(quantile(1.0, 4.0, 0.95) > quantile(1.0, 1.0, 0.95));
    }

    #[test]
    fn fast_movers_with_a_weekly_shape_get_the_seasonal_model_and_others_do_not() {
        let week = [6.0, 5.0, 5.0, 6.0, 9.0, 14.0, 12.0];
        let noise = |t: usize| ((t * 7919 + 13) % 5) as f64 - 2.0;
        let y: Vec<f64> = (0..126).map(|t| week[t % 7] + noise(t)).collect();
        let (train, test) = y.split_at(112);
        let f = forecast(Method::AutoSeasonal(7), train, 14);
        assert!(f[5] > f[1] + 4.0, "Saturday above Tuesday: {f:?}");
        let sse = |f: &[f64]| f.iter().zip(test).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
        assert!(sse(&f) < 0.5 * sse(&forecast(Method::SesOptimized, train, 14)), "{f:?}");
        // No weekly shape: the seasonal model does not earn its parameters, SES is kept (flat).
        let flat: Vec<f64> = (0..126).map(|t| 8.0 + noise(t)).collect();
        let g = forecast(Method::AutoSeasonal(7), &flat, 7);
        assert!(g.iter().all(|v| close(*v, g[0])), "{g:?}");
        // Intermittent series are unchanged by the season.
        let slow = [0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 1.0].repeat(10);
        assert_eq!(forecast(Method::AutoSeasonal(7), &slow, 3), forecast(Method::Auto, &slow, 3));
    }
}
