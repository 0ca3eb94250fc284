//! The grants themselves, independent of HTTP: password login, refresh, client
//! credentials, logout and revocation. The service parses requests and calls these;
//! benchmarks and other front ends may call them directly.

use std::fmt;

use token_core::{Claims, Scopes};
use zeroize::Zeroizing;

use crate::audit::AuditKind;
use crate::client::{Client, ClientKind, SecretHash};
use crate::error::{BAD_CREDENTIALS, BAD_REFRESH, Error};
use crate::family::{Family, FamilySalt, RevokeReason, RotateOutcome, RotateRequest};
use crate::issuer::{Issuer, RequestMeta};
use crate::refresh_token::{self, RefreshToken};
use crate::store::StoreError;
use crate::throttle::keys;
use crate::transport::RefreshTransport;
use crate::user::{User, normalize_login};

/// Tokens handed out by a grant. `Debug` hides the tokens.
#[derive(Clone)]
pub struct Issued {
    /// The access token (a JWT).
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// The scopes it carries (always echoed to the client).
    pub scope: Scopes,
    /// The refresh token, for password and refresh grants.
    pub refresh: Option<IssuedRefresh>,
}

/// A refresh token and how it travels.
#[derive(Clone, Debug)]
pub struct IssuedRefresh {
    /// The token.
    pub token: RefreshToken,
    /// Cookie or body.
    pub transport: RefreshTransport,
    /// Seconds until the family's absolute expiry (the cookie's `Max-Age`).
    pub max_age: i64,
    /// The family (session) id.
    pub session_id: String,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("refresh", &self.refresh)
            .finish()
    }
}

/// Which sessions a logout ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogoutScope {
    /// This session only.
    #[default]
    Local,
    /// Every other session of the user; this one stays.
    Others,
    /// Every session, and every access token already issued (the token version is
    /// bumped).
    Global,
}

impl LogoutScope {
    /// `local`, `others` or `global`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "local" => Some(LogoutScope::Local),
            "others" => Some(LogoutScope::Others),
            "global" => Some(LogoutScope::Global),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            LogoutScope::Local => "local",
            LogoutScope::Others => "others",
            LogoutScope::Global => "global",
        }
    }
}

/// A failed refresh, and whether the family is dead (so a refresh cookie should be
/// cleared). Throttling, bad scopes and store failures leave the family alive.
#[derive(Debug)]
pub(crate) struct RefreshFailure {
    pub(crate) error: Error,
    pub(crate) family_dead: bool,
}

impl RefreshFailure {
    fn dead() -> Self {
        RefreshFailure {
            error: Error::InvalidGrant(BAD_REFRESH),
            family_dead: true,
        }
    }
}

impl From<Error> for RefreshFailure {
    fn from(error: Error) -> Self {
        RefreshFailure {
            error,
            family_dead: false,
        }
    }
}

impl From<StoreError> for RefreshFailure {
    fn from(error: StoreError) -> Self {
        Error::from(error).into()
    }
}

impl Issuer {
    /// Password login (RFC 6749 section 4.3). `client_id`, when given, must name a
    /// registered public client; it picks the refresh transport.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        scope: &Scopes,
        client_id: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<Issued, Error> {
        let client = match client_id {
            Some(id) => Some(self.public_client(id).await?),
            None => None,
        };
        self.login_as(username, password, scope, client.as_ref(), meta)
            .await
    }

