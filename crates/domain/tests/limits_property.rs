//! Property: for every built-in rule pack, a cart is accepted if and only if it satisfies the
//! age rule and every limit, and a refusal lists exactly the violated limits.
//! The oracle below is written independently of `compliance.rs`: it adds exact fractions one
//! line at a time (reduced by gcd) instead of scaling by a common denominator.

use chrono::NaiveDate;
use proptest::prelude::*;
use stockade_domain::catalog::{LimitFacts, ProductClass};
use stockade_domain::compliance::{check_sale, AgeEvidence, LimitLine, Violation};
use stockade_domain::rules::{Measure, RuleBook, RulePack, Scope};

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 {
        a.abs()
    } else {
        gcd(b, a % b)
    }
}

/// Exact fraction n/d with d > 0.
#[derive(Clone, Copy)]
struct Frac(i128, i128);
impl Frac {
    fn add(self, o: Frac) -> Frac {
        let n = self.0 * o.1 + o.0 * self.1;
        let d = self.1 * o.1;
        let g = gcd(n, d).max(1);
        Frac(n / g, d / g)
    }
    fn gt_int(self, m: i64) -> bool {
        self.0 > m as i128 * self.1
    }
}

fn measure(f: &LimitFacts, m: Measure) -> Option<i64> {
    match m {
        Measure::NetWeightMg => f.net_weight_mg,
        Measure::NetContentMg => match (f.net_weight_mg, f.net_volume_ml) {
            (Some(w), _) => Some(w),
            (None, Some(v)) => Some(v * 1000),
            _ => None,
        },
        Measure::NetVolumeMl => f.net_volume_ml,
        Measure::ThcMg => f.thc_mg,
        Measure::Units => Some(1),
    }
}

/// Returns the ids of the limits the cart (plus earlier lines for per-day limits) exceeds.
fn oracle_exceeded(pack: &RulePack, cart: &[LimitLine], earlier: &[LimitLine]) -> Vec<String> {
    let mut out = vec![];
    for limit in &pack.limits {
        let mut sum = Frac(0, 1);
        let lines: Vec<&LimitLine> = match limit.scope {
            Scope::Transaction => cart.iter().collect(),
            Scope::CustomerDay => cart.iter().chain(earlier.iter()).collect(),
        };
        for l in lines {
            for t in &limit.terms {
                if t.class == l.facts.class {
                    let a = measure(&l.facts, t.measure).expect("generated products have every measure");
                    sum = sum.add(Frac(a as i128 * l.quantity as i128 * t.num as i128, t.den as i128));
                }
            }
        }
        if sum.gt_int(limit.max) {
            out.push(limit.id.clone());
        }
    }
    out
}

fn arb_line() -> impl Strategy<Value = LimitLine> {
    (
        proptest::sample::select(ProductClass::ALL.to_vec()),
        // sizes around the real ones, including exact limit multiples
        prop_oneof![Just(1_000i64), Just(3_500), Just(7_000), Just(14_175), Just(28_350), 1i64..40_000],
        prop_oneof![Just(355i64), 1i64..3_000],
        prop_oneof![Just(10i64), Just(100), 0i64..1_000],
        1i64..6,
    )
        .prop_map(|(class, mg, ml, thc, quantity)| LimitLine {
            facts: LimitFacts { class, net_weight_mg: Some(mg), net_volume_ml: Some(ml), thc_mg: Some(thc) },
            quantity,
        })
}

fn arb_age() -> impl Strategy<Value = AgeEvidence> {
    (any::<bool>(), proptest::option::of(0u32..40 * 365)).prop_map(|(confirmed, days_old)| AgeEvidence {
        confirmed,
        birth_date: days_old.map(|d| NaiveDate::from_ymd_opt(2026, 11, 22).unwrap() - chrono::Duration::days(d as i64)),
    })
}

fn check_pack(pack: &RulePack, cart: &[LimitLine], earlier: &[LimitLine], identified: bool, age: AgeEvidence) -> Result<(), TestCaseError> {
    let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
    let expected_exceeded = oracle_exceeded(pack, cart, earlier);
    let age_ok = age.confirmed && age.birth_date.is_none_or(|b| today.years_since(b).unwrap_or(0) >= pack.min_age);
    let needs_id =
        !identified && pack.limits.iter().any(|l| l.scope == Scope::CustomerDay && cart.iter().any(|c| l.terms.iter().any(|t| t.class == c.facts.class)));
    let should_pass = expected_exceeded.is_empty() && age_ok && !needs_id;

    match check_sale(pack, cart, earlier, identified, age, today) {
        Ok(usage) => {
            prop_assert!(should_pass, "accepted but oracle says exceeded={expected_exceeded:?} age_ok={age_ok} needs_id={needs_id}");
            for u in usage {
                prop_assert!(u.used <= u.max, "usage {u:?} above max on an accepted sale");
            }
        }
        Err(violations) => {
            prop_assert!(!should_pass, "refused {violations:?} but the oracle accepts");
            let listed: Vec<String> = violations
                .iter()
                .filter_map(|v| match v {
                    Violation::LimitExceeded { limit_id, excess, .. } => {
                        assert!(*excess > 0);
                        Some(limit_id.clone())
                    }
                    _ => None,
                })
                .collect();
            prop_assert_eq!(listed, expected_exceeded, "refusal must list every violated limit, and only those");
            let age_listed = violations.iter().any(|v| matches!(v, Violation::AgeNotConfirmed { .. } | Violation::UnderAge { .. }));
            prop_assert_eq!(age_listed, !age_ok);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn a_sale_is_accepted_iff_it_is_within_every_limit_and_the_age_rule(
        cart in proptest::collection::vec(arb_line(), 0..8),
        earlier in proptest::collection::vec(arb_line(), 0..4),
        identified in any::<bool>(),
        age in arb_age(),
    ) {
        let book = RuleBook::builtin().unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        for id in book.jurisdictions() {
            let pack = book.pack_for(&id, today).unwrap();
            check_pack(pack, &cart, &earlier, identified, age)?;
        }
    }
}
