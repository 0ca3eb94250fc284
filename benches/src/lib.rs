//! Shared helpers for the criterion benches in `benches/`.
#![allow(missing_docs)]
