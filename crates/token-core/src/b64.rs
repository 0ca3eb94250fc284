//! Strict base64url without padding (RFC 7515 section 2), as every JWS segment uses.
//!
//! The engine refuses padding, the standard alphabet's `+` and `/`, whitespace and
//! non-zero trailing bits, so each byte string has exactly one accepted encoding. It
//! uses AVX2 or NEON when the CPU has them (detected once), the scalar engine
//! otherwise: decoding a token's payload is a measurable part of verifying it.

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::Simd;
use base64::engine::general_purpose::NO_PAD;

static ENGINE: LazyLock<Simd> = LazyLock::new(|| Simd::url_safe(NO_PAD));

/// Decoded segments up to this size stay on the stack.
const STACK_LEN: usize = 1024;

/// The input is not canonical base64url.
#[derive(Debug)]
pub(crate) struct InvalidBase64;

/// Decodes `input` and hands the bytes to `f`, without a heap allocation when the
/// result is small.
pub(crate) fn with_decoded<R>(
    input: &[u8],
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R, InvalidBase64> {
    let estimate = base64::decoded_len_estimate(input.len());
    if estimate <= STACK_LEN {
        let mut buf = [0u8; STACK_LEN];
        let len = ENGINE
            .decode_slice(input, &mut buf)
            .map_err(|_| InvalidBase64)?;
        Ok(f(&buf[..len]))
    } else {
        let bytes = decode(input)?;
        Ok(f(&bytes))
    }
}

/// Decodes into a new vector.
pub(crate) fn decode(input: &[u8]) -> Result<Vec<u8>, InvalidBase64> {
    ENGINE.decode(input).map_err(|_| InvalidBase64)
}

/// Appends the encoding of `bytes` to `out`.
pub(crate) fn encode_into(bytes: &[u8], out: &mut String) {
    ENGINE.encode_string(bytes, out);
}

/// Encodes into a new string.
pub(crate) fn encode(bytes: &[u8]) -> String {
    ENGINE.encode(bytes)
}

/// The length of the encoding of `len` bytes.
pub(crate) fn encoded_len(len: usize) -> usize {
    base64::encoded_len(len, false).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_everything_but_canonical_base64url() {
        assert_eq!(decode(b"AQID").unwrap(), [1, 2, 3]);
        assert_eq!(decode(b"AQ").unwrap(), [1]);
        for bad in [&b"AQ=="[..], b"+/8", b"AQ ", b"AQ\n", b"A", b"AR"] {
            assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn long_inputs_take_the_vector_path_and_stay_strict() {
        // Long enough for the SIMD kernels, with a bad byte in the middle of a block.
        let good = encode(&[0xabu8; 300]);
        assert_eq!(decode(good.as_bytes()).unwrap(), [0xab; 300]);
        for (at, bad) in [(100, b'+'), (200, b'/'), (150, b'='), (50, b' ')] {
            let mut broken = good.clone().into_bytes();
            broken[at] = bad;
            assert!(decode(&broken).is_err(), "{} at {at}", bad as char);
        }
    }

    #[test]
    fn large_inputs_go_to_the_heap_and_still_decode() {
        let bytes = vec![7u8; 5000];
        let text = encode(&bytes);
        let len = with_decoded(text.as_bytes(), |d| d.len()).unwrap();
        assert_eq!(len, 5000);
    }
}
