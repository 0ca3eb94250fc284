//! Why a request was refused: one typed enum for every refusal the layer and the
//! scope guard make. [`response`](crate::response) turns it into the wire answer.

use std::fmt;

use http::StatusCode;
use token_core::{Scopes, SourceError, VerifyError};

/// Why a request was refused.
///
/// The `Display` text of every variant is short and fixed: it never repeats the
/// token or a source's internal error, so it is safe for `error_description` and
/// `grpc-message`.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carries no credentials at all (RFC 6750: no error code).
    #[error("no credentials were sent")]
    MissingCredentials,
    /// The credentials are ambiguous or malformed (`invalid_request`, 400).
    #[error("{0}")]
    InvalidRequest(InvalidRequest),
    /// The token did not verify (`invalid_token`, 401).
    #[error("{0}")]
    InvalidToken(VerifyError),
    /// The token's `ver` is older than the subject's current token version.
    #[error("token has been superseded")]
    StaleVersion,
    /// The token, or its session, has been revoked.
    #[error("token has been revoked")]
    Revoked,
    /// The token lacks a scope the route requires (`insufficient_scope`, 403).
    #[error("token lacks the required scope")]
    InsufficientScope(ScopeRequirement),
    /// A token taken from a cookie on an unsafe method failed the CSRF check (403).
    #[error("cross-site request refused")]
    Csrf,
    /// The epoch or revocation source could not answer; the request fails closed
    /// (503). The source's error is kept as this error's `source()`, never shown.
    #[error("token status could not be checked")]
    Unavailable(#[source] SourceError),
}

/// The ways credentials can be unusable before any token is looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRequest {
    /// Credentials were found in more than one source (header and cookie, say).
    #[error("credentials were sent in more than one place")]
    SeveralSources,
    /// One source was repeated: two `Authorization` headers, two cookies of the
    /// configured name, two `access_token` parameters.
    #[error("credentials were sent more than once")]
    Repeated,
    /// `Authorization: Bearer` with nothing, or something other than a token68,
    /// after it.
    #[error("bearer credentials are malformed")]
    Malformed,
}

/// The scopes a route requires, and whether all or any of them will do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeRequirement {
    scopes: Scopes,
    any: bool,
    /// Set when the route named a scope no token can carry (a space, a quote): such
    /// a requirement fails closed instead of panicking at start-up.
    unsatisfiable: bool,
}

impl ScopeRequirement {
    /// Every scope of `scopes` is required.
    pub fn all(scopes: Scopes) -> Self {
        ScopeRequirement {
            scopes,
            any: false,
            unsatisfiable: false,
        }
    }

    /// One scope of `scopes` is enough.
    pub fn any(scopes: Scopes) -> Self {
        ScopeRequirement {
            scopes,
            any: true,
            unsatisfiable: false,
        }
    }

    /// A requirement that nothing meets (for scope names outside RFC 6749 syntax).
    pub(crate) fn unsatisfiable(any: bool) -> Self {
        ScopeRequirement {
            scopes: Scopes::empty(),
            any,
            unsatisfiable: true,
        }
    }

    /// The scopes named by the requirement.
    pub fn scopes(&self) -> &Scopes {
        &self.scopes
    }

    /// True when any one of the scopes satisfies the requirement.
    pub fn is_any(&self) -> bool {
        self.any
    }

    /// True when `granted` satisfies the requirement. An empty requirement is always
    /// satisfied.
    pub fn is_met_by(&self, granted: &Scopes) -> bool {
        if self.unsatisfiable {
            false
        } else if self.any {
            self.scopes.is_empty() || self.scopes.iter().any(|s| granted.contains(s))
        } else {
            self.scopes.iter().all(|s| granted.contains(s))
        }
    }
}

impl fmt::Display for ScopeRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let which = if self.any { "any of" } else { "all of" };
        write!(f, "{which} {}", self.scopes)
    }
}

