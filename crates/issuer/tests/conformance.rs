//! The store conformance suite, run against the memory backend the way other
//! backends will run it.
