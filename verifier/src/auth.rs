//! Request authentication: secp256k1 signatures with Ethereum-style identities.
//!
//! A client or provider signs every state-changing request with the key behind
//! its Ethereum address, so the identity that is paid (or refunded) by the
//! verifier service is the one that can be paid on-chain.
//!
//! The signed text ([`canonical_message`]) is
//!
//! ```text
//! veriflop-request-v2
//! <venue id: 0x-hex, 32 bytes (GET /v1/venue)>
//! <METHOD>
//! <path and query, exactly as sent>
//! <timestamp: unix seconds, decimal>
//! <nonce: 1..=64 of [A-Za-z0-9_-]>
//! <0x-hex keccak256 of the body bytes>
//! ```
//!
//! (lines joined by `\n`, no trailing newline). The venue line names the service
//! the request is for (`Venue::Service` id, see `veriflop_circuits::venue`), so a
//! request signed for one service is refused by every other. It is signed EIP-191 "personal_sign"
//! style: the ECDSA pre-hash is
//! `keccak256("\x19Ethereum Signed Message:\n" || decimal(len(msg)) || msg)`,
//! the signature is the 65 bytes `r || s || v` (v = 27/28, or 0/1), low-s only.
//! It is sent in four headers ([`HEADER_ADDRESS`], [`HEADER_TIMESTAMP`],
//! [`HEADER_NONCE`], [`HEADER_SIGNATURE`]). The server recovers the signer from
//! the signature and requires it to be the claimed address; replays are refused
//! by a timestamp window plus a ledger of used `(address, nonce)` pairs.

use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use k256::elliptic_curve::scalar::IsHigh;
use sha3::{Digest, Keccak256};
use std::fmt;
use std::str::FromStr;
use veriflop_circuits::{Address, Bytes32};

pub const HEADER_ADDRESS: &str = "x-veriflop-address";
pub const HEADER_TIMESTAMP: &str = "x-veriflop-timestamp";
pub const HEADER_NONCE: &str = "x-veriflop-nonce";
pub const HEADER_SIGNATURE: &str = "x-veriflop-signature";
/// Streamed uploads declare their body's keccak256 (0x-hex) in this header: it
/// is the body line of the signed text, so the signature is checked before the
/// body arrives, and the body is refused unless it hashes to the declared value.
pub const HEADER_CONTENT_KECCAK: &str = "x-veriflop-content-keccak256";
/// First line of every signed request text (domain separation and versioning).
pub const DOMAIN: &str = "veriflop-request-v2";
pub const MAX_NONCE_LEN: usize = 64;

/// Why a request's authentication was refused. `code()` is stable.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing authentication header {0} (requests that change state must be signed)")]
    Missing(&'static str),
    #[error("malformed authentication header {0}: {1}")]
    Malformed(&'static str, String),
    #[error("the signature does not verify for address {0}")]
    BadSignature(Address),
    #[error("request timestamp {ts} is more than {window} s away from the server clock ({now})")]
    Stale { ts: i64, now: i64, window: u64 },
    #[error("nonce {0:?} was already used by this address (replayed request)")]
    Replay(String),
}

impl AuthError {
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing(_) => "missing_auth",
            AuthError::Malformed(..) => "malformed_auth",
            AuthError::BadSignature(_) => "bad_signature",
            AuthError::Stale { .. } => "stale_request",
            AuthError::Replay(_) => "replay",
        }
    }
}

pub fn keccak256(bytes: &[u8]) -> [u8; 32] {
    Keccak256::digest(bytes).into()
}

/// The Ethereum address of a secp256k1 public key: last 20 bytes of keccak256 of
/// the uncompressed point without its 0x04 prefix.
pub fn address_of(key: &VerifyingKey) -> Address {
    let point = key.to_encoded_point(false);
    let h = keccak256(&point.as_bytes()[1..]);
    Address(h[12..].try_into().expect("20 bytes"))
}

/// EIP-191 personal-sign pre-hash of `msg`.
pub fn personal_hash(msg: &[u8]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(format!("\x19Ethereum Signed Message:\n{}", msg.len()).as_bytes());
    h.update(msg);
    h.finalize().into()
}

