//! Key rings: the keys a minter signs with and a verifier trusts.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::{ArcSwap, Guard};

use crate::key::{JwkSet, KeyError, SigningKey, SkippedKey, VerifyingKey};

/// One active signing key (optional: a verifier needs none) and any number of
/// verifying keys, each found by its `kid`.
///
/// ```
/// use token_core::{Algorithm, KeyRing, SigningKey};
///
/// let current = SigningKey::generate(Algorithm::EdDSA)?.into_signing_key();
/// let next = SigningKey::generate(Algorithm::EdDSA)?.into_signing_key();
///
/// let mut ring = KeyRing::with_signing_key(current);
/// // Publish the next key before it signs anything, so verifiers already know it.
/// ring.add_verifying_key(next.verifying_key().clone())?;
/// assert_eq!(ring.to_jwks().keys.len(), 2);
///
/// // Rotate: the next key signs, the old one still verifies what it signed.
/// let next_kid = next.kid().to_owned();
/// ring.set_signing_key(next)?;
/// assert_eq!(ring.signing_key().map(|k| k.kid()), Some(next_kid.as_str()));
/// assert_eq!(ring.len(), 2);
/// # Ok::<(), token_core::KeyError>(())
/// ```
#[derive(Clone, Default)]
pub struct KeyRing {
    signing: Option<Arc<SigningKey>>,
    keys: Vec<VerifyingKey>,
}

impl KeyRing {
    /// An empty ring.
    pub fn new() -> Self {
        KeyRing::default()
    }

    /// A ring whose active signing key is `key` (its public half verifies).
    pub fn with_signing_key(key: SigningKey) -> Self {
        let mut ring = KeyRing::new();
        ring.keys.push(key.verifying_key().clone());
        ring.signing = Some(Arc::new(key));
        ring
    }

    /// A ring of verifying keys only.
    pub fn from_verifying_keys(
        keys: impl IntoIterator<Item = VerifyingKey>,
    ) -> Result<Self, KeyError> {
        let mut ring = KeyRing::new();
        for key in keys {
            ring.add_verifying_key(key)?;
        }
        Ok(ring)
    }

    /// Adds a key that verifies but does not sign. Key ids must be unique.
    pub fn add_verifying_key(&mut self, key: VerifyingKey) -> Result<(), KeyError> {
        if self.find(key.kid()).is_some() {
            return Err(KeyError::DuplicateKid(key.kid().to_owned()));
        }
        self.keys.push(key);
        Ok(())
    }

    /// Makes `key` the active signing key. The previous signing key stays as a
    /// verifying key; a verifying key already published under the same `kid` (the
    /// "next" key being promoted) is replaced by this one, which must match it.
    pub fn set_signing_key(&mut self, key: SigningKey) -> Result<(), KeyError> {
        let public = key.verifying_key().clone();
        match self.keys.iter_mut().find(|k| k.kid() == public.kid()) {
            Some(existing) => {
                if existing.algorithm() != public.algorithm()
                    || existing.public_material() != public.public_material()
                {
                    return Err(KeyError::DuplicateKid(public.kid().to_owned()));
                }
                *existing = public;
            }
            None => self.keys.push(public),
        }
        self.signing = Some(Arc::new(key));
        Ok(())
    }

    /// Removes the key with `kid` (say, once every token it signed has expired).
    /// Removing the active signing key leaves the ring without one.
    pub fn remove(&mut self, kid: &str) -> Option<VerifyingKey> {
        let at = self.keys.iter().position(|k| k.kid() == kid)?;
        if self.signing.as_ref().is_some_and(|s| s.kid() == kid) {
            self.signing = None;
        }
        Some(self.keys.remove(at))
    }

    /// The active signing key.
    pub fn signing_key(&self) -> Option<&SigningKey> {
        self.signing.as_deref()
    }

    /// A shared handle on the active signing key.
    pub fn signing_key_arc(&self) -> Option<Arc<SigningKey>> {
        self.signing.clone()
    }

    /// The verifying key with `kid`.
    pub fn find(&self, kid: &str) -> Option<&VerifyingKey> {
        // Rings hold a handful of keys: a scan beats hashing the kid.
        self.keys.iter().find(|k| k.kid() == kid)
    }

    /// The only key, when the ring holds exactly one. Tokens without a `kid` are
    /// accepted only then, so there is never a choice to make.
    pub fn only_key(&self) -> Option<&VerifyingKey> {
        match self.keys.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// The key whose minted header is exactly `header`, if any.
    pub(crate) fn find_by_minted_header(&self, header: &[u8]) -> Option<&VerifyingKey> {
        self.keys
            .iter()
            .find(|k| k.minted_header().as_bytes() == header)
    }

    /// The verifying keys.
    pub fn iter(&self) -> impl Iterator<Item = &VerifyingKey> + '_ {
        self.keys.iter()
    }

