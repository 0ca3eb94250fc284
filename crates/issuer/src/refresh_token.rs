//! The refresh-token wire format, `rt1.<family>.<generation>.<mac>`, and its MAC.
//!
//! `mac = HMAC-SHA256(refresh key, "rt1|" family "|" generation "|" family_salt)`. The
//! salt lives only in the family's row, so neither a database dump (no key) nor the key
//! alone (no salt) can mint a token the store accepts.
//!
//! Family ids carry a short tag keyed by the same refresh key, so a token this issuer
//! never minted is refused by [`RefreshKeys::check_family_id`] before any store call;
//! the salted MAC is then checked, in constant time, after the one read that fetches
//! the salt and before the compare-and-swap, so a forged token never changes state.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::family::FamilySalt;

/// Every refresh token starts with this version prefix.
pub(crate) const PREFIX: &str = "rt1.";
/// Random bytes in a family id.
const FAMILY_RANDOM: usize = 16;
/// Bytes of keyed tag appended to them.
const FAMILY_TAG: usize = 8;
/// A family id: 24 bytes, base64url without padding.
pub(crate) const FAMILY_ID_LEN: usize = 32;
/// The MAC: 32 bytes, base64url without padding.
const MAC_B64_LEN: usize = 43;
/// The longest well-formed token: prefix, family, dot, 20 digits, dot, MAC.
pub(crate) const MAX_REFRESH_TOKEN_LEN: usize =
    PREFIX.len() + FAMILY_ID_LEN + 1 + 20 + 1 + MAC_B64_LEN;

/// The secret that authenticates refresh tokens (an HMAC-SHA256 key).
///
/// Keep it out of the session store: the point of the MAC is that a copy of the
/// store alone cannot mint tokens.
pub struct RefreshKey {
    key: hmac::Key,
}

impl RefreshKey {
    /// A key from at least 32 secret bytes.
    pub fn from_bytes(secret: &[u8]) -> Result<Self, RefreshKeyError> {
        if secret.len() < 32 {
            return Err(RefreshKeyError::TooShort);
        }
        Ok(RefreshKey {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        })
    }

    /// A fresh random key, with its bytes so the caller can store them.
    pub fn generate() -> Result<(Self, Zeroizing<Vec<u8>>), RefreshKeyError> {
        let mut bytes = Zeroizing::new(vec![0u8; 32]);
        rng()
            .fill(&mut bytes)
            .map_err(|_| RefreshKeyError::Random)?;
        Ok((Self::from_bytes(&bytes)?, bytes))
    }
}

impl fmt::Debug for RefreshKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshKey(<redacted>)")
    }
}

/// Why a refresh key could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshKeyError {
    /// HMAC-SHA256 keys must have at least 32 bytes.
    #[error("refresh keys need at least 32 bytes")]
    TooShort,
    /// The system random source failed.
    #[error("the system random source failed")]
    Random,
}

/// A refresh token as handed to a client. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(Zeroizing<String>);

impl RefreshToken {
    /// The token text, to be sent to its holder and nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

/// A syntactically valid refresh token, not yet authenticated.
#[derive(Debug)]
pub(crate) struct Parsed<'t> {
    pub(crate) family_id: &'t str,
    pub(crate) generation: u64,
    mac: [u8; 32],
}

