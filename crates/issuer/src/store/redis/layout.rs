//! How a family sits in its Redis hash. A refresh pays for every field a script
//! reads, writes and answers, and for every `string.format` it calls, so the hash
//! holds few fields and the hot path formats nothing:
//!
//! - `u`: the user id (scripts need it to find the user's epoch and index);
//! - `h`: what rotations change, as text the scripts read with one pattern:
//!   `generation:last_used:rotated_at:replays:idle_expires:absolute_expires:token_version`;
//! - `st`: what never changes, encoded for Rust alone: the salt, then client id,
//!   scopes, creation time, user agent and address, each `<length>:<bytes>` or `-`
//!   when absent;
//! - `rat`, `rr`: when and why it was revoked, once it is.

use std::net::IpAddr;

use redis::Value;

use crate::family::{Family, FamilySalt, Revocation, RevokeReason};
use crate::store::StoreError;

/// The fields every read asks for, in this order.
pub(super) const READ_FIELDS: [&str; 5] = ["u", "h", "st", "rat", "rr"];

/// The Lua pattern that splits `h` (numbers may be negative in tests' far pasts).
pub(super) const HOT_PATTERN: &str =
    "^(%-?%d+):(%-?%d+):(%-?%d+):(%-?%d+):(%-?%d+):(%-?%d+):(%-?%d+)$";

/// `h` of a family; numbers are clamped where Lua's doubles are exact.
pub(super) fn hot(f: &Family) -> String {
    format!(
        "{}:{}:{}:{}:{}:{}:{}",
        super::exact_u(f.generation),
        super::exact(f.last_used),
        super::exact(f.rotated_at),
        f.replays,
        super::exact(f.idle_expires),
        super::exact(f.absolute_expires),
        super::exact_u(f.token_version),
    )
}

/// `st` of a family.
pub(super) fn static_part(f: &Family) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + f.scopes.as_str().len());
    out.extend_from_slice(f.salt.as_bytes());
    let mut item = |value: Option<&[u8]>| match value {
        Some(bytes) => {
            out.extend_from_slice(bytes.len().to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(bytes);
        }
        None => out.push(b'-'),
    };
    item(f.client_id.as_deref().map(str::as_bytes));
    item(Some(f.scopes.as_str().as_bytes()));
    item(Some(super::exact(f.created).to_string().as_bytes()));
    item(f.user_agent.as_deref().map(str::as_bytes));
    item(f.ip.map(|ip| ip.to_string()).as_deref().map(str::as_bytes));
    out
}

/// The fields of one family as the scripts and `HMGET` answer them (in
/// [`READ_FIELDS`] order); `None` when the row does not exist.
pub(super) fn family_from_fields(
    id: &str,
    fields: impl IntoIterator<Item = Value>,
) -> Result<Option<Family>, StoreError> {
    let mut fields = fields.into_iter();
    let mut next = || -> Result<Option<Vec<u8>>, StoreError> {
        match fields.next() {
            None | Some(Value::Nil) => Ok(None),
            Some(other) => super::bytes(other).map(Some),
        }
    };
    let Some(user) = next()? else {
        return Ok(None);
    };
    let user_id = utf8(user, "u")?;
    let hot = next()?.ok_or_else(|| corrupt("h"))?;
    let st = next()?.ok_or_else(|| corrupt("st"))?;
    let revoked = match (next()?, next()?) {
        (Some(at), Some(reason)) => Some(Revocation {
            at: utf8(at, "rat")?.parse().map_err(|_| corrupt("rat"))?,
            reason: RevokeReason::parse(&utf8(reason, "rr")?).ok_or_else(|| corrupt("rr"))?,
        }),
        (None, _) => None,
        (Some(_), None) => return Err(corrupt("revocation without a reason")),
    };
    family_from_parts(id, user_id, &hot, &st, revoked)
}

