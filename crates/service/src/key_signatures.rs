//! Signatures on end-to-end encryption keys (device keys, cross-signing keys): checking one
//! signer's signature whatever else signed the object, and reading a cross-signing key's one
//! public key.

use ruma::{
    CanonicalJsonObject,
    serde::{Base64, base64::Standard},
    signatures::{SigningKeyAlgorithm, to_canonical_json_string_for_signing, verify_canonical_json_bytes},
};
use serde_json::{Map, Value};

/// Checks that `object` carries a valid signature by `signer`'s key `key_id`
/// (`ed25519:<name>`) with public key `public` (base64). Other signatures are ignored, so a
/// device key signed by both the device and the user's self-signing key passes either check.
pub(crate) fn check_signature(object: &Value, signer: &str, key_id: &str, public: &str) -> Result<(), String> {
    let signature = object["signatures"][signer][key_id]
        .as_str()
        .ok_or_else(|| format!("no signature by {signer} with {key_id}"))?;
    let public = Base64::<Standard>::parse(public).map_err(|err| format!("{key_id} is not base64: {err}"))?;
    let signature = Base64::<Standard>::parse(signature)
        .map_err(|err| format!("the signature by {key_id} is not base64: {err}"))?;
    let canonical: CanonicalJsonObject =
        serde_json::from_value(object.clone()).map_err(|err| format!("not canonical JSON: {err}"))?;
    let signed = to_canonical_json_string_for_signing(&canonical).map_err(|err| err.to_string())?;
    verify_canonical_json_bytes(
        &SigningKeyAlgorithm::Ed25519,
        public.as_bytes(),
        signature.as_bytes(),
        signed.as_bytes(),
    )
    .map_err(|err| format!("the signature by {key_id} does not verify: {err}"))
}

/// The one ed25519 key of a cross-signing key object: `(key id, public key)`, where the key
/// id is `ed25519:<public key>`.
pub(crate) fn cross_signing_public_key(key: &Value) -> Result<(String, String), String> {
    let keys = key["keys"].as_object().ok_or("the key has no `keys` object")?;
    let mut entries = keys.iter();
    match (entries.next(), entries.next()) {
        (Some((key_id, public)), None) => {
            let public = public.as_str().ok_or("the public key is not a string")?;
            if key_id.strip_prefix("ed25519:") != Some(public) {
                return Err(format!("key id {key_id} must be ed25519:<the public key>"));
            }
            Ok((key_id.clone(), public.to_owned()))
        }
        _ => Err("a cross-signing key must have exactly one key in `keys`".to_owned()),
    }
}

/// `object` without its `signatures` and `unsigned`: what signatures cover, for comparing a
/// re-uploaded key with the stored one.
pub(crate) fn signed_part(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("signatures");
        map.remove("unsigned");
    }
    copy
}

/// Adds every signature of `from` into `into`'s `signatures` (`into` must be an object).
pub(crate) fn merge_signatures(into: &mut Value, from: &Value) {
    let (Some(target), Some(signers)) = (into.as_object_mut(), from["signatures"].as_object()) else {
        return;
    };
    let existing = target.entry("signatures").or_insert_with(|| Value::Object(Map::new()));
    if !existing.is_object() {
        *existing = Value::Object(Map::new());
    }
    let Some(existing) = existing.as_object_mut() else {
        return;
    };
    for (signer, signatures) in signers {
        let Some(signatures) = signatures.as_object() else {
            continue;
        };
        let entry = existing
            .entry(signer.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(entry) = entry.as_object_mut() {
            for (key_id, signature) in signatures {
                entry.insert(key_id.clone(), signature.clone());
            }
        }
    }
}
