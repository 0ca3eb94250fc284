//! The one place where an [`AuthError`] becomes a response.
//!
//! HTTP requests get RFC 6750 section 3 to the letter: a `WWW-Authenticate: Bearer`
//! challenge with `realm`, no error code when no credentials were sent, otherwise
//! `error`, a short `error_description` and, for `insufficient_scope`, `scope`.
//! gRPC requests get a trailers-only response: HTTP 200 with `grpc-status` and
//! `grpc-message` in the headers and no body.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use crate::error::AuthError;

/// The longest `error_description` sent; the caller's own check messages are cut
/// here so a careless message cannot bloat every refusal.
const MAX_DESCRIPTION: usize = 160;

/// Replaces the body and headers of failure answers.
///
/// The responder receives the refusal and the answer the layer would send, and
/// returns the answer to send instead. Keep the status (and, for HTTP, the
/// `WWW-Authenticate` header) unless you mean to depart from RFC 6750. Any
/// `Fn(&Failure<'_>, Response<Bytes>) -> Response<Bytes>` closure is a responder.
///
/// ```
/// use bytes::Bytes;
/// use http::{Response, header};
/// use tower_bearer::{BearerAuthLayer, Failure};
/// # let verifier = token_core::Verifier::builder(token_core::SigningKey::from_hmac_secret(
/// #     token_core::Algorithm::HS256, &[7; 32])?).build()?;
///
/// let layer = BearerAuthLayer::builder(verifier)
///     .responder(|failure: &Failure<'_>, mut answer: Response<Bytes>| {
///         if !failure.is_grpc() {
///             let page = format!("<h1>{}</h1>", failure.error().kind());
///             *answer.body_mut() = Bytes::from(page);
///             answer.headers_mut().insert(header::CONTENT_TYPE, "text/html".parse().unwrap());
///         }
///         answer
///     })
///     .build();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Responder: Send + Sync + 'static {
    /// The answer to send for `failure`, given the default `answer`.
    fn respond(&self, failure: &Failure<'_>, answer: Response<Bytes>) -> Response<Bytes>;
}

impl<F> Responder for F
where
    F: Fn(&Failure<'_>, Response<Bytes>) -> Response<Bytes> + Send + Sync + 'static,
{
    fn respond(&self, failure: &Failure<'_>, answer: Response<Bytes>) -> Response<Bytes> {
        self(failure, answer)
    }
}

/// A refusal about to be answered, as a [`Responder`] sees it.
#[derive(Debug)]
pub struct Failure<'a> {
    error: &'a AuthError,
    grpc: bool,
}

impl Failure<'_> {
    /// Why the request was refused.
    pub fn error(&self) -> &AuthError {
        self.error
    }

    /// True when the request was a gRPC call and the answer is trailers-only.
    pub fn is_grpc(&self) -> bool {
        self.grpc
    }
}

/// How refusals are answered: the realm and an optional custom responder. Shared
/// by the layer and every scope guard behind it, so all answers look alike.
#[derive(Clone)]
pub(crate) struct Answer {
    // One reference count to bump per admitted request, not two.
    inner: Arc<AnswerInner>,
}

struct AnswerInner {
    /// `Bearer realm="..."`, escaped once at build time.
    challenge: Box<str>,
    responder: Option<Arc<dyn Responder>>,
}

impl Default for Answer {
    fn default() -> Self {
        Answer::new(crate::layer::DEFAULT_REALM, None)
    }
}

impl fmt::Debug for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answer")
            .field("challenge", &self.inner.challenge)
            .field("custom_responder", &self.inner.responder.is_some())
            .finish()
    }
}

impl Answer {
    pub(crate) fn new(realm: &str, responder: Option<Arc<dyn Responder>>) -> Self {
        let mut challenge = String::from("Bearer realm=\"");
        push_quoted(&mut challenge, realm, usize::MAX);
        challenge.push('"');
        Answer {
            inner: Arc::new(AnswerInner {
                challenge: challenge.into(),
                responder,
            }),
        }
    }

    /// The answer to `error` for a request whose headers are `request`.
    pub(crate) fn respond(&self, error: &AuthError, request: &HeaderMap) -> Response<Bytes> {
        let grpc = is_grpc(request);
        let answer = if grpc {
            grpc_answer(error)
        } else {
            self.http_answer(error)
        };
        match &self.inner.responder {
            Some(responder) => responder.respond(&Failure { error, grpc }, answer),
            None => answer,
        }
    }