/// Splits a token into its parts; `None` for anything that is not exactly the format.
pub(crate) fn parse(token: &str) -> Option<Parsed<'_>> {
    if token.len() > MAX_REFRESH_TOKEN_LEN {
        return None;
    }
    let rest = token.strip_prefix(PREFIX)?;
    let mut parts = rest.split('.');
    let family_id = parts.next()?;
    let generation = parts.next()?;
    let mac = parts.next()?;
    if parts.next().is_some() || family_id.len() != FAMILY_ID_LEN || mac.len() != MAC_B64_LEN {
        return None;
    }
    if !family_id.bytes().all(is_b64url) {
        return None;
    }
    // Canonical decimal only: no sign, no leading zeros, so one token has one spelling.
    if generation.is_empty()
        || generation.len() > 20
        || !generation.bytes().all(|b| b.is_ascii_digit())
        || (generation.len() > 1 && generation.starts_with('0'))
    {
        return None;
    }
    let generation: u64 = generation.parse().ok()?;
    let mut out = [0u8; 32];
    let decoded = URL_SAFE_NO_PAD.decode(mac).ok()?;
    if decoded.len() != 32 {
        return None;
    }
    out.copy_from_slice(&decoded);
    Some(Parsed {
        family_id,
        generation,
        mac: out,
    })
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The refresh keys of an issuer: the first signs, all verify (so the key can be
/// rotated without logging everyone out).
pub(crate) struct RefreshKeys {
    keys: Vec<RefreshKey>,
}

impl RefreshKeys {
    pub(crate) fn new(current: RefreshKey, previous: Vec<RefreshKey>) -> Self {
        let mut keys = vec![current];
        keys.extend(previous);
        RefreshKeys { keys }
    }

    fn signer(&self) -> &hmac::Key {
        // `new` always puts the current key first.
        &self.keys[0].key
    }

    /// A fresh family id: 16 random bytes and an 8-byte tag under the refresh key.
    pub(crate) fn new_family_id(&self) -> Result<String, RefreshKeyError> {
        let mut bytes = [0u8; FAMILY_RANDOM + FAMILY_TAG];
        rng()
            .fill(&mut bytes[..FAMILY_RANDOM])
            .map_err(|_| RefreshKeyError::Random)?;
        let tag = family_tag(self.signer(), &bytes[..FAMILY_RANDOM]);
        bytes[FAMILY_RANDOM..].copy_from_slice(&tag.as_ref()[..FAMILY_TAG]);
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// True when `family_id` was minted under one of our keys. Runs before any store
    /// call, so garbage and forgeries cost no I/O.
    pub(crate) fn check_family_id(&self, family_id: &str) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(family_id) else {
            return false;
        };
        if bytes.len() != FAMILY_RANDOM + FAMILY_TAG {
            return false;
        }
        let (random, tag) = bytes.split_at(FAMILY_RANDOM);
        let mut ok = subtle::Choice::from(0);
        for key in &self.keys {
            let expected = family_tag(&key.key, random);
            ok |= expected.as_ref()[..FAMILY_TAG].ct_eq(tag);
        }
        ok.into()
    }

    /// The token for `generation` of a family. Deterministic, so a grace replay can
    /// hand out exactly the token the winning request got, without storing it.
    pub(crate) fn token(
        &self,
        family_id: &str,
        generation: u64,
        salt: &FamilySalt,
    ) -> RefreshToken {
        let tag = hmac::sign(self.signer(), &mac_input(family_id, generation, salt));
        let mut out = Zeroizing::new(String::with_capacity(MAX_REFRESH_TOKEN_LEN));
        out.push_str(PREFIX);
        out.push_str(family_id);
        out.push('.');
        out.push_str(&generation.to_string());
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(tag.as_ref(), &mut out);
        RefreshToken(out)
    }

    /// Checks the MAC of `parsed` against the family's salt, in constant time.
    pub(crate) fn verify(&self, parsed: &Parsed<'_>, salt: &FamilySalt) -> bool {
        let input = mac_input(parsed.family_id, parsed.generation, salt);
        let mut ok = false;
        for key in &self.keys {
            // `hmac::verify` compares in constant time; trying every key keeps the
            // time independent of which one matched.
            ok |= hmac::verify(&key.key, &input, &parsed.mac).is_ok();
        }
        ok
    }
}

impl fmt::Debug for RefreshKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshKeys")
            .field("count", &self.keys.len())
            .finish_non_exhaustive()
    }
}

fn family_tag(key: &hmac::Key, random: &[u8]) -> hmac::Tag {
    let mut input = Vec::with_capacity(16 + random.len());
    input.extend_from_slice(b"rt1-family|");
    input.extend_from_slice(random);
    hmac::sign(key, &input)
}

