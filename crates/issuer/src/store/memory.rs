//! In-memory stores on [`DashMap`]: for tests, single-instance deployments and as the
//! reference the other backends are checked against.
//!
//! Every operation is a short critical section on one shard; no method holds two
//! shard locks at once, so there is no lock ordering to get wrong.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use token_core::{BoxFuture, Scopes};

use super::{ClientStore, SessionStore, StoreError, ThrottleStore, UserStore};
use crate::client::Client;
use crate::family::{DeadFamily, Family, RevokeReason, RotateOutcome, RotateRequest};
use crate::password::PasswordHash;
use crate::throttle::{LockoutPolicy, RateLimit, ThrottleEntry};
use crate::user::User;

type Fut<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

fn ready<'a, T: Send + 'a>(value: Result<T, StoreError>) -> Fut<'a, T> {
    Box::pin(std::future::ready(value))
}

/// Users in memory, indexed by id and by login. Clones share the data.
#[derive(Clone, Default)]
pub struct MemoryUserStore {
    by_id: Arc<DashMap<String, User>>,
    by_login: Arc<DashMap<String, String>>,
}

impl MemoryUserStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Debug for MemoryUserStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryUserStore")
            .field("users", &self.by_id.len())
            .finish()
    }
}

impl MemoryUserStore {
    fn update(&self, id: &str, change: impl FnOnce(&mut User)) -> Result<(), StoreError> {
        let mut user = self.by_id.get_mut(id).ok_or(StoreError::NotFound)?;
        change(&mut user);
        Ok(())
    }
}

impl UserStore for MemoryUserStore {
    fn find_by_login<'a>(&'a self, login: &'a str) -> Fut<'a, Option<User>> {
        let id = self.by_login.get(login).map(|id| id.clone());
        let user = id.and_then(|id| self.by_id.get(&id).map(|u| u.clone()));
        ready(Ok(user))
    }

    fn get<'a>(&'a self, id: &'a str) -> Fut<'a, Option<User>> {
        ready(Ok(self.by_id.get(id).map(|u| u.clone())))
    }

    fn set_password_hash<'a>(&'a self, id: &'a str, hash: &'a PasswordHash) -> Fut<'a, ()> {
        ready(self.update(id, |u| u.password_hash = hash.clone()))
    }

    fn create<'a>(&'a self, user: &'a User) -> Fut<'a, ()> {
        // Claim the login first: it is the unique key users race for.
        let result = match self.by_login.entry(user.login.clone()) {
            Entry::Occupied(_) => Err(StoreError::Conflict),
            Entry::Vacant(slot) => {
                slot.insert(user.id.clone());
                Ok(())
            }
        };
        let result = result.and_then(|()| match self.by_id.entry(user.id.clone()) {
            Entry::Occupied(_) => {
                self.by_login.remove(&user.login);
                Err(StoreError::Conflict)
            }
            Entry::Vacant(slot) => {
                slot.insert(user.clone());
                Ok(())
            }
        });
        ready(result)
    }

    fn set_active<'a>(&'a self, id: &'a str, active: bool) -> Fut<'a, ()> {
        ready(self.update(id, |u| u.active = active))
    }

    fn set_scopes<'a>(&'a self, id: &'a str, scopes: &'a Scopes) -> Fut<'a, ()> {
        ready(self.update(id, |u| u.scopes = scopes.clone()))
    }

    fn list<'a>(&'a self) -> Fut<'a, Vec<User>> {
        let mut users: Vec<User> = self.by_id.iter().map(|u| u.clone()).collect();
        users.sort_by(|a, b| a.login.cmp(&b.login));
        ready(Ok(users))
    }
}

/// Clients in memory. Clones share the data.
#[derive(Clone, Default)]
pub struct MemoryClientStore {
    clients: Arc<DashMap<String, Client>>,
}

impl MemoryClientStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Debug for MemoryClientStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryClientStore")
            .field("clients", &self.clients.len())
            .finish()
    }
}

impl ClientStore for MemoryClientStore {
    fn get<'a>(&'a self, id: &'a str) -> Fut<'a, Option<Client>> {
        ready(Ok(self.clients.get(id).map(|c| c.clone())))
    }

    fn put<'a>(&'a self, client: &'a Client) -> Fut<'a, ()> {
        self.clients.insert(client.id.clone(), client.clone());
        ready(Ok(()))
    }

