//! The persistent stores against real servers: the conformance and race suite on
//! every backend, epoch propagation between instances, servers stopped mid-run, and
//! opening, migrating and restarting.
// Test support: panicking is how it reports.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    unreachable_pub
)]

#[path = "../common/mod.rs"]
mod common;
mod conformance;
mod epochs;
mod faults;
mod open;
mod support;
