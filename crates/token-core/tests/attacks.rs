//! Known attacks on JWT verifiers, each rejected with the variant that names it.

// Tests state their expectations with unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use token_core::{
    Algorithm, KeyRing, Malformed, ManualClock, SigningKey, Verifier, VerifyError, VerifyingKey,
};

const NOW: i64 = 1_750_000_000;
const ISS: &str = "https://auth.example";
const AUD: &str = "api";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The keys and verifiers every case is judged by.
struct World {
    rsa: SigningKey,
    ec: SigningKey,
    attacker_ec: SigningKey,
    rsa_verifier: Verifier,
    ec_verifier: Verifier,
}

impl World {
    fn new() -> Self {
        let rsa = SigningKey::from_pem(Algorithm::RS256, fixture("rsa2048.pk8.pem")).unwrap();
        let ec = SigningKey::from_pem(Algorithm::ES256, fixture("p256.pk8.pem")).unwrap();
        let attacker_ec = SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .into_signing_key();
        let verifier = |key: &SigningKey| {
            let public = key.verifying_key().clone();
            Verifier::builder(KeyRing::from_verifying_keys([public]).unwrap())
                .issuer(ISS)
                .audience(AUD)
                .clock(ManualClock::new(NOW))
                .build()
                .unwrap()
        };
        World {
            rsa_verifier: verifier(&rsa),
            ec_verifier: verifier(&ec),
            rsa,
            ec,
            attacker_ec,
        }
    }
}

fn good_claims() -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "alice", "exp": NOW + 60, "iat": NOW})
}

fn header_for(key: &SigningKey) -> Value {
    json!({"alg": key.algorithm().as_str(), "kid": key.kid(), "typ": "at+jwt"})
}

/// Signs raw header and payload text with `key`, as an attacker's tool would.
fn raw_token(header: &str, payload: &str, key: &SigningKey) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let signature = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(&signature))
}

fn token(header: &Value, payload: &Value, key: &SigningKey) -> String {
    raw_token(&header.to_string(), &payload.to_string(), key)
}

fn unsigned(header: &Value, payload: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    )
}

fn hmac_with(secret: &[u8]) -> SigningKey {
    SigningKey::from_hmac_secret(Algorithm::HS256, secret).unwrap()
}

#[test]
fn the_honest_tokens_verify() {
    let w = World::new();
    let rsa = token(&header_for(&w.rsa), &good_claims(), &w.rsa);
    assert!(w.rsa_verifier.verify(&rsa).is_ok());
    let ec = token(&header_for(&w.ec), &good_claims(), &w.ec);
    assert!(w.ec_verifier.verify(&ec).is_ok());
}

#[test]
fn alg_none_in_every_case_is_unsupported() {
    let w = World::new();
    for none in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": none, "kid": w.rsa.kid(), "typ": "at+jwt"});
        for signature in ["", "c2lnbmF0dXJl"] {
            let forged = unsigned(&header, &good_claims(), signature);
            assert_eq!(
                w.rsa_verifier.verify(&forged),
                Err(VerifyError::UnsupportedAlgorithm),
                "alg {none} sig {signature:?}"
            );
        }
        // Without a kid, the single-key ring still never lets the header pick "none".
        let header = json!({"alg": none});
        let forged = unsigned(&header, &good_claims(), "");
        assert_eq!(
            w.rsa_verifier.verify(&forged),
            Err(VerifyError::UnsupportedAlgorithm)
        );
    }
}