    /// The number of verifying keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the ring has no verifying key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The public keys as a JWKS document. HMAC secrets are never included.
    pub fn to_jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.keys.iter().filter_map(VerifyingKey::to_jwk).collect(),
        }
    }

    /// A verifying ring from a JWKS document. Keys that cannot verify signatures here
    /// (encryption keys, unsupported types or curves, small RSA moduli, duplicate
    /// ids) are left out and reported, rather than failing the whole set.
    pub fn from_jwks(jwks: &JwkSet) -> (KeyRing, Vec<SkippedKey>) {
        let mut ring = KeyRing::new();
        let mut skipped = Vec::new();
        for jwk in &jwks.keys {
            let added = VerifyingKey::from_jwk(jwk).and_then(|key| ring.add_verifying_key(key));
            if let Err(reason) = added {
                skipped.push(SkippedKey {
                    kid: jwk.kid.clone(),
                    reason,
                });
            }
        }
        (ring, skipped)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("signing", &self.signing.as_ref().map(|k| k.kid()))
            .field("keys", &self.keys)
            .finish()
    }
}

/// A key ring that can be replaced while verifiers and minters use it: reads are
/// lock-free snapshots, and a swap is seen by the next token. Clones share the ring.
///
/// ```
/// use token_core::{Algorithm, KeyRing, SharedKeyRing, SigningKey};
///
/// let shared = SharedKeyRing::new(KeyRing::new());
/// assert!(shared.load().is_empty());
///
/// let key = SigningKey::generate(Algorithm::ES256)?.into_signing_key();
/// shared.store(KeyRing::with_signing_key(key));
/// assert_eq!(shared.load().len(), 1);
/// # Ok::<(), token_core::KeyError>(())
/// ```
#[derive(Clone)]
pub struct SharedKeyRing {
    shared: Arc<Swapped>,
}

/// The ring and a count of its replacements.
struct Swapped {
    current: ArcSwap<KeyRing>,
    version: AtomicU64,
}

impl SharedKeyRing {
    /// A shared handle starting with `ring`.
    pub fn new(ring: KeyRing) -> Self {
        SharedKeyRing {
            shared: Arc::new(Swapped {
                current: ArcSwap::from_pointee(ring),
                version: AtomicU64::new(0),
            }),
        }
    }

    /// The current ring. Hold the guard briefly: it pins this snapshot.
    pub fn load(&self) -> KeyRingGuard {
        KeyRingGuard(self.shared.current.load())
    }

    /// The current ring, as an owned handle.
    pub fn snapshot(&self) -> Arc<KeyRing> {
        self.shared.current.load_full()
    }

    /// A number that changes whenever the ring is replaced (one atomic load, much
    /// cheaper than [`load`](Self::load)). Read it *before* using a ring: a cache
    /// that stores it beside what it derived from the ring, and finds it changed
    /// later, knows the ring may have been replaced since.
    ///
    /// ```
    /// use token_core::{KeyRing, SharedKeyRing};
    ///
    /// let shared = SharedKeyRing::new(KeyRing::new());
    /// let seen = shared.version();
    /// shared.store(KeyRing::new());
    /// assert_ne!(shared.version(), seen);
    /// ```
    #[inline]
    pub fn version(&self) -> u64 {
        self.shared.version.load(Ordering::Acquire)
    }

    /// Replaces the ring.
    pub fn store(&self, ring: KeyRing) {
        self.shared.current.store(Arc::new(ring));
        // After the swap: a reader that sees the old version may have used the new
        // ring (a harmless miss later), never the reverse.
        self.shared.version.fetch_add(1, Ordering::AcqRel);
    }

    /// Replaces the ring with `change` applied to a copy of the current one. Changes
    /// made by concurrent callers are not lost: `change` is retried on a newer ring.
    pub fn update<E>(
        &self,
        mut change: impl FnMut(&mut KeyRing) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut outcome = Ok(());
        self.shared.current.rcu(|current| {
            let mut next = KeyRing::clone(current);
            outcome = change(&mut next);
            match outcome {
                Ok(()) => Arc::new(next),
                Err(_) => Arc::clone(current),
            }
        });
        if outcome.is_ok() {
            self.shared.version.fetch_add(1, Ordering::AcqRel);
        }
        outcome
    }
}

impl fmt::Debug for SharedKeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedKeyRing").field(&*self.load()).finish()
    }
}

/// A pinned snapshot of a [`SharedKeyRing`].
pub struct KeyRingGuard(Guard<Arc<KeyRing>>);

