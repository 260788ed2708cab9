//! Holdout evaluation on a tidy panel (`series,period,demand`; empty demand = missing): fit on
//! all but the last `h` periods, forecast `h`, score MASE, RMSSE, MAE and ME per method, and the
//! coverage of the automatic choice's 80 % and 95 % quantiles.

use crate::{dispersion, forecast, quantile, Method};
use rayon::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PanelError {
    #[error("line {line}: {reason}")]
    Row { line: usize, reason: String },
    #[error("the header must be series,period,demand")]
    Header,
}

/// Series in file order, each with its values by period (`None` = missing).
pub type Panel = Vec<(String, Vec<Option<f64>>)>;

/// Reads a tidy panel. Periods are integers; within a series they must be 1..n without gaps.
pub fn parse(text: &str) -> Result<Panel, PanelError> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let header = reader.headers().map_err(|_| PanelError::Header)?.clone();
    if header.iter().collect::<Vec<_>>() != ["series", "period", "demand"] {
        return Err(PanelError::Header);
    }
    let mut panel: Panel = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| PanelError::Row { line, reason: e.to_string() })?;
        let bad = |reason: &str| PanelError::Row { line, reason: reason.to_string() };
        let series = rec.get(0).filter(|s| !s.is_empty()).ok_or_else(|| bad("no series"))?;
        let period: usize = rec.get(1).and_then(|p| p.parse().ok()).filter(|p| *p >= 1).ok_or_else(|| bad("period is not a positive integer"))?;
        let demand = match rec.get(2) {
            None | Some("") => None,
            Some(d) => {
                Some(d.parse::<f64>().ok().filter(|v| v.is_finite() && (0.0..=1e12).contains(v)).ok_or_else(|| bad("demand is not a number from 0 to 10^12"))?)
            }
        };
        let k = *index.entry(series.to_string()).or_insert_with(|| {
            panel.push((series.to_string(), Vec::new()));
            panel.len() - 1
        });
        let values = &mut panel[k].1;
        if period != values.len() + 1 {
            return Err(bad(&format!("period {period} of series {series} is out of order (expected {})", values.len() + 1)));
        }
        values.push(demand);
    }
    Ok(panel)
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Score {
    pub mase: f64,
    pub rmsse: f64,
    pub mae: f64,
    pub me: f64,
    /// Fraction of held-out actuals at or under the 80 % and 95 % quantiles.
    pub coverage80: f64,
    pub coverage95: f64,
    /// The same with ties at the quantile counted in proportion (randomized PIT): for a count
    /// with most of its mass at zero, any 80 % quantile is 0 and covers every zero, so plain
    /// coverage cannot come near 80 % even for a perfect forecast; this one can.
    pub pit80: f64,
    pub pit95: f64,
    /// The plain coverage the forecast distributions themselves expect: the mean of P(Y ≤ q80)
    /// and P(Y ≤ q95) under each forecast. For counts this is well above 80 % and 95 % (the
    /// quantile is a whole number); a calibrated forecast's plain coverage matches it.
    pub expected80: f64,
    pub expected95: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub series: usize,
    pub dropped_missing: usize,
    pub dropped_too_short: usize,
    /// Series left out of MASE and RMSSE: their training window is constant (no scale).
    pub unscaled: usize,
    pub scores: Vec<(String, Score)>,
}

struct SeriesScore {
    scaled: Option<(f64, f64)>,
    abs: f64,
    err: f64,
    cov80: f64,
    cov95: f64,
    pit80: f64,
    pit95: f64,
    exp80: f64,
    exp95: f64,
}

/// How much of the mass at `a` lies under level `tau` (1 when all of it, 0 when none).
fn pit_cover(mean: f64, d: f64, a: f64, tau: f64) -> f64 {
    let (below, upto) = (crate::cdf(mean, d, a - 1.0), crate::cdf(mean, d, a));
    if upto <= tau {
        1.0
    } else if below >= tau {
        0.0
    } else {
        (tau - below) / (upto - below)
    }
}

