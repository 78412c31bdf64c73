//! BN254 scalar-field encodings shared by every format.
//!
//! A field element is 32 bytes big-endian (as a Solidity `uint256`), shown to
//! people as `0x` + 64 hex digits. Decoding rejects non-canonical values (≥ r):
//! accepting them would give one element two encodings.

use ark_bn254::Fr;
use ark_ff::{BigInteger, PrimeField};
use serde::{de, Deserializer, Serializer};

use crate::Error;

pub fn fr_to_bytes(x: &Fr) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&x.into_bigint().to_bytes_be());
    out
}

/// Canonical decoding: errors on values ≥ the field modulus.
pub fn fr_from_bytes(bytes: &[u8]) -> Result<Fr, Error> {
    if bytes.len() != 32 {
        return Err(Error::Format(format!("a field element is 32 bytes, got {}", bytes.len())));
    }
    let mut le = bytes.to_vec();
    le.reverse();
    let mut limbs = [0u64; 4];
    for (i, chunk) in le.chunks_exact(8).enumerate() {
        limbs[i] = u64::from_le_bytes(chunk.try_into().unwrap());
    }
    Fr::from_bigint(ark_ff::BigInt(limbs))
        .ok_or_else(|| Error::Format("field element is not below the BN254 scalar modulus".into()))
}

pub fn fr_to_hex(x: &Fr) -> String {
    format!("0x{}", hex::encode(fr_to_bytes(x)))
}

/// Decimal string, as snarkjs writes field elements.
pub fn fr_to_decimal(x: &Fr) -> String {
    x.into_bigint().to_string()
}

/// Parses `0x`-prefixed hex (up to 64 digits, left-padded) into a canonical element.
pub fn fr_from_hex(s: &str) -> Result<Fr, Error> {
    let bytes = hex_bytes::<32>(s)?;
    fr_from_bytes(&bytes)
}

/// Decodes `0x`-prefixed hex into exactly N bytes (shorter input is left-padded).
pub fn hex_bytes<const N: usize>(s: &str) -> Result<[u8; N], Error> {
    let h = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .ok_or_else(|| Error::Format(format!("expected 0x-prefixed hex, got {:?}", truncate(s))))?;
    if h.is_empty() || h.len() > 2 * N {
        return Err(Error::Format(format!("expected 1 to {} hex digits, got {}", 2 * N, h.len())));
    }
    let padded = format!("{:0>width$}", h, width = 2 * N);
    let v = hex::decode(padded).map_err(|e| Error::Format(format!("bad hex {:?}: {e}", truncate(s))))?;
    Ok(v.try_into().expect("length checked"))
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// Byte arrays as hex strings for people (JSON) and raw bytes on the wire (bincode).
pub fn ser_bytes<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        s.serialize_str(&format!("0x{}", hex::encode(bytes)))
    } else {
        s.serialize_bytes(bytes)
    }
}

pub fn de_bytes<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
    struct V<const N: usize>;
    impl<'de, const N: usize> de::Visitor<'de> for V<N> {
        type Value = [u8; N];
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "{N} bytes or a 0x-prefixed hex string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let h = v.strip_prefix("0x").ok_or_else(|| E::custom("expected 0x-prefixed hex"))?;
            if h.len() != 2 * N {
                return Err(E::custom(format!("expected {} hex digits, got {}", 2 * N, h.len())));
            }
            let b = hex::decode(h).map_err(E::custom)?;
            Ok(b.try_into().expect("length checked"))
        }
        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
            v.try_into().map_err(|_| E::invalid_length(v.len(), &self))
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = [0u8; N];
            for (i, b) in out.iter_mut().enumerate() {
                *b = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(i, &self))?;
            }
            if seq.next_element::<u8>()?.is_some() {
                return Err(de::Error::invalid_length(N + 1, &self));
            }
            Ok(out)
        }
    }
    if d.is_human_readable() {
        d.deserialize_str(V::<N>)
    } else {
        d.deserialize_bytes(V::<N>)
    }
}

/// `#[serde(with = "veriflop_circuits::field::serde_fr")]` for canonical field elements.
pub mod serde_fr {
    use super::*;
    pub fn serialize<S: Serializer>(x: &Fr, s: S) -> Result<S::Ok, S::Error> {
        ser_bytes(&fr_to_bytes(x), s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Fr, D::Error> {
        let b = de_bytes::<D, 32>(d)?;
        fr_from_bytes(&b).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::{Field, UniformRand};

    #[test]
    fn canonical_round_trip_and_rejection() {
        let mut rng = rand::thread_rng();
        for _ in 0..20 {
            let x = Fr::rand(&mut rng);
            assert_eq!(fr_from_bytes(&fr_to_bytes(&x)).unwrap(), x);
            assert_eq!(fr_from_hex(&fr_to_hex(&x)).unwrap(), x);
        }
        // r itself and 2^256-1 are not canonical.
        let r = Fr::MODULUS.to_bytes_be();
        assert!(fr_from_bytes(&r).is_err());
        assert!(fr_from_bytes(&[0xff; 32]).is_err());
        let r_minus_1 = -Fr::ONE;
        assert_eq!(fr_from_bytes(&fr_to_bytes(&r_minus_1)).unwrap(), r_minus_1);
        assert!(fr_from_hex("12").is_err());
        assert!(fr_from_hex("0x").is_err());
        assert_eq!(fr_from_hex("0x2a").unwrap(), Fr::from(42u64));
    }
}
