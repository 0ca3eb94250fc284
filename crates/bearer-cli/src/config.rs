//! Settings: the TOML file, then `BEARER_*` environment variables (which win), then
//! defaults; checked once, with errors that name the field and where it came from.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use issuer::RefreshTransport;
use serde::Deserialize;
use token_core::Scopes;

/// A setting that is wrong, named with where it came from.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has an unknown key or a value of the wrong type.
    #[error("invalid configuration file {path}: {message}")]
    File { path: PathBuf, message: String },
    /// One field's value is wrong.
    #[error("invalid configuration: `{field}` (from {origin}): {message}")]
    Field {
        field: &'static str,
        origin: String,
        message: String,
    },
}

/// The shape of `bearer.toml`; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    store: Option<String>,
    users_store: Option<String>,
    redis_prefix: Option<String>,
    key_file: Option<PathBuf>,
    issuer_url: Option<String>,
    audience: Option<String>,
    access_ttl: Option<u64>,
    idle_ttl: Option<u64>,
    absolute_ttl: Option<u64>,
    default_scopes: Option<Vec<String>>,
    grantable_scopes: Option<Vec<String>>,
    transport: Option<String>,
    web_client: Option<String>,
    cookie_secure: Option<bool>,
    cors_origins: Option<Vec<String>>,
    log: Option<String>,
}

/// How an environment variable's text becomes a TOML value.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Seconds,
    List,
    Bool,
}

/// Every field, with the kind of its environment variable (`BEARER_` + the name in
/// upper case).
const FIELDS: &[(&str, Kind)] = &[
    ("listen", Kind::Text),
    ("store", Kind::Text),
    ("users_store", Kind::Text),
    ("redis_prefix", Kind::Text),
    ("key_file", Kind::Text),
    ("issuer_url", Kind::Text),
    ("audience", Kind::Text),
    ("access_ttl", Kind::Seconds),
    ("idle_ttl", Kind::Seconds),
    ("absolute_ttl", Kind::Seconds),
    ("default_scopes", Kind::List),
    ("grantable_scopes", Kind::List),
    ("transport", Kind::Text),
    ("web_client", Kind::Text),
    ("cookie_secure", Kind::Bool),
    ("cors_origins", Kind::List),
    ("log", Kind::Text),
];

/// The checked settings every command works from.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) listen: SocketAddr,
    pub(crate) store: String,
    pub(crate) users_store: Option<String>,
    /// The prefix of every Redis key and channel, so several deployments can share
    /// one Redis.
    pub(crate) redis_prefix: String,
    pub(crate) key_file: PathBuf,
    pub(crate) issuer_url: String,
    pub(crate) audience: String,
    pub(crate) access_ttl: Duration,
    pub(crate) idle_ttl: Duration,
    pub(crate) absolute_ttl: Duration,
    pub(crate) default_scopes: Scopes,
    pub(crate) grantable_scopes: Scopes,
    pub(crate) transport: RefreshTransport,
    /// The public cookie-transport client the demo page logs in as (none when empty).
    pub(crate) web_client: Option<String>,
    pub(crate) cookie_secure: bool,
    pub(crate) cors_origins: Vec<String>,
    pub(crate) log: tracing::Level,
}

/// Where each field's value came from, for error messages.
struct Origins {
    file: Option<PathBuf>,
    in_file: Vec<String>,
    from_env: BTreeMap<&'static str, String>,
}

impl Origins {
    fn of(&self, field: &'static str) -> String {
        match (self.from_env.get(field), &self.file) {
            (Some(var), _) => format!("environment variable {var}"),
            (None, Some(path)) if self.in_file.iter().any(|f| f == field) => {
                path.display().to_string()
            }
            _ => "the defaults".to_owned(),
        }
    }
}

