//! Injected time. Production uses the system clock; tests and simulations use a manual one.

use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync + 'static {
    /// UTC milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// A clock moved by hand (tests, simulations): its jumps are not clock problems.
    fn is_manual(&self) -> bool {
        false
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock that only moves when told to.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start_ms: i64) -> Self {
        ManualClock(AtomicI64::new(start_ms))
    }
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst)
    }
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    fn is_manual(&self) -> bool {
        true
    }
}

/// Time set from outside the process, for tests that run the real binary across simulated
/// days: the file holds a UTC millisecond time; the clock reads it plus the real time elapsed
/// since the file was written. Selected with `STOCKADE_CLOCK_FILE`; never in production.
pub struct FileClock {
    path: std::path::PathBuf,
}

impl FileClock {
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        FileClock { path: path.into() }
    }
}

impl Clock for FileClock {
    fn now_ms(&self) -> i64 {
        let read = || -> Option<i64> {
            let base: i64 = std::fs::read_to_string(&self.path).ok()?.trim().parse().ok()?;
            let written = std::fs::metadata(&self.path).ok()?.modified().ok()?;
            let elapsed = std::time::SystemTime::now().duration_since(written).map(|d| d.as_millis() as i64).unwrap_or(0);
            Some(base + elapsed)
        };
        read().unwrap_or_else(|| SystemClock.now_ms())
    }
}

/// The clock a process should use: the system clock, unless `STOCKADE_CLOCK_FILE` is set.
pub fn from_env() -> std::sync::Arc<dyn Clock> {
    match std::env::var_os("STOCKADE_CLOCK_FILE") {
        Some(p) => std::sync::Arc::new(FileClock::new(p)),
        None => std::sync::Arc::new(SystemClock),
    }
}
