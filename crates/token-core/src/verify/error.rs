//! Why a token was refused, and why a verifier could not be built.

use std::borrow::Cow;

/// Why a token was refused. Each variant's message is short, fixed text that never
/// repeats anything from the token, so it can go into an `error_description`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The token, or its header, is longer than the configured bound.
    #[error("token is too large")]
    TooLarge,
    /// The token is not a well-formed compact JWS.
    #[error("token is malformed ({0})")]
    Malformed(Malformed),
    /// The header names an algorithm this crate does not support, `none` included.
    #[error("algorithm is not supported")]
    UnsupportedAlgorithm,
    /// The header's `alg` differs from the algorithm of the key its `kid` names.
    #[error("algorithm does not match the key")]
    AlgorithmMismatch,
    /// No trusted key has the token's `kid` (or the token has no `kid` and the ring
    /// holds more than one key).
    #[error("signing key is unknown")]
    UnknownKey,
    /// The signature does not verify.
    #[error("signature is invalid")]
    InvalidSignature,
    /// The header's `typ` is not the expected one.
    #[error("token type is not accepted")]
    InvalidType,
    /// The header lists `crit` extensions; none are supported.
    #[error("critical header extension is not supported")]
    UnsupportedCritical,
    /// The header uses a JWS feature that is not supported (`b64: false`, `zip`).
    #[error("header parameter {0} is not supported")]
    UnsupportedHeader(&'static str),
    /// `exp` has passed (after leeway).
    #[error("token has expired")]
    Expired,
    /// `nbf` (or `iat`) is in the future (after leeway).
    #[error("token is not valid yet")]
    NotYetValid,
    /// `iat` is older than the configured maximum age.
    #[error("token is too old")]
    TooOld,
    /// `iss` is not the configured issuer.
    #[error("issuer is not accepted")]
    InvalidIssuer,
    /// `aud` names none of the configured audiences.
    #[error("audience is not accepted")]
    InvalidAudience,
    /// A claim the verifier requires is absent.
    #[error("claim {0} is missing")]
    MissingClaim(&'static str),
    /// A claim has the wrong type or an impossible value.
    #[error("claim {0} is invalid")]
    InvalidClaim(&'static str),
    /// The caller's own validation refused the claims.
    #[error("{0}")]
    Rejected(Cow<'static, str>),
}

/// The ways a token can fail to be a compact JWS at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// Not three dot-separated segments.
    #[error("not three segments")]
    Segments,
    /// A segment is not canonical base64url.
    #[error("bad base64url")]
    Base64,
    /// The header is not a JSON object of the expected shape.
    #[error("bad header")]
    Header,
    /// The payload is not a JSON object of the expected shape.
    #[error("bad claims")]
    Claims,
}

impl VerifyError {
    /// A stable, machine-readable name for the reason, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            VerifyError::TooLarge => "too_large",
            VerifyError::Malformed(_) => "malformed",
            VerifyError::UnsupportedAlgorithm => "unsupported_algorithm",
            VerifyError::AlgorithmMismatch => "algorithm_mismatch",
            VerifyError::UnknownKey => "unknown_key",
            VerifyError::InvalidSignature => "invalid_signature",
            VerifyError::InvalidType => "invalid_type",
            VerifyError::UnsupportedCritical => "unsupported_critical",
            VerifyError::UnsupportedHeader(_) => "unsupported_header",
            VerifyError::Expired => "expired",
            VerifyError::NotYetValid => "not_yet_valid",
            VerifyError::TooOld => "too_old",
            VerifyError::InvalidIssuer => "invalid_issuer",
            VerifyError::InvalidAudience => "invalid_audience",
            VerifyError::MissingClaim(_) => "missing_claim",
            VerifyError::InvalidClaim(_) => "invalid_claim",
            VerifyError::Rejected(_) => "rejected",
        }
    }
}

/// A verifier's configuration makes no sense.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A fixed key ring without a single verifying key can never accept a token.
    #[error("the key ring has no verifying key")]
    NoKeys,
    /// An issuer was configured as the empty string.
    #[error("issuer must not be empty")]
    EmptyIssuer,
    /// An audience was configured as the empty string.
    #[error("audience must not be empty")]
    EmptyAudience,
    /// The expected `typ` is empty.
    #[error("expected token type must not be empty")]
    EmptyType,
    /// Leeway above one hour defeats expiry.
    #[error("leeway must be at most one hour")]
    LeewayTooLarge,
    /// The token size bound must be between 64 bytes and 1 MiB.
    #[error("maximum token length must be between 64 bytes and 1 MiB")]
    MaxLength,
    /// The minter needs a positive time-to-live.
    #[error("time-to-live must be at least one second")]
    ZeroTtl,
}
