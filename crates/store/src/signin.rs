//! Failed sign-ins, counted per name tried and per address it came from.
//!
//! A hard lock after N wrong passwords is a weapon: anyone who knows a manager's username can
//! keep them out of the register. So nothing here locks an account. Instead each (name,
//! address) pair gets [`FREE_TRIES`] wrong tries, then waits before each new one, twice as long
//! each time (1 s, 2 s, 4 s … up to [`MAX_WAIT_MS`]). The register's own address is untouched
//! by a stranger guessing from another, and a guesser at one address is slowed to a crawl.
//! Answers while waiting are the same `Unauthorized` as a wrong password or an unknown name,
//! and cost no password hash. The name is kept only as a hash, whether or not it exists, so
//! the table says nothing about which names are real.
//!
//! Managers hear of it through security alerts: when a pair starts waiting, and when one
//! account collects [`ACCOUNT_ALERT_FAILURES`] failures from any addresses within
//! [`WINDOW_MS`] (distributed guessing).
//!
//! Kept in memory: a restart forgets the waits (an attacker cannot cause one from outside).

use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Wrong tries a (name, address) pair gets before it must wait.
pub const FREE_TRIES: u32 = 5;
/// The longest wait between tries.
pub const MAX_WAIT_MS: i64 = 15 * 60 * 1000;
/// Failures for one name, from any addresses, within [`WINDOW_MS`] that alert the managers.
pub const ACCOUNT_ALERT_FAILURES: usize = 20;
pub const WINDOW_MS: i64 = 10 * 60 * 1000;
/// "This address now waits" alerts per window, all names together: a flood from many addresses
/// gives the managers a few examples and the distributed-guessing alert, not one journal entry
/// per address (each is a write the register's sales would queue behind).
pub const PAIR_ALERTS_PER_WINDOW: usize = 5;
/// Pairs tracked before the quiet ones are forgotten (bounds memory under a flood of names).
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Password,
    Pin,
}

type NameKey = [u8; 32];

fn name_key(method: Method, name: &str) -> NameKey {
    let mut h = Sha256::new();
    h.update([method as u8]);
    h.update(name.as_bytes());
    h.finalize().into()
}

#[derive(Clone, Copy)]
struct Tries {
    failures: u32,
    last_ms: i64,
}

#[derive(Default)]
struct Name {
    failures: VecDeque<i64>,
    alerted_ms: Option<i64>,
}

/// What the caller should tell the managers after a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alert {
    None,
    /// This (name, address) pair just used its free tries and now waits.
    PairWaits,
    /// One name collected this many failures from any addresses within the window.
    Distributed(usize),
}

#[derive(Default)]
pub struct Attempts {
    pairs: Mutex<HashMap<(NameKey, String), Tries>>,
    names: Mutex<HashMap<NameKey, Name>>,
    pair_alerts: Mutex<VecDeque<i64>>,
}