    fn remove<'a>(&'a self, id: &'a str) -> Fut<'a, bool> {
        ready(Ok(self.clients.remove(id).is_some()))
    }

    fn list<'a>(&'a self) -> Fut<'a, Vec<Client>> {
        let mut all: Vec<Client> = self.clients.iter().map(|c| c.clone()).collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        ready(Ok(all))
    }
}

/// Families, epochs and denied token ids in memory. Clones share the data.
#[derive(Clone, Default)]
pub struct MemorySessionStore {
    families: Arc<DashMap<String, Family>>,
    by_user: Arc<DashMap<String, HashSet<String>>>,
    epochs: Arc<DashMap<String, u64>>,
    denied: Arc<DashMap<String, i64>>,
}

impl MemorySessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn epoch_of(&self, user_id: &str) -> u64 {
        self.epochs.get(user_id).map_or(0, |v| *v)
    }

    fn family_ids(&self, user_id: &str) -> Vec<String> {
        self.by_user
            .get(user_id)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default()
    }
}

impl fmt::Debug for MemorySessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySessionStore")
            .field("families", &self.families.len())
            .field("epochs", &self.epochs.len())
            .field("denied", &self.denied.len())
            .finish()
    }
}

impl SessionStore for MemorySessionStore {
    fn create<'a>(&'a self, family: &'a Family) -> Fut<'a, ()> {
        let result = match self.families.entry(family.id.clone()) {
            Entry::Occupied(_) => Err(StoreError::Conflict),
            Entry::Vacant(slot) => {
                slot.insert(family.clone());
                Ok(())
            }
        };
        if result.is_ok() {
            self.by_user
                .entry(family.user_id.clone())
                .or_default()
                .insert(family.id.clone());
        }
        ready(result)
    }

    fn get<'a>(&'a self, id: &'a str) -> Fut<'a, Option<Family>> {
        ready(Ok(self.families.get(id).map(|f| f.clone())))
    }

    fn rotate<'a>(&'a self, request: RotateRequest<'a>) -> Fut<'a, RotateOutcome> {
        // Read the epoch before taking the row: a bump racing this refresh either is
        // seen here or revokes the row after we release it; both end the family.
        let outcome = match self
            .families
            .get(request.family_id)
            .map(|f| f.user_id.clone())
        {
            None => RotateOutcome::Dead(DeadFamily::Unknown),
            Some(user_id) => {
                let epoch = self.epoch_of(&user_id);
                match self.families.get_mut(request.family_id) {
                    None => RotateOutcome::Dead(DeadFamily::Unknown),
                    Some(mut family) => family.rotate(&request, epoch),
                }
            }
        };
        ready(Ok(outcome))
    }

    fn list_by_user<'a>(&'a self, user_id: &'a str) -> Fut<'a, Vec<Family>> {
        let mut all: Vec<Family> = self
            .family_ids(user_id)
            .iter()
            .filter_map(|id| self.families.get(id).map(|f| f.clone()))
            .collect();
        all.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        ready(Ok(all))
    }

    fn revoke<'a>(&'a self, id: &'a str, now: i64, reason: RevokeReason) -> Fut<'a, bool> {
        let changed = self
            .families
            .get_mut(id)
            .is_some_and(|mut f| f.revoke(now, reason));
        ready(Ok(changed))
    }