impl AuthError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            AuthError::MissingCredentials
            | AuthError::InvalidToken(_)
            | AuthError::StaleVersion
            | AuthError::Revoked => StatusCode::UNAUTHORIZED,
            AuthError::InsufficientScope(_) | AuthError::Csrf => StatusCode::FORBIDDEN,
            AuthError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The RFC 6750 error code for the `WWW-Authenticate` challenge, if the answer
    /// carries one: none for missing credentials (section 3.1), nor for refusals
    /// that are not about the token (CSRF, an unavailable source).
    pub fn bearer_error(&self) -> Option<&'static str> {
        match self {
            AuthError::InvalidRequest(_) => Some("invalid_request"),
            AuthError::InvalidToken(_) | AuthError::StaleVersion | AuthError::Revoked => {
                Some("invalid_token")
            }
            AuthError::InsufficientScope(_) => Some("insufficient_scope"),
            AuthError::MissingCredentials | AuthError::Csrf | AuthError::Unavailable(_) => None,
        }
    }

    /// The outcome as recorded on the request's span: `missing`, `invalid_request`,
    /// `invalid_token`, `insufficient_scope`, `csrf` or `unavailable`.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthError::MissingCredentials => "missing",
            AuthError::InvalidRequest(_) => "invalid_request",
            AuthError::InvalidToken(_) | AuthError::StaleVersion | AuthError::Revoked => {
                "invalid_token"
            }
            AuthError::InsufficientScope(_) => "insufficient_scope",
            AuthError::Csrf => "csrf",
            AuthError::Unavailable(_) => "unavailable",
        }
    }

    /// A finer, stable reason for logs and metrics: the [`VerifyError::kind`] for
    /// tokens that did not verify, `stale_version`, `revoked`, and so on.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::InvalidToken(e) => e.kind(),
            AuthError::StaleVersion => "stale_version",
            AuthError::Revoked => "revoked",
            AuthError::InvalidRequest(InvalidRequest::SeveralSources) => "several_sources",
            AuthError::InvalidRequest(InvalidRequest::Repeated) => "repeated",
            AuthError::InvalidRequest(InvalidRequest::Malformed) => "malformed",
            other => other.kind(),
        }
    }

    /// The gRPC status code of the answer: 16 (UNAUTHENTICATED), 7
    /// (PERMISSION_DENIED) or 14 (UNAVAILABLE).
    pub fn grpc_code(&self) -> u8 {
        match self.status() {
            StatusCode::FORBIDDEN => 7,
            StatusCode::SERVICE_UNAVAILABLE => 14,
            _ => 16,
        }
    }
}

impl From<VerifyError> for AuthError {
    fn from(e: VerifyError) -> Self {
        AuthError::InvalidToken(e)
    }
}

impl From<InvalidRequest> for AuthError {
    fn from(e: InvalidRequest) -> Self {
        AuthError::InvalidRequest(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(s: &str) -> Scopes {
        s.parse().unwrap()
    }

    #[test]
    fn requirements() {
        let granted = scopes("a b");
        assert!(ScopeRequirement::all(scopes("a b")).is_met_by(&granted));
        assert!(!ScopeRequirement::all(scopes("a c")).is_met_by(&granted));
        assert!(ScopeRequirement::any(scopes("c b")).is_met_by(&granted));
        assert!(!ScopeRequirement::any(scopes("c d")).is_met_by(&granted));
        assert!(ScopeRequirement::any(Scopes::empty()).is_met_by(&Scopes::empty()));
    }

    #[test]
    fn codes_follow_rfc_6750() {
        assert_eq!(AuthError::MissingCredentials.bearer_error(), None);
        assert_eq!(AuthError::MissingCredentials.status(), 401);
        let expired = AuthError::from(VerifyError::Expired);
        assert_eq!(expired.bearer_error(), Some("invalid_token"));
        assert_eq!(expired.reason(), "expired");
        // Wrong audience or issuer is a bad token, never a permission problem.
        assert_eq!(AuthError::from(VerifyError::InvalidAudience).status(), 401);
        assert_eq!(AuthError::from(VerifyError::InvalidIssuer).grpc_code(), 16);
        let scope = AuthError::InsufficientScope(ScopeRequirement::all(scopes("x")));
        assert_eq!((scope.status().as_u16(), scope.grpc_code()), (403, 7));
        let down = AuthError::Unavailable(SourceError::msg("db down at 10.0.0.1"));
        assert_eq!((down.status().as_u16(), down.grpc_code()), (503, 14));
        assert!(!down.to_string().contains("10.0.0.1"));
    }
}
