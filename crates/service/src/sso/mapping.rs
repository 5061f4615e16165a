//! From a provider's claims to a Matrix account: the localpart, the display name, and what
//! to do when the localpart is taken.

use serde_json::{Map, Value};

/// The localpart the claim `claim` gives: lower-cased, `email` cut at `@`, and every
/// character a new Matrix id can't hold replaced by `=` and its hex code (Synapse's mapping,
/// so the same person gets the same id on both). `None` when the claim is missing or empty.
pub(crate) fn localpart(claims: &Map<String, Value>, claim: &str) -> Option<String> {
    let mut value = claims.get(claim)?.as_str()?.trim().to_owned();
    if claim == "email"
        && let Some((local, _)) = value.split_once('@')
    {
        value = local.to_owned();
    }
    let mapped: String = value
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '.' | '_' | '=' | '-' | '/' => c.to_string(),
            other => {
                let mut buf = [0u8; 4];
                other
                    .encode_utf8(&mut buf)
                    .bytes()
                    .map(|b| format!("={b:02x}"))
                    .collect()
            }
        })
        .collect();
    // A leading underscore marks ids of the server's own (bridges' namespaces, notices).
    let mapped = match mapped.strip_prefix('_') {
        Some(rest) => format!("=5f{rest}"),
        None => mapped,
    };
    let all_digits = mapped.bytes().all(|b| b.is_ascii_digit());
    (!mapped.is_empty() && !all_digits && mapped.len() <= 200).then_some(mapped)
}

/// The display name claim, if it holds text.
pub(crate) fn displayname(claims: &Map<String, Value>, claim: &str) -> Option<String> {
    claims
        .get(claim)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn names_are_lower_cased_and_unfit_characters_escaped() {
        let c =
            claims(json!({ "preferred_username": "J.Smith", "email": "Jane.Doe@agency.example", "upn": "o'brien ü" }));
        assert_eq!(localpart(&c, "preferred_username").as_deref(), Some("j.smith"));
        assert_eq!(localpart(&c, "email").as_deref(), Some("jane.doe"));
        assert_eq!(localpart(&c, "upn").as_deref(), Some("o=27brien=20=c3=bc"));
        assert_eq!(localpart(&c, "missing"), None);
        let odd = claims(json!({ "preferred_username": "_admin+ops" }));
        assert_eq!(localpart(&odd, "preferred_username").as_deref(), Some("=5fadmin=2bops"));
        assert_eq!(
            localpart(&claims(json!({ "sub": "12345" })), "sub"),
            None,
            "numeric ids are reserved"
        );
    }
}
