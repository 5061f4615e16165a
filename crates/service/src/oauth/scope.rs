//! The scope of an OAuth request (spec: "Scope"): full access to the client API, and the
//! device the tokens are for. Both the stable names and the unstable ones of MSC2967 are
//! understood, because matrix-rust-sdk (Element X) still sends the unstable ones.

use ruma::OwnedDeviceId;

use super::OAuthError;

const API: [&str; 2] = ["urn:matrix:client:api:*", "urn:matrix:org.matrix.msc2967.client:api:*"];
const DEVICE: [&str; 2] = [
    "urn:matrix:client:device:",
    "urn:matrix:org.matrix.msc2967.client:device:",
];

/// What a scope asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requested {
    /// The device named, if any.
    pub device_id: Option<OwnedDeviceId>,
    /// The scope granted: the tokens understood, as sent.
    pub granted: String,
}

/// Parses a space-separated scope. Characters outside RFC 6749's scope syntax, no API access
/// asked, two devices, or a device id outside the unreserved characters are `invalid_scope`;
/// tokens Accord doesn't know (like `openid`) are left out of the grant.
pub(crate) fn parse(scope: &str) -> Result<Requested, OAuthError> {
    let invalid = |why: &str| OAuthError::bad("invalid_scope", why);
    let mut api = false;
    let mut device_id = None;
    let mut granted = Vec::new();
    for token in scope.split(' ').filter(|token| !token.is_empty()) {
        if !token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
        {
            return Err(invalid("the scope has characters RFC 6749 doesn't allow"));
        }
        if API.contains(&token) {
            api = true;
            granted.push(token);
        } else if let Some(id) = DEVICE.iter().find_map(|prefix| token.strip_prefix(prefix)) {
            if device_id.is_some() {
                return Err(invalid("the scope names more than one device"));
            }
            let unreserved = id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if id.is_empty() || id.len() > 255 || !unreserved {
                return Err(invalid("device ids are 1-255 characters of A-Z a-z 0-9 - . _ ~"));
            }
            device_id = Some(OwnedDeviceId::from(id));
            granted.push(token);
        }
    }
    if !api {
        return Err(invalid(
            "ask for urn:matrix:client:api:* (full access to the client API)",
        ));
    }
    Ok(Requested {
        device_id,
        granted: granted.join(" "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_unstable_names_and_bad_scopes() {
        let sdk = parse(
            "urn:matrix:org.matrix.msc2967.client:api:* urn:matrix:org.matrix.msc2967.client:device:ABCDEFGHIJ openid",
        )
        .ok();
        assert_eq!(
            sdk.as_ref().and_then(|r| r.device_id.as_ref()).map(|d| d.as_str()),
            Some("ABCDEFGHIJ")
        );
        assert!(sdk.is_some_and(|r| !r.granted.contains("openid")));
        assert!(parse("urn:matrix:client:api:* urn:matrix:client:device:X1").is_ok());
        for bad in [
            "openid",
            "urn:matrix:client:api:* urn:matrix:client:device:A urn:matrix:client:device:B",
            "urn:matrix:client:api:* urn:matrix:client:device:a/b",
            "urn:matrix:client:api:* \"quoted\"",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