#[test]
fn hs256_signed_with_the_public_key_is_an_algorithm_mismatch() {
    let w = World::new();
    let rsa_pem = fixture("rsa2048.spki.pem");
    let rsa_pem_no_newline = rsa_pem.strip_suffix(b"\n").unwrap().to_vec();
    let rsa_der = fixture("rsa2048.spki.der");
    let ec_pem = fixture("p256.spki.pem");
    let cases: [(&str, &Vec<u8>, &SigningKey, &Verifier); 4] = [
        ("RSA PEM", &rsa_pem, &w.rsa, &w.rsa_verifier),
        (
            "RSA PEM without newline",
            &rsa_pem_no_newline,
            &w.rsa,
            &w.rsa_verifier,
        ),
        ("RSA DER", &rsa_der, &w.rsa, &w.rsa_verifier),
        ("EC PEM", &ec_pem, &w.ec, &w.ec_verifier),
    ];
    for (name, public_bytes, real, verifier) in cases {
        let forger = hmac_with(public_bytes);
        for header in [
            json!({"alg": "HS256", "kid": real.kid(), "typ": "at+jwt"}),
            json!({"alg": "HS256", "typ": "at+jwt"}),
        ] {
            let forged = token(&header, &good_claims(), &forger);
            assert_eq!(
                verifier.verify(&forged),
                Err(VerifyError::AlgorithmMismatch),
                "{name}, header {header}"
            );
        }
    }
}

#[test]
fn hostile_kids_find_no_key() {
    let w = World::new();
    for kid in [
        "../../../../etc/passwd",
        "a\"b",
        "k\u{0}id",
        "' OR '1'='1",
        "",
    ] {
        let header = json!({"alg": "RS256", "kid": kid, "typ": "at+jwt"});
        let forged = token(&header, &good_claims(), &w.rsa);
        assert_eq!(
            w.rsa_verifier.verify(&forged),
            Err(VerifyError::UnknownKey),
            "kid {kid:?}"
        );
    }
    let huge = "k".repeat(10 * 1024);
    let header = json!({"alg": "RS256", "kid": huge, "typ": "at+jwt"});
    let forged = token(&header, &good_claims(), &w.rsa);
    assert_eq!(w.rsa_verifier.verify(&forged), Err(VerifyError::TooLarge));
}

#[test]
fn embedded_or_linked_attacker_keys_are_never_used() {
    let w = World::new();
    let attacker_jwk =
        serde_json::to_value(w.attacker_ec.verifying_key().to_jwk().unwrap()).unwrap();
    let ours = w.ec.kid();
    let theirs = w.attacker_ec.kid();
    let cases = [
        // The attacker's key inline, our kid: our key checks the attacker's signature.
        (
            json!({"alg": "ES256", "kid": ours, "typ": "at+jwt", "jwk": attacker_jwk}),
            VerifyError::InvalidSignature,
        ),
        // Inline key and no kid: the ring's only key is ours.
        (
            json!({"alg": "ES256", "typ": "at+jwt", "jwk": attacker_jwk}),
            VerifyError::InvalidSignature,
        ),
        // The attacker's kid with a link to their JWKS: no such key here, nothing fetched.
        (
            json!({"alg": "ES256", "kid": theirs, "typ": "at+jwt", "jku": "https://evil.example/jwks.json"}),
            VerifyError::UnknownKey,
        ),
        (
            json!({"alg": "ES256", "kid": ours, "typ": "at+jwt", "jku": "https://evil.example/jwks.json"}),
            VerifyError::InvalidSignature,
        ),
        (
            json!({"alg": "ES256", "kid": ours, "typ": "at+jwt", "x5u": "https://evil.example/cert.pem"}),
            VerifyError::InvalidSignature,
        ),
        (
            json!({"alg": "ES256", "kid": ours, "typ": "at+jwt", "x5c": ["MIIB"]}),
            VerifyError::InvalidSignature,
        ),
    ];
    for (header, expected) in cases {
        let forged = token(&header, &good_claims(), &w.attacker_ec);
        assert_eq!(w.ec_verifier.verify(&forged), Err(expected), "{header}");
    }
}