/// The text that is signed for one request to the venue `venue`.
pub fn canonical_message(
    venue: &Bytes32,
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    canonical_message_for_digest(venue, method, path_and_query, timestamp, nonce, &keccak256(body))
}

/// [`canonical_message`] given the body's keccak256 instead of the body.
pub fn canonical_message_for_digest(
    venue: &Bytes32,
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body_keccak: &[u8; 32],
) -> String {
    format!(
        "{DOMAIN}\n{venue}\n{}\n{path_and_query}\n{timestamp}\n{nonce}\n0x{}",
        method.to_ascii_uppercase(),
        hex::encode(body_keccak)
    )
}

/// Parses a 0x-hex keccak256 digest (the [`HEADER_CONTENT_KECCAK`] value).
pub fn parse_digest(s: &str) -> Result<[u8; 32], AuthError> {
    let bad = || AuthError::Malformed(HEADER_CONTENT_KECCAK, "expected 0x and 64 hex digits".into());
    let h = s.trim().strip_prefix("0x").ok_or_else(bad)?;
    let b = hex::decode(h).map_err(|_| bad())?;
    b.try_into().map_err(|_| bad())
}

fn check_nonce(nonce: &str) -> Result<(), AuthError> {
    let ok = !nonce.is_empty()
        && nonce.len() <= MAX_NONCE_LEN
        && nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(AuthError::Malformed(HEADER_NONCE, format!("expected 1 to {MAX_NONCE_LEN} characters of [A-Za-z0-9_-]")))
    }
}

/// A 65-byte recoverable signature `r || s || v`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RecoverableSignature(pub [u8; 65]);

impl fmt::Display for RecoverableSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for RecoverableSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl FromStr for RecoverableSignature {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self, AuthError> {
        let bad = |m: &str| AuthError::Malformed(HEADER_SIGNATURE, m.to_string());
        let h = s.strip_prefix("0x").unwrap_or(s);
        if h.len() != 130 {
            return Err(bad("expected 65 bytes (130 hex digits) r || s || v"));
        }
        let bytes = hex::decode(h).map_err(|_| bad("not hex"))?;
        Ok(RecoverableSignature(bytes.try_into().map_err(|_| bad("expected 65 bytes"))?))
    }
}

/// Recovers the signer of an EIP-191 personal message. Rejects high-s and
/// malformed signatures.
pub fn recover_personal(msg: &[u8], sig: &RecoverableSignature) -> Option<Address> {
    let signature = Signature::from_slice(&sig.0[..64]).ok()?;
    if bool::from(signature.s().is_high()) {
        return None;
    }
    let v = match sig.0[64] {
        27 | 28 => sig.0[64] - 27,
        0 | 1 => sig.0[64],
        _ => return None,
    };
    let recid = RecoveryId::from_byte(v)?;
    let key = VerifyingKey::recover_from_prehash(&personal_hash(msg), &signature, recid).ok()?;
    Some(address_of(&key))
}

/// The authentication headers of one signed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthHeaders {
    pub address: Address,
    pub timestamp: i64,
    pub nonce: String,
    pub signature: RecoverableSignature,
}

