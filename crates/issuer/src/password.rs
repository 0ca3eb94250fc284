//! Password hashing: argon2id in PHC strings, on dedicated worker threads.
//!
//! Hashing is the one expensive thing an issuer does (tens of milliseconds of CPU and
//! 19 MiB of memory per attempt with the OWASP parameters). It never runs on the async
//! executor: a fixed pool of worker threads takes jobs from a bounded queue, so a burst
//! of logins can neither block the executor nor grow memory without bound, and a full
//! queue is answered at once with "try later". On Unix the workers lower their own
//! scheduling priority, so refreshes and token verification preempt them while logins
//! still use every idle core.

use std::fmt;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::phc::PasswordHash as Phc;
use argon2::{Algorithm, Argon2, CustomizedPasswordHasher, Params, PasswordVerifier, Version};
use ring::rand::SecureRandom;
use tokio::sync::oneshot;
use zeroize::Zeroizing;

/// A password hash as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`). `Debug`
/// never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string read from a store. It is parsed when used.
    pub fn from_phc(phc: impl Into<String>) -> Self {
        PasswordHash(phc.into())
    }

    /// The PHC string, for a store to save.
    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// The argon2id cost parameters new hashes are made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl PasswordPolicy {
    /// The OWASP Password Storage Cheat Sheet's argon2id recommendation: 19 MiB, two
    /// passes, one lane.
    pub const OWASP: PasswordPolicy = PasswordPolicy {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    /// Deliberately weak parameters for tests and examples. Never use them for real
    /// passwords.
    pub const INSECURE_FAST: PasswordPolicy = PasswordPolicy {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn params(&self) -> Result<Params, PasswordError> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|_| PasswordError::InvalidPolicy)
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy::OWASP
    }
}

/// How the hashing workers are scheduled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashPriority {
    /// Like every other thread.
    Normal,
    /// Niceness 19 (Unix): other work preempts hashing, which still gets idle CPU.
    #[default]
    Low,
    /// `SCHED_IDLE` (Linux): hashing runs only when nothing else wants the CPU.
    Idle,
}

/// Why hashing could not be done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// Every worker is busy and the queue is full.
    #[error("password hashing is overloaded")]
    Busy,
    /// The hashing workers are gone.
    #[error("password hashing is unavailable")]
    Unavailable,
    /// The cost parameters are out of argon2's range.
    #[error("invalid password hashing parameters")]
    InvalidPolicy,
    /// The password is longer than accepted.
    #[error("password is too long")]
    TooLong,
    /// The system random source failed.
    #[error("the system random source failed")]
    Random,
}

/// Longest password accepted, in bytes. Argon2 takes any length, but nobody needs
/// more, and a bound keeps request bodies and memory predictable.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// What a verification found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// The password matches.
    pub(crate) ok: bool,
    /// The hash was made with other parameters than the current policy.
    pub(crate) needs_rehash: bool,
}

enum Job {
    Verify {
        password: Zeroizing<String>,
        hash: Option<PasswordHash>,
        reply: oneshot::Sender<Verdict>,
    },
    Hash {
        password: Zeroizing<String>,
        reply: oneshot::Sender<Result<PasswordHash, PasswordError>>,
    },
}

/// The hashing pool. Cloning shares it; the workers stop when the last clone drops.
#[derive(Clone)]
pub(crate) struct Hasher {
    tx: SyncSender<Job>,
    shared: Arc<Shared>,
}

struct Shared {
    policy: PasswordPolicy,
    workers: usize,
}

