//! How refresh tokens travel: an `HttpOnly` cookie for browsers, the JSON body for
//! everything else.

use http::HeaderMap;
use http::header::COOKIE;

/// Where a client receives and presents its refresh token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RefreshTransport {
    /// A `__Secure-` `HttpOnly`, `Secure`, `SameSite=Strict` cookie scoped to the
    /// issuer's path: scripts in the page can never read it. For browsers.
    #[default]
    Cookie,
    /// `refresh_token` in the JSON body. For CLIs, mobile apps and other non-browsers.
    Body,
}

/// The refresh cookie's name without its prefix.
pub(crate) const COOKIE_BASE_NAME: &str = "refresh_token";

/// How the refresh cookie is written.
#[derive(Clone, Debug)]
pub(crate) struct CookieSettings {
    /// `__Secure-refresh_token`, or `refresh_token` in plain-HTTP development mode.
    pub(crate) name: String,
    /// The issuer's mount path.
    pub(crate) path: String,
    /// False only in plain-HTTP development mode.
    pub(crate) secure: bool,
}

impl CookieSettings {
    pub(crate) fn new(mount_path: &str, insecure_dev_mode: bool) -> Self {
        let path = if mount_path.is_empty() {
            "/"
        } else {
            mount_path
        };
        CookieSettings {
            name: if insecure_dev_mode {
                COOKIE_BASE_NAME.to_owned()
            } else {
                format!("__Secure-{COOKIE_BASE_NAME}")
            },
            path: path.to_owned(),
            secure: !insecure_dev_mode,
        }
    }

    /// `Set-Cookie` for `token`, living `max_age` seconds (the family's remaining
    /// absolute lifetime).
    pub(crate) fn set(&self, token: &str, max_age: i64) -> String {
        self.write(token, max_age.max(0))
    }

    /// `Set-Cookie` that deletes the cookie.
    pub(crate) fn clear(&self) -> String {
        self.write("", 0)
    }

    fn write(&self, value: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}={value}; Max-Age={max_age}; Path={}; HttpOnly{secure}; SameSite=Strict",
            self.name, self.path
        )
    }

    /// The refresh cookie's value, if the request carries exactly one. Two cookies of
    /// the same name (a shadowing attempt) count as none.
    pub(crate) fn read<'h>(
        &self,
        headers: &'h HeaderMap,
    ) -> Result<Option<&'h str>, DuplicateCookie> {
        let mut found = None;
        for header in headers.get_all(COOKIE) {
            let Ok(text) = header.to_str() else { continue };
            for pair in text.split(';') {
                let Some((name, value)) = pair.trim().split_once('=') else {
                    continue;
                };
                if name == self.name {
                    if found.is_some() {
                        return Err(DuplicateCookie);
                    }
                    found = Some(value.trim_matches('"'));
                }
            }
        }
        Ok(found.filter(|v| !v.is_empty()))
    }
}

/// The request carried the refresh cookie twice.
#[derive(Debug)]
pub(crate) struct DuplicateCookie;

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn secure_cookie_attributes() {
        let c = CookieSettings::new("/auth", false);
        assert_eq!(
            c.set("rt1.x", 60),
            "__Secure-refresh_token=rt1.x; Max-Age=60; Path=/auth; HttpOnly; Secure; SameSite=Strict"
        );
        assert!(c.clear().contains("Max-Age=0"));
        let dev = CookieSettings::new("", true);
        assert_eq!(
            dev.set("v", 1),
            "refresh_token=v; Max-Age=1; Path=/; HttpOnly; SameSite=Strict"
        );
    }

    #[test]
    fn reads_one_cookie_and_refuses_two() {
        let c = CookieSettings::new("/", false);
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=b; __Secure-refresh_token=tok; c=d"),
        );
        assert_eq!(c.read(&headers).unwrap(), Some("tok"));
        headers.append(
            COOKIE,
            HeaderValue::from_static("__Secure-refresh_token=other"),
        );
        assert!(c.read(&headers).is_err());
        assert_eq!(c.read(&HeaderMap::new()).unwrap(), None);
    }
}