    /// Refresh (RFC 6749 section 6): rotates the family, or repeats the current token
    /// on a grace replay. `scope` may narrow, never widen, the family's grant.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        scope: &Scopes,
        meta: &RequestMeta,
    ) -> Result<Issued, Error> {
        self.refresh_inner(refresh_token, scope, None, meta)
            .await
            .map_err(|f| f.error)
    }

    /// Client credentials (RFC 6749 section 4.4): an access token for a confidential
    /// client itself, within its scope ceiling, without a refresh token.
    pub async fn client_credentials(
        &self,
        client_id: &str,
        client_secret: &str,
        scope: &Scopes,
        meta: &RequestMeta,
    ) -> Result<Issued, Error> {
        let client = self
            .authenticate_client(client_id, client_secret, meta)
            .await?;
        self.client_credentials_for(&client, scope, meta).await
    }

    /// Ends sessions named by a refresh token. Idempotent: an unknown, dead or forged
    /// token is simply nothing to end.
    pub async fn logout(
        &self,
        refresh_token: &str,
        scope: LogoutScope,
        meta: &RequestMeta,
    ) -> Result<(), Error> {
        let Some((generation, family)) = self.authenticate_refresh(refresh_token).await? else {
            return Ok(());
        };
        let now = self.now();
        let sessions = &self.inner.sessions;
        match scope {
            LogoutScope::Local => {
                sessions
                    .revoke(&family.id, now, RevokeReason::Logout)
                    .await?;
            }
            // Ending other sessions needs a token that could still refresh: an old,
            // replayed one only ever ends its own family.
            LogoutScope::Others | LogoutScope::Global
                if !family.is_live(now) || generation.saturating_add(1) < family.generation =>
            {
                sessions
                    .revoke(&family.id, now, RevokeReason::Logout)
                    .await?;
            }
            LogoutScope::Others => {
                sessions
                    .revoke_all(
                        &family.user_id,
                        Some(&family.id),
                        now,
                        RevokeReason::LogoutOthers,
                    )
                    .await?;
            }
            LogoutScope::Global => {
                sessions.bump_epoch(&family.user_id, None, now).await?;
            }
        }
        let mut event = self.event(AuditKind::Logout, meta);
        event.user = Some(family.user_id);
        event.family = Some(family.id);
        event.client_id = family.client_id;
        event.reason = Some(scope.as_str());
        self.audit(event).await;
        Ok(())
    }

    pub(crate) async fn public_client(&self, id: &str) -> Result<Client, Error> {
        match self.inner.clients.get(id).await? {
            Some(client) if !client.is_confidential() => Ok(client),
            // A confidential client must authenticate; naming it is not enough.
            _ => Err(Error::InvalidClient("client authentication failed")),
        }
    }

    pub(crate) fn transport_for(&self, client: Option<&Client>) -> RefreshTransport {
        match client.map(|c| &c.kind) {
            Some(ClientKind::Public { transport }) => *transport,
            Some(ClientKind::Confidential { .. }) => RefreshTransport::Body,
            None => self.inner.config.default_transport,
        }
    }

    pub(crate) async fn login_as(
        &self,
        username: &str,
        password: &str,
        scope: &Scopes,
        client: Option<&Client>,
        meta: &RequestMeta,
    ) -> Result<Issued, Error> {
        let login = normalize_login(username);
        let now = self.now();
        self.check_login_throttle(&login, now, meta).await?;

        let user = self.inner.users.find_by_login(&login).await?;
        // Unknown users are verified against a dummy hash: same work, same answer.
        let verdict = self
            .inner
            .hasher
            .verify(
                Zeroizing::new(password.to_owned()),
                user.as_ref().map(|u| u.password_hash.clone()),
            )
            .await?;
        let user = match user {
            Some(user) if verdict.ok && user.active => user,
            other => {
                let reason = match other {
                    None => "unknown_user",
                    Some(u) if !u.active => "user_disabled",
                    Some(_) => "bad_password",
                };
                return Err(self.login_failed(&login, reason, meta).await);
            }
        };
        let pair = keys::pair(meta.ip, &login);
        self.inner.throttle.reset(&pair).await?;
        if verdict.needs_rehash {
            self.rehash(&user, password).await;
        }

        let ceiling = self.cap(&user.scopes);
        let granted = Scopes::grant(scope, &self.inner.config.default_scopes, &ceiling);
        if !scope.is_empty() && granted.is_empty() {
            return Err(Error::InvalidScope("requested scope is not allowed"));
        }
        let family = self
            .new_family(&user, client, granted.clone(), meta)
            .await?;

        let mut event = self.event(AuditKind::LoginSucceeded, meta);
        event.user = Some(user.id.clone());
        event.family = Some(family.id.clone());
        event.client_id = family.client_id.clone();
        self.audit(event).await;
        self.issue(&family, granted, self.transport_for(client))
    }

    async fn check_login_throttle(
        &self,
        login: &str,
        now: i64,
        meta: &RequestMeta,
    ) -> Result<(), Error> {
        let throttle = &self.inner.throttle;
        let policy = self.inner.config.throttle;
        let mut wait = throttle.locked(&keys::pair(meta.ip, login), now).await?;
        if wait.is_none() {
            wait = throttle.locked(&keys::user(login), now).await?;
        }
        if wait.is_none() {
            wait = throttle.hit(&keys::ip(meta.ip), now, policy.ip).await?;
        }
        match wait {
            None => Ok(()),
            Some(retry_after) => {
                let mut event = self.event(AuditKind::LoginThrottled, meta);
                event.user = Some(login.to_owned());
                event.reason = Some("throttled");
                self.audit(event).await;
                Err(Error::Throttled { retry_after })
            }
        }
    }

    async fn login_failed(&self, login: &str, reason: &'static str, meta: &RequestMeta) -> Error {
        let now = self.now();
        let policy = self.inner.config.throttle;
        let throttle = &self.inner.throttle;
        let recorded = async {
            throttle
                .record_failure(&keys::pair(meta.ip, login), now, policy.pair)
                .await?;
            throttle
                .record_failure(&keys::user(login), now, policy.user)
                .await
        };
        if let Err(error) = recorded.await {
            return error.into();
        }
        let mut event = self.event(AuditKind::LoginFailed, meta);
        event.user = Some(login.to_owned());
        event.reason = Some(reason);
        self.audit(event).await;
        Error::InvalidGrant(BAD_CREDENTIALS)
    }

    /// Re-hashes a password whose hash used old parameters. A failure here never
    /// fails the login that found it.
    async fn rehash(&self, user: &User, password: &str) {
        match self
            .inner
            .hasher
            .hash(Zeroizing::new(password.to_owned()))
            .await
        {
            Ok(hash) => match self.inner.users.set_password_hash(&user.id, &hash).await {
                Ok(()) => {
                    tracing::info!(user = %user.id, "password rehashed with the current parameters")
                }
                Err(StoreError::Unsupported(_)) => {}
                Err(error) => {
                    tracing::warn!(user = %user.id, %error, "could not store a rehashed password")
                }
            },
            Err(error) => tracing::warn!(user = %user.id, %error, "could not rehash a password"),
        }
    }

    async fn new_family(
        &self,
        user: &User,
        client: Option<&Client>,
        scopes: Scopes,
        meta: &RequestMeta,
    ) -> Result<Family, Error> {
        let config = &self.inner.config;
        let now = self.now();
        let token_version = self.inner.sessions.epoch(&user.id).await?;
        let absolute_expires = now.saturating_add(config.absolute_ttl);
        let family = Family {
            id: self
                .inner
                .refresh_keys
                .new_family_id()
                .map_err(|_| Error::Server)?,
            user_id: user.id.clone(),
            client_id: client.map(|c| c.id.clone()),
            generation: 1,
            salt: FamilySalt::random().map_err(|_| Error::Server)?,
            scopes,
            token_version,
            created: now,
            last_used: now,
            rotated_at: now,
            replays: 0,
            idle_expires: now.saturating_add(config.idle_ttl).min(absolute_expires),
            absolute_expires,
            revoked: None,
            user_agent: meta.user_agent.clone(),
            ip: meta.ip,
        };
        self.inner.sessions.create(&family).await?;
        Ok(family)
    }

    /// Mints the access token and derives the refresh token for `family`'s current
    /// generation. Runs after the store call returned: no lock is held here.
    fn issue(
        &self,
        family: &Family,
        scopes: Scopes,
        transport: RefreshTransport,
    ) -> Result<Issued, Error> {
        let mut claims = Claims::for_subject(family.user_id.clone())
            .with_scope(scopes.clone())
            .with_version(family.token_version)
            .with_session(family.id.clone());
        claims.client_id = family.client_id.as_deref().map(std::sync::Arc::from);
        let minted = self.inner.minter.mint(claims).map_err(|error| {
            tracing::error!(%error, "could not mint an access token");
            Error::Server
        })?;
        let token = self
            .inner
            .refresh_keys
            .token(&family.id, family.generation, &family.salt);
        Ok(Issued {
            access_token: minted.token,
            expires_in: self.access_ttl_secs(),
            scope: scopes,
            refresh: Some(IssuedRefresh {
                token,
                transport,
                max_age: family.absolute_expires.saturating_sub(self.now()),
                session_id: family.id.clone(),
            }),
        })
    }

    /// Parses a refresh token, checks its family tag (no I/O), reads the family and
    /// checks the MAC against its salt. `None` for anything not minted by us.
    pub(crate) async fn authenticate_refresh(
        &self,
        token: &str,
    ) -> Result<Option<(u64, Family)>, StoreError> {
        let Some(parsed) = refresh_token::parse(token) else {
            return Ok(None);
        };
        if !self.inner.refresh_keys.check_family_id(parsed.family_id) {
            return Ok(None);
        }
        let Some(family) = self.inner.sessions.get(parsed.family_id).await? else {
            return Ok(None);
        };
        if !self.inner.refresh_keys.verify(&parsed, &family.salt) {
            return Ok(None);
        }
        Ok(Some((parsed.generation, family)))
    }

    /// `client`, when the request identified one, must be the client the family was
    /// issued to (RFC 6749 section 6).
    pub(crate) async fn refresh_inner(
        &self,
        token: &str,
        scope: &Scopes,
        client: Option<&Client>,
        meta: &RequestMeta,
    ) -> Result<Issued, RefreshFailure> {
        let now = self.now();
        let limit = self.inner.config.throttle.refresh_ip;
        if let Some(retry_after) = self
            .inner
            .throttle
            .hit(&keys::refresh(meta.ip), now, limit)
            .await?
        {
            return Err(Error::Throttled { retry_after }.into());
        }
        let (generation, family) = self
            .authenticate_refresh(token)
            .await?
            .ok_or_else(RefreshFailure::dead)?;

        // Everything that can refuse without ending the family happens before the
        // rotation, so a refused request never costs the holder their session.
        if let Some(client) = client
            && family.client_id.as_deref() != Some(client.id.as_str())
        {
            return Err(Error::InvalidGrant(BAD_REFRESH).into());
        }
        let narrowed = family
            .scopes
            .narrow(scope)
            .map_err(|_| Error::InvalidScope("requested scope exceeds the original grant"))?;
        let user = match self.inner.users.get(&family.user_id).await? {
            Some(user) if user.active => user,
            _ => {
                self.inner
                    .sessions
                    .revoke(&family.id, now, RevokeReason::UserDisabled)
                    .await?;
                return Err(RefreshFailure::dead());
            }
        };
        // The ceilings apply again: a scope taken from the user or from the
        // grantable set since login drops out here.
        let granted = narrowed.intersection(&self.cap(&user.scopes));
        if !scope.is_empty() && granted.is_empty() {
            return Err(Error::InvalidScope("requested scope is not allowed").into());
        }

        let config = &self.inner.config;
        let outcome = self
            .inner
            .sessions
            .rotate(RotateRequest {
                family_id: &family.id,
                presented: generation,
                now,
                idle_ttl: config.idle_ttl,
                grace: config.grace,
                max_replays: config.max_replays,
            })
            .await?;
        let (kind, family) = match outcome {
            RotateOutcome::Rotated(f) => (AuditKind::Refreshed, f),
            RotateOutcome::GraceReplay(f) => (AuditKind::GraceReplay, f),
            RotateOutcome::Reuse(f) => {
                let mut event = self.event(AuditKind::ReuseDetected, meta);
                event.user = Some(f.user_id);
                event.family = Some(f.id);
                event.client_id = f.client_id;
                event.reason = Some("old refresh token replayed; family revoked");
                self.audit(event).await;
                return Err(RefreshFailure::dead());
            }
            RotateOutcome::Dead(_) => return Err(RefreshFailure::dead()),
        };
        let mut event = self.event(kind, meta);
        event.user = Some(family.user_id.clone());
        event.family = Some(family.id.clone());
        event.client_id.clone_from(&family.client_id);
        self.audit(event).await;

        let client = match &family.client_id {
            Some(id) => self.inner.clients.get(id).await?,
            None => None,
        };
        Ok(self.issue(&family, granted, self.transport_for(client.as_ref()))?)
    }

    pub(crate) async fn authenticate_client(
        &self,
        id: &str,
        secret: &str,
        meta: &RequestMeta,
    ) -> Result<Client, Error> {
        let now = self.now();
        let key = keys::client(meta.ip, id);
        if let Some(retry_after) = self.inner.throttle.locked(&key, now).await? {
            return Err(Error::Throttled { retry_after });
        }
        let client = self.inner.clients.get(id).await?;
        let ok = match &client {
            Some(client) => client.check_secret(secret),
            None => {
                // Same hashing work as a known client, so ids cannot be probed by time.
                let _ = SecretHash::from_stored("").matches(secret);
                false
            }
        };
        match client {
            Some(client) if ok => {
                self.inner.throttle.reset(&key).await?;
                Ok(client)
            }
            _ => {
                self.inner
                    .throttle
                    .record_failure(&key, now, self.inner.config.throttle.pair)
                    .await?;
                let mut event = self.event(AuditKind::ClientAuthFailed, meta);
                event.client_id = Some(id.to_owned());
                event.reason = Some("bad client credentials");
                self.audit(event).await;
                Err(Error::InvalidClient("client authentication failed"))
            }
        }
    }

    pub(crate) async fn client_credentials_for(
        &self,
        client: &Client,
        scope: &Scopes,
        meta: &RequestMeta,
    ) -> Result<Issued, Error> {
        let ClientKind::Confidential {
            scopes: ceiling, ..
        } = &client.kind
        else {
            return Err(Error::UnauthorizedClient(
                "public clients cannot use client_credentials",
            ));
        };
        // Services ask for exact scopes: anything outside the ceiling is an error, not
        // silently dropped, so misconfiguration shows up at once.
        if !scope.is_subset(ceiling) {
            return Err(Error::InvalidScope(
                "requested scope exceeds the client's scope",
            ));
        }
        let granted = Scopes::grant(scope, ceiling, &self.cap(ceiling));
        if !scope.is_empty() && granted.is_empty() {
            return Err(Error::InvalidScope("requested scope is not allowed"));
        }
        let claims = Claims::for_subject(client.id.clone())
            .with_client_id(client.id.clone())
            .with_scope(granted.clone());
        let minted = self.inner.minter.mint(claims).map_err(|error| {
            tracing::error!(%error, "could not mint an access token");
            Error::Server
        })?;
        let mut event = self.event(AuditKind::ClientAuthenticated, meta);
        event.client_id = Some(client.id.clone());
        self.audit(event).await;
        Ok(Issued {
            access_token: minted.token,
            expires_in: self.access_ttl_secs(),
            scope: granted,
            refresh: None,
        })
    }

    /// RFC 7009: revokes a refresh token's family or an access token's `jti`.
    /// Unknown tokens are not an error.
    pub async fn revoke_token(&self, token: &str, meta: &RequestMeta) -> Result<(), Error> {
        if token.starts_with(refresh_token::PREFIX) {
            if let Some((_, family)) = self.authenticate_refresh(token).await?
                && self
                    .inner
                    .sessions
                    .revoke(&family.id, self.now(), RevokeReason::TokenRevoked)
                    .await?
            {
                let mut event = self.event(AuditKind::SessionRevoked, meta);
                event.user = Some(family.user_id);
                event.family = Some(family.id);
                event.reason = Some("token_revoked");
                self.audit(event).await;
            }
            return Ok(());
        }
        if let Ok(claims) = self.inner.verifier.verify(token)
            && let Some(jti) = &claims.jti
        {
            self.inner.sessions.deny_token(jti, claims.exp).await?;
        }
        Ok(())
    }

    /// Verifies one of our access tokens and checks its epoch and revocation, as a
    /// resource server consulting this issuer would.
    pub async fn check_access_token(&self, token: &str) -> Result<Claims, Error> {
        let invalid = Error::InvalidToken("token is invalid, expired or revoked");
        let claims = self
            .inner
            .verifier
            .verify(token)
            .map_err(|_| invalid.clone())?;
        let sessions = &self.inner.sessions;
        if let (Some(sub), Some(ver)) = (&claims.sub, claims.ver)
            && ver < sessions.epoch(sub).await?
        {
            return Err(invalid);
        }
        if let Some(jti) = &claims.jti
            && sessions.is_token_denied(jti, self.now()).await?
        {
            return Err(invalid);
        }
        if let Some(sid) = &claims.sid {
            match sessions.get(sid).await? {
                Some(f)
                    if f.revoked.is_none() && claims.sub.as_deref() == Some(f.user_id.as_str()) => {
                }
                _ => return Err(invalid),
            }
        }
        Ok(claims)
    }
}
