//! Rate limits for what can be guessed: order tracking, one-time codes and sign-in.
//!
//! Per client (its IP address) and bucket, misses (unknown tokens, wrong codes, failed sign-ins)
//! are counted over a window; past the limit the client gets 429 on that bucket until the block
//! ends, before any lookup. A global budget of lookups per second bounds what many clients
//! together can try. Enumeration — one client blocked, or many misses across clients — raises a
//! security alert in the store's journal, which reaches HQ.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Misses per client and bucket within [`WINDOW`] before the client is blocked.
pub const CLIENT_MISSES: usize = 10;
pub const WINDOW: Duration = Duration::from_secs(600);
pub const BLOCK: Duration = Duration::from_secs(900);
/// Misses across all clients within [`WINDOW`] that count as distributed enumeration.
pub const GLOBAL_MISSES: usize = 200;
/// "This address is blocked" alerts per window, all addresses together; beyond them the
/// distributed alert speaks for the rest (each alert is a journal write).
pub const BLOCK_ALERTS_PER_WINDOW: usize = 5;
/// Lookups per second, all clients together, with a burst of as many.
pub const GLOBAL_LOOKUPS_PER_SEC: f64 = 1000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    Tracking,
    SignIn,
}

#[derive(Default)]
struct Orders {
    per_address: HashMap<IpAddr, VecDeque<Instant>>,
    all: VecDeque<Instant>,
    alerted_at: Option<Instant>,
}

/// What a checkout attempt may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkout {
    Go,
    /// This address has used its attempts for the hour: 429.
    Throttled,
    /// Go, and raise the flood alert: this many attempts from all addresses in the window.
    GoAndAlert(usize),
}

#[derive(Default)]
struct Client {
    misses: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

struct Global {
    misses: VecDeque<Instant>,
    tokens: f64,
    refilled: Instant,
    alerted_at: Option<Instant>,
    block_alerts: VecDeque<Instant>,
}

/// Checkout attempts one address may make per hour (placed or refused alike); past it, 429.
pub const ORDERS_PER_ADDRESS_PER_HOUR: usize = 20;
/// Checkout attempts from all addresses within [`WINDOW`] that raise an `order_flood` alert
/// (once per window).
pub const ORDER_FLOOD: usize = 100;
const HOUR: Duration = Duration::from_secs(3600);

/// Sign-ins one address may have being checked at once. Beyond it the address is answered
/// 429 before its password is hashed, so one address cannot take every hashing slot.
pub const SIGN_INS_IN_FLIGHT_PER_ADDRESS: usize = 2;

pub struct Limiter {
    clients: Mutex<HashMap<(IpAddr, Bucket), Client>>,
    in_flight: Mutex<HashMap<IpAddr, usize>>,
    orders: Mutex<Orders>,
    global: Mutex<Global>,
    /// Random per process: the key of [`Limiter::address_tag`].
    tag_key: [u8; 32],
}

/// What the caller must do after a miss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alarm {
    None,
    /// This client just crossed its limit.
    ClientBlocked,
    /// Misses across clients crossed the global threshold (raised once per window).
    Distributed(usize),
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter {
            clients: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
            orders: Mutex::new(Orders::default()),
            global: Mutex::new(Global {
                misses: VecDeque::new(),
                tokens: GLOBAL_LOOKUPS_PER_SEC,
                refilled: Instant::now(),
                alerted_at: None,
                block_alerts: VecDeque::new(),
            }),
            tag_key: {
                let mut k = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut k);
                k
            },
        }
    }
}

fn prune(q: &mut VecDeque<Instant>, now: Instant) {
    while q.front().is_some_and(|t| now.duration_since(*t) > WINDOW) {
        q.pop_front();
    }
}

impl Limiter {
    /// How an address is named in anything kept (alerts are journal entries, which are never
    /// erased): a keyed hash, its key random per process and mixed with the UTC day, so the same
    /// address is recognisable within a day's alerts and not beyond, and never readable.
    pub fn address_tag(&self, ip: IpAddr, now_ms: i64) -> String {
        let day = now_ms.div_euclid(86_400_000);
        let mut h = blake3::Hasher::new_keyed(&self.tag_key);
        h.update(&day.to_be_bytes());
        h.update(ip.to_string().as_bytes());
        format!("addr-{}", &h.finalize().to_hex()[..12])
    }

    /// Takes one of the address's sign-in places, or `None` when it already has
    /// [`SIGN_INS_IN_FLIGHT_PER_ADDRESS`] sign-ins being checked. Given back when dropped.
    pub fn sign_in_place(this: &std::sync::Arc<Limiter>, ip: IpAddr) -> Option<InFlight> {
        let mut m = this.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= SIGN_INS_IN_FLIGHT_PER_ADDRESS {
            return None;
        }
        *n += 1;
        Some(InFlight { limiter: this.clone(), ip })
    }

