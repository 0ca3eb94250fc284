//! Administration: what a CLI or an admin page needs (users, passwords, epochs,
//! clients, keys, housekeeping).

use token_core::{Scopes, SigningKey};
use zeroize::Zeroizing;

use crate::audit::{AuditEvent, AuditKind};
use crate::client::{Client, ClientSecret};
use crate::family::{Family, RevokeReason};
use crate::issuer::Issuer;
use crate::keys::{KeyRotationError, RotatedKeys};
use crate::password::PasswordError;
use crate::refresh_token::random_b64;
use crate::store::StoreError;
use crate::transport::RefreshTransport;
use crate::user::{User, normalize_login};

/// Why an administrative action failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// No such user.
    #[error("no such user")]
    UnknownUser,
    /// The login name is empty.
    #[error("login name must not be empty")]
    EmptyLogin,
    /// The system random source failed.
    #[error("the system random source failed")]
    Random,
    /// Key rotation failed.
    #[error(transparent)]
    Keys(#[from] KeyRotationError),
}

/// What a housekeeping pass removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    /// Families and revoked token ids.
    pub sessions: usize,
    /// Throttle entries.
    pub throttle: usize,
}

impl Issuer {
    /// Adds a user with a hashed password and a scope ceiling; returns it (with its
    /// generated id).
    pub async fn add_user(
        &self,
        login: &str,
        password: &str,
        scopes: Scopes,
    ) -> Result<User, AdminError> {
        let login = normalize_login(login);
        if login.is_empty() {
            return Err(AdminError::EmptyLogin);
        }
        let password_hash = self
            .inner
            .hasher
            .hash(Zeroizing::new(password.to_owned()))
            .await?;
        let user = User {
            id: random_b64(12).map_err(|_| AdminError::Random)?,
            login,
            password_hash,
            active: true,
            scopes,
        };
        self.inner.users.create(&user).await?;
        Ok(user)
    }

    /// Sets a new password and bumps the user's token version, which ends every
    /// session and access token, except the session `keep` (the caller's own) when
    /// given. Returns the new version.
    pub async fn set_password(
        &self,
        user_id: &str,
        password: &str,
        keep: Option<&str>,
    ) -> Result<u64, AdminError> {
        self.require_user(user_id).await?;
        let hash = self
            .inner
            .hasher
            .hash(Zeroizing::new(password.to_owned()))
            .await?;
        self.inner.users.set_password_hash(user_id, &hash).await?;
        self.bump(user_id, keep, "password_changed").await
    }

    /// Bumps the user's token version (say, after a password reset): every access
    /// token minted before fails at layers that consult
    /// [`epoch_source`](Issuer::epoch_source), and every refresh family dies.
    pub async fn bump_token_version(&self, user_id: &str) -> Result<u64, AdminError> {
        self.bump(user_id, None, "bumped").await
    }

    /// The user's current token version.
    pub async fn token_version(&self, user_id: &str) -> Result<u64, AdminError> {
        Ok(self.inner.sessions.epoch(user_id).await?)
    }

    /// Disables a user: no more logins or refreshes, and every session and access
    /// token ends now.
    pub async fn disable_user(&self, user_id: &str) -> Result<(), AdminError> {
        self.require_user(user_id).await?;
        self.inner.users.set_active(user_id, false).await?;
        self.bump(user_id, None, "user_disabled").await?;
        Ok(())
    }

    /// Enables a disabled user.
    pub async fn enable_user(&self, user_id: &str) -> Result<(), AdminError> {
        self.require_user(user_id).await?;
        Ok(self.inner.users.set_active(user_id, true).await?)
    }

    /// Replaces a user's scope ceiling. Existing sessions lose removed scopes at
    /// their next refresh.
    pub async fn set_user_scopes(&self, user_id: &str, scopes: &Scopes) -> Result<(), AdminError> {
        self.require_user(user_id).await?;
        Ok(self.inner.users.set_scopes(user_id, scopes).await?)
    }

    /// The user with this login name.
    pub async fn find_user(&self, login: &str) -> Result<Option<User>, AdminError> {
        Ok(self
            .inner
            .users
            .find_by_login(&normalize_login(login))
            .await?)
    }

    /// Every user.
    pub async fn list_users(&self) -> Result<Vec<User>, AdminError> {
        Ok(self.inner.users.list().await?)
    }

    /// The user's live sessions.
    pub async fn sessions_of(&self, user_id: &str) -> Result<Vec<Family>, AdminError> {
        let now = self.now();
        let mut all = self.inner.sessions.list_by_user(user_id).await?;
        all.retain(|f| f.is_live(now));
        Ok(all)
    }