impl Hasher {
    /// Starts `workers` threads behind a queue of `queue` jobs.
    pub(crate) fn start(
        policy: PasswordPolicy,
        workers: usize,
        queue: usize,
        priority: HashPriority,
    ) -> Result<Self, PasswordError> {
        let params = policy.params()?;
        // Hash once up front: the dummy that unknown users are verified against, so a
        // miss costs what a hit costs.
        let dummy = hash_with(&params, "not a real password")?;
        let (tx, rx) = sync_channel::<Job>(queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let workers = workers.max(1);
        for n in 0..workers {
            let rx = Arc::clone(&rx);
            let params = params.clone();
            let dummy = dummy.clone();
            std::thread::Builder::new()
                .name(format!("issuer-hash-{n}"))
                .spawn(move || worker(&rx, &params, &dummy, priority))
                .map_err(|_| PasswordError::Unavailable)?;
        }
        Ok(Hasher {
            tx,
            shared: Arc::new(Shared { policy, workers }),
        })
    }

    /// The number of worker threads.
    pub(crate) fn workers(&self) -> usize {
        self.shared.workers
    }

    /// Verifies `password` against `hash`, or against the dummy hash when there is no
    /// user, so both take the same time. Without a user the verdict is always "no".
    pub(crate) async fn verify(
        &self,
        password: Zeroizing<String>,
        hash: Option<PasswordHash>,
    ) -> Result<Verdict, PasswordError> {
        if password.len() > MAX_PASSWORD_LEN {
            return Err(PasswordError::TooLong);
        }
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Verify {
            password,
            hash,
            reply,
        })?;
        answer.await.map_err(|_| PasswordError::Unavailable)
    }

    /// Hashes `password` with the current policy and a fresh salt.
    pub(crate) async fn hash(
        &self,
        password: Zeroizing<String>,
    ) -> Result<PasswordHash, PasswordError> {
        if password.len() > MAX_PASSWORD_LEN {
            return Err(PasswordError::TooLong);
        }
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash { password, reply })?;
        answer.await.map_err(|_| PasswordError::Unavailable)?
    }

    fn submit(&self, job: Job) -> Result<(), PasswordError> {
        self.tx.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => PasswordError::Busy,
            TrySendError::Disconnected(_) => PasswordError::Unavailable,
        })
    }
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("policy", &self.shared.policy)
            .field("workers", &self.shared.workers)
            .finish_non_exhaustive()
    }
}

fn worker(
    rx: &Mutex<Receiver<Job>>,
    params: &Params,
    dummy: &PasswordHash,
    priority: HashPriority,
) {
    lower_priority(priority);
    loop {
        // The lock is held only while waiting for the next job, never while hashing.
        let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = job else {
            return; // every sender dropped: the issuer is gone
        };
        match job {
            Job::Verify {
                password,
                hash,
                reply,
            } => {
                let verdict = match &hash {
                    Some(hash) => verify_with(params, &password, hash),
                    None => {
                        let _ = verify_with(params, &password, dummy);
                        Verdict {
                            ok: false,
                            needs_rehash: false,
                        }
                    }
                };
                let _ = reply.send(verdict);
            }
            Job::Hash { password, reply } => {
                let _ = reply.send(hash_with(params, &password));
            }
        }
    }
}

#[cfg(unix)]
fn lower_priority(priority: HashPriority) {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let policy = match priority {
        HashPriority::Normal => return,
        HashPriority::Low => ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other),
        HashPriority::Idle => ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    };
    if let Err(error) =
        set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, policy)
    {
        tracing::debug!(
            ?error,
            "could not lower the priority of a password-hashing thread"
        );
    }
}

#[cfg(not(unix))]
fn lower_priority(_priority: HashPriority) {}

/// Upper bounds on parameters read back from a store, so a corrupted or hostile row
/// cannot make one verification take a gigabyte or a minute.
const MAX_M_KIB: u32 = 1024 * 1024;
const MAX_T: u32 = 64;
const MAX_P: u32 = 64;

