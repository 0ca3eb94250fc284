//! `bearer mint`, `bearer verify` and `bearer jwks`.

use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};
use token_core::{
    Algorithm, Claims, Clock as _, JwkSet, KeyRing, Minter, Scopes, SigningKey, SystemClock,
    Verifier, VerifyingKey,
};

use super::out;
use crate::app::App;
use crate::cli::{MintArgs, VerifyArgs};
use crate::config::Settings;
use crate::error::CliError;
use crate::keys::KeyFile;

/// Mints with the active key. When `--sub` is a user's login, the token is that
/// user's (their id as `sub`) and carries their current token version, so it dies
/// with their next password change like any issued token.
pub(crate) async fn mint(app: &App, args: &MintArgs) -> Result<(), CliError> {
    let scopes = Scopes::parse(args.scope.trim())
        .map_err(|e| CliError::Usage(format!("scope `{}`: {e}", args.scope)))?;
    if args.sub.trim().is_empty() {
        return Err(CliError::Usage("--sub must not be empty".to_owned()));
    }
    let ttl = match args.ttl {
        Some(0) => {
            return Err(CliError::Usage(
                "--ttl must be at least 1 second".to_owned(),
            ));
        }
        Some(secs) => Duration::from_secs(secs),
        None => app.settings.access_ttl,
    };
    let sub = match app.issuer.find_user(&args.sub).await? {
        Some(user) => user.id,
        None => args.sub.clone(),
    };
    let version = app.issuer.token_version(&sub).await.unwrap_or(0);
    let minter = Minter::builder(KeyRing::with_signing_key(app.keys.active()?))
        .issuer(app.settings.issuer_url.as_str())
        .audience(app.settings.audience.as_str())
        .ttl(ttl)
        .build()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let minted = minter
        .mint(
            Claims::for_subject(sub)
                .with_scope(scopes)
                .with_version(version),
        )
        .map_err(|e| CliError::Usage(format!("cannot mint: {e}")))?;
    out(minted.token)
}

/// Verifies with `--jwks`, `--key`, or the configured key file; prints the claims as
/// JSON, or fails with the verifier's exact reason.
pub(crate) fn verify(settings: &Settings, args: &VerifyArgs) -> Result<(), CliError> {
    let explicit_keys = args.jwks.is_some() || args.key.is_some();
    let ring = match (&args.jwks, &args.key) {
        (Some(path), _) => ring_from_jwks(path)?,
        (None, Some(path)) => ring_from_key(path, args.alg)?,
        (None, None) => {
            KeyFile::open(&settings.key_file)?
                .ring(SystemClock.now())?
                .ring
        }
    };
    let mut builder = Verifier::builder(ring).extra_claims::<Map<String, Value>>();
    let iss = args
        .iss
        .clone()
        .or_else(|| (!explicit_keys).then(|| settings.issuer_url.clone()));
    let aud = args
        .aud
        .clone()
        .or_else(|| (!explicit_keys).then(|| settings.audience.clone()));
    if let Some(iss) = iss {
        builder = builder.issuer(iss);
    }
    if let Some(aud) = aud {
        builder = builder.audience(aud);
    }
    let verifier = builder
        .build()
        .map_err(|e| CliError::Usage(format!("cannot verify: {e}")))?;
    let claims = verifier
        .verify(args.token.trim())
        .map_err(|e| CliError::Rejected(format!("invalid token: {e}")))?;
    let json = serde_json::to_string_pretty(&claims)
        .map_err(|e| CliError::Rejected(format!("claims cannot be printed: {e}")))?;
    out(json)
}

/// Prints the public JWKS of the key file: active, next and unexpired retired keys.
pub(crate) fn jwks(settings: &Settings) -> Result<(), CliError> {
    let ring = KeyFile::open(&settings.key_file)?
        .ring(SystemClock.now())?
        .ring;
    out(ring.to_jwks().to_json())
}

fn read(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(CliError::io(format!("cannot read {}", path.display())))
}

fn ring_from_jwks(path: &Path) -> Result<KeyRing, CliError> {
    let set = JwkSet::from_json(read(path)?.as_bytes())
        .map_err(|e| CliError::Usage(format!("{} is not a JWKS: {e}", path.display())))?;
    let (ring, skipped) = KeyRing::from_jwks(&set);
    for key in skipped {
        tracing::debug!(?key, "JWKS key skipped");
    }
    if ring.is_empty() {
        return Err(CliError::Usage(format!(
            "{} has no key usable for verification",
            path.display()
        )));
    }
    Ok(ring)
}

/// A PEM key (public or private) or a base64url HMAC secret. Without `alg`, a PEM's
/// key type decides (Ed25519: EdDSA, P-256: ES256, P-384: ES384, RSA: RS256) and a
/// secret is HS256.
fn ring_from_key(path: &Path, alg: Option<Algorithm>) -> Result<KeyRing, CliError> {
    let text = zeroize::Zeroizing::new(read(path)?);
    let key = if text.trim_start().starts_with("-----BEGIN") {
        let candidates = match alg {
            Some(alg) => vec![alg],
            None => vec![
                Algorithm::EdDSA,
                Algorithm::ES256,
                Algorithm::ES384,
                Algorithm::RS256,
            ],
        };
        candidates
            .into_iter()
            .find_map(|alg| {
                VerifyingKey::from_pem(alg, text.as_bytes())
                    .ok()
                    .or_else(|| {
                        SigningKey::from_pem(alg, text.as_bytes())
                            .ok()
                            .map(|k| k.verifying_key().clone())
                    })
            })
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "{} is not a key for {}",
                    path.display(),
                    alg.map_or("any supported algorithm".to_owned(), |a| a.to_string())
                ))
            })?
    } else {
        use base64::Engine as _;
        let secret = zeroize::Zeroizing::new(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text.trim())
                .map_err(|_| {
                    CliError::Usage(format!(
                        "{} is neither PEM nor a base64url secret",
                        path.display()
                    ))
                })?,
        );
        VerifyingKey::from_hmac_secret(alg.unwrap_or(Algorithm::HS256), &secret)
            .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?
    };
    KeyRing::from_verifying_keys([key]).map_err(|e| CliError::Usage(e.to_string()))
}