    /// Revokes one session of a user; false when it is not theirs or already over.
    pub async fn revoke_session(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> Result<bool, AdminError> {
        let Some(family) = self.inner.sessions.get(session_id).await? else {
            return Ok(false);
        };
        if family.user_id != user_id {
            return Ok(false);
        }
        let changed = self
            .inner
            .sessions
            .revoke(session_id, self.now(), RevokeReason::SessionDeleted)
            .await?;
        if changed {
            let mut event = AuditEvent::new(AuditKind::SessionRevoked, self.now());
            event.user = Some(user_id.to_owned());
            event.family = Some(session_id.to_owned());
            event.reason = Some("session_deleted");
            self.audit(event).await;
        }
        Ok(changed)
    }

    /// Registers a public client (no secret) with its refresh transport.
    pub async fn add_public_client(
        &self,
        id: &str,
        transport: RefreshTransport,
    ) -> Result<Client, AdminError> {
        let client = Client::public(id, transport);
        self.inner.clients.put(&client).await?;
        Ok(client)
    }

    /// Registers a confidential client with a scope ceiling; the secret is returned
    /// once and only its hash is stored.
    pub async fn add_confidential_client(
        &self,
        id: &str,
        scopes: Scopes,
    ) -> Result<(Client, ClientSecret), AdminError> {
        let (client, secret) = Client::confidential(id, scopes).map_err(|_| AdminError::Random)?;
        self.inner.clients.put(&client).await?;
        Ok((client, secret))
    }

    /// Removes a client; true when it existed.
    pub async fn remove_client(&self, id: &str) -> Result<bool, AdminError> {
        Ok(self.inner.clients.remove(id).await?)
    }

    /// Every client.
    pub async fn list_clients(&self) -> Result<Vec<Client>, AdminError> {
        Ok(self.inner.clients.list().await?)
    }

    /// Rotates the signing keys: the published next key starts signing, a new next
    /// key is generated and published, and the old key verifies until every token it
    /// signed has expired (one access lifetime from now).
    pub async fn rotate_keys(&self) -> Result<RotatedKeys, AdminError> {
        self.rotate(None).await
    }

    /// Like [`rotate_keys`](Issuer::rotate_keys), publishing `next` as the new next
    /// key (for algorithms that cannot be generated here, such as RSA).
    pub async fn rotate_keys_with(&self, next: SigningKey) -> Result<RotatedKeys, AdminError> {
        self.rotate(Some(next)).await
    }

    async fn rotate(&self, next: Option<SigningKey>) -> Result<RotatedKeys, AdminError> {
        let now = self.now();
        // A minute of slack over the access lifetime covers verifiers' clock skew.
        let until = now
            .saturating_add(self.inner.config.access_ttl)
            .saturating_add(60);
        // Keys retired by earlier rotations whose tokens have all expired go first.
        self.inner.keys.prune(now);
        let rotated = self.inner.keys.rotate(next, until)?;
        let mut event = AuditEvent::new(AuditKind::KeyRotated, now);
        event.reason = Some("signing key rotated");
        self.audit(event).await;
        Ok(rotated)
    }

    /// Removes retired keys whose tokens have all expired; returns their kids.
    pub fn prune_retired_keys(&self) -> Vec<String> {
        self.inner.keys.prune(self.now())
    }

    /// Housekeeping: deletes families (and revoked token ids) that ended more than an
    /// access lifetime ago, and idle throttle entries, in batches; drops retired
    /// signing keys whose tokens have all expired. Run it periodically.
    pub async fn purge_expired(&self) -> Result<Purged, AdminError> {
        const BATCH: usize = 1000;
        let now = self.now();
        self.inner.keys.prune(now);
        // Keep ended families one access lifetime (plus slack) so the access tokens
        // minted from them still find their revocation.
        let ended_before = now
            .saturating_sub(self.inner.config.access_ttl)
            .saturating_sub(60);
        let mut purged = Purged::default();
        loop {
            let n = self.inner.sessions.purge(ended_before, BATCH).await?;
            purged.sessions += n;
            if n < BATCH {
                break;
            }
        }
        let idle_before = now.saturating_sub(24 * 3600);
        loop {
            let n = self.inner.throttle.purge(idle_before, BATCH).await?;
            purged.throttle += n;
            if n < BATCH {
                break;
            }
        }
        Ok(purged)
    }

    async fn require_user(&self, user_id: &str) -> Result<User, AdminError> {
        self.inner
            .users
            .get(user_id)
            .await?
            .ok_or(AdminError::UnknownUser)
    }

    async fn bump(
        &self,
        user_id: &str,
        keep: Option<&str>,
        reason: &'static str,
    ) -> Result<u64, AdminError> {
        let now = self.now();
        let version = self.inner.sessions.bump_epoch(user_id, keep, now).await?;
        let mut event = AuditEvent::new(AuditKind::VersionBumped, now);
        event.user = Some(user_id.to_owned());
        event.family = keep.map(str::to_owned);
        event.reason = Some(reason);
        self.audit(event).await;
        Ok(version)
    }
}
