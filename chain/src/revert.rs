//! Revert data as the contract's custom error, by name, with named arguments:
//! `LockedByOther(jobId: 0x…, provider: 0x…, lockUntil: 1767225600)`.

use std::sync::OnceLock;

use alloy::dyn_abi::{DynSolValue, JsonAbiExt};
use alloy::json_abi::JsonAbi;
use alloy::primitives::U256;

/// The ABIs of every contract a settlement touches (the escrow and the verifiers).
fn abis() -> &'static [JsonAbi] {
    static A: OnceLock<Vec<JsonAbi>> = OnceLock::new();
    A.get_or_init(|| {
        veriflop_contracts::artifacts::all()
            .iter()
            .filter_map(|a| serde_json::from_value::<JsonAbi>(a.abi.clone()).ok())
            .collect()
    })
}

fn value(v: &DynSolValue) -> String {
    match v {
        DynSolValue::Address(a) => a.to_checksum(None),
        DynSolValue::Uint(u, _) if *u <= U256::from(u64::MAX) => u.to_string(),
        DynSolValue::Uint(u, _) => format!("{u:#066x}"),
        DynSolValue::Int(i, _) => i.to_string(),
        DynSolValue::Bool(b) => b.to_string(),
        DynSolValue::FixedBytes(w, size) => format!("0x{}", hex::encode(&w[..*size])),
        DynSolValue::Bytes(b) => format!("0x{}", hex::encode(b)),
        DynSolValue::String(s) => format!("{s:?}"),
        DynSolValue::Array(xs) | DynSolValue::FixedArray(xs) | DynSolValue::Tuple(xs) => {
            format!("[{}]", xs.iter().map(value).collect::<Vec<_>>().join(", "))
        }
        other => format!("{other:?}"),
    }
}

/// A revert's data as a readable reason: one of our contracts' custom errors by
/// name with named arguments, `Error(string)`'s text, a panic code, or the raw
/// bytes; empty data says what usually causes it.
pub fn decode(data: &[u8]) -> String {
    if data.is_empty() {
        return "reverted without data (out of gas, or a call to an account without code)".into();
    }
    if data.len() >= 4 {
        for abi in abis() {
            for e in abi.errors() {
                if e.selector().as_slice() != &data[..4] {
                    continue;
                }
                if let Ok(vals) = e.abi_decode_input(&data[4..]) {
                    let args: Vec<String> = e
                        .inputs
                        .iter()
                        .zip(&vals)
                        .map(|(p, v)| if p.name.is_empty() { value(v) } else { format!("{}: {}", p.name, value(v)) })
                        .collect();
                    return if args.is_empty() { e.name.clone() } else { format!("{}({})", e.name, args.join(", ")) };
                }
            }
        }
    }
    veriflop_contracts::abi::decode_revert(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_errors_are_named_with_their_arguments() {
        let sel = veriflop_contracts::abi::selector("InvalidProof(uint256)");
        let mut data = sel.to_vec();
        data.extend_from_slice(&[0x11; 32]);
        assert_eq!(decode(&data), format!("InvalidProof(jobId: 0x{})", "11".repeat(32)));
        let sel = veriflop_contracts::abi::selector("WrongStake(uint256)");
        let mut data = sel.to_vec();
        data.extend_from_slice(&U256::from(1000u64).to_be_bytes::<32>());
        assert_eq!(decode(&data), "WrongStake(expected: 1000)");
        assert_eq!(decode(&veriflop_contracts::abi::selector("NotClient()")), "NotClient");
        assert!(decode(&[]).contains("without data"));
        assert_eq!(decode(&[1, 2, 3]), "0x010203");
    }
}
