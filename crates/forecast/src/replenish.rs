//! Replenishment: order-up-to proposals from the forecast's quantiles, and a day-by-day replay
//! of a store's demand under a policy (fill rate, stock-out days, average stock).

use crate::{dispersion, forecast, quantile, Method};

/// How a store × product is replenished.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Periods between ordering and receiving.
    pub lead_time: usize,
    /// Periods between two orders.
    pub review: usize,
    /// Target probability of not running out before the next delivery after this one.
    pub service: f64,
    /// Orders are whole packs of this many units.
    pub pack: u32,
}

/// Forecast demand over lead time + review period: the sum of the first lead + review values
/// of `forecast` (its last value repeated when it is shorter).
pub fn cover(forecast: &[f64], p: &Policy) -> f64 {
    let n = p.lead_time + p.review;
    let last = forecast.last().copied().unwrap_or(0.0);
    (0..n).map(|i| forecast.get(i).copied().unwrap_or(last)).sum()
}

/// The stock that covers demand over lead time + review period with probability `service`:
/// the quantile of a negative binomial whose mean is the forecast over that period, at the
/// series' own dispersion.
pub fn order_up_to(forecast: &[f64], dispersion: f64, p: &Policy) -> f64 {
    quantile(cover(forecast, p), dispersion, p.service)
}

/// Units to order (whole packs) to bring the stock position up to `level`.
pub fn proposal(level: f64, on_hand: i64, in_transit: i64, pack: u32) -> i64 {
    let short = level - (on_hand + in_transit) as f64;
    if short <= 0.0 {
        return 0;
    }
    let pack = i64::from(pack.max(1));
    ((short.ceil() as i64) + pack - 1) / pack * pack
}

/// How the order-up-to level is set at each review.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// From a forecast of the history so far and its quantile at the policy's service level.
    Forecast(Method),
    /// The naive reorder rule many shops use: bring stock back to what sold over the last
    /// lead time + review period.
    Naive,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Outcome {
    pub demand: f64,
    pub served: f64,
    /// Periods with demand that could not be fully served.
    pub stockout_periods: usize,
    /// Mean stock on hand at the end of each period.
    pub average_stock: f64,
    pub periods: usize,
}

impl Outcome {
    pub fn fill_rate(&self) -> f64 {
        if self.demand > 0.0 {
            self.served / self.demand
        } else {
            1.0
        }
    }
}

/// Replays `demand` from period `warmup` on (the periods before are history only), ordering at
/// every review under `rule`; unmet demand is lost.
pub fn simulate(demand: &[f64], warmup: usize, policy: &Policy, rule: Rule) -> Outcome {
    let mut out = Outcome::default();
    if warmup == 0 || warmup >= demand.len() {
        return out;
    }
    let level = |t: usize| -> f64 {
        let history = &demand[..t];
        match rule {
            Rule::Forecast(m) => order_up_to(&forecast(m, history, policy.lead_time + policy.review), dispersion(history), policy),
            Rule::Naive => history[t.saturating_sub(policy.lead_time + policy.review)..].iter().sum(),
        }
    };
    let mut stock = level(warmup) as i64;
    let mut arrivals: Vec<(usize, i64)> = Vec::new();
    let mut stock_sum = 0.0;
    for (t, &d) in demand.iter().enumerate().skip(warmup) {
        let (due, later): (Vec<_>, Vec<_>) = arrivals.into_iter().partition(|(at, _)| *at <= t);
        arrivals = later;
        stock += due.iter().map(|(_, q)| q).sum::<i64>();
        let want = d.round() as i64;
        let served = want.min(stock);
        stock -= served;
        out.demand += want as f64;
        out.served += served as f64;
        if served < want {
            out.stockout_periods += 1;
        }
        if (t - warmup).is_multiple_of(policy.review.max(1)) {
            let in_transit: i64 = arrivals.iter().map(|(_, q)| q).sum();
            let q = proposal(level(t + 1), stock, in_transit, policy.pack);
            if q > 0 {
                arrivals.push((t + policy.lead_time.max(1), q));
            }
        }
        stock_sum += stock as f64;
        out.periods += 1;
    }
    out.average_stock = stock_sum / out.periods.max(1) as f64;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposals_fill_the_gap_in_whole_packs() {
        assert_eq!(proposal(10.0, 3, 2, 1), 5);
        assert_eq!(proposal(10.0, 3, 2, 6), 6);
        assert_eq!(proposal(10.0, 3, 2, 4), 8);
        assert_eq!(proposal(4.0, 3, 2, 6), 0, "the position already covers it");
    }

    #[test]
    fn order_up_to_by_hand() {
        // Poisson mean 0.5 per period over 2 + 2 periods = Poisson(2): P(≤3) = 0.857, P(≤4) = 0.947.
        let p = Policy { lead_time: 2, review: 2, service: 0.9, pack: 1 };
        assert_eq!(order_up_to(&[0.5], 1.0, &p), 4.0);
        assert_eq!(order_up_to(&[0.5; 4], 1.0, &Policy { service: 0.85, ..p }), 3.0);
        // A weekly shape counts the days actually covered: 1 + 2 + 1 + 0 = 4 → P(≤6) = 0.889.
        assert_eq!(order_up_to(&[1.0, 2.0, 1.0, 0.0, 9.0], 1.0, &p), 7.0);
    }

    #[test]
    fn a_steady_series_is_always_served_from_a_steady_level() {
        let demand = vec![2.0; 60];
        let p = Policy { lead_time: 2, review: 1, service: 0.9, pack: 1 };
        let o = simulate(&demand, 20, &p, Rule::Forecast(Method::SesOptimized));
        assert_eq!((o.stockout_periods, o.fill_rate()), (0, 1.0), "{o:?}");
        assert!(o.average_stock <= 6.0, "{o:?}");
    }
}