impl AuthHeaders {
    /// `(name, value)` pairs to put on the request.
    pub fn pairs(&self) -> [(&'static str, String); 4] {
        [
            (HEADER_ADDRESS, self.address.to_string()),
            (HEADER_TIMESTAMP, self.timestamp.to_string()),
            (HEADER_NONCE, self.nonce.clone()),
            (HEADER_SIGNATURE, self.signature.to_string()),
        ]
    }

    /// Parses the headers; `get` returns a header's value if present.
    pub fn parse<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, AuthError> {
        let req = |name: &'static str| get(name).ok_or(AuthError::Missing(name));
        let address = Address::from_str(req(HEADER_ADDRESS)?.trim())
            .map_err(|_| AuthError::Malformed(HEADER_ADDRESS, "expected 0x and 40 hex digits".into()))?;
        let ts_text = req(HEADER_TIMESTAMP)?.trim();
        let timestamp = ts_text
            .parse::<i64>()
            .ok()
            .filter(|t| *t >= 0 && ts_text.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| AuthError::Malformed(HEADER_TIMESTAMP, "expected unix seconds".into()))?;
        let nonce = req(HEADER_NONCE)?.trim().to_string();
        check_nonce(&nonce)?;
        let signature = RecoverableSignature::from_str(req(HEADER_SIGNATURE)?.trim())?;
        Ok(AuthHeaders { address, timestamp, nonce, signature })
    }

    /// Checks the timestamp window and the signature over this request. Nonce
    /// uniqueness is the caller's (ledger's) job.
    pub fn verify(
        &self,
        venue: &Bytes32,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now: i64,
        window_secs: u64,
    ) -> Result<Address, AuthError> {
        self.verify_digest(venue, method, path_and_query, &keccak256(body), now, window_secs)
    }

    /// [`AuthHeaders::verify`] given the body's keccak256 (streamed uploads).
    pub fn verify_digest(
        &self,
        venue: &Bytes32,
        method: &str,
        path_and_query: &str,
        body_keccak: &[u8; 32],
        now: i64,
        window_secs: u64,
    ) -> Result<Address, AuthError> {
        if self.timestamp.abs_diff(now) > window_secs {
            return Err(AuthError::Stale { ts: self.timestamp, now, window: window_secs });
        }
        let msg = canonical_message_for_digest(venue, method, path_and_query, self.timestamp, &self.nonce, body_keccak);
        match recover_personal(msg.as_bytes(), &self.signature) {
            Some(a) if a == self.address => Ok(a),
            _ => Err(AuthError::BadSignature(self.address)),
        }
    }
}

/// A secp256k1 key that signs requests (a client's or a provider's identity).
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    address: Address,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer({})", self.address)
    }
}

impl Signer {
    pub fn from_key(key: SigningKey) -> Self {
        let address = address_of(key.verifying_key());
        Signer { key, address }
    }

    pub fn random() -> Self {
        Self::from_key(SigningKey::random(&mut rand::rngs::OsRng))
    }

    /// From a 32-byte secret key in hex (with or without 0x), as Ethereum tools print it.
    pub fn from_hex(secret: &str) -> Result<Self, AuthError> {
        let bad = || AuthError::Malformed("secret key", "expected 32 bytes of hex".into());
        let bytes = hex::decode(secret.trim().strip_prefix("0x").unwrap_or(secret.trim())).map_err(|_| bad())?;
        let key = SigningKey::from_slice(&bytes).map_err(|_| bad())?;
        Ok(Self::from_key(key))
    }

    /// The secret key as 0x-hex (for saving a generated identity).
    pub fn secret_hex(&self) -> String {
        format!("0x{}", hex::encode(self.key.to_bytes()))
    }

    pub fn address(&self) -> Address {
        self.address
    }

    /// EIP-191 personal signature of `msg`, low-s, v = 27/28.
    pub fn sign_personal(&self, msg: &[u8]) -> RecoverableSignature {
        let (sig, recid) = self.key.sign_prehash_recoverable(&personal_hash(msg)).expect("signing a 32-byte prehash");
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&sig.to_bytes());
        out[64] = 27 + recid.to_byte();
        RecoverableSignature(out)
    }

    /// Signs a request for `venue` with a fresh random nonce.
    pub fn sign_request(
        &self,
        venue: &Bytes32,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        timestamp: i64,
    ) -> AuthHeaders {
        self.sign_request_with_nonce(venue, method, path_and_query, body, timestamp, &random_nonce())
    }

    pub fn sign_request_with_nonce(
        &self,
        venue: &Bytes32,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        timestamp: i64,
        nonce: &str,
    ) -> AuthHeaders {
        self.sign_digest_with_nonce(venue, method, path_and_query, &keccak256(body), timestamp, nonce)
    }

    /// Signs a request whose body is streamed: the caller sends `body_keccak`
    /// in [`HEADER_CONTENT_KECCAK`] beside the returned headers.
    pub fn sign_streamed_request(
        &self,
        venue: &Bytes32,
        method: &str,
        path_and_query: &str,
        body_keccak: &[u8; 32],
        timestamp: i64,
    ) -> AuthHeaders {
        self.sign_digest_with_nonce(venue, method, path_and_query, body_keccak, timestamp, &random_nonce())
    }

    fn sign_digest_with_nonce(
        &self,
        venue: &Bytes32,
        method: &str,
        path_and_query: &str,
        body_keccak: &[u8; 32],
        timestamp: i64,
        nonce: &str,
    ) -> AuthHeaders {
        let msg = canonical_message_for_digest(venue, method, path_and_query, timestamp, nonce, body_keccak);
        AuthHeaders {
            address: self.address,
            timestamp,
            nonce: nonce.to_string(),
            signature: self.sign_personal(msg.as_bytes()),
        }
    }
}

