//! The worked examples of RFC 7515 appendix A and RFC 8037 appendix A.
// `allow-unwrap-in-tests` covers #[test] functions only; the helpers below panic on
// bad fixtures by design.
#![allow(clippy::unwrap_used)]

use token_core::{
    Algorithm, Jwk, KeyError, KeyRing, ManualClock, SigningKey, Verifier, VerifyError, VerifyingKey,
};

/// The payload of A.1 to A.3: `{"iss":"joe", "exp":1300819380, "http://example.com/is_root":true}`.
const PAYLOAD: &str = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
const EXP: i64 = 1_300_819_380;

const A1_TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const A1_KEY: &str = r#"{"kty":"oct","alg":"HS256","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#;

const A2_SIGNATURE: &str = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
const A2_KEY: &str = include_str!("fixtures/rfc7517_a2_rsa.json");

const A3_SIGNATURE: &str =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
const A3_KEY: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#;

const A4_TOKEN: &str = "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA.AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn";
const A4_KEY: &str = r#"{"kty":"EC","crv":"P-521","x":"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk","y":"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2"}"#;

const A5_TOKEN: &str = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.";

const RFC8037_TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
const RFC8037_KEY: &str = r#"{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

fn jwk(json: &str) -> Jwk {
    serde_json::from_str(json).unwrap()
}

/// A verifier for the RFC's plain JWTs (no `typ: at+jwt`) at `now`.
fn verifier(key: VerifyingKey, now: i64) -> Verifier {
    Verifier::builder(key)
        .any_token_type()
        .clock(ManualClock::new(now))
        .build()
        .unwrap()
}

fn expect_valid_then_expired(token: &str, key: VerifyingKey) {
    let claims = verifier(key.clone(), EXP - 1).verify(token).unwrap();
    assert_eq!(claims.iss.as_deref(), Some("joe"));
    assert_eq!(claims.exp, EXP);
    // The signature verifies, but the example expired in 2011.
    assert_eq!(verifier(key, EXP).verify(token), Err(VerifyError::Expired));
}

#[test]
fn a1_hs256_verifies_but_is_expired() {
    let key = VerifyingKey::from_jwk(&jwk(A1_KEY)).unwrap();
    expect_valid_then_expired(A1_TOKEN, key);
}

#[test]
fn a2_rs256_verifies_and_signing_reproduces_the_signature() {
    let private = jwk(A2_KEY);
    let key = SigningKey::from_jwk(&private).unwrap();
    assert_eq!(key.kid(), "2011-04-29");
    let input = format!("eyJhbGciOiJSUzI1NiJ9.{PAYLOAD}");
    // PKCS#1 v1.5 is deterministic: the same key and input give the RFC's bytes.
    let signature = key.sign(input.as_bytes()).unwrap();
    assert_eq!(
        signature,
        base64_decode(A2_SIGNATURE),
        "RS256 signature differs from RFC 7515 A.2"
    );
    let token = format!("{input}.{A2_SIGNATURE}");
    let mut public = private.clone();
    public.d = None;
    expect_valid_then_expired(&token, VerifyingKey::from_jwk(&public).unwrap());
}

#[test]
fn a3_es256_verifies() {
    let token = format!("eyJhbGciOiJFUzI1NiJ9.{PAYLOAD}.{A3_SIGNATURE}");
    let key = VerifyingKey::from_jwk(&jwk(A3_KEY)).unwrap();
    expect_valid_then_expired(&token, key);
    // ECDSA signs with a fresh nonce; our signature differs but verifies.
    let signing = SigningKey::from_jwk(&jwk(A3_KEY)).unwrap();
    let input = format!("eyJhbGciOiJFUzI1NiJ9.{PAYLOAD}");
    let ours = signing.sign(input.as_bytes()).unwrap();
    assert!(
        signing
            .verifying_key()
            .verify_signature(input.as_bytes(), &ours)
            .is_ok()
    );
}

#[test]
fn a4_es512_is_unsupported() {
    assert!(matches!(
        VerifyingKey::from_jwk(&jwk(A4_KEY)),
        Err(KeyError::Unsupported(_))
    ));
    // Whatever key a verifier holds, an ES512 header is refused before any key is used.
    let key = VerifyingKey::from_jwk(&jwk(A3_KEY)).unwrap();
    assert_eq!(
        verifier(key, EXP - 1).verify(A4_TOKEN),
        Err(VerifyError::UnsupportedAlgorithm)
    );
}

#[test]
fn a5_unsecured_is_rejected() {
    for key in [A1_KEY, A3_KEY] {
        let key = VerifyingKey::from_jwk(&jwk(key)).unwrap();
        assert_eq!(
            verifier(key, EXP - 1).verify(A5_TOKEN),
            Err(VerifyError::UnsupportedAlgorithm)
        );
    }
}

#[test]
fn rfc8037_ed25519_signature_and_thumbprint() {
    let private = jwk(RFC8037_KEY);
    let signing = SigningKey::from_jwk(&private).unwrap();
    // RFC 8037 appendix A.3.
    assert_eq!(signing.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");

    let (input, signature) = RFC8037_TOKEN.rsplit_once('.').unwrap();
    let signature = base64_decode(signature);
    // Ed25519 is deterministic: signing the example input gives the example signature.
    assert_eq!(signing.sign(input.as_bytes()).unwrap(), signature);

    let mut public = private.clone();
    public.d = None;
    let key = VerifyingKey::from_jwk(&public).unwrap();
    assert!(key.verify_signature(input.as_bytes(), &signature).is_ok());
    let mut tampered = signature.clone();
    tampered[10] ^= 1;
    assert!(key.verify_signature(input.as_bytes(), &tampered).is_err());

    // The payload is not a claims set, so the full verifier stops after the signature.
    let ring = KeyRing::from_verifying_keys([key]).unwrap();
    let verifier = Verifier::builder(ring).any_token_type().build().unwrap();
    assert_eq!(
        verifier.verify(RFC8037_TOKEN),
        Err(VerifyError::Malformed(token_core::Malformed::Claims))
    );
}

#[test]
fn key_ids_are_rfc7638_thumbprints_by_default() {
    // The key of RFC 7638 section 3.1, whose thumbprint the RFC works out.
    let public = jwk(
        r#"{"kty":"RSA","e":"AQAB","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}"#,
    );
    let key = VerifyingKey::from_jwk(&public).unwrap();
    assert_eq!(key.kid(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_eq!(key.algorithm(), Algorithm::RS256);
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}