/// Loads the settings: `file` when given (it must exist), else `bearer.toml` in the
/// working directory when present; `env` gives the environment (injected so tests
/// need not touch the process's own).
pub(crate) fn load(
    file: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
    listen_flag: Option<&str>,
) -> Result<Settings, ConfigError> {
    let default_file = Path::new("bearer.toml");
    let file = match file {
        Some(path) => Some(path.to_path_buf()),
        None if default_file.exists() => Some(default_file.to_path_buf()),
        None => None,
    };
    let mut table = match &file {
        Some(path) => read_file(path)?,
        None => toml::Table::new(),
    };

    let in_file = table.keys().cloned().collect();
    let mut from_env = BTreeMap::new();
    for &(field, kind) in FIELDS {
        let var = format!("BEARER_{}", field.to_ascii_uppercase());
        if let Some(text) = env(&var) {
            let value = env_value(kind, &text).map_err(|message| ConfigError::Field {
                field,
                origin: format!("environment variable {var}"),
                message,
            })?;
            table.insert(field.to_owned(), value);
            from_env.insert(field, var);
        }
    }
    if let Some(listen) = listen_flag {
        table.insert("listen".to_owned(), toml::Value::String(listen.to_owned()));
        from_env.insert("listen", "--listen".to_owned());
    }
    let origins = Origins {
        file,
        in_file,
        from_env,
    };
    let raw = FileConfig::deserialize(table).map_err(|e| ConfigError::File {
        path: origins
            .file
            .clone()
            .unwrap_or_else(|| "(environment)".into()),
        message: e.message().to_owned(),
    })?;
    resolve(raw, &origins)
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |e: toml::de::Error| ConfigError::File {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_owned(),
    };
    // Parsing into the typed shape first gives messages with line and column for
    // unknown keys and wrong types; the table is what the environment is laid over.
    toml::from_str::<FileConfig>(&text).map_err(invalid)?;
    toml::from_str::<toml::Table>(&text).map_err(invalid)
}

