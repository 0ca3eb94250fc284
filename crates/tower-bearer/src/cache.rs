//! The verified-token cache: an ECDSA, RSA or EdDSA verification costs tens of
//! microseconds and an HMAC one about a microsecond; a lookup costs well under one. Only the byte-identical token can hit (the
//! whole token is the key), only tokens that verified are ever stored (garbage from
//! an attacker cannot grow it), and every hit re-checks `exp`, `nbf` and maximum
//! age against the clock and that the key ring has not changed since. Epochs and
//! revocation are checked after the cache, on hits as on misses.

use std::collections::hash_map::{DefaultHasher, RandomState};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use dashmap::DashMap;
use token_core::{Claims, KeySource, Verifier, VerifyError};

/// Bounds of the verified-token cache, and which tokens it holds.
///
/// ```
/// use tower_bearer::TokenCacheConfig;
///
/// let config = TokenCacheConfig::new(50_000, 64 << 20).include_symmetric(true);
/// assert_eq!(config.max_entries(), 50_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenCacheConfig {
    max_entries: usize,
    max_bytes: usize,
    symmetric: bool,
}

impl TokenCacheConfig {
    /// At most `max_entries` tokens and about `max_bytes` bytes (estimated as twice
    /// each token, which bounds its decoded claims, plus the entry itself).
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        TokenCacheConfig {
            max_entries,
            max_bytes,
            symmetric: true,
        }
    }

    /// Whether tokens of verifiers whose keys are HMAC secrets are cached too. On by
    /// default: a hit (about 0.4 us) costs well under an HS256 check (about 1 us) on
    /// the bench machine, and clients reuse a token for its whole life. Turn it off
    /// when tokens are rarely presented twice, so misses do not pay for inserts.
    pub fn include_symmetric(mut self, on: bool) -> Self {
        self.symmetric = on;
        self
    }

    /// Most tokens held at once.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Most bytes held at once, as estimated.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

impl Default for TokenCacheConfig {
    /// 10 000 tokens and 16 MiB, every algorithm.
    fn default() -> Self {
        TokenCacheConfig::new(10_000, 16 * 1024 * 1024)
    }
}

/// What a lookup found: `None` when the token is not cached (or no longer valid
/// for the current key ring) and must be verified; otherwise the claims, or why
/// their times no longer pass.
pub(crate) type Lookup<E> = Option<Result<Claims<E>, VerifyError>>;

struct Entry<E> {
    claims: Claims<E>,
    /// Which verifier of the layer accepted it.
    slot: usize,
    /// The version of the shared ring it verified under; a swapped ring
    /// invalidates the entry, so a removed key stops its tokens at once. `None`
    /// for fixed rings.
    ring: Option<u64>,
    size: usize,
}

pub(crate) struct TokenCache<E> {
    map: DashMap<Box<str>, Entry<E>, TailHash>,
    bytes: AtomicUsize,
    evicting: AtomicBool,
    config: TokenCacheConfig,
}

impl<E> TokenCache<E> {
    pub(crate) fn new(config: TokenCacheConfig) -> Self {
        TokenCache {
            map: DashMap::with_hasher(TailHash(RandomState::new())),
            bytes: AtomicUsize::new(0),
            evicting: AtomicBool::new(false),
            config,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
}

impl<E> TokenCache<E>
where
    E: Clone + serde::de::DeserializeOwned + 'static,
{
    /// Looks `token` up; `verifiers` are the layer's, by slot.
    pub(crate) fn get(&self, token: &str, verifiers: &[Verifier<E>]) -> Lookup<E> {
        let outcome = {
            let entry = self.map.get(token)?;
            match verifiers.get(entry.slot) {
                Some(verifier) if same_ring(verifier.keys(), entry.ring) => {
                    match verifier.check_times(&entry.claims) {
                        Ok(()) => return Some(Ok(entry.claims.clone())),
                        Err(e) => Some(Err(e)),
                    }
                }
                _ => None,
            }
            // The shard's read guard drops here, before the removal below locks it.
        };
        self.remove(token);
        outcome
    }

    /// Stores the claims of a token that just verified with `verifiers[slot]`,
    /// under `ring`, the shared ring's version as read before verification began.
    pub(crate) fn insert(
        &self,
        token: &str,
        slot: usize,
        ring: Option<u64>,
        claims: &Claims<E>,
        now: i64,
    ) {
        let size = 2 * token.len() + size_of::<Entry<E>>() + 64;
        if size > self.config.max_bytes || self.config.max_entries == 0 {
            return;
        }
        let full = self.map.len() >= self.config.max_entries
            || self.bytes.load(Ordering::Relaxed) + size > self.config.max_bytes;
        if full && !self.make_room(now, size) {
            return;
        }
        let entry = Entry {
            claims: claims.clone(),
            slot,
            ring,
            size,
        };
        self.bytes.fetch_add(size, Ordering::Relaxed);
        if let Some(old) = self.map.insert(token.into(), entry) {
            self.bytes.fetch_sub(old.size, Ordering::Relaxed);
        }
    }

    fn remove(&self, token: &str) {
        if let Some((_, old)) = self.map.remove(token) {
            self.bytes.fetch_sub(old.size, Ordering::Relaxed);
        }
    }

    /// Drops expired tokens, then a quarter of the rest if still full. One caller
    /// evicts at a time; the others skip caching meanwhile. True when there is room.
    fn make_room(&self, now: i64, size: usize) -> bool {
        if self.evicting.swap(true, Ordering::Acquire) {
            return false;
        }
        let mut freed = 0;
        self.map.retain(|_, entry| {
            let keep = entry.claims.exp > now;
            if !keep {
                freed += entry.size;
            }
            keep
        });
        let target = self.config.max_entries - self.config.max_entries / 4;
        if self.map.len() > target {
            // No order to go by that an attacker could steer: any quarter will do.
            let mut to_drop = self.map.len() - target;
            self.map.retain(|_, entry| {
                if to_drop == 0 {
                    return true;
                }
                to_drop -= 1;
                freed += entry.size;
                false
            });
        }
        self.bytes.fetch_sub(freed, Ordering::Relaxed);
        // Byte pressure without entry pressure (huge tokens): start over.
        if self.bytes.load(Ordering::Relaxed) + size > self.config.max_bytes {
            self.map.clear();
        }
        // Re-count rather than trust the running sum, which concurrent inserts
        // during eviction may have skewed.
        let held = self.map.iter().map(|entry| entry.size).sum();
        self.bytes.store(held, Ordering::Relaxed);
        self.evicting.store(false, Ordering::Release);
        self.map.len() < self.config.max_entries
    }
}

/// How many trailing bytes of a token are hashed: they lie in the signature, which
/// no one can choose without the key, so they spread entries as well as the whole
/// token would, at a fraction of the cost. Equality still compares every byte.
const HASHED_TAIL: usize = 32;

/// Keyed SipHash (as std's maps use) over the tail of each key.
#[derive(Clone, Debug)]
struct TailHash(RandomState);

impl BuildHasher for TailHash {
    type Hasher = TailHasher;

    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0.build_hasher())
    }
}

