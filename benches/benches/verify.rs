//! token-core against jsonwebtoken and against the raw signature operation, for every
//! algorithm, on one realistic access token, in one run.
//!
//! ```sh
//! cargo bench -p bearer-benches --bench verify
//! ```
//!
//! Groups `verify/<alg>` and `mint/<alg>` each hold `token-core`, `jsonwebtoken` and
//! `raw` (the crypto crate's bare signature check or signing call over the same
//! bytes). Before timing, the bench prints heap allocations per operation.

// A bench binary reports to its terminal and states expectations with unwrap.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use jsonwebtoken as jwt;
use ring::signature::{self, KeyPair};
use serde::{Deserialize, Serialize};
use token_core::{Algorithm, Claims, KeyRing, Minter, Scopes, SigningKey, Verifier};

/// Counts allocations while `COUNTING` is on; costs one relaxed load otherwise.
struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers every call to the system allocator unchanged; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations_of(mut f: impl FnMut()) -> usize {
    f(); // warm any lazy state first
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    for _ in 0..100 {
        f();
    }
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCATIONS.load(Ordering::SeqCst) / 100
}

const ISS: &str = "https://auth.example.com";
const AUD: &str = "reports-api";
const SECRET: &[u8] = b"an HMAC secret of exactly sixty-four bytes for HS512 and below!!";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../crates/token-core/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The same claims decoded by jsonwebtoken, into owned fields as ours are.
#[derive(Serialize, Deserialize)]
struct PeerClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    scope: String,
    ver: u64,
    sid: String,
}

/// The raw crypto for one algorithm, with keys parsed up front: signing with ring,
/// verifying with the library token-core verifies with.
struct Raw {
    sign: RawSign,
    verify: RawVerify,
    /// ring's bare check, measured beside aws-lc's when that backend is on.
    ring_verify: Option<RawVerify>,
}

enum RawSign {
    Hmac(ring::hmac::Key),
    Rsa(
        Box<signature::RsaKeyPair>,
        &'static dyn signature::RsaEncoding,
    ),
    Ecdsa(Box<signature::EcdsaKeyPair>),
    Ed25519(Box<signature::Ed25519KeyPair>),
}

enum RawVerify {
    Hmac(ring::hmac::Key),
    RingRsa {
        params: &'static signature::RsaParameters,
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Ring {
        alg: &'static dyn signature::VerificationAlgorithm,
        public: Vec<u8>,
    },
    #[cfg(feature = "aws-lc-rs")]
    AwsLc(aws_lc_rs::signature::ParsedPublicKey),
}

impl RawVerify {
    fn verify(&self, msg: &[u8], sig: &[u8]) {
        match self {
            RawVerify::Hmac(key) => ring::hmac::verify(key, msg, sig).unwrap(),
            RawVerify::RingRsa { params, n, e } => signature::RsaPublicKeyComponents { n, e }
                .verify(params, msg, sig)
                .unwrap(),
            RawVerify::Ring { alg, public } => signature::UnparsedPublicKey::new(*alg, public)
                .verify(msg, sig)
                .unwrap(),
            #[cfg(feature = "aws-lc-rs")]
            RawVerify::AwsLc(key) => key.verify_sig(msg, sig).unwrap(),
        }
    }
}

impl Raw {
    /// Verifying with ring, or with aws-lc when token-core uses it.
    fn new(sign: RawSign, ring_verify: RawVerify, aws_lc: Option<AwsLcKey<'_>>) -> Self {
        match aws_lc {
            #[cfg(feature = "aws-lc-rs")]
            Some((alg, public)) => Raw {
                sign,
                verify: RawVerify::AwsLc(
                    aws_lc_rs::signature::ParsedPublicKey::new(alg, public).unwrap(),
                ),
                ring_verify: Some(ring_verify),
            },
            _ => Raw {
                sign,
                verify: ring_verify,
                ring_verify: None,
            },
        }
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) {
        self.verify.verify(msg, sig);
    }

