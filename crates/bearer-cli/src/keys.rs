//! The key file: the signing keys (active, next, retired) and the refresh-token key,
//! in one JSON document readable by its owner only.
//!
//! One file, replaced atomically (written beside, then renamed), so a crash never
//! leaves half a key set and a running `serve` never reads a torn write.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use issuer::RefreshKey;
use serde::{Deserialize, Serialize};
use token_core::{Algorithm, KeyRing, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyFileError {
    #[error("cannot read the key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the key file {path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("the key file {path} is readable by others (mode {mode:o}); run: chmod 600 {path}")]
    Exposed { path: PathBuf, mode: u32 },
    #[error("there is no next key to promote: make one with `bearer keygen --alg ...`")]
    NoNextKey,
    #[error("cannot generate the key: {0}")]
    Generate(String),
}

/// A key's place in the rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// Signs new tokens.
    Active,
    /// Published in the JWKS, promoted by the next rotation.
    Next,
    /// Verifies tokens it signed until `until`.
    Retired,
}

/// One stored key: PKCS#8 PEM for asymmetric keys, a base64url secret for HMAC.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoredKey {
    pub(crate) kid: String,
    pub(crate) alg: Algorithm,
    pub(crate) status: Status,
    /// For retired keys: when they stop verifying (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) until: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pem: Option<Zeroizing<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<Zeroizing<String>>,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl StoredKey {
    /// The key ready to sign, with its stored kid.
    pub(crate) fn signing_key(&self) -> Result<SigningKey, String> {
        let key = match (&self.pem, &self.secret) {
            (Some(pem), None) => SigningKey::from_pem(self.alg, pem.as_bytes()),
            (None, Some(secret)) => {
                let bytes = Zeroizing::new(
                    URL_SAFE_NO_PAD
                        .decode(secret.as_bytes())
                        .map_err(|_| format!("key {}: the secret is not base64url", self.kid))?,
                );
                SigningKey::from_hmac_secret(self.alg, &bytes)
            }
            _ => {
                return Err(format!(
                    "key {}: needs exactly one of pem, secret",
                    self.kid
                ));
            }
        };
        key.and_then(|k| k.with_kid(self.kid.clone()))
            .map_err(|e| format!("key {}: {e}", self.kid))
    }

    fn verifying_key(&self) -> Result<VerifyingKey, String> {
        Ok(self.signing_key()?.verifying_key().clone())
    }
}

/// A new key with its private encoding, to be stored.
pub(crate) struct NewKey {
    pub(crate) key: SigningKey,
    pem: Option<Zeroizing<String>>,
    secret: Option<Zeroizing<String>>,
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey").field("key", &self.key).finish()
    }
}