    fn revoke_all<'a>(
        &'a self,
        user_id: &'a str,
        keep: Option<&'a str>,
        now: i64,
        reason: RevokeReason,
    ) -> Fut<'a, u64> {
        let mut changed = 0;
        for id in self.family_ids(user_id) {
            if Some(id.as_str()) == keep {
                continue;
            }
            if self
                .families
                .get_mut(&id)
                .is_some_and(|mut f| f.revoke(now, reason))
            {
                changed += 1;
            }
        }
        ready(Ok(changed))
    }

    fn purge<'a>(&'a self, ended_before: i64, batch: usize) -> Fut<'a, usize> {
        let doomed: Vec<(String, String)> = self
            .families
            .iter()
            .filter(|f| f.ended_at() < ended_before)
            .take(batch)
            .map(|f| (f.id.clone(), f.user_id.clone()))
            .collect();
        let mut removed = 0;
        for (id, user_id) in doomed {
            if self.families.remove(&id).is_some() {
                removed += 1;
            }
            if let Some(mut ids) = self.by_user.get_mut(&user_id) {
                ids.remove(&id);
            }
            self.by_user.remove_if(&user_id, |_, ids| ids.is_empty());
        }
        let room = batch.saturating_sub(removed);
        let expired: Vec<String> = self
            .denied
            .iter()
            .filter(|e| *e.value() < ended_before)
            .take(room)
            .map(|e| e.key().clone())
            .collect();
        for jti in expired {
            if self.denied.remove(&jti).is_some() {
                removed += 1;
            }
        }
        ready(Ok(removed))
    }

    fn epoch<'a>(&'a self, user_id: &'a str) -> Fut<'a, u64> {
        ready(Ok(self.epoch_of(user_id)))
    }

    fn bump_epoch<'a>(&'a self, user_id: &'a str, keep: Option<&'a str>, now: i64) -> Fut<'a, u64> {
        let version = {
            let mut epoch = self.epochs.entry(user_id.to_owned()).or_insert(0);
            *epoch = epoch.saturating_add(1);
            *epoch
        };
        for id in self.family_ids(user_id) {
            if let Some(mut family) = self.families.get_mut(&id) {
                if Some(id.as_str()) == keep && family.revoked.is_none() {
                    family.token_version = version;
                } else {
                    family.revoke(now, RevokeReason::VersionBumped);
                }
            }
        }
        ready(Ok(version))
    }

    fn deny_token<'a>(&'a self, jti: &'a str, expires: i64) -> Fut<'a, ()> {
        self.denied
            .entry(jti.to_owned())
            .and_modify(|e| *e = (*e).max(expires))
            .or_insert(expires);
        ready(Ok(()))
    }

    fn is_token_denied<'a>(&'a self, jti: &'a str, now: i64) -> Fut<'a, bool> {
        ready(Ok(self.denied.get(jti).is_some_and(|e| now < *e)))
    }
}

/// Throttle counters in memory. Clones share the data.
#[derive(Clone, Default)]
pub struct MemoryThrottleStore {
    entries: Arc<DashMap<String, ThrottleEntry>>,
}

impl MemoryThrottleStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Debug for MemoryThrottleStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryThrottleStore")
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl ThrottleStore for MemoryThrottleStore {
    fn hit<'a>(&'a self, key: &'a str, now: i64, limit: RateLimit) -> Fut<'a, Option<u64>> {
        if limit == RateLimit::UNLIMITED {
            return ready(Ok(None));
        }
        let wait = self
            .entries
            .entry(key.to_owned())
            .or_default()
            .hit(now, limit);
        ready(Ok(wait))
    }

    fn locked<'a>(&'a self, key: &'a str, now: i64) -> Fut<'a, Option<u64>> {
        ready(Ok(self.entries.get(key).and_then(|e| e.locked(now))))
    }

    fn record_failure<'a>(
        &'a self,
        key: &'a str,
        now: i64,
        policy: LockoutPolicy,
    ) -> Fut<'a, Option<u64>> {
        if policy == LockoutPolicy::NEVER {
            return ready(Ok(None));
        }
        let lock = self
            .entries
            .entry(key.to_owned())
            .or_default()
            .record_failure(now, policy);
        ready(Ok(lock))
    }

    fn reset<'a>(&'a self, key: &'a str) -> Fut<'a, ()> {
        self.entries.remove(key);
        ready(Ok(()))
    }

    fn purge<'a>(&'a self, idle_before: i64, batch: usize) -> Fut<'a, usize> {
        let doomed: Vec<String> = self
            .entries
            .iter()
            .filter(|e| e.touched < idle_before && e.locked_until < idle_before)
            .take(batch)
            .map(|e| e.key().clone())
            .collect();
        let mut removed = 0;
        for key in doomed {
            if self.entries.remove(&key).is_some() {
                removed += 1;
            }
        }
        ready(Ok(removed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory_stores_conform() {
        conformance::session_store(async || MemorySessionStore::new()).await;
        conformance::throttle_store(async || MemoryThrottleStore::new()).await;
        conformance::user_store(async || MemoryUserStore::new()).await;
        conformance::client_store(async || MemoryClientStore::new()).await;
    }
}
