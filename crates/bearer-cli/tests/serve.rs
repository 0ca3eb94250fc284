//! `bearer serve` end to end, over TCP: logins, the demo API, both refresh
//! transports, logout, password changes, client credentials, key rotation, restarts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::{Workdir, eventually, kid, payload};

/// Cross-process effects reach the server within its status TTL (1 s) plus the
/// store's epoch bound (1 s); this leaves room for a loaded CI machine.
const PROPAGATION: Duration = Duration::from_secs(10);

#[test]
fn login_me_and_scoped_reports() {
    let work = Workdir::new("scopes");
    work.add_user("alice", "correct horse", "me:read reports:read");
    let server = work.serve();

    // No scope asked: the default (me:read) only.
    let plain = server.login("alice", "correct horse", &[]);
    assert_eq!(plain.field("scope"), "me:read");
    let token = plain.field("access_token");
    let me = server.get("/me", Some(&token));
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["scope"], "me:read");
    assert_eq!(me.json()["sub"], payload(&token)["sub"]);
    let reports = server.get("/reports", Some(&token));
    assert_eq!(reports.status, 403);
    assert!(
        reports
            .header("www-authenticate")
            .unwrap()
            .contains("insufficient_scope")
    );

    // Asking for reports:read gets it; reports:write is beyond alice's ceiling.
    let reader = server.login(
        "alice",
        "correct horse",
        &[("scope", "me:read reports:read reports:write")],
    );
    assert_eq!(reader.field("scope"), "me:read reports:read");
    let token = reader.field("access_token");
    assert_eq!(server.get("/reports", Some(&token)).status, 200);
    let write = server.post_form(
        "/reports",
        &[],
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(write.status, 403);

    // No token at all: 401 with a bare challenge (RFC 6750 section 3.1).
    let anonymous = server.get("/me", None);
    assert_eq!(anonymous.status, 401);
    assert!(
        anonymous
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );

    // A wrong password is refused like an unknown user.
    let bad = server.post_form(
        "/auth/token",
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "nope"),
        ],
        &[],
    );
    assert_eq!(bad.status, 400);
    assert_eq!(bad.field("error"), "invalid_grant");
}

#[test]
fn refresh_by_body_and_logout() {
    let work = Workdir::new("body");
    work.add_user("bob", "bob's password", "me:read");
    let server = work.serve();

    let login = server.login("bob", "bob's password", &[]);
    let first = login.field("refresh_token");
    let access = login.field("access_token");

    let refreshed = server.post_form("/auth/refresh", &[("refresh_token", &first)], &[]);
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    let second = refreshed.field("refresh_token");
    assert_ne!(second, first, "refresh rotates");
    assert_eq!(
        server
            .get("/me", Some(&refreshed.field("access_token")))
            .status,
        200
    );

    let logout = server.post_form("/auth/logout", &[("refresh_token", &second)], &[]);
    assert!(
        logout.status == 200 || logout.status == 204,
        "{}",
        logout.text()
    );
    let after = server.post_form("/auth/refresh", &[("refresh_token", &second)], &[]);
    assert_eq!(after.status, 400);
    assert_eq!(after.field("error"), "invalid_grant");
    // The session's access tokens die with it.
    assert!(eventually(PROPAGATION, || server
        .get("/me", Some(&access))
        .status
        == 401));
}

#[test]
fn refresh_by_cookie_for_the_web_client() {
    let work = Workdir::new("cookie");
    work.add_user("carol", "carol's password", "me:read");
    let server = work.serve();
    let origin = server.origin();

    let login = server.login("carol", "carol's password", &[("client_id", "web")]);
    assert!(
        login.json().get("refresh_token").is_none(),
        "browsers get a cookie, not a body token"
    );
    let set_cookie = login.header("set-cookie").unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("Path=/auth"), "{set_cookie}");
    let cookie = login.cookie("refresh_token").unwrap();

    let refreshed = server.post_form(
        "/auth/refresh",
        &[],
        &[("Cookie", &cookie), ("Origin", &origin)],
    );
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    let rotated = refreshed.cookie("refresh_token").unwrap();
    assert_ne!(rotated, cookie);
    assert_eq!(
        server
            .get("/me", Some(&refreshed.field("access_token")))
            .status,
        200
    );

    // A cross-site page cannot spend the cookie.
    let forged = server.post_form(
        "/auth/refresh",
        &[],
        &[("Cookie", &rotated), ("Origin", "https://evil.example")],
    );
    assert_eq!(forged.status, 403, "{}", forged.text());

    let logout = server.post_form(
        "/auth/logout",
        &[],
        &[("Cookie", &rotated), ("Origin", &origin)],
    );
    assert!(
        logout.status == 200 || logout.status == 204,
        "{}",
        logout.text()
    );
    let after = server.post_form(
        "/auth/refresh",
        &[],
        &[("Cookie", &rotated), ("Origin", &origin)],
    );
    assert_eq!(after.status, 400);
}