impl Deref for KeyRingGuard {
    type Target = KeyRing;

    fn deref(&self) -> &KeyRing {
        &self.0
    }
}

impl fmt::Debug for KeyRingGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        KeyRing::fmt(self, f)
    }
}

/// Where a verifier or minter takes its keys from: a fixed ring, or a shared one
/// that can be swapped (rotation, keys fetched from a JWKS URL).
#[derive(Clone, Debug)]
pub enum KeySource {
    /// A ring fixed at build time.
    Static(Arc<KeyRing>),
    /// A ring that may be replaced at any time.
    Shared(SharedKeyRing),
}

impl KeySource {
    /// Runs `f` on the current ring.
    #[inline]
    pub fn with_ring<R>(&self, f: impl FnOnce(&KeyRing) -> R) -> R {
        match self {
            KeySource::Static(ring) => f(ring),
            KeySource::Shared(shared) => f(&shared.load()),
        }
    }
}

impl From<KeyRing> for KeySource {
    fn from(ring: KeyRing) -> Self {
        KeySource::Static(Arc::new(ring))
    }
}

impl From<Arc<KeyRing>> for KeySource {
    fn from(ring: Arc<KeyRing>) -> Self {
        KeySource::Static(ring)
    }
}

impl From<SharedKeyRing> for KeySource {
    fn from(shared: SharedKeyRing) -> Self {
        KeySource::Shared(shared)
    }
}

impl From<SigningKey> for KeySource {
    fn from(key: SigningKey) -> Self {
        KeyRing::with_signing_key(key).into()
    }
}

impl From<VerifyingKey> for KeySource {
    fn from(key: VerifyingKey) -> Self {
        KeySource::Static(Arc::new(KeyRing {
            signing: None,
            keys: vec![key],
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Algorithm;

    fn key() -> SigningKey {
        SigningKey::generate(Algorithm::EdDSA)
            .unwrap()
            .into_signing_key()
    }

    #[test]
    fn duplicate_kids_are_refused() {
        let k = key();
        let mut ring = KeyRing::with_signing_key(key().with_kid("same").unwrap());
        let dup = k.verifying_key().clone().with_kid("same").unwrap();
        assert_eq!(
            ring.add_verifying_key(dup),
            Err(KeyError::DuplicateKid("same".into()))
        );
    }

    #[test]
    fn promoting_a_published_key_replaces_it() {
        let next = key();
        let mut ring = KeyRing::with_signing_key(key());
        ring.add_verifying_key(next.verifying_key().clone())
            .unwrap();
        ring.set_signing_key(next).unwrap();
        assert_eq!(ring.len(), 2);
    }

    #[test]
    fn promoting_a_different_key_under_a_published_kid_fails() {
        let mut ring = KeyRing::new();
        ring.add_verifying_key(key().verifying_key().clone().with_kid("k").unwrap())
            .unwrap();
        let imposter = key().with_kid("k").unwrap();
        assert!(ring.set_signing_key(imposter).is_err());
    }

    #[test]
    fn only_key_needs_exactly_one() {
        let mut ring = KeyRing::with_signing_key(key());
        assert!(ring.only_key().is_some());
        ring.add_verifying_key(key().verifying_key().clone())
            .unwrap();
        assert!(ring.only_key().is_none());
    }

    #[test]
    fn removing_the_signing_key_clears_it() {
        let k = key();
        let kid = k.kid().to_owned();
        let mut ring = KeyRing::with_signing_key(k);
        assert!(ring.remove(&kid).is_some());
        assert!(ring.signing_key().is_none());
        assert!(ring.is_empty());
    }

    #[test]
    fn shared_update_keeps_the_ring_on_error() {
        let shared = SharedKeyRing::new(KeyRing::with_signing_key(key()));
        let failed: Result<(), KeyError> = shared.update(|ring| {
            let kid = ring.iter().next().unwrap().kid().to_owned();
            ring.remove(&kid);
            Err(KeyError::InvalidKid)
        });
        assert!(failed.is_err());
        assert_eq!(shared.load().len(), 1);
    }

    #[test]
    fn the_version_moves_with_every_replacement_only() {
        let shared = SharedKeyRing::new(KeyRing::with_signing_key(key()));
        let first = shared.version();
        let failed: Result<(), KeyError> = shared.update(|_| Err(KeyError::InvalidKid));
        assert!(failed.is_err());
        assert_eq!(shared.version(), first);
        shared
            .update(|ring| ring.add_verifying_key(key().verifying_key().clone()))
            .unwrap();
        let second = shared.version();
        assert_ne!(second, first);
        shared.store(KeyRing::new());
        assert_ne!(shared.version(), second);
        assert_eq!(shared.clone().version(), shared.version());
    }
}
