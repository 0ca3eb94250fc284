//! Interoperability with `jsonwebtoken`, both ways, for every algorithm: tokens we
//! mint verify there, and tokens it signs verify here.

// Tests state their expectations with unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use jsonwebtoken as jwt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use token_core::{Algorithm, Claims, KeyRing, ManualClock, Minter, Scopes, SigningKey, Verifier};

const NOW: i64 = 1_750_000_000;
const ISS: &str = "https://auth.example";
const AUD: &str = "reports-api";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// One algorithm with the same key loaded by both libraries.
struct Pair {
    alg: Algorithm,
    ours: SigningKey,
    their_alg: jwt::Algorithm,
    their_signing: jwt::EncodingKey,
    their_verifying: jwt::DecodingKey,
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn pairs() -> Vec<Pair> {
    let rsa_private = fixture("rsa2048.pk8.pem");
    let rsa_public = fixture("rsa2048.spki.pem");
    let mut pairs = Vec::new();
    for (alg, their_alg) in [
        (Algorithm::HS256, jwt::Algorithm::HS256),
        (Algorithm::HS384, jwt::Algorithm::HS384),
        (Algorithm::HS512, jwt::Algorithm::HS512),
    ] {
        pairs.push(Pair {
            alg,
            ours: SigningKey::from_hmac_secret(alg, SECRET).unwrap(),
            their_alg,
            their_signing: jwt::EncodingKey::from_secret(SECRET),
            their_verifying: jwt::DecodingKey::from_secret(SECRET),
        });
    }
    for (alg, their_alg) in [
        (Algorithm::RS256, jwt::Algorithm::RS256),
        (Algorithm::RS384, jwt::Algorithm::RS384),
        (Algorithm::RS512, jwt::Algorithm::RS512),
        (Algorithm::PS256, jwt::Algorithm::PS256),
        (Algorithm::PS384, jwt::Algorithm::PS384),
        (Algorithm::PS512, jwt::Algorithm::PS512),
    ] {
        pairs.push(Pair {
            alg,
            ours: SigningKey::from_pem(alg, &rsa_private).unwrap(),
            their_alg,
            their_signing: jwt::EncodingKey::from_rsa_pem(&rsa_private).unwrap(),
            their_verifying: jwt::DecodingKey::from_rsa_pem(&rsa_public).unwrap(),
        });
    }
    for (alg, their_alg, file) in [
        (Algorithm::ES256, jwt::Algorithm::ES256, "p256.pk8.pem"),
        (Algorithm::ES384, jwt::Algorithm::ES384, "p384.pk8.pem"),
    ] {
        let private = fixture(file);
        let ours = SigningKey::from_pem(alg, &private).unwrap();
        let public = ours.verifying_key().to_jwk().unwrap();
        pairs.push(Pair {
            alg,
            their_alg,
            their_signing: jwt::EncodingKey::from_ec_pem(&private).unwrap(),
            their_verifying: jwt::DecodingKey::from_ec_components(
                public.x.as_deref().unwrap(),
                public.y.as_deref().unwrap(),
            )
            .unwrap(),
            ours,
        });
    }
    let ed_private = fixture("ed25519.pk8.pem");
    pairs.push(Pair {
        alg: Algorithm::EdDSA,
        ours: SigningKey::from_pem(Algorithm::EdDSA, &ed_private).unwrap(),
        their_alg: jwt::Algorithm::EdDSA,
        their_signing: jwt::EncodingKey::from_ed_pem(&ed_private).unwrap(),
        their_verifying: jwt::DecodingKey::from_ed_pem(&fixture("ed25519.spki.pem")).unwrap(),
    });
    assert_eq!(
        pairs.len(),
        Algorithm::ALL.len(),
        "every algorithm is covered"
    );
    pairs
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Tenant {
    tenant: String,
}

fn their_validation(alg: jwt::Algorithm) -> jwt::Validation {
    let mut validation = jwt::Validation::new(alg);
    validation.set_audience(&[AUD]);
    validation.set_issuer(&[ISS]);
    // The tokens carry a 2025 timestamp; jsonwebtoken reads the system clock.
    validation.validate_exp = false;
    validation
}

#[test]
fn tokens_we_mint_verify_in_jsonwebtoken() {
    let clock = ManualClock::new(NOW);
    for pair in pairs() {
        let minter = Minter::builder(KeyRing::with_signing_key(pair.ours))
            .issuer(ISS)
            .audience(AUD)
            .ttl(Duration::from_secs(600))
            .clock(clock.clone())
            .build()
            .unwrap();
        let minted = minter
            .mint(
                Claims::for_subject("alice")
                    .with_scope("reports:read me:read".parse::<Scopes>().unwrap())
                    .with_version(7)
                    .with_session("fam-1")
                    .with_extra(Tenant {
                        tenant: "acme".into(),
                    }),
            )
            .unwrap();

        let decoded = jwt::decode::<Value>(
            &minted.token,
            &pair.their_verifying,
            &their_validation(pair.their_alg),
        )
        .unwrap_or_else(|e| panic!("{}: jsonwebtoken refused our token: {e}", pair.alg));
        assert_eq!(
            decoded.header.typ.as_deref(),
            Some("at+jwt"),
            "{}",
            pair.alg
        );
        let claims = decoded.claims;
        assert_eq!(claims["sub"], "alice", "{}", pair.alg);
        assert_eq!(claims["scope"], "me:read reports:read");
        assert_eq!(claims["ver"], 7);
        assert_eq!(claims["sid"], "fam-1");
        assert_eq!(claims["tenant"], "acme");
        assert_eq!(claims["exp"], NOW + 600);
        assert_eq!(claims["iat"], NOW);
    }
}

#[test]
fn tokens_jsonwebtoken_signs_verify_here() {
    for pair in pairs() {
        let kid = pair.ours.kid().to_owned();
        let verifier = Verifier::builder(KeyRing::with_signing_key(pair.ours))
            .issuer(ISS)
            .audience(AUD)
            .clock(ManualClock::new(NOW))
            .extra_claims::<Tenant>()
            .build()
            .unwrap();
        let mut header = jwt::Header::new(pair.their_alg);
        header.kid = Some(kid);
        header.typ = Some("at+jwt".into());
        let payload = json!({
            "iss": ISS, "sub": "bob", "aud": [AUD, "other"], "exp": NOW + 60, "iat": NOW,
            "scope": "b a", "ver": 2, "tenant": "globex"
        });
        let token = jwt::encode(&header, &payload, &pair.their_signing).unwrap();

        let claims = verifier
            .verify(&token)
            .unwrap_or_else(|e| panic!("{}: we refused jsonwebtoken's token: {e}", pair.alg));
        assert_eq!(claims.sub.as_deref(), Some("bob"));
        assert_eq!(claims.scope.as_str(), "a b");
        assert_eq!(claims.ver, Some(2));
        assert_eq!(claims.extra.tenant, "globex");
        assert!(claims.aud.contains("other"));
    }
}

#[test]
fn plain_jwts_without_kid_verify_against_a_single_key_ring() {
    for pair in pairs() {
        let verifier = Verifier::builder(KeyRing::with_signing_key(pair.ours))
            .any_token_type()
            .clock(ManualClock::new(NOW))
            .build()
            .unwrap();
        let token = jwt::encode(
            &jwt::Header::new(pair.their_alg),
            &json!({"sub": "carol", "exp": NOW + 5}),
            &pair.their_signing,
        )
        .unwrap();
        assert_eq!(
            verifier.verify(&token).unwrap().sub.as_deref(),
            Some("carol"),
            "{}",
            pair.alg
        );
    }
}
