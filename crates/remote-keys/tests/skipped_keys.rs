//! Keys of a fetched JWKS that cannot verify signatures are skipped, each logged at
//! debug with its `kid` and reason (never its key material), and the rest serve.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{AUDIENCE, TestIssuer};
use http::StatusCode;
use remote_keys::{RemoteKeys, Source};
use token_core::{Algorithm, SigningKey};

/// Collects what the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn unusable_keys_are_skipped_with_a_debug_log_and_the_rest_serve() {
    let issuer = TestIssuer::start().await;
    let good_kid = issuer.signing_kid();
    let mut document: serde_json::Value =
        serde_json::from_str(&issuer.shared.keys.lock().unwrap().to_jwks().to_json()).unwrap();
    let encryption = {
        let key = SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .into_signing_key();
        let mut jwk = serde_json::to_value(key.verifying_key().to_jwk().unwrap()).unwrap();
        jwk["use"] = "enc".into();
        jwk["kid"] = "encryption-key".into();
        jwk
    };
    let secret_x = encryption["x"].as_str().unwrap().to_owned();
    let keys = document["keys"].as_array_mut().unwrap();
    keys.push(encryption);
    keys.push(serde_json::json!({"kty": "RSA", "kid": "tiny-rsa", "n": "AQAB", "e": "AQAB"}));
    keys.push(
        serde_json::json!({"kty": "oct", "alg": "HS256", "kid": "shared-secret",
        "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI"}),
    );
    keys.push(
        serde_json::json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "wrap-only",
        "key_ops": ["wrapKey"], "x": secret_x, "y": "AA"}),
    );
    keys.push(serde_json::json!({"kty": "EC", "alg": "ECDH-ES", "kid": "unsupported-alg"}));
    let body = document.to_string().into_bytes();
    issuer.behave(|b| b.jwks_override = Some((StatusCode::OK, body)));

    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let remote = RemoteKeys::builder(Source::jwks_url(issuer.jwks_url()))
        .start()
        .await
        .unwrap();
    let ring = remote.key_ring();
    assert_eq!(ring.load().len(), 1);
    assert!(ring.load().find(&good_kid).is_some());
    let verifier = remote
        .verifier()
        .issuer(issuer.issuer())
        .audience(AUDIENCE)
        .build()
        .unwrap();
    assert!(verifier.verify(&issuer.token("alice")).is_ok());

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for kid in [
        "encryption-key",
        "tiny-rsa",
        "shared-secret",
        "wrap-only",
        "unsupported-alg",
    ] {
        let line = logs
            .lines()
            .find(|l| l.contains("skipped a key") && l.contains(kid))
            .unwrap_or_else(|| panic!("no log for {kid} in:\n{logs}"));
        assert!(line.contains("DEBUG"), "{line}");
        assert!(line.contains("reason="), "{line}");
    }
    assert!(!logs.contains(&secret_x), "key material logged:\n{logs}");
    assert!(!logs.contains("c2VjcmV0"), "a secret logged:\n{logs}");
}