struct TailHasher(DefaultHasher);

impl Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0
            .write(&bytes[bytes.len().saturating_sub(HASHED_TAIL)..]);
        self.0.write_usize(bytes.len());
    }

    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

/// The version of the shared ring a verifier reads now, to pin in an entry.
pub(crate) fn ring_version(keys: &KeySource) -> Option<u64> {
    match keys {
        KeySource::Static(_) => None,
        KeySource::Shared(shared) => Some(shared.version()),
    }
}

fn same_ring(keys: &KeySource, pinned: Option<u64>) -> bool {
    match (keys, pinned) {
        (KeySource::Static(_), None) => true,
        // One atomic load: a hit must stay far cheaper than a verification.
        (KeySource::Shared(shared), Some(pinned)) => shared.version() == pinned,
        _ => false,
    }
}

impl<E> TokenCache<E> {
    /// True when tokens of a verifier trusting `keys` go into the cache: always
    /// when HMAC keys are included (the default), otherwise only when every key is
    /// asymmetric (where a verification costs tens of microseconds).
    pub(crate) fn holds(&self, keys: &KeySource) -> bool {
        self.config.symmetric
            || keys.with_ring(|ring| !ring.is_empty() && ring.iter().all(|k| !k.is_symmetric()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use token_core::{Algorithm, KeyRing, ManualClock, Minter, SharedKeyRing, SigningKey};

    use super::*;

    fn setup() -> (Minter, Verifier, ManualClock, SharedKeyRing) {
        let clock = ManualClock::new(1_700_000_000);
        let key = SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .into_signing_key();
        let shared = SharedKeyRing::new(KeyRing::with_signing_key(key));
        let minter = Minter::builder(shared.clone())
            .clock(clock.clone())
            .build()
            .unwrap();
        let verifier = Verifier::builder(shared.clone())
            .clock(clock.clone())
            .build()
            .unwrap();
        (minter, verifier, clock, shared)
    }

    #[test]
    fn only_the_same_token_hits_and_times_are_rechecked() {
        let (minter, verifier, clock, shared) = setup();
        let cache = TokenCache::new(TokenCacheConfig::default());
        let token = minter.mint(Claims::for_subject("a")).unwrap().token;
        let claims = verifier.verify(&token).unwrap();
        cache.insert(&token, 0, Some(shared.version()), &claims, clock.now_secs());
        let verifiers = [verifier];
        assert!(matches!(cache.get(&token, &verifiers), Some(Ok(_))));
        let mut other = token.clone();
        other.push('A');
        assert!(cache.get(&other, &verifiers).is_none());
        clock.advance(Duration::from_secs(900));
        assert!(matches!(
            cache.get(&token, &verifiers),
            Some(Err(VerifyError::Expired))
        ));
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_changed_ring_invalidates_entries() {
        let (minter, verifier, clock, shared) = setup();
        let cache = TokenCache::new(TokenCacheConfig::default());
        let token = minter.mint(Claims::for_subject("a")).unwrap().token;
        let claims = verifier.verify(&token).unwrap();
        cache.insert(&token, 0, Some(shared.version()), &claims, clock.now_secs());
        shared.store(KeyRing::new());
        assert!(cache.get(&token, &[verifier]).is_none());
    }

    #[test]
    fn bounded_in_entries() {
        let (minter, verifier, clock, shared) = setup();
        let config = TokenCacheConfig::new(8, 1 << 20);
        let cache = TokenCache::new(config);
        for _ in 0..50 {
            let token = minter.mint(Claims::for_subject("a")).unwrap().token;
            let claims = verifier.verify(&token).unwrap();
            cache.insert(&token, 0, Some(shared.version()), &claims, clock.now_secs());
            assert!(cache.len() <= 8);
        }
        assert!(cache.bytes.load(Ordering::Relaxed) <= 1 << 20);
    }

    trait NowSecs {
        fn now_secs(&self) -> i64;
    }
    impl NowSecs for ManualClock {
        fn now_secs(&self) -> i64 {
            token_core::Clock::now(self)
        }
    }
}