    fn sign(&self, msg: &[u8]) -> usize {
        let rng = ring::rand::SystemRandom::new();
        match &self.sign {
            RawSign::Hmac(key) => ring::hmac::sign(key, msg).as_ref().len(),
            RawSign::Rsa(pair, padding) => {
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(*padding, &rng, msg, &mut out).unwrap();
                out.len()
            }
            RawSign::Ecdsa(pair) => pair.sign(&rng, msg).unwrap().as_ref().len(),
            RawSign::Ed25519(pair) => pair.sign(msg).as_ref().len(),
        }
    }
}

/// aws-lc's algorithm and public-key bytes for an asymmetric key.
#[cfg(feature = "aws-lc-rs")]
type AwsLcKey<'a> = (
    &'static dyn aws_lc_rs::signature::VerificationAlgorithm,
    &'a [u8],
);
#[cfg(not(feature = "aws-lc-rs"))]
type AwsLcKey<'a> = std::marker::PhantomData<&'a ()>;

/// The aws-lc form of a public key, when the backend is on.
#[allow(unused_variables)]
fn aws_lc(alg: Algorithm, public: &[u8]) -> Option<AwsLcKey<'_>> {
    #[cfg(feature = "aws-lc-rs")]
    {
        use aws_lc_rs::signature as a;
        let algorithm: &'static dyn a::VerificationAlgorithm = match alg {
            Algorithm::RS256 => &a::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &a::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &a::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &a::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &a::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &a::RSA_PSS_2048_8192_SHA512,
            Algorithm::ES256 => &a::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &a::ECDSA_P384_SHA384_FIXED,
            Algorithm::EdDSA => &a::ED25519,
            _ => return None,
        };
        Some((algorithm, public))
    }
    #[cfg(not(feature = "aws-lc-rs"))]
    None
}

/// Everything needed to bench one algorithm.
struct Case {
    alg: Algorithm,
    minter: Minter,
    verifier: Verifier,
    token: String,
    claims: Claims,
    peer_alg: jwt::Algorithm,
    peer_encoding: jwt::EncodingKey,
    peer_decoding: jwt::DecodingKey,
    peer_validation: jwt::Validation,
    peer_header: jwt::Header,
    peer_claims: PeerClaims,
    raw: Raw,
}

