//! A synthetic chain's intermittent demand replayed under the forecast-driven order-up-to policy
//! and under the naive "reorder what sold" rule.

use rand::{Rng, SeedableRng};
use stockade_forecast::replenish::{simulate, Outcome, Policy, Rule};
use stockade_forecast::Method;

/// 300 store × product series of a year of days: each sells on a share of days between 3 % and
/// 50 %, in sizes of 1 to a few units (geometric), some with a slow trend. Fixed seed.
fn chain() -> Vec<Vec<f64>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    (0..300)
        .map(|_| {
            let p: f64 = rng.gen_range(0.03..0.5);
            let size: f64 = rng.gen_range(0.3..3.0);
            let trend: f64 = rng.gen_range(-0.5..0.8);
            (0..365)
                .map(|t| {
                    let pt = (p * (1.0 + trend * t as f64 / 365.0)).clamp(0.0, 0.95);
                    if rng.gen_bool(pt) {
                        1.0 + (-(rng.gen::<f64>().max(1e-12)).ln() * size).floor()
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect()
}

fn total(rule: Rule, policy: &Policy, chain: &[Vec<f64>]) -> Outcome {
    chain.iter().map(|d| simulate(d, 90, policy, rule)).fold(Outcome::default(), |a, o| Outcome {
        demand: a.demand + o.demand,
        served: a.served + o.served,
        stockout_periods: a.stockout_periods + o.stockout_periods,
        average_stock: a.average_stock + o.average_stock / chain.len() as f64,
        periods: a.periods + o.periods,
    })
}

#[test]
fn at_no_more_stock_than_the_naive_rule_the_forecast_policy_fills_more_demand() {
    let chain = chain();
    let policy = Policy { lead_time: 3, review: 7, service: 0.9, pack: 1 };
    let naive = total(Rule::Naive, &policy, &chain);
    println!("naive: fill {:.1} %, {} stock-out days, average stock {:.2}", 100.0 * naive.fill_rate(), naive.stockout_periods, naive.average_stock);
    // The forecast policy at the highest service level (to 0.5 %) whose average stock is no
    // more than the naive rule's must still fill more demand.
    let run = |service: f64| total(Rule::Forecast(Method::AutoSeasonal(7)), &Policy { service, ..policy }, &chain);
    let (mut lo, mut hi) = (0.5, 0.95);
    let mut best = None;
    while hi - lo > 0.005 {
        let mid = (lo + hi) / 2.0;
        let f = run(mid);
        println!("forecast at {mid:.3}: fill {:.1} %, {} stock-out days, average stock {:.2}", 100.0 * f.fill_rate(), f.stockout_periods, f.average_stock);
        if f.average_stock <= naive.average_stock {
            best = Some((mid, f));
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let (service, f) = best.expect("some service level holds no more stock than the naive rule");
    assert!(f.fill_rate() > naive.fill_rate(), "at {service}: fill {} vs naive {}", f.fill_rate(), naive.fill_rate());
    assert!(f.stockout_periods < naive.stockout_periods, "at {service}");
}