    /// Counts a checkout attempt from `ip` and says whether it may go on.
    pub fn checkout(&self, ip: IpAddr) -> Checkout {
        let now = Instant::now();
        let mut o = self.orders.lock().unwrap_or_else(|e| e.into_inner());
        if o.per_address.len() > 100_000 {
            o.per_address.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < HOUR));
        }
        let q = o.per_address.entry(ip).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) > HOUR) {
            q.pop_front();
        }
        if q.len() >= ORDERS_PER_ADDRESS_PER_HOUR {
            return Checkout::Throttled;
        }
        q.push_back(now);
        prune(&mut o.all, now);
        o.all.push_back(now);
        let n = o.all.len();
        if n >= ORDER_FLOOD && o.alerted_at.is_none_or(|t| now.duration_since(t) > WINDOW) {
            o.alerted_at = Some(now);
            return Checkout::GoAndAlert(n);
        }
        Checkout::Go
    }

    /// May this client look something up now? `false`: answer 429 without looking.
    pub fn admit(&self, ip: IpAddr, bucket: Bucket) -> bool {
        let now = Instant::now();
        {
            let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = clients.get_mut(&(ip, bucket)) {
                match c.blocked_until {
                    Some(until) if until > now => return false,
                    Some(_) => *c = Client::default(),
                    None => {}
                }
            }
        }
        let mut g = self.global.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.duration_since(g.refilled).as_secs_f64();
        g.tokens = (g.tokens + elapsed * GLOBAL_LOOKUPS_PER_SEC).min(GLOBAL_LOOKUPS_PER_SEC);
        g.refilled = now;
        if g.tokens < 1.0 {
            return false;
        }
        g.tokens -= 1.0;
        true
    }

    /// Counts a miss by this client.
    pub fn miss(&self, ip: IpAddr, bucket: Bucket) -> Alarm {
        let now = Instant::now();
        let blocked = {
            let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
            if clients.len() > 100_000 {
                clients.retain(|_, c| c.blocked_until.is_some_and(|u| u > now) || c.misses.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
            }
            let c = clients.entry((ip, bucket)).or_default();
            prune(&mut c.misses, now);
            c.misses.push_back(now);
            if c.misses.len() >= CLIENT_MISSES && c.blocked_until.is_none() {
                c.blocked_until = Some(now + BLOCK);
                true
            } else {
                false
            }
        };
        let mut g = self.global.lock().unwrap_or_else(|e| e.into_inner());
        prune(&mut g.misses, now);
        g.misses.push_back(now);
        if blocked {
            prune(&mut g.block_alerts, now);
            if g.block_alerts.len() < BLOCK_ALERTS_PER_WINDOW {
                g.block_alerts.push_back(now);
                return Alarm::ClientBlocked;
            }
        }
        let n = g.misses.len();
        if n >= GLOBAL_MISSES && g.alerted_at.is_none_or(|t| now.duration_since(t) > WINDOW) {
            g.alerted_at = Some(now);
            return Alarm::Distributed(n);
        }
        Alarm::None
    }
}

/// A sign-in being checked for one address (see [`Limiter::sign_in_place`]).
pub struct InFlight {
    limiter: std::sync::Arc<Limiter>,
    ip: IpAddr,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut m = self.limiter.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_named_by_a_keyed_hash_that_changes_every_day() {
        let l = Limiter::default();
        let ip: IpAddr = "203.0.113.77".parse().unwrap();
        let other: IpAddr = "203.0.113.78".parse().unwrap();
        let day = 1_795_392_000_000;
        let tag = l.address_tag(ip, day);
        assert!(tag.starts_with("addr-") && !tag.contains("203") && !tag.contains("77"), "{tag}");
        assert_eq!(l.address_tag(ip, day + 3_600_000), tag, "the same address within a day");
        assert_ne!(l.address_tag(ip, day + 86_400_000), tag, "another day, another tag");
        assert_ne!(l.address_tag(other, day), tag);
        assert_ne!(Limiter::default().address_tag(ip, day), tag, "another process, another key");
    }

    #[test]
    fn an_address_has_two_sign_ins_checked_at_once_and_gets_its_places_back() {
        let l = std::sync::Arc::new(Limiter::default());
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let other: IpAddr = "203.0.113.10".parse().unwrap();
        let a = Limiter::sign_in_place(&l, ip).expect("first");
        let b = Limiter::sign_in_place(&l, ip).expect("second");
        assert!(Limiter::sign_in_place(&l, ip).is_none(), "a third at once is refused");
        assert!(Limiter::sign_in_place(&l, other).is_some(), "another address is not affected");
        drop(a);
        let c = Limiter::sign_in_place(&l, ip).expect("a place was given back");
        drop((b, c));
        assert!(l.in_flight.lock().unwrap().is_empty(), "nothing left behind");
    }
}