/// A fresh request nonce: 16 random bytes as hex.
fn random_nonce() -> String {
    use rand::RngCore;
    let mut n = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut n);
    hex::encode(n)
}

/// Current unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ethereum_address() {
        // Secret key 1: the well-known address of the generator point.
        let s = Signer::from_hex(&format!("{:064x}", 1)).unwrap();
        assert_eq!(s.address().to_string(), "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf");
    }

    #[test]
    fn sign_verify_and_tamper() {
        let s = Signer::random();
        let now = 1_700_000_000;
        let v = &Bytes32([5; 32]);
        let h = s.sign_request(v, "POST", "/v1/jobs", b"{}", now);
        assert_eq!(h.verify(v, "POST", "/v1/jobs", b"{}", now, 300).unwrap(), s.address());
        // Signed for another venue (service): refused here.
        assert!(matches!(
            h.verify(&Bytes32([6; 32]), "POST", "/v1/jobs", b"{}", now, 300),
            Err(AuthError::BadSignature(_))
        ));
        // Any changed field breaks the signature.
        assert!(matches!(h.verify(v, "GET", "/v1/jobs", b"{}", now, 300), Err(AuthError::BadSignature(_))));
        assert!(matches!(h.verify(v, "POST", "/v1/jobz", b"{}", now, 300), Err(AuthError::BadSignature(_))));
        assert!(matches!(h.verify(v, "POST", "/v1/jobs", b"{ }", now, 300), Err(AuthError::BadSignature(_))));
        let mut other = h.clone();
        other.address = Signer::random().address();
        assert!(matches!(other.verify(v, "POST", "/v1/jobs", b"{}", now, 300), Err(AuthError::BadSignature(_))));
        let mut flipped = h.clone();
        flipped.signature.0[10] ^= 1;
        assert!(flipped.verify(v, "POST", "/v1/jobs", b"{}", now, 300).is_err());
        // Timestamp window.
        assert!(matches!(h.verify(v, "POST", "/v1/jobs", b"{}", now + 301, 300), Err(AuthError::Stale { .. })));
        // High-s twin of a valid signature is refused (malleability).
        let sig = Signature::from_slice(&h.signature.0[..64]).unwrap();
        let (r, s_) = sig.split_scalars();
        let high = Signature::from_scalars(r.to_bytes(), (-*s_).to_bytes()).unwrap();
        let mut hs = h.clone();
        hs.signature.0[..64].copy_from_slice(&high.to_bytes());
        hs.signature.0[64] ^= 1;
        assert!(hs.verify(v, "POST", "/v1/jobs", b"{}", now, 300).is_err());
    }

    #[test]
    fn header_parsing_is_strict() {
        let s = Signer::random();
        let h = s.sign_request(&Bytes32::default(), "POST", "/x", b"", 5);
        let pairs = h.pairs();
        let get = |n: &str| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        assert_eq!(AuthHeaders::parse(get).unwrap(), h);
        assert_eq!(AuthHeaders::parse(|_| None).unwrap_err().code(), "missing_auth");
        let bad_nonce = |n: &str| if n == HEADER_NONCE { Some("a b") } else { get(n) };
        assert_eq!(AuthHeaders::parse(bad_nonce).unwrap_err().code(), "malformed_auth");
        let bad_ts = |n: &str| if n == HEADER_TIMESTAMP { Some("-5") } else { get(n) };
        assert_eq!(AuthHeaders::parse(bad_ts).unwrap_err().code(), "malformed_auth");
        let bad_sig = |n: &str| if n == HEADER_SIGNATURE { Some("0x1234") } else { get(n) };
        assert_eq!(AuthHeaders::parse(bad_sig).unwrap_err().code(), "malformed_auth");
    }
}
