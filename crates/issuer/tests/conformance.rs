//! The store conformance suite, run against the memory backend exactly the way an
//! outside backend (SQLite, PostgreSQL, Redis) runs it.

use issuer::conformance;
use issuer::store::{MemoryClientStore, MemorySessionStore, MemoryThrottleStore, MemoryUserStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn session_store() {
    conformance::session_store(async || MemorySessionStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_store() {
    conformance::throttle_store(async || MemoryThrottleStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_and_client_stores() {
    conformance::user_store(async || MemoryUserStore::new()).await;
    conformance::client_store(async || MemoryClientStore::new()).await;
}