#[test]
fn passwd_kills_earlier_tokens_and_sessions() {
    let work = Workdir::new("passwd");
    work.add_user("dave", "old password", "me:read");
    let server = work.serve();
    let login = server.login("dave", "old password", &[]);
    let access = login.field("access_token");
    let refresh = login.field("refresh_token");
    assert_eq!(server.get("/me", Some(&access)).status, 200);

    let output = work.run_with(
        &["user", "passwd", "dave", "--password-stdin"],
        &[],
        "new password\n",
    );
    support::assert_success(&output, &["user", "passwd"]);

    assert!(
        eventually(PROPAGATION, || server.get("/me", Some(&access)).status
            == 401),
        "the old access token still works"
    );
    let refreshed = server.post_form("/auth/refresh", &[("refresh_token", &refresh)], &[]);
    assert_eq!(refreshed.status, 400, "{}", refreshed.text());
    let old = server.post_form(
        "/auth/token",
        &[
            ("grant_type", "password"),
            ("username", "dave"),
            ("password", "old password"),
        ],
        &[],
    );
    assert_eq!(old.status, 400);
    let fresh = server.login("dave", "new password", &[]);
    assert_eq!(
        server.get("/me", Some(&fresh.field("access_token"))).status,
        200
    );
}

#[test]
fn client_credentials() {
    let work = Workdir::new("client");
    let added = work.ok(&["client", "add", "reporter", "--scopes", "reports:read"]);
    let secret = added
        .lines()
        .find_map(|l| l.strip_prefix("client_secret="))
        .unwrap()
        .to_owned();
    assert!(work.ok(&["client", "list"]).contains("reporter"));
    let server = work.serve();

    let token = server.post_form(
        "/auth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "reporter"),
            ("client_secret", &secret),
        ],
        &[],
    );
    assert_eq!(token.status, 200, "{}", token.text());
    assert!(token.json().get("refresh_token").is_none());
    let access = token.field("access_token");
    assert_eq!(server.get("/reports", Some(&access)).status, 200);
    let write = server.post_form(
        "/reports",
        &[],
        &[("Authorization", &format!("Bearer {access}"))],
    );
    assert_eq!(write.status, 403);

    let wrong = server.post_form(
        "/auth/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "reporter"),
            ("client_secret", "not-the-secret"),
        ],
        &[],
    );
    assert_eq!(wrong.status, 401);

    work.ok(&["client", "remove", "reporter"]);
    assert!(!work.ok(&["client", "list"]).contains("reporter"));
}

#[test]
fn key_rotation_reaches_the_running_server() {
    let work = Workdir::new("rotate");
    work.add_user("erin", "erin's password", "me:read");
    let server = work.serve();
    let before = server
        .login("erin", "erin's password", &[])
        .field("access_token");
    let old_kid = kid(&before);

    let rotated = work.ok(&["keys", "rotate"]);
    assert!(rotated.contains(&old_kid), "{rotated}");
    assert!(
        eventually(PROPAGATION, || {
            let token = server
                .login("erin", "erin's password", &[])
                .field("access_token");
            kid(&token) != old_kid
        }),
        "the server kept signing with the old key"
    );
    // Tokens of the retired key keep working until they expire.
    assert_eq!(server.get("/me", Some(&before)).status, 200);
    let jwks = server.get("/auth/.well-known/jwks.json", None).json();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(kids.contains(&old_kid.as_str()), "{kids:?}");
    assert!(work.ok(&["keys", "list"]).contains("retired"));
}

#[test]
fn restart_keeps_users_keys_and_sessions() {
    let work = Workdir::new("restart");
    work.add_user("frank", "frank's password", "me:read");
    let server = work.serve();
    let login = server.login("frank", "frank's password", &[]);
    let access = login.field("access_token");
    let refresh = login.field("refresh_token");
    let status = server.terminate();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");

    let server = work.serve();
    assert_eq!(
        server.get("/me", Some(&access)).status,
        200,
        "the signing key survived"
    );
    let refreshed = server.post_form("/auth/refresh", &[("refresh_token", &refresh)], &[]);
    assert_eq!(
        refreshed.status,
        200,
        "the session survived: {}",
        refreshed.text()
    );
    server.login("frank", "frank's password", &[]);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for file in ["bearer-keys.json", "bearer.db"] {
            let mode = std::fs::metadata(work.path(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{file} is readable by others: {mode:o}");
        }
    }
}
