//! Venues: where a job is escrowed, and job ids derived from (venue, client, nonce).
//!
//! A proof binds the job id (public input 0). Deriving the id from the venue that
//! holds the escrow and from the client who funded it makes a proof worth exactly
//! one payment in one place: the same proof cannot release a verifier service's
//! escrow *and* a JobEscrow contract's, nor two services', and nobody can register
//! a job under an id a victim prepared (the id names the victim as its client).
//!
//! Every hash is `keccak256` of the Solidity ABI encoding (`abi.encode`: 32-byte
//! words), so `JobEscrow.jobIdOf` computes exactly the same values:
//!
//! ```text
//! venue(service)  = keccak256(abi.encode(keccak256("veriflop.venue.service.v1"), service_id))
//! venue(chain)    = keccak256(abi.encode(keccak256("veriflop.venue.chain.v1"), chain_id, escrow))
//! job_id          = uint256(keccak256(abi.encode(keccak256("veriflop.job.v1"), venue, client, nonce))) mod r
//! ```
//!
//! `service_id` is 32 bytes fixed when a service's ledger is created (replicas
//! sharing one ledger are one venue); `chain_id` and `escrow` (an address) name
//! a JobEscrow deployment. `nonce` is any 32 bytes the client picks per job.

use ark_bn254::Fr;
use ark_ff::PrimeField;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha3::{Digest, Keccak256};
use std::fmt;
use std::str::FromStr;

use crate::field;
use crate::statement::{Address, JobId};
use crate::Error;

const SERVICE_TAG: &[u8] = b"veriflop.venue.service.v1";
const CHAIN_TAG: &[u8] = b"veriflop.venue.chain.v1";
const JOB_TAG: &[u8] = b"veriflop.job.v1";

fn keccak(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Keccak256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// An address as an ABI word (left-padded to 32 bytes).
fn word_of_address(a: &Address) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(&a.0);
    w
}

fn word_of_u64(x: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&x.to_be_bytes());
    w
}

/// 32 bytes shown as 0x-hex (venue ids, service ids, job nonces).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Bytes32(pub [u8; 32]);

impl Bytes32 {
    /// 32 bytes from the operating system's random source.
    pub fn random() -> Self {
        use rand::RngCore;
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        Bytes32(b)
    }
}

impl fmt::Display for Bytes32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Bytes32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl FromStr for Bytes32 {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let h = s.strip_prefix("0x").unwrap_or(s);
        if h.len() != 64 {
            return Err(Error::Format(format!("expected 32 bytes (0x and 64 hex digits), got {s:?}")));
        }
        Ok(Bytes32(field::hex_bytes::<32>(&format!("0x{h}"))?))
    }
}

impl Serialize for Bytes32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        field::ser_bytes(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Bytes32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Bytes32(field::de_bytes::<D, 32>(d)?))
    }
}

/// Where a job's escrow lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Venue {
    /// A verifier service (all replicas sharing its ledger), by its service id.
    Service { service_id: Bytes32 },
    /// A JobEscrow contract on a chain.
    Chain { chain_id: u64, escrow: Address },
}

impl Venue {
    /// The venue's 32-byte id (what signed requests name and job ids hash).
    pub fn id(&self) -> Bytes32 {
        Bytes32(match self {
            Venue::Service { service_id } => keccak(&[&keccak(&[SERVICE_TAG]), &service_id.0]),
            Venue::Chain { chain_id, escrow } => {
                keccak(&[&keccak(&[CHAIN_TAG]), &word_of_u64(*chain_id), &word_of_address(escrow)])
            }
        })
    }

    /// The id of `client`'s job with `nonce` in this venue.
    pub fn job_id(&self, client: Address, nonce: &Bytes32) -> JobId {
        job_id(&self.id(), client, nonce)
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Venue::Service { service_id } => write!(f, "service:{service_id}"),
            Venue::Chain { chain_id, escrow } => write!(f, "chain:{chain_id}:{escrow}"),
        }
    }
}

/// Parses `service:0x<64 hex>` or `chain:<chain id>:0x<40 hex>` (the Display form).
impl FromStr for Venue {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::Format(format!("venue {s:?}: expected service:0x<32 bytes> or chain:<id>:0x<address>"));
        if let Some(id) = s.strip_prefix("service:") {
            return Ok(Venue::Service { service_id: id.parse().map_err(|_| bad())? });
        }
        let rest = s.strip_prefix("chain:").ok_or_else(bad)?;
        let (chain, escrow) = rest.split_once(':').ok_or_else(bad)?;
        Ok(Venue::Chain { chain_id: chain.parse().map_err(|_| bad())?, escrow: escrow.parse().map_err(|_| bad())? })
    }
}

/// `keccak256(abi.encode(keccak256("veriflop.job.v1"), venue_id, client, nonce)) mod r`.
pub fn job_id(venue_id: &Bytes32, client: Address, nonce: &Bytes32) -> JobId {
    let h = keccak(&[&keccak(&[JOB_TAG]), &venue_id.0, &word_of_address(&client), &nonce.0]);
    JobId(Fr::from_be_bytes_mod_order(&h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_depend_on_every_part() {
        let s = Venue::Service { service_id: Bytes32([7; 32]) };
        let t = Venue::Service { service_id: Bytes32([8; 32]) };
        let c = Venue::Chain { chain_id: 1, escrow: Address([9; 20]) };
        let c2 = Venue::Chain { chain_id: 10, escrow: Address([9; 20]) };
        let c3 = Venue::Chain { chain_id: 1, escrow: Address([10; 20]) };
        let ids = [s.id(), t.id(), c.id(), c2.id(), c3.id()];
        for i in 0..ids.len() {
            for j in 0..i {
                assert_ne!(ids[i], ids[j]);
            }
        }
        let (a, b) = (Address([1; 20]), Address([2; 20]));
        let n = Bytes32([3; 32]);
        assert_ne!(s.job_id(a, &n), s.job_id(b, &n));
        assert_ne!(s.job_id(a, &n), t.job_id(a, &n));
        assert_ne!(s.job_id(a, &n), s.job_id(a, &Bytes32([4; 32])));
        assert_ne!(s.job_id(a, &n), c.job_id(a, &n));
        assert_eq!(s.job_id(a, &n), s.job_id(a, &n));
    }

    #[test]
    fn display_round_trips() {
        for v in [
            Venue::Service { service_id: Bytes32([0xab; 32]) },
            Venue::Chain { chain_id: 31337, escrow: Address([1; 20]) },
        ] {
            assert_eq!(v.to_string().parse::<Venue>().unwrap(), v);
        }
        assert!("service:0x12".parse::<Venue>().is_err());
        assert!("chain:x:0x0101010101010101010101010101010101010101".parse::<Venue>().is_err());
        assert!("elsewhere".parse::<Venue>().is_err());
    }

    #[test]
    fn known_vector() {
        // Same formula spelled with abi.encode in Solidity: see contracts' tests.
        let tag = keccak(&[JOB_TAG]);
        let v = Bytes32([0x11; 32]);
        let id = job_id(&v, Address([0x22; 20]), &Bytes32([0x33; 32]));
        let mut enc = Vec::new();
        enc.extend_from_slice(&tag);
        enc.extend_from_slice(&v.0);
        enc.extend_from_slice(&[0u8; 12]);
        enc.extend_from_slice(&[0x22; 20]);
        enc.extend_from_slice(&[0x33; 32]);
        assert_eq!(id.0, Fr::from_be_bytes_mod_order(&keccak(&[&enc])));
    }
}