fn case(alg: Algorithm) -> Case {
    let rng = ring::rand::SystemRandom::new();
    let (ours, peer_alg, peer_encoding, peer_decoding, raw) = match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            let peer_alg = match alg {
                Algorithm::HS256 => jwt::Algorithm::HS256,
                Algorithm::HS384 => jwt::Algorithm::HS384,
                _ => jwt::Algorithm::HS512,
            };
            let ring_alg = match alg {
                Algorithm::HS256 => ring::hmac::HMAC_SHA256,
                Algorithm::HS384 => ring::hmac::HMAC_SHA384,
                _ => ring::hmac::HMAC_SHA512,
            };
            (
                SigningKey::from_hmac_secret(alg, SECRET).unwrap(),
                peer_alg,
                jwt::EncodingKey::from_secret(SECRET),
                jwt::DecodingKey::from_secret(SECRET),
                Raw::new(
                    RawSign::Hmac(ring::hmac::Key::new(ring_alg, SECRET)),
                    RawVerify::Hmac(ring::hmac::Key::new(ring_alg, SECRET)),
                    None,
                ),
            )
        }
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => {
            let pem = fixture("rsa2048.pk8.pem");
            let (peer_alg, padding, params): (
                _,
                &'static dyn signature::RsaEncoding,
                &'static signature::RsaParameters,
            ) = match alg {
                Algorithm::RS256 => (
                    jwt::Algorithm::RS256,
                    &signature::RSA_PKCS1_SHA256,
                    &signature::RSA_PKCS1_2048_8192_SHA256,
                ),
                Algorithm::RS384 => (
                    jwt::Algorithm::RS384,
                    &signature::RSA_PKCS1_SHA384,
                    &signature::RSA_PKCS1_2048_8192_SHA384,
                ),
                Algorithm::RS512 => (
                    jwt::Algorithm::RS512,
                    &signature::RSA_PKCS1_SHA512,
                    &signature::RSA_PKCS1_2048_8192_SHA512,
                ),
                Algorithm::PS256 => (
                    jwt::Algorithm::PS256,
                    &signature::RSA_PSS_SHA256,
                    &signature::RSA_PSS_2048_8192_SHA256,
                ),
                Algorithm::PS384 => (
                    jwt::Algorithm::PS384,
                    &signature::RSA_PSS_SHA384,
                    &signature::RSA_PSS_2048_8192_SHA384,
                ),
                _ => (
                    jwt::Algorithm::PS512,
                    &signature::RSA_PSS_SHA512,
                    &signature::RSA_PSS_2048_8192_SHA512,
                ),
            };
            let der = pem_rfc7468::decode_vec(&pem).unwrap().1;
            let pair = signature::RsaKeyPair::from_pkcs8(&der).unwrap();
            let public: signature::RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
            let pkcs1 = pair.public().as_ref().to_vec();
            (
                SigningKey::from_pem(alg, &pem).unwrap(),
                peer_alg,
                jwt::EncodingKey::from_rsa_pem(&pem).unwrap(),
                jwt::DecodingKey::from_rsa_pem(&fixture("rsa2048.spki.pem")).unwrap(),
                Raw::new(
                    RawSign::Rsa(Box::new(pair), padding),
                    RawVerify::RingRsa {
                        params,
                        n: public.n,
                        e: public.e,
                    },
                    aws_lc(alg, &pkcs1),
                ),
            )
        }
        Algorithm::ES256 | Algorithm::ES384 => {
            let (file, peer_alg, signing, verification) = if alg == Algorithm::ES256 {
                (
                    "p256.pk8.pem",
                    jwt::Algorithm::ES256,
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &signature::ECDSA_P256_SHA256_FIXED,
                )
            } else {
                (
                    "p384.pk8.pem",
                    jwt::Algorithm::ES384,
                    &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                    &signature::ECDSA_P384_SHA384_FIXED,
                )
            };
            let pem = fixture(file);
            let der = pem_rfc7468::decode_vec(&pem).unwrap().1;
            let pair = signature::EcdsaKeyPair::from_pkcs8(signing, &der, &rng).unwrap();
            let public = pair.public_key().as_ref().to_vec();
            let ours = SigningKey::from_pem(alg, &pem).unwrap();
            let jwk = ours.verifying_key().to_jwk().unwrap();
            (
                ours,
                peer_alg,
                jwt::EncodingKey::from_ec_pem(&pem).unwrap(),
                jwt::DecodingKey::from_ec_components(
                    jwk.x.as_deref().unwrap(),
                    jwk.y.as_deref().unwrap(),
                )
                .unwrap(),
                Raw::new(
                    RawSign::Ecdsa(Box::new(pair)),
                    RawVerify::Ring {
                        alg: verification,
                        public: public.clone(),
                    },
                    aws_lc(alg, &public),
                ),
            )
        }
        Algorithm::EdDSA => {
            let pem = fixture("ed25519.pk8.pem");
            let der = pem_rfc7468::decode_vec(&pem).unwrap().1;
            let pair = signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).unwrap();
            let public = pair.public_key().as_ref().to_vec();
            (
                SigningKey::from_pem(alg, &pem).unwrap(),
                jwt::Algorithm::EdDSA,
                jwt::EncodingKey::from_ed_pem(&pem).unwrap(),
                jwt::DecodingKey::from_ed_pem(&fixture("ed25519.spki.pem")).unwrap(),
                Raw::new(
                    RawSign::Ed25519(Box::new(pair)),
                    RawVerify::Ring {
                        alg: &signature::ED25519,
                        public: public.clone(),
                    },
                    aws_lc(alg, &public),
                ),
            )
        }
    };
    let kid = ours.kid().to_owned();
    let ring = KeyRing::with_signing_key(ours);
    let minter = Minter::builder(ring.clone())
        .issuer(ISS)
        .audience(AUD)
        .ttl(Duration::from_secs(3600))
        .build()
        .unwrap();
    let verifier = Verifier::builder(ring)
        .issuer(ISS)
        .audience(AUD)
        .build()
        .unwrap();
    let claims = Claims::for_subject("user-8f14e45fceea167a")
        .with_scope(
            "me:read reports:read reports:write"
                .parse::<Scopes>()
                .unwrap(),
        )
        .with_version(3)
        .with_session("fam-7d3a1c9e5b2f4a60");
    let minted = minter.mint(claims.clone()).unwrap();

    let mut peer_validation = jwt::Validation::new(peer_alg);
    peer_validation.set_issuer(&[ISS]);
    peer_validation.set_audience(&[AUD]);
    let mut peer_header = jwt::Header::new(peer_alg);
    peer_header.kid = Some(kid);
    peer_header.typ = Some("at+jwt".into());
    let m = &minted.claims;
    let peer_claims = PeerClaims {
        iss: ISS.into(),
        sub: m.sub.as_deref().unwrap().to_owned(),
        aud: AUD.into(),
        exp: m.exp.unsigned_abs(),
        nbf: m.nbf.unwrap().unsigned_abs(),
        iat: m.iat.unwrap().unsigned_abs(),
        jti: m.jti.as_deref().unwrap().to_owned(),
        scope: m.scope.to_string(),
        ver: 3,
        sid: m.sid.as_deref().unwrap().to_owned(),
    };
    Case {
        alg,
        minter,
        verifier,
        token: minted.token,
        claims,
        peer_alg,
        peer_encoding,
        peer_decoding,
        peer_validation,
        peer_header,
        peer_claims,
        raw,
    }
}

