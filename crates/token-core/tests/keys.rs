//! Loading keys from every supported encoding, and refusing the ones that must not load.

// Tests state their expectations with unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use token_core::{Algorithm, Jwk, JwkSet, KeyError, KeyRing, SigningKey, VerifyingKey};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn verify_round_trip(signing: &SigningKey, verifying: &VerifyingKey) {
    let sig = signing.sign(b"message").unwrap();
    assert!(verifying.verify_signature(b"message", &sig).is_ok());
}

#[test]
fn rsa_in_every_encoding_gives_the_same_key() {
    let from_pkcs8 = SigningKey::from_pem(Algorithm::RS256, fixture("rsa2048.pk8.pem")).unwrap();
    let from_pkcs1 = SigningKey::from_pem(Algorithm::RS256, fixture("rsa2048.pkcs1.pem")).unwrap();
    assert_eq!(from_pkcs8.kid(), from_pkcs1.kid());

    let publics = [
        VerifyingKey::from_pem(Algorithm::RS256, fixture("rsa2048.spki.pem")).unwrap(),
        VerifyingKey::from_pem(Algorithm::RS256, fixture("rsa2048.pkcs1pub.pem")).unwrap(),
        VerifyingKey::from_der(Algorithm::RS256, &fixture("rsa2048.spki.der")).unwrap(),
    ];
    for public in &publics {
        assert_eq!(public.kid(), from_pkcs8.kid());
        verify_round_trip(&from_pkcs1, public);
    }
    // The JWK of the public key loads back to the same kid, too.
    let jwk = publics[0].to_jwk().unwrap();
    assert_eq!(
        VerifyingKey::from_jwk(&jwk).unwrap().kid(),
        from_pkcs8.kid()
    );
}

#[test]
fn the_same_rsa_key_serves_any_one_rsa_algorithm() {
    for alg in [
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ] {
        let key = SigningKey::from_pem(alg, fixture("rsa2048.pk8.pem")).unwrap();
        assert_eq!(key.algorithm(), alg);
        verify_round_trip(&key, key.verifying_key());
    }
}

#[test]
fn ec_and_ed25519_from_openssl_pkcs8() {
    let p256 = SigningKey::from_pem(Algorithm::ES256, fixture("p256.pk8.pem")).unwrap();
    let p256_public = VerifyingKey::from_pem(Algorithm::ES256, fixture("p256.spki.pem")).unwrap();
    assert_eq!(p256.kid(), p256_public.kid());
    verify_round_trip(&p256, &p256_public);

    let p384 = SigningKey::from_pem(Algorithm::ES384, fixture("p384.pk8.pem")).unwrap();
    verify_round_trip(&p384, p384.verifying_key());

    let ed = SigningKey::from_pem(Algorithm::EdDSA, fixture("ed25519.pk8.pem")).unwrap();
    let ed_public = VerifyingKey::from_pem(Algorithm::EdDSA, fixture("ed25519.spki.pem")).unwrap();
    assert_eq!(ed.kid(), ed_public.kid());
    verify_round_trip(&ed, &ed_public);
}

#[test]
fn keys_refuse_algorithms_they_do_not_fit() {
    let cases: [(Algorithm, &str); 7] = [
        (Algorithm::ES384, "p256.pk8.pem"),
        (Algorithm::ES256, "p384.pk8.pem"),
        (Algorithm::RS256, "p256.pk8.pem"),
        (Algorithm::EdDSA, "rsa2048.pk8.pem"),
        (Algorithm::ES256, "ed25519.pk8.pem"),
        (Algorithm::HS256, "rsa2048.pk8.pem"),
        (Algorithm::HS256, "ed25519.pk8.pem"),
    ];
    for (alg, file) in cases {
        assert!(
            SigningKey::from_pem(alg, fixture(file)).is_err(),
            "{file} as {alg}"
        );
    }
    assert_eq!(
        VerifyingKey::from_pem(Algorithm::ES384, fixture("p256.spki.pem")).unwrap_err(),
        KeyError::WrongKeyType(Algorithm::ES384)
    );
    assert_eq!(
        VerifyingKey::from_pem(Algorithm::RS256, fixture("ed25519.spki.pem")).unwrap_err(),
        KeyError::WrongKeyType(Algorithm::RS256)
    );
}

#[test]
fn unsupported_and_weak_keys_say_why() {
    assert_eq!(
        SigningKey::from_pem(Algorithm::RS256, fixture("rsa1024.pk8.pem")).unwrap_err(),
        KeyError::RsaKeySize
    );
    assert!(matches!(
        SigningKey::from_pem(Algorithm::ES256, fixture("p256.sec1.pem")),
        Err(KeyError::Unsupported(_))
    ));
    assert!(matches!(
        VerifyingKey::from_pem(Algorithm::ES256, fixture("p521.spki.pem")),
        Err(KeyError::Unsupported(_))
    ));
    assert!(matches!(
        VerifyingKey::from_pem(Algorithm::RS256, "not a key"),
        Err(KeyError::Malformed(_))
    ));
    assert!(matches!(
        VerifyingKey::from_pem(Algorithm::RS256, fixture("rsa2048.pk8.pem")),
        Err(KeyError::Unsupported(_))
    ));
    assert_eq!(
        SigningKey::from_hmac_secret(Algorithm::HS384, &[0; 47]).unwrap_err(),
        KeyError::SecretTooShort {
            alg: Algorithm::HS384,
            min: 48
        }
    );
}