#[test]
fn crit_b64_and_zip_are_refused() {
    let w = World::new();
    let kid = w.rsa.kid();
    let cases = [
        (
            json!({"alg": "RS256", "kid": kid, "typ": "at+jwt", "crit": ["exp"]}),
            VerifyError::UnsupportedCritical,
        ),
        (
            json!({"alg": "RS256", "kid": kid, "typ": "at+jwt", "crit": ["urn:example:unknown"], "urn:example:unknown": 1}),
            VerifyError::UnsupportedCritical,
        ),
        (
            json!({"alg": "RS256", "kid": kid, "typ": "at+jwt", "crit": []}),
            VerifyError::UnsupportedCritical,
        ),
        (
            json!({"alg": "RS256", "kid": kid, "typ": "at+jwt", "crit": ["alg"]}),
            VerifyError::UnsupportedCritical,
        ),
        (
            json!({"alg": "RS256", "kid": kid, "typ": "at+jwt", "crit": null}),
            VerifyError::UnsupportedCritical,
        ),
        (
            json!({"alg": "RS256", "kid": kid, "typ": "at+jwt", "crit": ["b64"], "b64": false}),
            VerifyError::UnsupportedCritical,
        ),
        (
            json!({"alg": "RS256", "kid": kid, "typ": "at+jwt", "b64": false}),
            VerifyError::UnsupportedHeader("b64"),
        ),
        (
            json!({"alg": "RS256", "kid": kid, "typ": "at+jwt", "zip": "DEF"}),
            VerifyError::UnsupportedHeader("zip"),
        ),
    ];
    for (header, expected) in cases {
        let forged = token(&header, &good_claims(), &w.rsa);
        assert_eq!(w.rsa_verifier.verify(&forged), Err(expected), "{header}");
    }
}

#[test]
fn wrong_segment_counts_are_malformed() {
    let w = World::new();
    let honest = token(&header_for(&w.rsa), &good_claims(), &w.rsa);
    let parts: Vec<&str> = honest.split('.').collect();
    for bad in [
        // A JWE compact serialization has five segments.
        format!("{}.{}.{}.{}.{}", parts[0], parts[1], "", "aXY", parts[2]),
        format!("{}.{}.{}.x", parts[0], parts[1], parts[2]),
        format!("{}.{}", parts[0], parts[1]),
        parts[0].to_owned(),
        String::new(),
        format!("{honest}."),
    ] {
        assert_eq!(
            w.rsa_verifier.verify(&bad),
            Err(VerifyError::Malformed(Malformed::Segments)),
            "{bad:.40}"
        );
    }
}

#[test]
fn duplicate_members_are_malformed() {
    let w = World::new();
    let dup_header = format!(
        r#"{{"alg":"RS256","alg":"none","kid":"{}","typ":"at+jwt"}}"#,
        w.rsa.kid()
    );
    let forged = raw_token(&dup_header, &good_claims().to_string(), &w.rsa);
    assert_eq!(
        w.rsa_verifier.verify(&forged),
        Err(VerifyError::Malformed(Malformed::Header))
    );
    let dup_kid = format!(
        r#"{{"alg":"RS256","kid":"{}","kid":"other","typ":"at+jwt"}}"#,
        w.rsa.kid()
    );
    let forged = raw_token(&dup_kid, &good_claims().to_string(), &w.rsa);
    assert_eq!(
        w.rsa_verifier.verify(&forged),
        Err(VerifyError::Malformed(Malformed::Header))
    );
    // The signature is valid: only the duplicate gives it away.
    let header = header_for(&w.rsa).to_string();
    for payload in [
        format!(
            r#"{{"iss":"{ISS}","aud":"{AUD}","sub":"alice","sub":"admin","exp":{}}}"#,
            NOW + 60
        ),
        format!(
            r#"{{"iss":"{ISS}","aud":"{AUD}","exp":{},"exp":{}}}"#,
            NOW + 60,
            NOW + 99999
        ),
    ] {
        let forged = raw_token(&header, &payload, &w.rsa);
        assert_eq!(
            w.rsa_verifier.verify(&forged),
            Err(VerifyError::Malformed(Malformed::Claims)),
            "{payload}"
        );
    }
}