fn score_series(method: Method, train: &[f64], test: &[f64]) -> SeriesScore {
    let h = test.len();
    let f = forecast(method, train, h);
    let d = dispersion(train);
    let (mut abs, mut sq, mut err, mut c80, mut c95, mut p80, mut p95, mut e80, mut e95) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (fc, a) in f.iter().zip(test) {
        abs += (fc - a).abs();
        sq += (fc - a).powi(2);
        err += fc - a;
        let (q80, q95) = (quantile(*fc, d, 0.8), quantile(*fc, d, 0.95));
        c80 += f64::from(u8::from(*a <= q80));
        c95 += f64::from(u8::from(*a <= q95));
        e80 += crate::cdf(*fc, d, q80);
        e95 += crate::cdf(*fc, d, q95);
        p80 += pit_cover(*fc, d, *a, 0.8);
        p95 += pit_cover(*fc, d, *a, 0.95);
    }
    let diffs: Vec<f64> = train.windows(2).map(|w| w[1] - w[0]).collect();
    let scale_abs = diffs.iter().map(|v| v.abs()).sum::<f64>() / diffs.len().max(1) as f64;
    let scale_sq = diffs.iter().map(|v| v * v).sum::<f64>() / diffs.len().max(1) as f64;
    let hf = h as f64;
    let scaled = (scale_abs > 0.0).then(|| ((abs / hf) / scale_abs, ((sq / hf) / scale_sq).sqrt()));
    SeriesScore { scaled, abs: abs / hf, err: err / hf, cov80: c80 / hf, cov95: c95 / hf, pit80: p80 / hf, pit95: p95 / hf, exp80: e80 / hf, exp95: e95 / hf }
}

/// Scores every method of [`Method::all`] on the last `h` periods of each complete series.
pub fn evaluate(panel: &Panel, h: usize) -> Report {
    let complete: Vec<Vec<f64>> = panel.iter().filter_map(|(_, v)| v.iter().copied().collect::<Option<Vec<f64>>>()).collect();
    let dropped_missing = panel.len() - complete.len();
    let usable: Vec<&Vec<f64>> = complete.iter().filter(|v| v.len() > h + 1).collect();
    let dropped_too_short = complete.len() - usable.len();
    let mut scores = Vec::new();
    let mut unscaled = 0;
    for method in Method::all() {
        let per: Vec<SeriesScore> = usable.par_iter().map(|v| score_series(method, &v[..v.len() - h], &v[v.len() - h..])).collect();
        let n = per.len().max(1) as f64;
        let scaled: Vec<(f64, f64)> = per.iter().filter_map(|s| s.scaled).collect();
        unscaled = per.len() - scaled.len();
        let m = scaled.len().max(1) as f64;
        scores.push((
            method.name(),
            Score {
                mase: scaled.iter().map(|s| s.0).sum::<f64>() / m,
                rmsse: scaled.iter().map(|s| s.1).sum::<f64>() / m,
                mae: per.iter().map(|s| s.abs).sum::<f64>() / n,
                me: per.iter().map(|s| s.err).sum::<f64>() / n,
                coverage80: per.iter().map(|s| s.cov80).sum::<f64>() / n,
                coverage95: per.iter().map(|s| s.cov95).sum::<f64>() / n,
                pit80: per.iter().map(|s| s.pit80).sum::<f64>() / n,
                pit95: per.iter().map(|s| s.pit95).sum::<f64>() / n,
                expected80: per.iter().map(|s| s.exp80).sum::<f64>() / n,
                expected95: per.iter().map(|s| s.exp95).sum::<f64>() / n,
            },
        ));
    }
    Report { series: usable.len(), dropped_missing, dropped_too_short, unscaled, scores }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panel_with_gaps_in_its_periods_is_refused_with_the_line() {
        assert_eq!(
            parse("series,period,demand\na,1,0\na,3,1\n"),
            Err(PanelError::Row { line: 3, reason: "period 3 of series a is out of order (expected 2)".into() })
        );
        assert_eq!(parse("s,p,d\n"), Err(PanelError::Header));
        let p = parse("series,period,demand\na,1,0\na,2,\nb,1,4\n").unwrap();
        assert_eq!(p, vec![("a".to_string(), vec![Some(0.0), None]), ("b".to_string(), vec![Some(4.0)])]);
    }

    #[test]
    fn scores_by_hand() {
        // Train 0,2,0,2 → naive forecast 2; test 0,4: errors 2, −2; |diff| scale 2, squared 4.
        let s = score_series(Method::Naive, &[0.0, 2.0, 0.0, 2.0], &[0.0, 4.0]);
        assert_eq!(s.scaled, Some((1.0, 1.0)));
        assert_eq!((s.abs, s.err), (2.0, 0.0));
    }
}