/// A family from its user id, `h` and `st`.
pub(super) fn family_from_parts(
    id: &str,
    user_id: String,
    hot: &[u8],
    st: &[u8],
    revoked: Option<Revocation>,
) -> Result<Option<Family>, StoreError> {
    let hot = std::str::from_utf8(hot).map_err(|_| corrupt("h"))?;
    let mut numbers = hot.split(':').map(str::parse::<i64>);
    let mut number = |name: &str| -> Result<i64, StoreError> {
        numbers
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| corrupt(name))
    };
    let generation = u64::try_from(number("generation")?).map_err(|_| corrupt("generation"))?;
    let last_used = number("last_used")?;
    let rotated_at = number("rotated_at")?;
    let replays = u32::try_from(number("replays")?).map_err(|_| corrupt("replays"))?;
    let idle_expires = number("idle_expires")?;
    let absolute_expires = number("absolute_expires")?;
    let token_version =
        u64::try_from(number("token_version")?).map_err(|_| corrupt("token_version"))?;

    let salt = st
        .get(..FamilySalt::LEN)
        .and_then(FamilySalt::from_slice)
        .ok_or_else(|| corrupt("salt"))?;
    let mut reader = Reader(&st[FamilySalt::LEN..]);
    let client_id = reader.text("client")?;
    let scopes = reader
        .text("scopes")?
        .ok_or_else(|| corrupt("scopes"))?
        .parse()
        .map_err(|_| corrupt("scopes"))?;
    let created = reader
        .text("created")?
        .ok_or_else(|| corrupt("created"))?
        .parse()
        .map_err(|_| corrupt("created"))?;
    let user_agent = reader.text("user agent")?;
    let ip = match reader.text("ip")? {
        Some(ip) => Some(ip.parse::<IpAddr>().map_err(|_| corrupt("ip"))?),
        None => None,
    };
    Ok(Some(Family {
        id: id.to_owned(),
        user_id,
        client_id,
        generation,
        salt,
        scopes,
        token_version,
        created,
        last_used,
        rotated_at,
        replays,
        idle_expires,
        absolute_expires,
        revoked,
        user_agent,
        ip,
    }))
}

/// Reads `<length>:<bytes>` and `-` items.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn text(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        let rest = self.0;
        if let Some(after) = rest.strip_prefix(b"-") {
            self.0 = after;
            return Ok(None);
        }
        let colon = rest
            .iter()
            .position(|&b| b == b':')
            .ok_or_else(|| corrupt(name))?;
        let len: usize = std::str::from_utf8(&rest[..colon])
            .ok()
            .and_then(|digits| digits.parse().ok())
            .ok_or_else(|| corrupt(name))?;
        let start = colon + 1;
        let end = start.checked_add(len).ok_or_else(|| corrupt(name))?;
        let bytes = rest.get(start..end).ok_or_else(|| corrupt(name))?;
        self.0 = &rest[end..];
        Ok(Some(utf8(bytes.to_vec(), name)?))
    }
}

fn utf8(bytes: Vec<u8>, name: &str) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|_| corrupt(name))
}

fn corrupt(what: &str) -> StoreError {
    super::corrupt(what)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_family_round_trips_through_its_fields() {
        let mut family = crate::conformance::sample_family("fam-1", "user-1", 1_750_000_000);
        family.client_id = Some("web:1".to_owned());
        family.user_agent = Some("Mozilla/5.0 (X11; a:b) -".to_owned());
        family.ip = Some("::1".parse().unwrap());
        family.revoked = Some(Revocation {
            at: 1_750_000_100,
            reason: RevokeReason::Reuse,
        });
        let fields = vec![
            Value::BulkString(family.user_id.clone().into_bytes()),
            Value::BulkString(hot(&family).into_bytes()),
            Value::BulkString(static_part(&family)),
            Value::BulkString(b"1750000100".to_vec()),
            Value::BulkString(b"reuse".to_vec()),
        ];
        let back = family_from_fields("fam-1", fields).unwrap().unwrap();
        assert_eq!(back, family);

        family.client_id = None;
        family.user_agent = None;
        family.ip = None;
        family.revoked = None;
        let fields = vec![
            Value::BulkString(family.user_id.clone().into_bytes()),
            Value::BulkString(hot(&family).into_bytes()),
            Value::BulkString(static_part(&family)),
            Value::Nil,
            Value::Nil,
        ];
        let back = family_from_fields("fam-1", fields).unwrap().unwrap();
        assert_eq!(back, family);
    }

    #[test]
    fn truncated_or_garbled_rows_are_corrupt_not_panics() {
        let family = crate::conformance::sample_family("fam-1", "user-1", 1_750_000_000);
        let st = static_part(&family);
        for cut in 0..st.len() {
            let fields = vec![
                Value::BulkString(b"user-1".to_vec()),
                Value::BulkString(hot(&family).into_bytes()),
                Value::BulkString(st[..cut].to_vec()),
            ];
            assert!(family_from_fields("fam-1", fields).is_err(), "cut at {cut}");
        }
        let fields = vec![
            Value::BulkString(b"user-1".to_vec()),
            Value::BulkString(b"1:2:3".to_vec()),
            Value::BulkString(st),
        ];
        assert!(family_from_fields("fam-1", fields).is_err());
        assert!(
            family_from_fields("fam-1", vec![Value::Nil])
                .unwrap()
                .is_none()
        );
    }
}