#[test]
fn oversized_header_and_token_are_refused_before_decoding() {
    let w = World::new();
    let mut header = header_for(&w.rsa);
    header["pad"] = json!("x".repeat(2000));
    let forged = token(&header, &good_claims(), &w.rsa);
    assert!(forged.len() < 8 * 1024);
    assert_eq!(w.rsa_verifier.verify(&forged), Err(VerifyError::TooLarge));

    let mut claims = good_claims();
    claims["pad"] = json!("x".repeat(9000));
    let forged = token(&header_for(&w.rsa), &claims, &w.rsa);
    assert_eq!(w.rsa_verifier.verify(&forged), Err(VerifyError::TooLarge));
    // Pure garbage of that size is refused the same way.
    assert_eq!(
        w.rsa_verifier.verify(&"A".repeat(100_000)),
        Err(VerifyError::TooLarge)
    );
}

#[test]
fn non_canonical_base64_is_malformed() {
    let w = World::new();
    let honest = token(&header_for(&w.ec), &good_claims(), &w.ec);
    let (header, rest) = honest.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let sig_bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let header_bytes = URL_SAFE_NO_PAD.decode(header).unwrap();

    // 64 signature bytes leave two unused bits in the last character; set one.
    let mut trailing = signature.to_owned();
    let last = trailing.pop().unwrap();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = alphabet.iter().position(|c| *c == last as u8).unwrap();
    trailing.push(alphabet[index ^ 1] as char);

    let cases = [
        (
            "padded signature",
            format!(
                "{header}.{payload}.{}",
                URL_SAFE_NO_PAD.encode(&sig_bytes) + "=="
            ),
        ),
        (
            "standard alphabet signature",
            format!(
                "{header}.{payload}.{}",
                STANDARD.encode(&sig_bytes).trim_end_matches('=')
            ),
        ),
        (
            "padded header",
            format!(
                "{}.{payload}.{signature}",
                STANDARD
                    .encode(&header_bytes)
                    .replace('+', "-")
                    .replace('/', "_")
            ),
        ),
        (
            "non-zero trailing bits",
            format!("{header}.{payload}.{trailing}"),
        ),
        ("trailing space", format!("{honest} ")),
        ("trailing newline", format!("{honest}\n")),
        ("leading space", format!(" {honest}")),
    ];
    for (name, bad) in cases {
        // The standard-alphabet case only differs when the signature holds + or /.
        if bad == honest {
            continue;
        }
        assert_eq!(
            w.ec_verifier.verify(&bad),
            Err(VerifyError::Malformed(Malformed::Base64)),
            "{name}"
        );
    }
}

#[test]
fn badly_typed_dates_and_audiences_are_invalid_claims() {
    let w = World::new();
    let header = header_for(&w.rsa);
    let with = |field: &str, value: Value| {
        let mut claims = good_claims();
        claims[field] = value;
        token(&header, &claims, &w.rsa)
    };
    let cases = [
        (
            with("exp", json!("1750000060")),
            VerifyError::InvalidClaim("exp"),
        ),
        (
            with("exp", json!(1_750_000_060.5)),
            VerifyError::InvalidClaim("exp"),
        ),
        (with("exp", json!(1e30)), VerifyError::InvalidClaim("exp")),
        (
            with("exp", json!(u64::MAX)),
            VerifyError::InvalidClaim("exp"),
        ),
        (
            with("exp", json!(253_402_300_800_i64)),
            VerifyError::InvalidClaim("exp"),
        ),
        (with("exp", json!(-1)), VerifyError::InvalidClaim("exp")),
        (with("exp", Value::Null), VerifyError::InvalidClaim("exp")),
        (with("nbf", json!("soon")), VerifyError::InvalidClaim("nbf")),
        (with("iat", json!(true)), VerifyError::InvalidClaim("iat")),
        (with("aud", json!(42)), VerifyError::InvalidClaim("aud")),
        (
            with("aud", json!([AUD, 42])),
            VerifyError::InvalidClaim("aud"),
        ),
        (
            with("scope", json!(["a", "b"])),
            VerifyError::InvalidClaim("scope"),
        ),
        (
            with("scope", json!("a\"b")),
            VerifyError::InvalidClaim("scope"),
        ),
        (with("ver", json!(-3)), VerifyError::InvalidClaim("ver")),
        (with("ver", json!("3")), VerifyError::InvalidClaim("ver")),
    ];
    for (forged, expected) in cases {
        assert_eq!(
            w.rsa_verifier.verify(&forged),
            Err(expected.clone()),
            "{expected:?}"
        );
    }
    let mut no_exp = good_claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        w.rsa_verifier.verify(&token(&header, &no_exp, &w.rsa)),
        Err(VerifyError::MissingClaim("exp"))
    );
}