fn env_value(kind: Kind, text: &str) -> Result<toml::Value, String> {
    Ok(match kind {
        Kind::Text => toml::Value::String(text.to_owned()),
        Kind::Seconds => {
            let secs: i64 = text
                .trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a whole number of seconds"))?;
            toml::Value::Integer(secs)
        }
        Kind::List => toml::Value::Array(
            text.split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
        Kind::Bool => match text.trim() {
            "true" | "1" | "yes" => toml::Value::Boolean(true),
            "false" | "0" | "no" => toml::Value::Boolean(false),
            _ => return Err(format!("`{text}` is not true or false")),
        },
    })
}

/// The longest lifetime accepted for any token or session: ten years.
const MAX_TTL: u64 = 10 * 365 * 24 * 3600;

fn resolve(raw: FileConfig, origins: &Origins) -> Result<Settings, ConfigError> {
    let bad = |field: &'static str, message: String| ConfigError::Field {
        field,
        origin: origins.of(field),
        message,
    };

    let listen_text = raw.listen.unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let listen: SocketAddr = listen_text.parse().map_err(|_| {
        bad(
            "listen",
            format!("`{listen_text}` is not an address such as 127.0.0.1:8080"),
        )
    })?;

    let store = raw.store.unwrap_or_else(|| "sqlite:bearer.db".to_owned());
    let scheme = store.split(':').next().unwrap_or_default();
    if !matches!(
        scheme,
        "sqlite" | "postgres" | "postgresql" | "redis" | "memory"
    ) {
        return Err(bad(
            "store",
            "must start with sqlite:, postgres://, redis:// or memory:".to_owned(),
        ));
    }
    if scheme == "redis" && raw.users_store.is_none() {
        return Err(bad(
            "store",
            "a redis:// store keeps sessions only: set `users_store` to the sqlite: or \
             postgres:// store that keeps users"
                .to_owned(),
        ));
    }

    let redis_prefix = raw.redis_prefix.unwrap_or_else(|| "bearer:".to_owned());
    if redis_prefix.is_empty()
        || redis_prefix
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad(
            "redis_prefix",
            "must be non-empty, without spaces or control characters".to_owned(),
        ));
    }
    let key_file = raw.key_file.unwrap_or_else(|| default_key_file(&store));

    let issuer_url = raw
        .issuer_url
        .unwrap_or_else(|| format!("http://{listen}/auth"));
    if issuer_url.trim().is_empty() {
        return Err(bad("issuer_url", "must not be empty".to_owned()));
    }
    let audience = raw.audience.unwrap_or_else(|| "bearer-demo".to_owned());
    if audience.trim().is_empty() {
        return Err(bad("audience", "must not be empty".to_owned()));
    }

    let ttl = |field: &'static str, value: Option<u64>, default: u64| {
        let secs = value.unwrap_or(default);
        if secs == 0 || secs > MAX_TTL {
            return Err(bad(
                field,
                format!("{secs} is out of range: give 1 to {MAX_TTL} seconds"),
            ));
        }
        Ok(Duration::from_secs(secs))
    };
    let access_ttl = ttl("access_ttl", raw.access_ttl, 900)?;
    let idle_ttl = ttl("idle_ttl", raw.idle_ttl, 7 * 24 * 3600)?;
    let absolute_ttl = ttl("absolute_ttl", raw.absolute_ttl, 30 * 24 * 3600)?;
    if idle_ttl > absolute_ttl {
        return Err(bad(
            "idle_ttl",
            "must not be longer than `absolute_ttl`".to_owned(),
        ));
    }

    let scopes = |field: &'static str, value: Option<Vec<String>>, default: &[&str]| {
        let list = value.unwrap_or_else(|| default.iter().map(|s| (*s).to_owned()).collect());
        Scopes::from_tokens(&list).map_err(|e| bad(field, format!("{e}")))
    };
    let default_scopes = scopes("default_scopes", raw.default_scopes, &["me:read"])?;
    let grantable_scopes = scopes(
        "grantable_scopes",
        raw.grantable_scopes,
        &["me:read", "reports:read", "reports:write"],
    )?;
    if !default_scopes.is_subset(&grantable_scopes) {
        return Err(bad(
            "default_scopes",
            format!(
                "`{}` is not within grantable_scopes `{grantable_scopes}`",
                default_scopes.difference(&grantable_scopes)
            ),
        ));
    }

    let transport = match raw.transport.as_deref().unwrap_or("body") {
        "body" => RefreshTransport::Body,
        "cookie" => RefreshTransport::Cookie,
        other => {
            return Err(bad(
                "transport",
                format!("`{other}` is neither `body` nor `cookie`"),
            ));
        }
    };

    let web_client = match raw.web_client {
        None => Some("web".to_owned()),
        Some(id) if id.is_empty() => None,
        Some(id) => Some(id),
    };

    let cors_origins = raw.cors_origins.unwrap_or_default();
    for origin in &cors_origins {
        let valid = (origin.starts_with("https://") || origin.starts_with("http://"))
            && !origin.ends_with('/')
            && http::HeaderValue::from_str(origin).is_ok();
        if !valid {
            return Err(bad(
                "cors_origins",
                format!("`{origin}` is not an origin such as https://app.example"),
            ));
        }
    }

    let log = match raw.log.as_deref().unwrap_or("info") {
        "error" => tracing::Level::ERROR,
        "warn" => tracing::Level::WARN,
        "info" => tracing::Level::INFO,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        other => {
            return Err(bad(
                "log",
                format!("`{other}` is not one of error, warn, info, debug, trace"),
            ));
        }
    };

    Ok(Settings {
        cookie_secure: raw.cookie_secure.unwrap_or(!listen.ip().is_loopback()),
        listen,
        store,
        users_store: raw.users_store,
        redis_prefix,
        key_file,
        issuer_url,
        audience,
        access_ttl,
        idle_ttl,
        absolute_ttl,
        default_scopes,
        grantable_scopes,
        transport,
        web_client,
        cors_origins,
        log,
    })
}

/// `bearer-keys.json` beside an SQLite database file, else in the working directory.
fn default_key_file(store: &str) -> PathBuf {
    let name = "bearer-keys.json";
    match sqlite_file(store).and_then(Path::parent) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(name),
        _ => PathBuf::from(name),
    }
}