fn verify_with(current: &Params, password: &str, hash: &PasswordHash) -> Verdict {
    let no = Verdict {
        ok: false,
        needs_rehash: false,
    };
    let Ok(phc) = Phc::new(hash.as_phc()) else {
        tracing::warn!("a stored password hash is not a valid PHC string");
        return no;
    };
    let Ok(params) = Params::try_from(&phc) else {
        return no;
    };
    if params.m_cost() > MAX_M_KIB || params.t_cost() > MAX_T || params.p_cost() > MAX_P {
        tracing::warn!("a stored password hash has parameters beyond the accepted bounds");
        return no;
    }
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &phc)
        .is_ok();
    let same_algorithm = phc.algorithm.as_str() == Algorithm::Argon2id.ident().as_str()
        && phc.version == Some(Version::V0x13.into());
    let same_params = params.m_cost() == current.m_cost()
        && params.t_cost() == current.t_cost()
        && params.p_cost() == current.p_cost()
        && params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN) == Params::DEFAULT_OUTPUT_LEN;
    Verdict {
        ok,
        needs_rehash: ok && !(same_algorithm && same_params),
    }
}

fn hash_with(params: &Params, password: &str) -> Result<PasswordHash, PasswordError> {
    let mut salt = [0u8; 16];
    crate::refresh_token::rng()
        .fill(&mut salt)
        .map_err(|_| PasswordError::Random)?;
    let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_customized(password.as_bytes(), &salt, None, None, params.clone())
        .map_err(|_| PasswordError::InvalidPolicy)?;
    Ok(PasswordHash(phc.to_string()))
}

/// Hashes `password` on the calling thread with `policy`. For setup code and tools;
/// request paths go through the issuer's worker pool.
pub fn hash_password(
    password: &str,
    policy: PasswordPolicy,
) -> Result<PasswordHash, PasswordError> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(PasswordError::TooLong);
    }
    hash_with(&policy.params()?, password)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pz(s: &str) -> Zeroizing<String> {
        Zeroizing::new(s.to_owned())
    }

    #[test]
    fn hashes_are_argon2id_phc_and_verify() {
        let hash = hash_password("hunter2", PasswordPolicy::INSECURE_FAST).unwrap();
        assert!(hash.as_phc().starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        let params = PasswordPolicy::INSECURE_FAST.params().unwrap();
        assert_eq!(
            verify_with(&params, "hunter2", &hash),
            Verdict {
                ok: true,
                needs_rehash: false
            }
        );
        assert!(!verify_with(&params, "hunter3", &hash).ok);
        assert!(!format!("{hash:?}").contains("argon2"));
    }

    #[test]
    fn changed_parameters_ask_for_a_rehash() {
        let old = hash_password(
            "pw",
            PasswordPolicy {
                memory_kib: 32,
                iterations: 1,
                parallelism: 1,
            },
        )
        .unwrap();
        let params = PasswordPolicy::INSECURE_FAST.params().unwrap();
        assert_eq!(
            verify_with(&params, "pw", &old),
            Verdict {
                ok: true,
                needs_rehash: true
            }
        );
        // A wrong password never asks for a rehash.
        assert!(!verify_with(&params, "nope", &old).needs_rehash);
    }

    #[test]
    fn absurd_stored_parameters_are_refused_without_hashing() {
        let params = PasswordPolicy::INSECURE_FAST.params().unwrap();
        let hostile = PasswordHash::from_phc(
            "$argon2id$v=19$m=4000000,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
        );
        assert!(!verify_with(&params, "pw", &hostile).ok);
        assert!(!verify_with(&params, "pw", &PasswordHash::from_phc("garbage")).ok);
    }

    #[test]
    fn the_pool_verifies_and_bounds_its_queue() {
        let hasher =
            Hasher::start(PasswordPolicy::INSECURE_FAST, 1, 1, HashPriority::Normal).unwrap();
        let hash = hash_password("pw", PasswordPolicy::INSECURE_FAST).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            assert!(
                hasher
                    .verify(pz("pw"), Some(hash.clone()))
                    .await
                    .unwrap()
                    .ok
            );
            assert!(!hasher.verify(pz("pw"), None).await.unwrap().ok);
            let fresh = hasher.hash(pz("new")).await.unwrap();
            assert!(hasher.verify(pz("new"), Some(fresh)).await.unwrap().ok);
            let long = "x".repeat(MAX_PASSWORD_LEN + 1);
            assert_eq!(
                hasher.verify(pz(&long), None).await,
                Err(PasswordError::TooLong)
            );
        });
    }
}