#[test]
fn es256_signatures_must_be_fixed_width() {
    let w = World::new();
    let honest = token(&header_for(&w.ec), &good_claims(), &w.ec);
    let (input, signature) = honest.rsplit_once('.').unwrap();
    let raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
    assert_eq!(raw.len(), 64);

    // The same (r, s) as an ASN.1 DER SEQUENCE, as some libraries wrongly emit.
    let der = {
        let int = |half: &[u8]| {
            let trimmed: Vec<u8> = half.iter().copied().skip_while(|b| *b == 0).collect();
            let mut out = Vec::new();
            if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
                out.push(0);
            }
            out.extend(trimmed);
            let mut tlv = vec![0x02, u8::try_from(out.len()).unwrap()];
            tlv.extend(out);
            tlv
        };
        let mut body = int(&raw[..32]);
        body.extend(int(&raw[32..]));
        let mut seq = vec![0x30, u8::try_from(body.len()).unwrap()];
        seq.extend(body);
        seq
    };
    let mut long = raw.clone();
    long.push(0);
    for (name, sig) in [
        ("DER", der),
        ("63 bytes", raw[..63].to_vec()),
        ("65 bytes", long),
        ("empty", Vec::new()),
        ("all zero", vec![0; 64]),
    ] {
        let forged = format!("{input}.{}", b64(&sig));
        assert_eq!(
            w.ec_verifier.verify(&forged),
            Err(VerifyError::InvalidSignature),
            "{name}"
        );
    }
}

#[test]
fn a_valid_signature_does_not_cover_another_payload() {
    let w = World::new();
    let mine = token(&header_for(&w.rsa), &good_claims(), &w.rsa);
    let mut admin = good_claims();
    admin["sub"] = json!("admin");
    let theirs = token(&header_for(&w.rsa), &admin, &w.rsa);
    let (h, rest) = mine.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let (_, rest2) = theirs.split_once('.').unwrap();
    let (admin_payload, _) = rest2.split_once('.').unwrap();
    let spliced = format!("{h}.{admin_payload}.{sig}");
    assert_eq!(
        w.rsa_verifier.verify(&spliced),
        Err(VerifyError::InvalidSignature)
    );

    // Flip one bit of the payload's JSON.
    let (input, signature) = mine.rsplit_once('.').unwrap();
    let (head, payload) = input.split_once('.').unwrap();
    let mut json = URL_SAFE_NO_PAD.decode(payload).unwrap();
    let at = json.iter().position(|b| *b == b'a').unwrap();
    json[at] = b'b';
    let tampered = format!("{head}.{}.{signature}", b64(&json));
    assert_eq!(
        w.rsa_verifier.verify(&tampered),
        Err(VerifyError::InvalidSignature)
    );
}

