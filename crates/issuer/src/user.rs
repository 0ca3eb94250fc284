//! Users as the issuer sees them.

use token_core::Scopes;

use crate::password::PasswordHash;

/// A user account: whatever shape the application's own accounts have, the issuer
/// needs only this view of them.
///
/// The user's token-version epoch is not here: it lives in the
/// [`SessionStore`](crate::store::SessionStore), next to the families it kills, so an
/// application's own user table needs no extra column and a bump is atomic with the
/// revocation of the user's families.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Stable id; becomes the access token's `sub`.
    pub id: String,
    /// The login name, normalised with [`normalize_login`].
    pub login: String,
    /// The password as a PHC string.
    pub password_hash: PasswordHash,
    /// Disabled users cannot log in or refresh (and look exactly like bad credentials).
    pub active: bool,
    /// The most this user may ever be granted (say, derived from a role).
    pub scopes: Scopes,
}

/// The form a login name is compared in: surrounding whitespace trimmed and lowercased,
/// so `Alice ` and `alice` are one account and one throttling key.
///
/// ```
/// assert_eq!(issuer::normalize_login("  Alice@Example.COM "), "alice@example.com");
/// ```
pub fn normalize_login(login: &str) -> String {
    login.trim().to_lowercase()
}
