//! Signing-key rotation: an active key signs, a next key is already published in the
//! JWKS (so verifiers that cache the JWKS know it before it signs anything), and
//! retired keys keep verifying until every token they signed has expired.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use token_core::{KeyError, KeyRing, SharedKeyRing, SigningKey};

/// Why keys could not rotate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRotationError {
    /// There is no next key to promote, and none could be generated (RSA keys cannot
    /// be generated here: pass one to [`Issuer::rotate_keys_with`](crate::Issuer::rotate_keys_with)).
    #[error("no next signing key to promote")]
    NoNextKey,
    /// The key ring refused the change.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The kids that changed in a rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotatedKeys {
    /// The key that now signs.
    pub active: String,
    /// The key published as the next one.
    pub next: String,
    /// The key that stopped signing; it verifies until `retired_until`.
    pub retired: Option<String>,
    /// When the retired key is removed from the ring.
    pub retired_until: i64,
}

pub(crate) struct Keys {
    ring: SharedKeyRing,
    state: Mutex<State>,
}

struct State {
    next: Option<SigningKey>,
    /// (kid, remove after)
    retired: Vec<(String, i64)>,
}

impl Keys {
    /// Publishes `next` (when given, or generated when the active key's algorithm can
    /// be generated) in `ring`.
    pub(crate) fn new(ring: KeyRing, next: Option<SigningKey>) -> Result<Self, KeyError> {
        let mut ring = ring;
        let next = match next {
            Some(next) => Some(next),
            None => ring
                .signing_key()
                .and_then(|k| SigningKey::generate(k.algorithm()).ok())
                .map(token_core::GeneratedKey::into_signing_key),
        };
        if let Some(next) = &next
            && ring.find(next.kid()).is_none()
        {
            ring.add_verifying_key(next.verifying_key().clone())?;
        }
        Ok(Keys {
            ring: SharedKeyRing::new(ring),
            state: Mutex::new(State {
                next,
                retired: Vec::new(),
            }),
        })
    }

    pub(crate) fn ring(&self) -> &SharedKeyRing {
        &self.ring
    }

    /// Promotes the next key, publishes a new next one (`new_next`, or generated),
    /// and retires the old active key until `retire_until`.
    pub(crate) fn rotate(
        &self,
        new_next: Option<SigningKey>,
        retire_until: i64,
    ) -> Result<RotatedKeys, KeyRotationError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let next = state.next.take().ok_or(KeyRotationError::NoNextKey)?;
        let following = match new_next {
            Some(key) => key,
            None => match SigningKey::generate(next.algorithm()) {
                Ok(generated) => generated.into_signing_key(),
                Err(_) => {
                    state.next = Some(next);
                    return Err(KeyRotationError::NoNextKey);
                }
            },
        };
        // Rotations are serialised by `state`; the ring swap is one atomic store, so
        // minters and verifiers see either the old ring or the new one.
        let mut ring = KeyRing::clone(&self.ring.load());
        let retired = ring.signing_key().map(|k| k.kid().to_owned());
        let active = next.kid().to_owned();
        let next_kid = following.kid().to_owned();
        if let Err(error) = ring.set_signing_key(next) {
            return Err(error.into());
        }
        if ring.find(&next_kid).is_none()
            && let Err(error) = ring.add_verifying_key(following.verifying_key().clone())
        {
            return Err(error.into());
        }
        self.ring.store(ring);
        state.next = Some(following);
        if let Some(kid) = &retired {
            state.retired.push((kid.clone(), retire_until));
        }
        Ok(RotatedKeys {
            active,
            next: next_kid,
            retired,
            retired_until: retire_until,
        })
    }

    /// Removes retired keys whose tokens have all expired by `now`; returns their kids.
    pub(crate) fn prune(&self, now: i64) -> Vec<String> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (gone, kept): (Vec<_>, Vec<_>) = state
            .retired
            .drain(..)
            .partition(|(_, until)| *until <= now);
        state.retired = kept;
        if gone.is_empty() {
            return Vec::new();
        }
        let mut ring = KeyRing::clone(&self.ring.load());
        let active = ring.signing_key().map(|k| k.kid().to_owned());
        let mut removed = Vec::new();
        for (kid, _) in gone {
            // Never remove a key that signs again (rotated back in by hand).
            if active.as_deref() != Some(kid.as_str()) && ring.remove(&kid).is_some() {
                removed.push(kid);
            }
        }
        self.ring.store(ring);
        removed
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("ring", &self.ring)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use token_core::Algorithm;

    #[test]
    fn rotate_publishes_next_and_retires_old() {
        let first = SigningKey::generate(Algorithm::EdDSA)
            .unwrap()
            .into_signing_key();
        let first_kid = first.kid().to_owned();
        let keys = Keys::new(KeyRing::with_signing_key(first), None).unwrap();
        assert_eq!(
            keys.ring().load().len(),
            2,
            "the next key is published up front"
        );
        let rotated = keys.rotate(None, 100).unwrap();
        assert_eq!(rotated.retired.as_deref(), Some(first_kid.as_str()));
        let ring = keys.ring().load();
        assert_eq!(ring.signing_key().unwrap().kid(), rotated.active);
        assert!(ring.find(&rotated.next).is_some());
        assert!(ring.find(&first_kid).is_some());
        drop(ring);
        assert!(keys.prune(99).is_empty());
        assert_eq!(keys.prune(100), vec![first_kid.clone()]);
        assert!(keys.ring().load().find(&first_kid).is_none());
    }
}