/// How long a pair with `failures` wrong tries in a row waits after its last one.
pub fn wait_ms(failures: u32) -> i64 {
    if failures < FREE_TRIES {
        return 0;
    }
    let doublings = (failures - FREE_TRIES).min(20);
    (1000_i64 << doublings).min(MAX_WAIT_MS)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Attempts {
    /// Must this (name, address) pair wait before trying again? Then the answer is the usual
    /// `Unauthorized`, without hashing anything.
    pub fn waiting(&self, method: Method, name: &str, from: &str, now_ms: i64) -> bool {
        let pairs = lock(&self.pairs);
        pairs.get(&(name_key(method, name), from.to_string())).is_some_and(|t| now_ms < t.last_ms.saturating_add(wait_ms(t.failures)))
    }

    /// Counts a failure (wrong secret, unknown name, disabled account). A try refused while
    /// waiting is not counted, so the wait does not grow while someone retries.
    pub fn failed(&self, method: Method, name: &str, from: &str, now_ms: i64) -> Alert {
        let key = name_key(method, name);
        let pair_waits = {
            let mut pairs = lock(&self.pairs);
            if pairs.len() >= MAX_TRACKED {
                pairs.retain(|_, t| now_ms < t.last_ms.saturating_add(wait_ms(t.failures).max(WINDOW_MS)));
            }
            let t = pairs.entry((key, from.to_string())).or_insert(Tries { failures: 0, last_ms: now_ms });
            t.failures = t.failures.saturating_add(1);
            t.last_ms = now_ms;
            t.failures == FREE_TRIES
        };
        let mut names = lock(&self.names);
        if names.len() >= MAX_TRACKED {
            names.retain(|_, n| n.failures.back().is_some_and(|t| now_ms - t < WINDOW_MS));
        }
        let n = names.entry(key).or_default();
        while n.failures.front().is_some_and(|t| now_ms - t >= WINDOW_MS) {
            n.failures.pop_front();
        }
        n.failures.push_back(now_ms);
        if pair_waits {
            let mut recent = lock(&self.pair_alerts);
            while recent.front().is_some_and(|t| now_ms - t >= WINDOW_MS) {
                recent.pop_front();
            }
            if recent.len() < PAIR_ALERTS_PER_WINDOW {
                recent.push_back(now_ms);
                return Alert::PairWaits;
            }
        }
        let count = n.failures.len();
        if count >= ACCOUNT_ALERT_FAILURES && n.alerted_ms.is_none_or(|t| now_ms - t >= WINDOW_MS) {
            n.alerted_ms = Some(now_ms);
            return Alert::Distributed(count);
        }
        Alert::None
    }

    /// A right secret from this address clears its count.
    pub fn succeeded(&self, method: Method, name: &str, from: &str) {
        lock(&self.pairs).remove(&(name_key(method, name), from.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_gets_five_free_tries_then_waits_twice_as_long_each_time_up_to_fifteen_minutes() {
        assert_eq!((0..FREE_TRIES).map(wait_ms).max(), Some(0));
        assert_eq!([5, 6, 7, 8].map(wait_ms), [1000, 2000, 4000, 8000]);
        assert_eq!(wait_ms(30), MAX_WAIT_MS);
        assert_eq!(wait_ms(u32::MAX), MAX_WAIT_MS);

        let a = Attempts::default();
        let t0 = 1_000_000;
        for i in 0..FREE_TRIES - 1 {
            assert_eq!(a.failed(Method::Password, "boss", "addr-a", t0 + i as i64), Alert::None);
            assert!(!a.waiting(Method::Password, "boss", "addr-a", t0 + i as i64));
        }
        assert_eq!(a.failed(Method::Password, "boss", "addr-a", t0 + 10), Alert::PairWaits);
        assert!(a.waiting(Method::Password, "boss", "addr-a", t0 + 10));
        assert!(!a.waiting(Method::Password, "boss", "addr-a", t0 + 10 + 1000), "one second later");
        assert!(!a.waiting(Method::Password, "boss", "addr-b", t0 + 10), "another address is not slowed");
        assert!(!a.waiting(Method::Pin, "boss", "addr-a", t0 + 10), "PINs are counted apart");
        a.succeeded(Method::Password, "boss", "addr-a");
        assert!(!a.waiting(Method::Password, "boss", "addr-a", t0 + 11), "the right password clears it");
    }

    #[test]
    fn a_flood_of_names_gives_a_few_pair_alerts_per_window() {
        let a = Attempts::default();
        let t0 = 9_000_000;
        let mut pair_alerts = 0;
        for i in 0..100 {
            for _ in 0..FREE_TRIES {
                if a.failed(Method::Password, &format!("guess{i}"), &format!("addr-{i}"), t0) == Alert::PairWaits {
                    pair_alerts += 1;
                }
            }
        }
        assert_eq!(pair_alerts, PAIR_ALERTS_PER_WINDOW);
        for _ in 0..FREE_TRIES {
            let later = a.failed(Method::Password, "someone", "addr-z", t0 + WINDOW_MS);
            if later != Alert::None {
                assert_eq!(later, Alert::PairWaits, "a new window alerts again");
            }
        }
    }

    #[test]
    fn many_addresses_guessing_one_name_alert_once_per_window() {
        let a = Attempts::default();
        let t0 = 5_000_000;
        let alerts: Vec<Alert> = (0..ACCOUNT_ALERT_FAILURES * 2).map(|i| a.failed(Method::Password, "boss", &format!("addr-{i}"), t0 + i as i64)).collect();
        assert_eq!(alerts.iter().filter(|x| **x != Alert::None).count(), 1, "{alerts:?}");
        assert_eq!(alerts[ACCOUNT_ALERT_FAILURES - 1], Alert::Distributed(ACCOUNT_ALERT_FAILURES));
        let later = a.failed(Method::Password, "boss", "addr-x", t0 + WINDOW_MS + 100);
        assert_eq!(later, Alert::None, "the window's failures have aged out");
    }
}