impl NewKey {
    /// Generates a key: ring for EdDSA, ECDSA and HMAC; aws-lc for RSA (2048 bits),
    /// which ring cannot generate.
    pub(crate) fn generate(alg: Algorithm) -> Result<Self, KeyFileError> {
        let failed = |e: &dyn fmt::Display| KeyFileError::Generate(e.to_string());
        if matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ) {
            return Self::generate_rsa(alg);
        }
        let generated = SigningKey::generate(alg).map_err(|e| failed(&e))?;
        let pem = generated.pkcs8_pem();
        let secret = generated
            .hmac_secret()
            .map(|bytes| Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes)));
        Ok(NewKey {
            key: generated.into_signing_key(),
            pem,
            secret,
        })
    }

    fn generate_rsa(alg: Algorithm) -> Result<Self, KeyFileError> {
        use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
        let failed = |what: &str| KeyFileError::Generate(what.to_owned());
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|_| failed("RSA key generation failed"))?;
        let der: Pkcs8V1Der<'static> = pair
            .as_der()
            .map_err(|_| failed("RSA key encoding failed"))?;
        let pem = Zeroizing::new(
            pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, der.as_ref())
                .map_err(|_| failed("PEM encoding failed"))?,
        );
        let key = SigningKey::from_pem(alg, pem.as_bytes()).map_err(|e| failed(&e.to_string()))?;
        Ok(NewKey {
            key,
            pem: Some(pem),
            secret: None,
        })
    }

    fn stored(self, status: Status) -> StoredKey {
        StoredKey {
            kid: self.key.kid().to_owned(),
            alg: self.key.algorithm(),
            status,
            until: None,
            pem: self.pem,
            secret: self.secret,
        }
    }

    /// The private key as a standalone file's text: PEM, or the base64url secret.
    pub(crate) fn file_text(&self) -> Zeroizing<String> {
        match (&self.pem, &self.secret) {
            (Some(pem), _) => pem.clone(),
            (None, Some(secret)) => Zeroizing::new(format!("{}\n", secret.as_str())),
            (None, None) => Zeroizing::new(String::new()),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Document {
    /// The refresh-token MAC key, base64url.
    refresh_key: Zeroizing<String>,
    keys: Vec<StoredKey>,
}

/// The key file, loaded.
pub(crate) struct KeyFile {
    path: PathBuf,
    doc: Document,
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("path", &self.path)
            .field("keys", &self.doc.keys)
            .finish_non_exhaustive()
    }
}

/// What a signing-key ring needs from the key file at one moment.
#[derive(Debug)]
pub(crate) struct Ring {
    /// Active signing key, plus next and unexpired retired keys verifying.
    pub(crate) ring: KeyRing,
    pub(crate) next: Option<SigningKey>,
}

impl KeyFile {
    /// Reads the key file, or creates it (mode 0600) with a fresh `alg` key, its next
    /// key and a refresh key when it does not exist. Returns whether it was created.
    pub(crate) fn open_or_create(
        path: &Path,
        alg: Algorithm,
    ) -> Result<(Self, bool), KeyFileError> {
        if path.exists() {
            return Ok((Self::open(path)?, false));
        }
        let (_, refresh) = RefreshKey::generate()
            .map_err(|e| KeyFileError::Generate(format!("refresh key: {e}")))?;
        let mut file = KeyFile {
            path: path.to_path_buf(),
            doc: Document {
                refresh_key: Zeroizing::new(URL_SAFE_NO_PAD.encode(&*refresh)),
                keys: vec![
                    NewKey::generate(alg)?.stored(Status::Active),
                    NewKey::generate(alg)?.stored(Status::Next),
                ],
            },
        };
        file.save()?;
        Ok((file, true))
    }

    /// Reads an existing key file.
    pub(crate) fn open(path: &Path) -> Result<Self, KeyFileError> {
        check_private(path)?;
        let text =
            Zeroizing::new(
                fs::read_to_string(path).map_err(|source| KeyFileError::Read {
                    path: path.to_path_buf(),
                    source,
                })?,
            );
        let invalid = |message: String| KeyFileError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let doc: Document = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let file = KeyFile {
            path: path.to_path_buf(),
            doc,
        };
        // Every key must load, and exactly one must sign.
        let active = file
            .doc
            .keys
            .iter()
            .filter(|k| k.status == Status::Active)
            .count();
        if active != 1 {
            return Err(invalid(format!(
                "{active} active keys; exactly one must sign"
            )));
        }
        for key in &file.doc.keys {
            key.signing_key().map_err(invalid)?;
        }
        file.refresh_key().map_err(invalid)?;
        Ok(file)
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The stored keys.
    pub(crate) fn keys(&self) -> &[StoredKey] {
        &self.doc.keys
    }

    /// The refresh-token key.
    pub(crate) fn refresh_key(&self) -> Result<RefreshKey, String> {
        let bytes = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(self.doc.refresh_key.as_bytes())
                .map_err(|_| "the refresh key is not base64url".to_owned())?,
        );
        RefreshKey::from_bytes(&bytes).map_err(|e| format!("refresh key: {e}"))
    }

    /// The signing key: the active one.
    pub(crate) fn active(&self) -> Result<SigningKey, KeyFileError> {
        let stored = self
            .doc
            .keys
            .iter()
            .find(|k| k.status == Status::Active)
            .ok_or_else(|| self.invalid("no active key".to_owned()))?;
        stored.signing_key().map_err(|m| self.invalid(m))
    }

    /// The ring as of `now`: retired keys past their `until` are left out.
    pub(crate) fn ring(&self, now: i64) -> Result<Ring, KeyFileError> {
        let mut ring = KeyRing::with_signing_key(self.active()?);
        let mut next = None;
        for stored in &self.doc.keys {
            match stored.status {
                Status::Active => {}
                Status::Next => {
                    let key = stored.signing_key().map_err(|m| self.invalid(m))?;
                    ring.add_verifying_key(key.verifying_key().clone())
                        .map_err(|e| self.invalid(e.to_string()))?;
                    next = Some(key);
                }
                Status::Retired if stored.until.unwrap_or(i64::MAX) > now => {
                    let key = stored.verifying_key().map_err(|m| self.invalid(m))?;
                    ring.add_verifying_key(key)
                        .map_err(|e| self.invalid(e.to_string()))?;
                }
                Status::Retired => {}
            }
        }
        Ok(Ring { ring, next })
    }

    /// Makes `key` the next key (replacing any earlier next key) and saves.
    pub(crate) fn set_next(&mut self, key: NewKey) -> Result<String, KeyFileError> {
        self.doc.keys.retain(|k| k.status != Status::Next);
        let stored = key.stored(Status::Next);
        let kid = stored.kid.clone();
        self.doc.keys.push(stored);
        self.save()?;
        Ok(kid)
    }

    /// Promotes the next key; the old active key verifies until `now + keep`
    /// (seconds); a new next key of the same algorithm is generated. Retired keys
    /// past their time are dropped. Saves, and returns (new active kid, retired kid).
    pub(crate) fn rotate(&mut self, now: i64, keep: i64) -> Result<(String, String), KeyFileError> {
        let next_index = self
            .doc
            .keys
            .iter()
            .position(|k| k.status == Status::Next)
            .ok_or(KeyFileError::NoNextKey)?;
        let alg = self.doc.keys[next_index].alg;
        let new_next = NewKey::generate(alg)?;
        let mut retired_kid = String::new();
        for key in &mut self.doc.keys {
            match key.status {
                Status::Active => {
                    key.status = Status::Retired;
                    key.until = Some(now.saturating_add(keep));
                    retired_kid = key.kid.clone();
                }
                Status::Next => key.status = Status::Active,
                Status::Retired => {}
            }
        }
        self.doc
            .keys
            .retain(|k| k.status != Status::Retired || k.until.unwrap_or(i64::MAX) > now);
        let active_kid = self
            .doc
            .keys
            .iter()
            .find(|k| k.status == Status::Active)
            .map(|k| k.kid.clone())
            .unwrap_or_default();
        self.doc.keys.push(new_next.stored(Status::Next));
        self.save()?;
        Ok((active_kid, retired_kid))
    }

    fn invalid(&self, message: String) -> KeyFileError {
        KeyFileError::Invalid {
            path: self.path.clone(),
            message,
        }
    }

    fn save(&mut self) -> Result<(), KeyFileError> {
        let json = Zeroizing::new(
            serde_json::to_string_pretty(&self.doc).map_err(|e| self.invalid(e.to_string()))?,
        );
        write_private(&self.path, json.as_bytes())
    }
}

/// Writes `bytes` to `path` with mode 0600, atomically: a temporary file beside it,
/// synced, then renamed over.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyFileError> {
    let failed = |source| KeyFileError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(failed)?;
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(name);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(failed)
}

