//! Session families: one per login, rotated on every refresh.
//!
//! The decision a store makes under its compare-and-swap is [`Family::rotate`], a pure
//! function of the row, the request and the user's current epoch, so every backend that
//! can hold a row lock (memory, SQL `SELECT ... FOR UPDATE`) makes exactly the same one.

use std::fmt;
use std::net::IpAddr;

use token_core::Scopes;

/// The per-family secret mixed into every refresh token's MAC. It lives only in the
/// family's row.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FamilySalt([u8; FamilySalt::LEN]);

impl FamilySalt {
    /// Its length in bytes.
    pub const LEN: usize = 16;

    /// A salt from its bytes (as a backend reads it back).
    pub fn from_bytes(bytes: [u8; Self::LEN]) -> Self {
        FamilySalt(bytes)
    }

    /// A salt from a slice of exactly [`FamilySalt::LEN`] bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(FamilySalt)
    }

    /// Its bytes, for a backend to store.
    pub fn as_bytes(&self) -> &[u8; Self::LEN] {
        &self.0
    }

    pub(crate) fn random() -> Result<Self, crate::refresh_token::RefreshKeyError> {
        use ring::rand::SecureRandom;
        let mut bytes = [0u8; Self::LEN];
        crate::refresh_token::rng()
            .fill(&mut bytes)
            .map_err(|_| crate::refresh_token::RefreshKeyError::Random)?;
        Ok(FamilySalt(bytes))
    }
}

impl fmt::Debug for FamilySalt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FamilySalt(<redacted>)")
    }
}

/// One session family: the row behind every refresh token of one login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Family {
    /// The family id; also the access tokens' `sid` and the session id users see.
    pub id: String,
    /// The user the family belongs to.
    pub user_id: String,
    /// The public client the login came through, if it named one.
    pub client_id: Option<String>,
    /// The generation of the one refresh token that may rotate now.
    pub generation: u64,
    /// The family's MAC salt.
    pub salt: FamilySalt,
    /// The scopes granted at login: the most any refresh may ask for.
    pub scopes: Scopes,
    /// The user's token-version epoch when the family was created (or re-confirmed by
    /// a password change that kept this session).
    pub token_version: u64,
    /// When the family was created (seconds since the epoch).
    pub created: i64,
    /// The last successful rotation (or the creation).
    pub last_used: i64,
    /// When `generation` was issued: the start of the grace interval.
    pub rotated_at: i64,
    /// Grace replays served for the current generation.
    pub replays: u32,
    /// Dead after this unless refreshed: `last_used` + idle lifetime, capped by
    /// `absolute_expires`.
    pub idle_expires: i64,
    /// Dead after this whatever happens; rotation never moves it.
    pub absolute_expires: i64,
    /// Set once the family is revoked; it never comes back.
    pub revoked: Option<Revocation>,
    /// The user agent of the login.
    pub user_agent: Option<String>,
    /// The client address of the login.
    pub ip: Option<IpAddr>,
}

/// When and why a family was revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// Seconds since the epoch.
    pub at: i64,
    /// Why.
    pub reason: RevokeReason,
}

/// Why a family was revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevokeReason {
    /// Its holder logged out.
    Logout,
    /// The user logged out other sessions, or everywhere.
    LogoutOthers,
    /// An old refresh token was replayed outside the grace rules: probable theft.
    Reuse,
    /// The user ended this session from their device list.
    SessionDeleted,
    /// The user's token version was bumped (password reset).
    VersionBumped,
    /// The token was revoked through RFC 7009.
    TokenRevoked,
    /// The user is gone or disabled.
    UserDisabled,
    /// An administrator revoked it.
    Admin,
}

impl RevokeReason {
    /// A stable name, for storage and audit logs.
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::LogoutOthers => "logout_others",
            RevokeReason::Reuse => "reuse",
            RevokeReason::SessionDeleted => "session_deleted",
            RevokeReason::VersionBumped => "version_bumped",
            RevokeReason::TokenRevoked => "token_revoked",
            RevokeReason::UserDisabled => "user_disabled",
            RevokeReason::Admin => "admin",
        }
    }

    /// The reason named by [`RevokeReason::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "logout" => RevokeReason::Logout,
            "logout_others" => RevokeReason::LogoutOthers,
            "reuse" => RevokeReason::Reuse,
            "session_deleted" => RevokeReason::SessionDeleted,
            "version_bumped" => RevokeReason::VersionBumped,
            "token_revoked" => RevokeReason::TokenRevoked,
            "user_disabled" => RevokeReason::UserDisabled,
            "admin" => RevokeReason::Admin,
            _ => return None,
        })
    }
}

/// One refresh, as the store's compare-and-swap sees it.
#[derive(Clone, Copy, Debug)]
pub struct RotateRequest<'a> {
    /// The family named by the token.
    pub family_id: &'a str,
    /// The generation the token carries.
    pub presented: u64,
    /// Now, seconds since the epoch.
    pub now: i64,
    /// Idle lifetime in seconds.
    pub idle_ttl: i64,
    /// Grace interval in seconds.
    pub grace: i64,
    /// Most grace replays per generation.
    pub max_replays: u32,
}

/// What a refresh did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The presented token was current: the family moved to the next generation
    /// (returned as it now is).
    Rotated(Family),
    /// The presented token was the one just rotated away, within the grace interval
    /// and the replay bound: the current generation is handed out again.
    GraceReplay(Family),
    /// Any other old token: the family is now revoked (probable theft).
    Reuse(Family),
    /// Nothing to rotate.
    Dead(DeadFamily),
}