fn report_allocations(cases: &[Case]) {
    println!("heap allocations per operation (token-core / jsonwebtoken):");
    for c in cases {
        let ours = allocations_of(|| {
            black_box(c.verifier.verify(black_box(&c.token)).unwrap());
        });
        let peer = allocations_of(|| {
            black_box(
                jwt::decode::<PeerClaims>(
                    black_box(&c.token),
                    &c.peer_decoding,
                    &c.peer_validation,
                )
                .unwrap(),
            );
        });
        let ours_mint = allocations_of(|| {
            black_box(c.minter.mint(c.claims.clone()).unwrap());
        });
        let peer_mint = allocations_of(|| {
            black_box(jwt::encode(&c.peer_header, &c.peer_claims, &c.peer_encoding).unwrap());
        });
        println!(
            "  {:6} verify {ours:3} / {peer:3}    mint {ours_mint:3} / {peer_mint:3}",
            c.alg.as_str()
        );
    }
}

fn benches(c: &mut Criterion) {
    let cases: Vec<Case> = Algorithm::ALL.into_iter().map(case).collect();
    println!(
        "token: {} bytes, claims: {}",
        cases[0].token.len(),
        cases[0]
            .token
            .split('.')
            .nth(1)
            .map_or(0, |p| p.len() * 3 / 4)
    );
    report_allocations(&cases);

    for case in &cases {
        let (input, sig_b64) = case.token.rsplit_once('.').unwrap();
        let signature = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(sig_b64)
                .unwrap()
        };
        assert_eq!(case.peer_alg, case.peer_header.alg);

        let mut group = c.benchmark_group(format!("verify/{}", case.alg));
        group.bench_function("token-core", |b| {
            b.iter(|| case.verifier.verify(black_box(&case.token)).unwrap());
        });
        group.bench_function("jsonwebtoken", |b| {
            b.iter(|| {
                jwt::decode::<PeerClaims>(
                    black_box(&case.token),
                    &case.peer_decoding,
                    &case.peer_validation,
                )
                .unwrap()
            });
        });
        group.bench_function("raw", |b| {
            b.iter(|| {
                case.raw
                    .verify(black_box(input.as_bytes()), black_box(&signature))
            });
        });
        if let Some(ring_verify) = &case.raw.ring_verify {
            group.bench_function("raw-ring", |b| {
                b.iter(|| ring_verify.verify(black_box(input.as_bytes()), black_box(&signature)));
            });
        }
        group.finish();

        let mut group = c.benchmark_group(format!("mint/{}", case.alg));
        group.bench_function("token-core", |b| {
            b.iter(|| case.minter.mint(black_box(case.claims.clone())).unwrap());
        });
        group.bench_function("jsonwebtoken", |b| {
            b.iter(|| {
                jwt::encode(
                    &case.peer_header,
                    black_box(&case.peer_claims),
                    &case.peer_encoding,
                )
                .unwrap()
            });
        });
        group.bench_function("raw", |b| {
            b.iter(|| case.raw.sign(black_box(input.as_bytes())));
        });
        group.finish();
    }
}

criterion_group! {
    name = verify;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = benches
}

fn main() {
    verify();
    Criterion::default().configure_from_args().final_summary();
}