/// Refuses a key file that group or others can read.
fn check_private(path: &Path) -> Result<(), KeyFileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = fs::metadata(path).map_err(|source| KeyFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Exposed {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bearer-keys-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir.join("keys.json")
    }

    #[test]
    fn created_private_and_reloads_the_same_keys() {
        let path = temp_path("create");
        let (file, created) = KeyFile::open_or_create(&path, Algorithm::EdDSA).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let (again, created) = KeyFile::open_or_create(&path, Algorithm::EdDSA).unwrap();
        assert!(!created);
        assert_eq!(file.active().unwrap().kid(), again.active().unwrap().kid());
        assert!(!format!("{again:?}").contains("PRIVATE"));
        fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn rotation_promotes_next_and_retires_active_until_its_tokens_expire() {
        let path = temp_path("rotate");
        let (mut file, _) = KeyFile::open_or_create(&path, Algorithm::ES256).unwrap();
        let old = file.active().unwrap().kid().to_owned();
        let next = file.ring(0).unwrap().next.unwrap().kid().to_owned();
        let (active, retired) = file.rotate(1_000, 960).unwrap();
        assert_eq!(
            (active.as_str(), retired.as_str()),
            (next.as_str(), old.as_str())
        );

        let reloaded = KeyFile::open(&path).unwrap();
        let ring = reloaded.ring(1_500).unwrap();
        assert!(ring.ring.find(&old).is_some(), "retired key still verifies");
        assert_eq!(ring.ring.signing_key().unwrap().kid(), next);
        let ring = reloaded.ring(1_960).unwrap();
        assert!(
            ring.ring.find(&old).is_none(),
            "gone once its tokens expired"
        );
        fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_file_others_can_read_is_refused() {
        let path = temp_path("exposed");
        KeyFile::open_or_create(&path, Algorithm::HS256).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            let e = KeyFile::open(&path).unwrap_err().to_string();
            assert!(e.contains("chmod 600"), "{e}");
        }
        fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn rsa_keys_are_generated_and_sign() {
        let key = NewKey::generate(Algorithm::RS256).unwrap();
        assert_eq!(key.key.algorithm(), Algorithm::RS256);
        assert!(key.file_text().starts_with("-----BEGIN PRIVATE KEY-----"));
    }
}
