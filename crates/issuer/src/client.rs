//! OAuth clients: public ones (browser apps, CLIs) choose a refresh transport;
//! confidential ones (services) authenticate with a secret for `client_credentials`
//! and introspection.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest;
use subtle::ConstantTimeEq;
use token_core::Scopes;
use zeroize::Zeroizing;

use crate::refresh_token::{RefreshKeyError, random_b64};
use crate::transport::RefreshTransport;

/// A registered client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// The `client_id`.
    pub id: String,
    /// Public or confidential, with what each needs.
    pub kind: ClientKind,
}

/// The two kinds of clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientKind {
    /// No secret (an SPA, a mobile app, a CLI): it only names itself, to pick how its
    /// refresh tokens travel.
    Public {
        /// Cookie for browsers, body for everything else.
        transport: RefreshTransport,
    },
    /// Has a secret: may use `client_credentials` and call introspection.
    Confidential {
        /// SHA-256 of the secret.
        secret_hash: SecretHash,
        /// The most a `client_credentials` token of this client may carry.
        scopes: Scopes,
    },
}

impl Client {
    /// A public client using `transport`.
    pub fn public(id: impl Into<String>, transport: RefreshTransport) -> Self {
        Client {
            id: id.into(),
            kind: ClientKind::Public { transport },
        }
    }

    /// A confidential client with a freshly generated secret, returned once.
    pub fn confidential(
        id: impl Into<String>,
        scopes: Scopes,
    ) -> Result<(Self, ClientSecret), RefreshKeyError> {
        let secret = ClientSecret::generate()?;
        let client = Client {
            id: id.into(),
            kind: ClientKind::Confidential {
                secret_hash: SecretHash::of(&secret),
                scopes,
            },
        };
        Ok((client, secret))
    }

    /// True for clients with a secret.
    pub fn is_confidential(&self) -> bool {
        matches!(self.kind, ClientKind::Confidential { .. })
    }

    /// Checks `secret` in constant time; always false for public clients.
    pub fn check_secret(&self, secret: &str) -> bool {
        match &self.kind {
            ClientKind::Confidential { secret_hash, .. } => secret_hash.matches(secret),
            ClientKind::Public { .. } => false,
        }
    }
}

/// A client secret, shown to the operator once. `Debug` never shows it.
#[derive(Clone)]
pub struct ClientSecret(Zeroizing<String>);

impl ClientSecret {
    /// 256 random bits, base64url.
    pub fn generate() -> Result<Self, RefreshKeyError> {
        Ok(ClientSecret(Zeroizing::new(random_b64(32)?)))
    }

    /// The secret text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// The stored form of a client secret: its SHA-256, base64url.
///
/// A fast hash is enough here, unlike for passwords: secrets are 256 random bits made
/// by [`ClientSecret::generate`], so there is nothing to guess offline.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash(String);

impl SecretHash {
    /// The hash of `secret`.
    pub fn of(secret: &ClientSecret) -> Self {
        SecretHash(hash(secret.expose()))
    }

    /// A hash read back from a store.
    pub fn from_stored(hash: impl Into<String>) -> Self {
        SecretHash(hash.into())
    }

    /// The text to store.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares in constant time.
    pub fn matches(&self, secret: &str) -> bool {
        hash(secret).as_bytes().ct_eq(self.0.as_bytes()).into()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

fn hash(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_themselves() {
        let (client, secret) = Client::confidential("svc", Scopes::empty()).unwrap();
        assert!(client.check_secret(secret.expose()));
        assert!(!client.check_secret("wrong"));
        assert!(!Client::public("spa", RefreshTransport::Cookie).check_secret(""));
        assert!(!format!("{client:?}{secret:?}").contains(secret.expose()));
    }
}