#[test]
fn a_different_key_under_our_kid_is_an_invalid_signature() {
    let w = World::new();
    let header = json!({"alg": "ES256", "kid": w.ec.kid(), "typ": "at+jwt"});
    let forged = token(&header, &good_claims(), &w.attacker_ec);
    assert_eq!(
        w.ec_verifier.verify(&forged),
        Err(VerifyError::InvalidSignature)
    );
    // Same algorithm family, different algorithm: RS256 key, PS256 header.
    let header = json!({"alg": "PS256", "kid": w.rsa.kid(), "typ": "at+jwt"});
    let forged = token(&header, &good_claims(), &w.rsa);
    assert_eq!(
        w.rsa_verifier.verify(&forged),
        Err(VerifyError::AlgorithmMismatch)
    );
}

#[test]
fn claims_and_type_checks() {
    let w = World::new();
    let header = header_for(&w.rsa);
    let with = |field: &str, value: Value| {
        let mut claims = good_claims();
        claims[field] = value;
        token(&header, &claims, &w.rsa)
    };
    let cases = [
        (with("exp", json!(NOW)), VerifyError::Expired),
        (with("nbf", json!(NOW + 1)), VerifyError::NotYetValid),
        (with("iat", json!(NOW + 1)), VerifyError::NotYetValid),
        (
            with("iss", json!("https://evil.example")),
            VerifyError::InvalidIssuer,
        ),
        (
            with("aud", json!("other-api")),
            VerifyError::InvalidAudience,
        ),
        (with("aud", json!([])), VerifyError::MissingClaim("aud")),
    ];
    for (forged, expected) in cases {
        assert_eq!(
            w.rsa_verifier.verify(&forged),
            Err(expected.clone()),
            "{expected:?}"
        );
    }
    let mut no_iss = good_claims();
    no_iss.as_object_mut().unwrap().remove("iss");
    assert_eq!(
        w.rsa_verifier.verify(&token(&header, &no_iss, &w.rsa)),
        Err(VerifyError::MissingClaim("iss"))
    );
    for typ in [json!("JWT"), json!("at+jwt+x"), Value::Null] {
        let mut header = header_for(&w.rsa);
        header["typ"] = typ.clone();
        if typ.is_null() {
            header.as_object_mut().unwrap().remove("typ");
        }
        assert_eq!(
            w.rsa_verifier
                .verify(&token(&header, &good_claims(), &w.rsa)),
            Err(VerifyError::InvalidType),
            "typ {typ}"
        );
    }
    // RFC 7515 4.1.9: media type names compare case-insensitively, "application/" optional.
    let mut header = header_for(&w.rsa);
    header["typ"] = json!("application/AT+JWT");
    assert!(
        w.rsa_verifier
            .verify(&token(&header, &good_claims(), &w.rsa))
            .is_ok()
    );
}

#[test]
fn a_ring_with_several_keys_needs_a_kid() {
    let a = SigningKey::generate(Algorithm::EdDSA)
        .unwrap()
        .into_signing_key();
    let b = SigningKey::generate(Algorithm::EdDSA)
        .unwrap()
        .into_signing_key();
    let ring = KeyRing::from_verifying_keys([a.verifying_key().clone(), b.verifying_key().clone()])
        .unwrap();
    let verifier = Verifier::builder(ring)
        .clock(ManualClock::new(NOW))
        .build()
        .unwrap();
    let header = json!({"alg": "EdDSA", "typ": "at+jwt"});
    let claims = json!({"exp": NOW + 5});
    assert_eq!(
        verifier.verify(&token(&header, &claims, &a)),
        Err(VerifyError::UnknownKey)
    );
    let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": b.kid()});
    assert!(verifier.verify(&token(&header, &claims, &b)).is_ok());
}

#[test]
fn hmac_verifying_keys_reject_short_secrets() {
    assert!(VerifyingKey::from_hmac_secret(Algorithm::HS512, &[1; 63]).is_err());
    assert!(VerifyingKey::from_hmac_secret(Algorithm::HS512, &[1; 64]).is_ok());
}