/// The database file of an `sqlite:` store URL (none for in-memory databases).
pub(crate) fn sqlite_file(store: &str) -> Option<&Path> {
    let path = store.strip_prefix("sqlite:")?;
    let path = path.strip_prefix("//").unwrap_or(path);
    let path = path.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| Path::new(path))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn write(text: &str) -> tempfile_path::TempFile {
        tempfile_path::TempFile::new(text)
    }

    /// A file in the system temp directory, removed on drop.
    mod tempfile_path {
        pub(super) struct TempFile(pub(super) std::path::PathBuf);
        impl TempFile {
            pub(super) fn new(text: &str) -> Self {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let path = std::env::temp_dir().join(format!(
                    "bearer-config-{}-{}.toml",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::write(&path, text).unwrap();
                TempFile(path)
            }
        }
        impl Drop for TempFile {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = load(None, env_of(&[]), None).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.store, "sqlite:bearer.db");
        assert_eq!(s.key_file, PathBuf::from("bearer-keys.json"));
        assert_eq!(s.access_ttl, Duration::from_secs(900));
        assert_eq!(s.default_scopes.as_str(), "me:read");
        assert_eq!(
            s.grantable_scopes.as_str(),
            "me:read reports:read reports:write"
        );
        assert_eq!(s.transport, RefreshTransport::Body);
        assert_eq!(s.web_client.as_deref(), Some("web"));
        assert!(!s.cookie_secure, "plain HTTP on loopback: no Secure cookie");
        assert_eq!(s.issuer_url, "http://127.0.0.1:8080/auth");
    }

    #[test]
    fn environment_wins_over_the_file() {
        let file = write("access_ttl = 60\naudience = \"from-file\"\n");
        let s = load(
            Some(&file.0),
            env_of(&[
                ("BEARER_ACCESS_TTL", "120"),
                ("BEARER_GRANTABLE_SCOPES", "me:read a,b"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(s.access_ttl, Duration::from_secs(120));
        assert_eq!(s.audience, "from-file");
        assert_eq!(s.grantable_scopes.as_str(), "a b me:read");
    }

    #[test]
    fn errors_name_the_field_and_its_origin() {
        let file = write("access_ttl = 0\n");
        let e = load(Some(&file.0), env_of(&[]), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`access_ttl`") && e.contains(".toml"), "{e}");

        let e = load(None, env_of(&[("BEARER_ACCESS_TTL", "soon")]), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`access_ttl`") && e.contains("BEARER_ACCESS_TTL"),
            "{e}"
        );

        let e = load(None, env_of(&[("BEARER_LISTEN", "nowhere")]), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`listen`"), "{e}");

        let e = load(None, env_of(&[("BEARER_STORE", "mysql://x")]), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`store`"), "{e}");

        let e = load(None, env_of(&[("BEARER_DEFAULT_SCOPES", "admin")]), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`default_scopes`") && e.contains("admin"), "{e}");

        let e = load(
            None,
            env_of(&[("BEARER_TRANSPORT", "carrier-pigeon")]),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`transport`"), "{e}");
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused_with_their_line() {
        let file = write("listen = \"127.0.0.1:1\"\nacess_ttl = 5\n");
        let e = load(Some(&file.0), env_of(&[]), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("acess_ttl") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn redis_needs_a_users_store() {
        let e = load(None, env_of(&[("BEARER_STORE", "redis://127.0.0.1")]), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("users_store"), "{e}");
    }

    #[test]
    fn key_file_sits_beside_the_database() {
        assert_eq!(
            default_key_file("sqlite:/var/lib/bearer/auth.db"),
            PathBuf::from("/var/lib/bearer/bearer-keys.json")
        );
        assert_eq!(
            default_key_file("sqlite://data/a.db?mode=rwc"),
            PathBuf::from("data/bearer-keys.json")
        );
        assert_eq!(
            default_key_file("postgres://db/auth"),
            PathBuf::from("bearer-keys.json")
        );
    }

    #[test]
    fn a_public_listen_address_gets_secure_cookies() {
        let s = load(None, env_of(&[]), Some("0.0.0.0:9000")).unwrap();
        assert!(s.cookie_secure);
    }
}
