//! token-core mint and verify against jsonwebtoken and the raw crypto (filled in next).
fn main() {}