fn mac_input(family_id: &str, generation: u64, salt: &FamilySalt) -> Zeroizing<Vec<u8>> {
    let generation = generation.to_string();
    let mut input = Zeroizing::new(Vec::with_capacity(
        4 + family_id.len() + 1 + generation.len() + 1 + FamilySalt::LEN,
    ));
    input.extend_from_slice(b"rt1|");
    input.extend_from_slice(family_id.as_bytes());
    input.push(b'|');
    input.extend_from_slice(generation.as_bytes());
    input.push(b'|');
    input.extend_from_slice(salt.as_bytes());
    input
}

/// The process-wide random source.
pub(crate) fn rng() -> &'static SystemRandom {
    static RNG: std::sync::OnceLock<SystemRandom> = std::sync::OnceLock::new();
    RNG.get_or_init(SystemRandom::new)
}

/// `n` random bytes as base64url.
pub(crate) fn random_b64(n: usize) -> Result<String, RefreshKeyError> {
    let mut bytes = Zeroizing::new(vec![0u8; n]);
    rng()
        .fill(&mut bytes)
        .map_err(|_| RefreshKeyError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(&*bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> RefreshKeys {
        RefreshKeys::new(RefreshKey::from_bytes(&[1; 32]).unwrap(), Vec::new())
    }

    #[test]
    fn round_trip_and_determinism() {
        let keys = keys();
        let fid = keys.new_family_id().unwrap();
        assert_eq!(fid.len(), FAMILY_ID_LEN);
        assert!(keys.check_family_id(&fid));
        let salt = FamilySalt::from_bytes([9; 16]);
        let token = keys.token(&fid, 7, &salt);
        assert_eq!(token, keys.token(&fid, 7, &salt));
        assert!(token.expose().len() <= MAX_REFRESH_TOKEN_LEN);
        let parsed = parse(token.expose()).unwrap();
        assert_eq!(parsed.generation, 7);
        assert!(keys.verify(&parsed, &salt));
        assert!(!keys.verify(&parsed, &FamilySalt::from_bytes([8; 16])));
    }

    #[test]
    fn other_keys_and_tampering_fail() {
        let keys = keys();
        let other = RefreshKeys::new(RefreshKey::from_bytes(&[2; 32]).unwrap(), Vec::new());
        let fid = other.new_family_id().unwrap();
        assert!(!keys.check_family_id(&fid));
        let salt = FamilySalt::from_bytes([0; 16]);
        let token = keys.token(&fid, 1, &salt);
        let forged = token.expose().replacen(".1.", ".2.", 1);
        assert!(!keys.verify(&parse(&forged).unwrap(), &salt));
        // A previous key still verifies after rotation.
        let rotated = RefreshKeys::new(
            RefreshKey::from_bytes(&[3; 32]).unwrap(),
            vec![RefreshKey::from_bytes(&[1; 32]).unwrap()],
        );
        assert!(rotated.verify(&parse(token.expose()).unwrap(), &salt));
    }

    #[test]
    fn parse_is_strict() {
        let keys = keys();
        let fid = keys.new_family_id().unwrap();
        let good = keys.token(&fid, 10, &FamilySalt::from_bytes([0; 16]));
        assert!(parse(good.expose()).is_some());
        for bad in [
            String::new(),
            "rt1.".into(),
            good.expose().replacen("rt1.", "rt2.", 1),
            good.expose().replacen(".10.", ".010.", 1),
            good.expose().replacen(".10.", ".+10.", 1),
            good.expose().replacen(".10.", "..", 1),
            format!("{}.x", good.expose()),
            format!("{}=", good.expose()),
            "rt1.a.b.c".into(),
        ] {
            assert!(parse(&bad).is_none(), "{bad}");
        }
        assert!(RefreshKey::from_bytes(&[0; 31]).is_err());
        assert!(!format!("{good:?}").contains(&fid));
    }
}
