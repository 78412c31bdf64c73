//! JSON errors: every rejection is `{ "code": "...", "message": "..." }` with a
//! stable `code` (see docs/VERIFIER.md for the list) and an HTTP status.

use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::reply::Response;

use crate::ledger::LedgerError;
use veriflop_verifier::auth::AuthError;
use veriflop_verifier::bundle::BundleError;
use veriflop_verifier::verify::VerifyError;

/// The JSON body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn into_response(self) -> Response {
        json_response(self.status, &ErrorBody { code: self.code.to_string(), message: self.message })
    }
}

pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let text =
        serde_json::to_vec(body).unwrap_or_else(|_| b"{\"code\":\"internal\",\"message\":\"serialization\"}".to_vec());
    let mut r = Response::new(text.into());
    *r.status_mut() = status;
    r.headers_mut().insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static("application/json"));
    r
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let status = match e {
            AuthError::Replay(_) => StatusCode::CONFLICT,
            _ => StatusCode::UNAUTHORIZED,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<BundleError> for ApiError {
    fn from(e: BundleError) -> Self {
        let (status, code) = match e {
            BundleError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            BundleError::BadMagic | BundleError::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed_bundle"),
            BundleError::Version(_) => (StatusCode::BAD_REQUEST, "unsupported_version"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        let status = match e {
            VerifyError::ProviderMismatch { .. } => StatusCode::FORBIDDEN,
            VerifyError::InvalidProof => StatusCode::UNPROCESSABLE_ENTITY,
            VerifyError::BadKey(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        tracing::error!("ledger: {e}");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "ledger_unavailable", format!("the escrow ledger failed: {e}"))
    }
}