    fn http_answer(&self, error: &AuthError) -> Response<Bytes> {
        let description = description(error);
        let mut response = Response::new(Bytes::new());
        *response.status_mut() = error.status();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self.challenge(error, &description)
            && let Ok(value) = HeaderValue::from_str(&challenge)
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if let AuthError::Unavailable(_) = error {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        // RFC 6750 3.1: a request without credentials gets no error information.
        if !matches!(error, AuthError::MissingCredentials) {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            *response.body_mut() = json_body(error, &description).into();
        }
        response
    }

    /// The `WWW-Authenticate` value, for the refusals that are bearer challenges.
    fn challenge(&self, error: &AuthError, description: &str) -> Option<String> {
        if matches!(error, AuthError::MissingCredentials) {
            return Some(self.inner.challenge.to_string());
        }
        let code = error.bearer_error()?;
        let mut value = String::with_capacity(self.inner.challenge.len() + 64);
        value.push_str(&self.inner.challenge);
        value.push_str(", error=\"");
        value.push_str(code);
        value.push_str("\", error_description=\"");
        push_quoted(&mut value, description, MAX_DESCRIPTION);
        value.push('"');
        if let AuthError::InsufficientScope(required) = error {
            value.push_str(", scope=\"");
            push_quoted(&mut value, required.scopes().as_str(), usize::MAX);
            value.push('"');
        }
        Some(value)
    }
}

/// True for `application/grpc` and its `+proto`-style variants (not grpc-web, whose
/// answers travel in the body).
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let bytes = value.as_bytes();
    let prefix = b"application/grpc";
    bytes.len() >= prefix.len()
        && bytes[..prefix.len()].eq_ignore_ascii_case(prefix)
        && matches!(bytes.get(prefix.len()), None | Some(b'+' | b';'))
}

