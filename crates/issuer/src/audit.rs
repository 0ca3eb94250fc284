//! Audit events: who logged in, refreshed, was throttled, had a session stolen.
//!
//! Events carry identifiers and reasons, never secrets: no passwords, no tokens, no
//! hashes. The default sink writes them as `tracing` events under the target
//! `issuer::audit`.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use token_core::BoxFuture;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditKind {
    /// A password login succeeded and started a family.
    LoginSucceeded,
    /// A login failed (bad credentials, disabled user: the reason tells).
    LoginFailed,
    /// A login was refused by throttling before any password check.
    LoginThrottled,
    /// A `client_credentials` token was issued.
    ClientAuthenticated,
    /// Client authentication failed.
    ClientAuthFailed,
    /// A family rotated.
    Refreshed,
    /// The token just rotated away was replayed within the grace interval.
    GraceReplay,
    /// An old refresh token was replayed: the family is revoked.
    ReuseDetected,
    /// One session was revoked (device list, RFC 7009, admin).
    SessionRevoked,
    /// A logout (`local`, `others` or `global`: the reason tells).
    Logout,
    /// A user's token version was bumped.
    VersionBumped,
    /// The signing keys rotated.
    KeyRotated,
}

impl AuditKind {
    /// A stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::LoginSucceeded => "login_succeeded",
            AuditKind::LoginFailed => "login_failed",
            AuditKind::LoginThrottled => "login_throttled",
            AuditKind::ClientAuthenticated => "client_authenticated",
            AuditKind::ClientAuthFailed => "client_auth_failed",
            AuditKind::Refreshed => "refreshed",
            AuditKind::GraceReplay => "grace_replay",
            AuditKind::ReuseDetected => "reuse_detected",
            AuditKind::SessionRevoked => "session_revoked",
            AuditKind::Logout => "logout",
            AuditKind::VersionBumped => "version_bumped",
            AuditKind::KeyRotated => "key_rotated",
        }
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// What happened.
    pub kind: AuditKind,
    /// When (seconds since the epoch, from the issuer's clock).
    pub at: i64,
    /// The user id, or the normalised login name for failed logins of unknown users.
    pub user: Option<String>,
    /// The session family.
    pub family: Option<String>,
    /// The client.
    pub client_id: Option<String>,
    /// The client address.
    pub ip: Option<IpAddr>,
    /// The user agent.
    pub user_agent: Option<String>,
    /// A short machine-readable reason.
    pub reason: Option<&'static str>,
}

impl AuditEvent {
    pub(crate) fn new(kind: AuditKind, at: i64) -> Self {
        AuditEvent {
            kind,
            at,
            user: None,
            family: None,
            client_id: None,
            ip: None,
            user_agent: None,
            reason: None,
        }
    }
}

/// Where audit events go. Sinks must not block: queue slow work.
pub trait AuditSink: Send + Sync + 'static {
    /// Records one event. Failures are the sink's to handle (the event has already
    /// happened; refusing the request would not undo it).
    fn record<'a>(&'a self, event: AuditEvent) -> BoxFuture<'a, ()>;
}

/// Writes events as `tracing` events (target `issuer::audit`): `warn` for reuse and
/// throttling, `info` for the rest.
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingAuditSink;

impl AuditSink for TracingAuditSink {
    fn record<'a>(&'a self, e: AuditEvent) -> BoxFuture<'a, ()> {
        let ip = e.ip.map(|ip| ip.to_string());
        macro_rules! emit {
            ($level:ident) => {
                tracing::$level!(
                    target: "issuer::audit",
                    event = e.kind.as_str(),
                    at = e.at,
                    user = e.user.as_deref(),
                    family = e.family.as_deref(),
                    client_id = e.client_id.as_deref(),
                    ip = ip.as_deref(),
                    user_agent = e.user_agent.as_deref(),
                    reason = e.reason,
                )
            };
        }
        match e.kind {
            AuditKind::ReuseDetected | AuditKind::LoginThrottled | AuditKind::ClientAuthFailed => {
                emit!(warn)
            }
            _ => emit!(info),
        }
        Box::pin(std::future::ready(()))
    }
}

/// Keeps events in memory, for tests and for showing recent activity.
#[derive(Clone, Debug, Default)]
pub struct MemoryAuditSink {
    events: Arc<Mutex<Vec<AuditEvent>>>,
}

impl MemoryAuditSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The events of one kind.
    pub fn of_kind(&self, kind: AuditKind) -> Vec<AuditEvent> {
        self.events()
            .into_iter()
            .filter(|e| e.kind == kind)
            .collect()
    }
}

impl AuditSink for MemoryAuditSink {
    fn record<'a>(&'a self, event: AuditEvent) -> BoxFuture<'a, ()> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
        Box::pin(std::future::ready(()))
    }
}

/// Sends every event to several sinks.
impl AuditSink for Vec<Arc<dyn AuditSink>> {
    fn record<'a>(&'a self, event: AuditEvent) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            for sink in self {
                sink.record(event.clone()).await;
            }
        })
    }
}
