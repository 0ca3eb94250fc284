//! The administrative commands, run as the real binary: mint and verify round trips,
//! JWKS, keygen, user management, and the messages for bad configuration.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{ISSUER_URL, Workdir, payload};

#[test]
fn mint_then_verify_round_trips() {
    let work = Workdir::new("mint");
    work.add_user("alice", "correct horse", "me:read");
    let token = work.ok(&[
        "mint",
        "--sub",
        "alice",
        "--scope",
        "reports:read",
        "--ttl",
        "120",
    ]);
    let token = token.trim();
    let claims = payload(token);
    assert_eq!(claims["iss"], ISSUER_URL);
    assert_eq!(claims["scope"], "reports:read");
    assert_ne!(claims["sub"], "alice", "a login becomes the user's id");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );

    let verified: serde_json::Value = serde_json::from_str(&work.ok(&["verify", token])).unwrap();
    assert_eq!(verified["sub"], claims["sub"]);
    assert_eq!(verified["scope"], "reports:read");

    // With the published JWKS instead of the key file, as any verifier would.
    std::fs::write(work.path("jwks.json"), work.ok(&["jwks"])).unwrap();
    let jwks = work.path("jwks.json");
    work.ok(&[
        "verify",
        "--jwks",
        jwks.to_str().unwrap(),
        "--iss",
        ISSUER_URL,
        token,
    ]);
}

#[test]
fn verify_says_exactly_why_and_exits_1() {
    let work = Workdir::new("verify");
    let token = work.ok(&["mint", "--sub", "svc"]).trim().to_owned();

    // Flip one character in the middle of the signature (the last one also carries
    // padding bits, which strict base64url decoding refuses before any check).
    let at = token.rfind('.').unwrap() + 10;
    let flipped = if &token[at..=at] == "A" { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &token[..at], &token[at + 1..]);
    let output = work.run(&["verify", &tampered]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("signature is invalid"), "{stderr}");

    let output = work.run(&["verify", "--aud", "someone-else", &token]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("audience"));

    let output = work.run(&["verify", "not.a.token"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("malformed"));
}

#[test]
fn keygen_writes_standalone_keys_that_verify() {
    let work = Workdir::new("keygen");
    for alg in ["EdDSA", "ES256", "RS256", "HS256"] {
        let file = format!("{alg}.key");
        let kid = work.ok(&["keygen", "--alg", alg, "--out", &file]);
        assert!(!kid.trim().is_empty());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(work.path(&file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{alg}");
        }
        // Never overwrites a key.
        assert_eq!(
            work.run(&["keygen", "--alg", alg, "--out", &file])
                .status
                .code(),
            Some(2)
        );
    }
    // A token of the key file does not verify with an unrelated key.
    let token = work.ok(&["mint", "--sub", "svc"]).trim().to_owned();
    let output = work.run(&["verify", "--key", "EdDSA.key", &token]);
    assert_eq!(output.status.code(), Some(1));

    // keygen into the key file makes the next key; rotate makes it sign.
    let next = work.ok(&["keygen", "--alg", "ES256"]).trim().to_owned();
    work.ok(&["keys", "rotate"]);
    let token = work.ok(&["mint", "--sub", "svc"]).trim().to_owned();
    assert_eq!(support::kid(&token), next);
    assert!(work.ok(&["jwks"]).contains(&next));
}

#[test]
fn users_are_listed_granted_and_disabled() {
    let work = Workdir::new("users");
    work.add_user("grace", "grace's password", "me:read");
    let again = work.run_with(
        &["user", "add", "grace", "--password-stdin"],
        &[],
        "another\n",
    );
    assert_eq!(again.status.code(), Some(2), "duplicate logins are refused");

    work.ok(&["user", "grant", "grace", "reports:read"]);
    let list = work.ok(&["user", "list"]);
    let line = list.lines().find(|l| l.starts_with("grace")).unwrap();
    assert!(
        line.contains("me:read reports:read") && line.contains("active"),
        "{line}"
    );

    work.ok(&["user", "disable", "grace"]);
    assert!(work.ok(&["user", "list"]).contains("disabled"));
    work.ok(&["user", "enable", "grace"]);

    let missing = work.run(&["user", "passwd", "nobody", "--password-stdin"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no user `nobody`"));
}

#[test]
fn bad_configuration_names_the_field() {
    let work = Workdir::new("config");
    // (bearer.toml lines, environment, what stderr must say)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case<'_>] = &[
        ("access_ttl = 0\n", &[], &["`access_ttl`", "bearer.toml"]),
        ("acess_ttl = 60\n", &[], &["acess_ttl", "line 2"]),
        ("access_ttl = \"soon\"\n", &[], &["access_ttl"]),
        (
            "",
            &[("BEARER_LISTEN", "nowhere")],
            &["`listen`", "BEARER_LISTEN"],
        ),
        ("", &[("BEARER_STORE", "mysql://db")], &["`store`"]),
        (
            "",
            &[("BEARER_DEFAULT_SCOPES", "admin")],
            &["`default_scopes`", "admin"],
        ),
        (
            "",
            &[("BEARER_COOKIE_SECURE", "maybe")],
            &["`cookie_secure`"],
        ),
    ];
    for (file, env, expected) in cases {
        work.write(
            "bearer.toml",
            &format!("issuer_url = \"{ISSUER_URL}\"\n{file}"),
        );
        let output = work.run_with(&["serve"], env, "");
        assert_eq!(output.status.code(), Some(2), "{file} {env:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for needle in *expected {
            assert!(stderr.contains(needle), "{file} {env:?}: {stderr}");
        }
    }
    let missing = work.run(&["--config", "nowhere.toml", "jwks"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nowhere.toml"));
}