fn description(error: &AuthError) -> String {
    let mut text = error.to_string();
    if text.len() > MAX_DESCRIPTION {
        let mut cut = MAX_DESCRIPTION;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// Appends `text` as the inside of an RFC 9110 quoted-string: `"` and `\` escaped
/// with a backslash, anything not visible ASCII or space replaced by `?` so the
/// header value is always valid.
fn push_quoted(out: &mut String, text: &str, max: usize) {
    for c in text.chars().take(max) {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
}

/// `{"error":"...","error_description":"..."}` (with `scope` for scope refusals).
fn json_body(error: &AuthError, description: &str) -> String {
    let code = match error {
        AuthError::Csrf => "csrf_check_failed",
        AuthError::Unavailable(_) => "temporarily_unavailable",
        other => other.bearer_error().unwrap_or("unauthorized"),
    };
    let mut body = String::with_capacity(96);
    body.push_str("{\"error\":\"");
    body.push_str(code);
    body.push_str("\",\"error_description\":\"");
    push_json(&mut body, description);
    body.push('"');
    if let AuthError::InsufficientScope(required) = error {
        body.push_str(",\"scope\":\"");
        push_json(&mut body, required.scopes().as_str());
        body.push('"');
    }
    body.push('}');
    body
}

fn push_json(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

/// A trailers-only gRPC answer: the status travels in the headers of an empty
/// HTTP 200 response, as the gRPC HTTP/2 protocol allows for immediate errors.
fn grpc_answer(error: &AuthError) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(
        "grpc-status",
        HeaderValue::from(u16::from(error.grpc_code())),
    );
    if let Ok(message) = HeaderValue::from_str(&grpc_percent_encode(&description(error))) {
        headers.insert("grpc-message", message);
    }
    response
}

/// gRPC's message encoding: percent-encode everything outside printable ASCII, and
/// `%` itself.
fn grpc_percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (b' '..=b'~').contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::error::{InvalidRequest, ScopeRequirement};
    use token_core::{SourceError, VerifyError};

    fn header(response: &Response<Bytes>, name: &str) -> String {
        response.headers()[name].to_str().unwrap().to_owned()
    }

    fn http() -> HeaderMap {
        HeaderMap::new()
    }

    #[test]
    fn missing_credentials_carry_no_error_code() {
        let answer = Answer::new("api", None).respond(&AuthError::MissingCredentials, &http());
        assert_eq!(answer.status(), 401);
        assert_eq!(header(&answer, "www-authenticate"), r#"Bearer realm="api""#);
        assert!(answer.body().is_empty());
    }

    #[test]
    fn invalid_token_has_code_and_description() {
        let answer = Answer::new("api", None).respond(&VerifyError::Expired.into(), &http());
        assert_eq!(answer.status(), 401);
        assert_eq!(
            header(&answer, "www-authenticate"),
            r#"Bearer realm="api", error="invalid_token", error_description="token has expired""#
        );
        assert_eq!(
            answer.body(),
            r#"{"error":"invalid_token","error_description":"token has expired"}"#
        );
        assert_eq!(header(&answer, "cache-control"), "no-store");
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        let error = AuthError::InvalidToken(VerifyError::Rejected(Cow::Borrowed(
            "say \"no\" \\ to caf\u{e9}\r\n",
        )));
        let answer = Answer::new("my \"realm\"", None).respond(&error, &http());
        assert_eq!(
            header(&answer, "www-authenticate"),
            r#"Bearer realm="my \"realm\"", error="invalid_token", error_description="say \"no\" \\ to caf???""#
        );
        assert_eq!(
            answer.body(),
            "{\"error\":\"invalid_token\",\"error_description\":\"say \\\"no\\\" \\\\ to caf\u{e9}\\u000d\\u000a\"}"
        );
    }

    #[test]
    fn insufficient_scope_names_the_scope() {
        let scopes = "reports:read reports:write".parse().unwrap();
        let error = AuthError::InsufficientScope(ScopeRequirement::all(scopes));
        let answer = Answer::new("api", None).respond(&error, &http());
        assert_eq!(answer.status(), 403);
        assert_eq!(
            header(&answer, "www-authenticate"),
            r#"Bearer realm="api", error="insufficient_scope", error_description="token lacks the required scope", scope="reports:read reports:write""#
        );
    }

    #[test]
    fn invalid_request_is_400_and_unavailable_is_503() {
        let answer = Answer::default().respond(&InvalidRequest::Repeated.into(), &http());
        assert_eq!(answer.status(), 400);
        assert!(header(&answer, "www-authenticate").contains(r#"error="invalid_request""#));
        let down = AuthError::Unavailable(SourceError::msg("secret detail"));
        let answer = Answer::default().respond(&down, &http());
        assert_eq!(answer.status(), 503);
        assert!(answer.headers().get("www-authenticate").is_none());
        assert!(!String::from_utf8_lossy(answer.body()).contains("secret"));
    }

    #[test]
    fn grpc_requests_get_trailers_only_answers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "application/grpc+proto".parse().unwrap(),
        );
        let answer = Answer::default().respond(&AuthError::MissingCredentials, &headers);
        assert_eq!(answer.status(), 200);
        assert_eq!(header(&answer, "grpc-status"), "16");
        assert_eq!(header(&answer, "grpc-message"), "no credentials were sent");
        let error = AuthError::InsufficientScope(ScopeRequirement::any(Default::default()));
        assert_eq!(
            header(&Answer::default().respond(&error, &headers), "grpc-status"),
            "7"
        );
    }

    #[test]
    fn grpc_detection() {
        let check = |ct: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            is_grpc(&headers)
        };
        assert!(check("application/grpc"));
        assert!(check("application/grpc+proto"));
        assert!(check("Application/GRPC;charset=utf-8"));
        assert!(!check("application/grpc-web"));
        assert!(!check("application/json"));
        assert!(!is_grpc(&HeaderMap::new()));
    }

    #[test]
    fn grpc_message_is_percent_encoded() {
        assert_eq!(grpc_percent_encode("100% caf\u{e9}"), "100%25 caf%C3%A9");
    }

    proptest::proptest! {
        /// Whatever a caller's check or realm says, the challenge is a valid header
        /// value and the body stays one JSON string per field.
        #[test]
        fn any_description_makes_a_valid_challenge(text in "\\PC{0,200}", realm in "\\PC{0,20}") {
            let error = AuthError::InvalidToken(VerifyError::Rejected(Cow::Owned(text)));
            let answer = Answer::new(&realm, None).respond(&error, &http());
            proptest::prop_assert!(answer.headers().get("www-authenticate").is_some());
            let body = String::from_utf8(answer.body().to_vec()).unwrap();
            let prefix = r#"{"error":"invalid_token""#;
            proptest::prop_assert!(body.starts_with(prefix), "{}", body);
        }
    }
}
