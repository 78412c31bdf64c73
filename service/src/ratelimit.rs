//! Per-key token buckets (requests per minute per authenticated address).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use veriflop_circuits::Address;

/// Above this many tracked keys, full buckets are forgotten.
const MAX_TRACKED: usize = 100_000;

pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<Address, (f64, Instant)>>,
}

impl RateLimiter {
    /// `per_minute == 0` disables limiting. The burst equals `per_minute`.
    pub fn new(per_minute: u32) -> Self {
        RateLimiter { per_minute, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `key`; false if it has none left.
    pub fn allow(&self, key: Address) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let cap = self.per_minute as f64;
        let rate = cap / 60.0;
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if b.len() > MAX_TRACKED {
            b.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * rate < cap);
        }
        let (tokens, at) = b.entry(key).or_insert((cap, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(cap);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_and_is_per_key() {
        let r = RateLimiter::new(3);
        let a = Address([1; 20]);
        assert!(r.allow(a) && r.allow(a) && r.allow(a));
        assert!(!r.allow(a));
        assert!(r.allow(Address([2; 20])));
        assert!(RateLimiter::new(0).allow(a));
    }
}