/// Why a family cannot be refreshed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadFamily {
    /// No such family (never existed or purged).
    Unknown,
    /// Revoked earlier.
    Revoked(RevokeReason),
    /// Idle or absolute lifetime over.
    Expired,
    /// The user's token version moved on since the family was created.
    Stale,
}

impl Family {
    /// The end of the family's life if nothing else happens: the earlier of the idle
    /// and absolute expiries.
    pub fn expires(&self) -> i64 {
        self.idle_expires.min(self.absolute_expires)
    }

    /// True when the family can still be refreshed at `now` (ignoring epochs).
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked.is_none() && now < self.expires()
    }

    /// When the family stopped (or will stop) being usable: its revocation or its
    /// expiry. Access tokens minted from it live at most one access lifetime longer,
    /// which is how long a store must keep the row for revocation checks.
    pub fn ended_at(&self) -> i64 {
        match self.revoked {
            Some(r) => r.at.min(self.expires()),
            None => self.expires(),
        }
    }

    /// Revokes the family at `now` unless already revoked; true when it changed.
    pub fn revoke(&mut self, now: i64, reason: RevokeReason) -> bool {
        if self.revoked.is_some() {
            return false;
        }
        self.revoked = Some(Revocation { at: now, reason });
        true
    }

    /// The refresh decision, applied to the row in place. Stores call this while they
    /// hold the row (no hashing or signing happens here), write the row back and
    /// return the outcome. `epoch` is the user's current token version.
    pub fn rotate(&mut self, req: &RotateRequest<'_>, epoch: u64) -> RotateOutcome {
        if let Some(revocation) = self.revoked {
            return RotateOutcome::Dead(DeadFamily::Revoked(revocation.reason));
        }
        if req.now >= self.expires() {
            return RotateOutcome::Dead(DeadFamily::Expired);
        }
        if self.token_version < epoch {
            self.revoke(req.now, RevokeReason::VersionBumped);
            return RotateOutcome::Dead(DeadFamily::Stale);
        }
        if req.presented == self.generation {
            self.generation = self.generation.saturating_add(1);
            self.last_used = req.now;
            self.rotated_at = req.now;
            self.replays = 0;
            // Idle expiry slides; the absolute one never moves.
            self.idle_expires = req
                .now
                .saturating_add(req.idle_ttl)
                .min(self.absolute_expires);
            return RotateOutcome::Rotated(self.clone());
        }
        let just_rotated_away = req.presented.saturating_add(1) == self.generation;
        if just_rotated_away
            && req.now.saturating_sub(self.rotated_at) <= req.grace
            && self.replays < req.max_replays
        {
            self.replays += 1;
            return RotateOutcome::GraceReplay(self.clone());
        }
        self.revoke(req.now, RevokeReason::Reuse);
        RotateOutcome::Reuse(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family() -> Family {
        Family {
            id: "f".into(),
            user_id: "u".into(),
            client_id: None,
            generation: 1,
            salt: FamilySalt::from_bytes([0; 16]),
            scopes: Scopes::empty(),
            token_version: 0,
            created: 100,
            last_used: 100,
            rotated_at: 100,
            replays: 0,
            idle_expires: 200,
            absolute_expires: 1000,
            revoked: None,
            user_agent: None,
            ip: None,
        }
    }

    fn req(presented: u64, now: i64) -> RotateRequest<'static> {
        RotateRequest {
            family_id: "f",
            presented,
            now,
            idle_ttl: 100,
            grace: 10,
            max_replays: 2,
        }
    }

    #[test]
    fn rotation_grace_and_reuse() {
        let mut f = family();
        assert!(
            matches!(f.rotate(&req(1, 150), 0), RotateOutcome::Rotated(ref g) if g.generation == 2 && g.idle_expires == 250)
        );
        assert!(
            matches!(f.rotate(&req(1, 155), 0), RotateOutcome::GraceReplay(ref g) if g.generation == 2)
        );
        assert!(matches!(
            f.rotate(&req(1, 160), 0),
            RotateOutcome::GraceReplay(_)
        ));
        // The replay bound is reached: the next replay is theft.
        assert!(matches!(f.rotate(&req(1, 160), 0), RotateOutcome::Reuse(_)));
        assert_eq!(
            f.rotate(&req(2, 160), 0),
            RotateOutcome::Dead(DeadFamily::Revoked(RevokeReason::Reuse))
        );
    }

    #[test]
    fn replay_after_grace_is_reuse() {
        let mut f = family();
        f.rotate(&req(1, 150), 0);
        assert!(matches!(f.rotate(&req(1, 161), 0), RotateOutcome::Reuse(_)));
        assert!(f.revoked.is_some());
    }

    #[test]
    fn older_generations_and_future_ones_are_reuse() {
        let mut f = family();
        f.rotate(&req(1, 110), 0);
        f.rotate(&req(2, 120), 0);
        assert!(matches!(
            f.clone().rotate(&req(1, 121), 0),
            RotateOutcome::Reuse(_)
        ));
        assert!(matches!(f.rotate(&req(9, 121), 0), RotateOutcome::Reuse(_)));
    }

    #[test]
    fn expiry_and_epochs() {
        let mut f = family();
        assert_eq!(
            f.clone().rotate(&req(1, 200), 0),
            RotateOutcome::Dead(DeadFamily::Expired)
        );
        assert_eq!(
            f.rotate(&req(1, 150), 1),
            RotateOutcome::Dead(DeadFamily::Stale)
        );
        assert!(f.revoked.is_some());
        // Rotation never extends the absolute lifetime.
        let mut f = family();
        f.absolute_expires = 180;
        let RotateOutcome::Rotated(g) = f.rotate(&req(1, 150), 0) else {
            panic!("rotates")
        };
        assert_eq!(g.idle_expires, 180);
    }
}
