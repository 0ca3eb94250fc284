//! Whatever arrives from the network, the verifier answers with an error, never a
//! panic.

// Tests state their expectations with unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use token_core::{Algorithm, KeyRing, ManualClock, SigningKey, Verifier};

fn verifier() -> Verifier {
    let key = SigningKey::from_hmac_secret(Algorithm::HS256, &[3; 32]).unwrap();
    Verifier::builder(KeyRing::with_signing_key(key))
        .issuer("iss")
        .audience("aud")
        .clock(ManualClock::new(1_000))
        .build()
        .unwrap()
}

/// JSON-ish fragments that exercise the claim and header readers.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        "[a-z\"\\\\]{0,6}".prop_map(|s| format!("{s:?}")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(","))),
            proptest::collection::vec(
                (
                    prop_oneof![
                        "alg", "kid", "typ", "crit", "exp", "nbf", "iat", "aud", "iss", "scope",
                        "ver", "sub", "x"
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|kv| format!(
                "{{{}}}",
                kv.iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_strings(input in ".{0,300}") {
        let _ = verifier().verify(&input);
    }

    #[test]
    fn arbitrary_dotted_segments(parts in proptest::collection::vec("[A-Za-z0-9_=+/ -]{0,40}", 0..6)) {
        let _ = verifier().verify(&parts.join("."));
    }

    #[test]
    fn arbitrary_json_in_well_formed_segments(header in json_value(), payload in json_value(), sig in proptest::collection::vec(any::<u8>(), 0..70)) {
        let token = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(sig)
        );
        prop_assert!(verifier().verify(&token).is_err());
    }
}
