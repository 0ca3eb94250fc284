//! Every way a request can fail, and the one place failures become HTTP answers:
//! RFC 6749 section 5.2 JSON (`{"error", "error_description"}`) with `Cache-Control:
//! no-store`. Descriptions are fixed text, so nothing a client sent (and no secret)
//! is ever echoed back.

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;

use crate::password::PasswordError;
use crate::store::StoreError;

/// Why a request failed, as the client is told.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 400 `invalid_request`: malformed or missing parameters, bad JSON or form.
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    /// 415 `invalid_request`: the body has the wrong content type.
    #[error("invalid_request: unsupported content type")]
    UnsupportedMediaType,
    /// 413 `invalid_request`: the body is over the size bound.
    #[error("invalid_request: request body too large")]
    PayloadTooLarge,
    /// 401 `invalid_client` with `WWW-Authenticate: Basic`: client authentication failed.
    #[error("invalid_client: {0}")]
    InvalidClient(&'static str),
    /// 400 `invalid_grant`: bad credentials, disabled user, or an unknown, revoked,
    /// expired or reused refresh token.
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    /// 400 `unauthorized_client`: this client may not use this grant.
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(&'static str),
    /// 400 `unsupported_grant_type`.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// 400 `invalid_scope`: malformed, or wider than what may be granted.
    #[error("invalid_scope: {0}")]
    InvalidScope(&'static str),
    /// 403 `invalid_request`: a cookie-borne request from an origin not allowed.
    #[error("invalid_request: origin not allowed")]
    OriginNotAllowed,
    /// 401 with `WWW-Authenticate: Bearer` (RFC 6750): the endpoint needs an access
    /// token and got none.
    #[error("access token required")]
    MissingToken,
    /// 401 `invalid_token` with `WWW-Authenticate: Bearer` (RFC 6750).
    #[error("invalid_token: {0}")]
    InvalidToken(&'static str),
    /// 429 `slow_down` with `Retry-After`: throttled.
    #[error("slow_down: retry after {retry_after} s")]
    Throttled {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// 503 `temporarily_unavailable` with `Retry-After`: overloaded, or a store is
    /// unreachable.
    #[error("temporarily_unavailable")]
    Unavailable,
    /// 404 `not_found`.
    #[error("not found")]
    NotFound,
    /// 405 `invalid_request` with `Allow`.
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    /// 500 `server_error`: a store failed (logged where it happened).
    #[error("server_error")]
    Server,
}

impl Error {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::InvalidRequest(_)
            | Error::InvalidGrant(_)
            | Error::UnauthorizedClient(_)
            | Error::UnsupportedGrantType
            | Error::InvalidScope(_) => StatusCode::BAD_REQUEST,
            Error::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::InvalidClient(_) | Error::MissingToken | Error::InvalidToken(_) => {
                StatusCode::UNAUTHORIZED
            }
            Error::OriginNotAllowed => StatusCode::FORBIDDEN,
            Error::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::Server => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidRequest(_)
            | Error::UnsupportedMediaType
            | Error::PayloadTooLarge
            | Error::OriginNotAllowed
            | Error::MethodNotAllowed(_) => "invalid_request",
            Error::InvalidClient(_) => "invalid_client",
            Error::InvalidGrant(_) => "invalid_grant",
            Error::UnauthorizedClient(_) => "unauthorized_client",
            Error::UnsupportedGrantType => "unsupported_grant_type",
            Error::InvalidScope(_) => "invalid_scope",
            Error::MissingToken | Error::InvalidToken(_) => "invalid_token",
            Error::Throttled { .. } => "slow_down",
            Error::Unavailable => "temporarily_unavailable",
            Error::NotFound => "not_found",
            Error::Server => "server_error",
        }
    }

    /// The `error_description`: fixed text.
    pub fn description(&self) -> &'static str {
        match self {
            Error::InvalidRequest(d)
            | Error::InvalidClient(d)
            | Error::InvalidGrant(d)
            | Error::UnauthorizedClient(d)
            | Error::InvalidScope(d)
            | Error::InvalidToken(d) => d,
            Error::UnsupportedMediaType => "unsupported content type",
            Error::PayloadTooLarge => "request body too large",
            Error::UnsupportedGrantType => "grant type not supported",
            Error::OriginNotAllowed => "origin not allowed",
            Error::MissingToken => "access token required",
            Error::Throttled { .. } => "too many attempts, retry later",
            Error::Unavailable => "temporarily unavailable, retry later",
            Error::NotFound => "not found",
            Error::MethodNotAllowed(_) => "method not allowed",
            Error::Server => "internal error",
        }
    }

    /// The HTTP answer.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let body = serde_json::json!({
            "error": self.code(),
            "error_description": self.description(),
        });
        let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
        match &self {
            Error::InvalidClient(_) => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"issuer\""),
                );
            }
            Error::MissingToken => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Error::InvalidToken(_) => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            Error::Throttled { retry_after } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            Error::Unavailable => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Error::MethodNotAllowed(allow) => {
                headers.insert(ALLOW, HeaderValue::from_static(allow));
            }
            _ => {}
        }
        response
    }
}

impl From<StoreError> for Error {
    /// A store that is down or failing answers 503 `temporarily_unavailable` (the
    /// request changed nothing and may be retried); anything else is a 500.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => {
                tracing::warn!(%error, "issuer store unavailable");
                Error::Unavailable
            }
            error => {
                tracing::error!(%error, "issuer store failed");
                Error::Server
            }
        }
    }
}

impl From<PasswordError> for Error {
    fn from(error: PasswordError) -> Self {
        match error {
            PasswordError::Busy => Error::Unavailable,
            // Too long is just a wrong password, told the same way.
            PasswordError::TooLong => Error::InvalidGrant(BAD_CREDENTIALS),
            other => {
                tracing::error!(error = %other, "password hashing failed");
                Error::Server
            }
        }
    }
}

/// The one description for every failed password login, whatever the cause.
pub(crate) const BAD_CREDENTIALS: &str = "invalid username or password";
/// The one description for every refresh token that cannot be used.
pub(crate) const BAD_REFRESH: &str = "refresh token is invalid, expired or revoked";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape() {
        let r = Error::InvalidClient("client authentication failed").into_response();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[WWW_AUTHENTICATE], "Basic realm=\"issuer\"");
        assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
        let r = Error::from(PasswordError::Busy).into_response();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[RETRY_AFTER], "1");
        assert_eq!(
            Error::from(PasswordError::TooLong),
            Error::InvalidGrant(BAD_CREDENTIALS)
        );
        let r = Error::from(StoreError::Unavailable("down".into())).into_response();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[RETRY_AFTER], "1");
        assert_eq!(Error::from(StoreError::NotFound), Error::Server);
        let r = Error::Throttled { retry_after: 7 }.into_response();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()[RETRY_AFTER], "7");
    }
}
