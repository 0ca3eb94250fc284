//! Reading a token's issuer before verifying it, to choose the verifier.

use std::borrow::Cow;

use serde::Deserialize;

use crate::b64;

use super::{Malformed, VerifyError};

/// The token's `iss`, read **without verifying anything**. Use it only to choose
/// which verifier (which issuer's keys) to verify with; never trust it otherwise.
/// The verifier chosen still requires the same `iss`.
///
/// ```
/// let token = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2EuZXhhbXBsZSJ9.sig";
/// assert_eq!(
///     token_core::unverified_issuer(token, 8192)?.as_deref(),
///     Some("https://a.example")
/// );
/// # Ok::<(), token_core::VerifyError>(())
/// ```
pub fn unverified_issuer(token: &str, max_len: usize) -> Result<Option<String>, VerifyError> {
    #[derive(Deserialize)]
    struct OnlyIssuer<'a> {
        #[serde(borrow, default)]
        iss: Option<Cow<'a, str>>,
    }
    if token.len() > max_len {
        return Err(VerifyError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed(Malformed::Segments));
    };
    b64::with_decoded(payload.as_bytes(), |json| {
        serde_json::from_slice::<OnlyIssuer<'_>>(json)
            .map(|claims| claims.iss.map(Cow::into_owned))
            .map_err(|_| VerifyError::Malformed(Malformed::Claims))
    })
    .map_err(|_| VerifyError::Malformed(Malformed::Base64))?
}
