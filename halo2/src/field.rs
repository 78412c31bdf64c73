//! Conversions between arkworks' BN254 scalar field (used by `veriflop-circuits`
//! for statements and commitments) and halo2curves' (used by the circuit).
//!
//! Both are the same prime field; elements cross over through their canonical
//! 32-byte little-endian encoding, so no value is ever reduced or reinterpreted.

use ark_ff::{BigInteger, PrimeField as _};
use halo2_proofs::halo2curves::bn256::Fr;
#[cfg(test)]
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::halo2curves::ff::PrimeField;

/// arkworks Fr → halo2 Fr (exact: the same canonical integer).
pub fn from_ark(x: &ark_bn254::Fr) -> Fr {
    let mut repr = [0u8; 32];
    repr.copy_from_slice(&x.into_bigint().to_bytes_le());
    Fr::from_repr(repr).expect("a canonical arkworks element is canonical in halo2curves")
}

/// halo2 Fr → arkworks Fr (exact).
pub fn to_ark(x: &Fr) -> ark_bn254::Fr {
    ark_bn254::Fr::from_le_bytes_mod_order(&x.to_repr())
}

/// A signed integer (|v| < 2^127) as a field element.
pub fn from_i128(v: i128) -> Fr {
    let abs = Fr::from_u128(v.unsigned_abs());
    if v < 0 {
        -abs
    } else {
        abs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::UniformRand;

    #[test]
    fn round_trips_and_agrees_on_arithmetic() {
        let mut rng = rand::thread_rng();
        for _ in 0..32 {
            let (a, b) = (ark_bn254::Fr::rand(&mut rng), ark_bn254::Fr::rand(&mut rng));
            assert_eq!(to_ark(&from_ark(&a)), a);
            assert_eq!(from_ark(&(a * b + a)), from_ark(&a) * from_ark(&b) + from_ark(&a));
        }
        assert_eq!(from_i128(-5) + Fr::from(5u64), Fr::ZERO);
        assert_eq!(to_ark(&from_i128(-1)), -ark_bn254::Fr::from(1u64));
    }
}
