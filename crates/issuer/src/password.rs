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

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash as Phc, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use ring::rand::SecureRandom;
use subtle::ConstantTimeEq;
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
        let dummy = hash_with(&mut Scratch::new(&params), &params, "not a real password")?;
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
    let mut scratch = Scratch::new(params);
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
                    Some(hash) => verify_with(&mut scratch, params, &password, hash),
                    None => {
                        let _ = verify_with(&mut scratch, params, &password, dummy);
                        Verdict {
                            ok: false,
                            needs_rehash: false,
                        }
                    }
                };
                let _ = reply.send(verdict);
            }
            Job::Hash { password, reply } => {
                let _ = reply.send(hash_with(&mut scratch, params, &password));
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

/// A worker's argon2 memory, allocated once. Allocating and zeroing 19 MiB for every
/// hash (what the argon2 crate's own API does) cost a third again as much as the
/// hash itself in the benchmarks; argon2 writes every block before it reads it, so
/// the memory is reused as it is.
struct Scratch {
    blocks: Vec<Block>,
}

impl Scratch {
    fn new(params: &Params) -> Self {
        Scratch {
            blocks: vec![Block::new(); params.block_count()],
        }
    }

    fn hash(
        &mut self,
        argon: &Argon2<'_>,
        params: &Params,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> bool {
        let need = params.block_count();
        if need <= self.blocks.len() {
            return argon
                .hash_password_into_with_memory(password, salt, out, &mut self.blocks[..need])
                .is_ok();
        }
        // A hash made with more memory than the current policy (an old, stronger
        // one): take what it needs just this once rather than keep it.
        let mut blocks = vec![Block::new(); need];
        argon
            .hash_password_into_with_memory(password, salt, out, &mut blocks)
            .is_ok()
    }
}

/// Upper bounds on parameters read back from a store, so a corrupted or hostile row
/// cannot make one verification take a gigabyte or a minute.
const MAX_M_KIB: u32 = 1024 * 1024;
const MAX_T: u32 = 64;
const MAX_P: u32 = 64;

fn verify_with(
    scratch: &mut Scratch,
    current: &Params,
    password: &str,
    hash: &PasswordHash,
) -> Verdict {
    let no = Verdict {
        ok: false,
        needs_rehash: false,
    };
    let Ok(phc) = Phc::new(hash.as_phc()) else {
        tracing::warn!("a stored password hash is not a valid PHC string");
        return no;
    };
    let (Ok(params), Ok(algorithm), Some(salt), Some(expected)) = (
        Params::try_from(&phc),
        Algorithm::try_from(phc.algorithm.as_str()),
        phc.salt.as_ref(),
        phc.hash.as_ref(),
    ) else {
        tracing::warn!("a stored password hash is not a complete argon2 PHC string");
        return no;
    };
    let Ok(version) = phc.version.map_or(Ok(Version::V0x13), Version::try_from) else {
        return no;
    };
    if params.m_cost() > MAX_M_KIB || params.t_cost() > MAX_T || params.p_cost() > MAX_P {
        tracing::warn!("a stored password hash has parameters beyond the accepted bounds");
        return no;
    }
    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    let argon = Argon2::new(algorithm, version, params.clone());
    if !scratch.hash(
        &argon,
        &params,
        password.as_bytes(),
        salt.as_ref(),
        &mut out,
    ) {
        return no;
    }
    let ok: bool = out.as_slice().ct_eq(expected.as_bytes()).into();
    let same_algorithm = algorithm == Algorithm::Argon2id && version == Version::V0x13;
    let same_params = params.m_cost() == current.m_cost()
        && params.t_cost() == current.t_cost()
        && params.p_cost() == current.p_cost()
        && expected.len() == Params::DEFAULT_OUTPUT_LEN;
    Verdict {
        ok,
        needs_rehash: ok && !(same_algorithm && same_params),
    }
}

fn hash_with(
    scratch: &mut Scratch,
    params: &Params,
    password: &str,
) -> Result<PasswordHash, PasswordError> {
    let mut salt = [0u8; 16];
    crate::refresh_token::rng()
        .fill(&mut salt)
        .map_err(|_| PasswordError::Random)?;
    let mut out = Zeroizing::new([0u8; Params::DEFAULT_OUTPUT_LEN]);
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    if !scratch.hash(
        &argon,
        params,
        password.as_bytes(),
        &salt,
        out.as_mut_slice(),
    ) {
        return Err(PasswordError::InvalidPolicy);
    }
    let phc = Phc {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|_| PasswordError::InvalidPolicy)?,
        salt: Some(Salt::new(&salt).map_err(|_| PasswordError::InvalidPolicy)?),
        hash: Some(Output::new(out.as_slice()).map_err(|_| PasswordError::InvalidPolicy)?),
    };
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
    let params = policy.params()?;
    hash_with(&mut Scratch::new(&params), &params, password)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pz(s: &str) -> Zeroizing<String> {
        Zeroizing::new(s.to_owned())
    }

    const YES: Verdict = Verdict {
        ok: true,
        needs_rehash: false,
    };
    const YES_REHASH: Verdict = Verdict {
        ok: true,
        needs_rehash: true,
    };

    #[test]
    fn hashes_are_argon2id_phc_and_verify() {
        let hash = hash_password("hunter2", PasswordPolicy::INSECURE_FAST).unwrap();
        assert!(hash.as_phc().starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        let params = PasswordPolicy::INSECURE_FAST.params().unwrap();
        let s = &mut Scratch::new(&params);
        assert_eq!(verify_with(s, &params, "hunter2", &hash), YES);
        assert!(!verify_with(s, &params, "hunter3", &hash).ok);
        assert!(!format!("{hash:?}").contains("argon2"));
        // Interoperable with the argon2 crate's own hasher and verifier.
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let phc = Phc::new(hash.as_phc()).unwrap();
        assert!(Argon2::default().verify_password(b"hunter2", &phc).is_ok());
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_with_salt(b"pw", b"saltsaltsalt")
            .unwrap();
        assert_eq!(
            verify_with(
                s,
                &params,
                "pw",
                &PasswordHash::from_phc(theirs.to_string())
            ),
            YES
        );
    }

    #[test]
    fn changed_parameters_ask_for_a_rehash() {
        let weaker = PasswordPolicy {
            memory_kib: 32,
            iterations: 1,
            parallelism: 1,
        };
        let old = hash_password("pw", weaker).unwrap();
        let params = PasswordPolicy::INSECURE_FAST.params().unwrap();
        let s = &mut Scratch::new(&params);
        assert_eq!(verify_with(s, &params, "pw", &old), YES_REHASH);
        // A wrong password never asks for a rehash.
        assert!(!verify_with(s, &params, "nope", &old).needs_rehash);
        // An older, stronger hash needs more memory than the scratch holds.
        let stronger = PasswordPolicy {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        };
        let strong = hash_password("pw", stronger).unwrap();
        assert_eq!(verify_with(s, &params, "pw", &strong), YES_REHASH);
        assert_eq!(
            verify_with(s, &params, "pw", &old),
            YES_REHASH,
            "and the scratch still works"
        );
    }

    #[test]
    fn absurd_stored_parameters_are_refused_without_hashing() {
        let params = PasswordPolicy::INSECURE_FAST.params().unwrap();
        let s = &mut Scratch::new(&params);
        let hostile = PasswordHash::from_phc(
            "$argon2id$v=19$m=4000000,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
        );
        assert!(!verify_with(s, &params, "pw", &hostile).ok);
        assert!(!verify_with(s, &params, "pw", &PasswordHash::from_phc("garbage")).ok);
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

    #[test]
    fn a_full_queue_says_busy_at_once() {
        let slow = PasswordPolicy {
            memory_kib: 8192,
            iterations: 2,
            parallelism: 1,
        };
        let hasher = Hasher::start(slow, 1, 1, HashPriority::Normal).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let results = rt.block_on(async {
            let (a, b, c, d, e) = tokio::join!(
                hasher.verify(pz("1"), None),
                hasher.verify(pz("2"), None),
                hasher.verify(pz("3"), None),
                hasher.verify(pz("4"), None),
                hasher.verify(pz("5"), None),
            );
            [a, b, c, d, e]
        });
        // One job runs, one waits, the rest are refused without waiting.
        let busy = results
            .iter()
            .filter(|r| **r == Err(PasswordError::Busy))
            .count();
        assert!(busy >= 2, "{results:?}");
    }
}