#[test]
fn errors_and_debug_never_show_key_material() {
    let pem = String::from_utf8(fixture("rsa2048.pk8.pem")).unwrap();
    let key = SigningKey::from_pem(Algorithm::RS256, &pem).unwrap();
    let body_line = pem.lines().nth(1).unwrap();
    assert!(!format!("{key:?}").contains(body_line));
    let broken = pem.replace(body_line, &body_line.replace('A', "B"));
    let err = SigningKey::from_pem(Algorithm::RS256, &broken).unwrap_err();
    assert!(!err.to_string().contains(&body_line[..20]));
}

#[test]
fn kids_can_be_chosen_within_bounds() {
    let key = SigningKey::generate(Algorithm::EdDSA)
        .unwrap()
        .into_signing_key();
    let named = key.with_kid("2026-11-main").unwrap();
    assert_eq!(named.kid(), "2026-11-main");
    assert_eq!(named.verifying_key().kid(), "2026-11-main");
    let again = SigningKey::generate(Algorithm::EdDSA)
        .unwrap()
        .into_signing_key();
    assert_eq!(again.with_kid("").unwrap_err(), KeyError::InvalidKid);
    let again = SigningKey::generate(Algorithm::EdDSA)
        .unwrap()
        .into_signing_key();
    assert_eq!(
        again
            .with_kid("k".repeat(token_core::MAX_KID_LEN + 1))
            .unwrap_err(),
        KeyError::InvalidKid
    );
}

#[test]
fn a_jwks_keeps_usable_keys_and_reports_the_rest() {
    let good_ec = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .into_signing_key();
    let good_rsa = VerifyingKey::from_pem(Algorithm::RS256, fixture("rsa2048.spki.pem")).unwrap();
    let mut enc = good_ec.verifying_key().to_jwk().unwrap();
    enc.use_ = Some("enc".into());
    enc.kid = Some("enc-key".into());
    let small_rsa = {
        let small = openssl_free_small_rsa_jwk();
        serde_json::from_value::<Jwk>(small).unwrap()
    };
    let odd: Jwk = serde_json::from_value(serde_json::json!({"kty": "XYZ", "kid": "odd"})).unwrap();
    let p521: Jwk = serde_json::from_value(serde_json::json!({
        "kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA"
    }))
    .unwrap();
    let unknown_alg: Jwk = serde_json::from_value(serde_json::json!({
        "kty": "RSA", "alg": "RSA-OAEP", "kid": "oaep", "n": "AQAB", "e": "AQAB"
    }))
    .unwrap();
    let jwks = JwkSet {
        keys: vec![
            good_ec.verifying_key().to_jwk().unwrap(),
            enc,
            small_rsa,
            odd,
            p521,
            unknown_alg,
            good_rsa.to_jwk().unwrap(),
        ],
    };
    let (ring, skipped) = KeyRing::from_jwks(&jwks);
    assert_eq!(ring.len(), 2);
    assert!(ring.find(good_ec.kid()).is_some());
    assert!(ring.find(good_rsa.kid()).is_some());
    let reasons: Vec<(Option<&str>, &KeyError)> = skipped
        .iter()
        .map(|s| (s.kid.as_deref(), &s.reason))
        .collect();
    assert_eq!(reasons.len(), 5, "{reasons:?}");
    assert!(reasons.contains(&(Some("enc-key"), &KeyError::NotForSignatures)));
    assert!(reasons.contains(&(Some("small"), &KeyError::RsaKeySize)));
}

/// A 1024-bit RSA public JWK, built from the 1024-bit fixture.
fn openssl_free_small_rsa_jwk() -> serde_json::Value {
    // The fixture cannot load as a key (that is the point), so read n from its DER.
    let (_, der) = pem_rfc7468::decode_vec(&fixture("rsa1024.pk8.pem")).unwrap();
    // PKCS#8 > OCTET STRING > RSAPrivateKey: the modulus is the second INTEGER; find it
    // by its 129-byte length prefix (0x02 0x81 0x81 0x00 ...).
    let at = der
        .windows(3)
        .position(|w| w == [0x02, 0x81, 0x81])
        .unwrap();
    let n = &der[at + 4..at + 3 + 0x81];
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    serde_json::json!({"kty": "RSA", "kid": "small", "n": b64.encode(n), "e": "AQAB"})
}

#[test]
fn published_sets_hold_public_keys_only() {
    let mut ring = KeyRing::with_signing_key(
        SigningKey::from_hmac_secret(Algorithm::HS256, &[9; 32]).unwrap(),
    );
    ring.add_verifying_key(
        SigningKey::generate(Algorithm::EdDSA)
            .unwrap()
            .into_signing_key()
            .verifying_key()
            .clone(),
    )
    .unwrap();
    let jwks = ring.to_jwks();
    assert_eq!(jwks.keys.len(), 1);
    assert!(jwks.keys.iter().all(|k| !k.is_private() && k.kty != "oct"));
    assert!(!jwks.to_json().contains("\"k\""));
}
