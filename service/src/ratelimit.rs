//! Per-key token buckets: requests per minute per authenticated address
//! (signed requests), or per client network (unsigned uploads of on-chain
//! data, [`client_net`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Instant;

use veriflop_circuits::Address;

/// Above this many tracked keys, full buckets are forgotten.
const MAX_TRACKED: usize = 100_000;

/// Token buckets keyed by `K` (an address by default).
pub struct RateLimiter<K = Address> {
    per_minute: u32,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// `per_minute == 0` disables limiting. The burst equals `per_minute`.
    pub fn new(per_minute: u32) -> Self {
        RateLimiter { per_minute, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `key`; false if it has none left.
    pub fn allow(&self, key: K) -> bool {
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

/// The key a client's unsigned requests are limited by: its IPv4 address, or
/// the /64 network of an IPv6 one (a single host is commonly given a whole /64,
/// so counting its addresses one by one would limit nothing). An IPv4-mapped
/// IPv6 address counts as the IPv4 address.
pub fn client_net(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
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

    #[test]
    fn clients_are_counted_by_ipv4_address_or_ipv6_64() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(client_net(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_net(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_net(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(client_net(ip("2001:db8:1:2:ffff::9")), client_net(ip("2001:db8:1:2::1")));
        assert_ne!(client_net(ip("2001:db8:1:3::1")), client_net(ip("2001:db8:1:2::1")));
        let r = RateLimiter::<IpAddr>::new(2);
        assert!(r.allow(client_net(ip("2001:db8::1"))) && r.allow(client_net(ip("2001:db8::2"))));
        assert!(!r.allow(client_net(ip("2001:db8::3"))), "one /64 shares a bucket");
        assert!(r.allow(client_net(ip("192.0.2.1"))));
    }
}
