//! Cross-signing (spec: client-server "Cross-signing"): uploading a user's master,
//! self-signing and user-signing keys, and signatures on devices and master keys; the keys as
//! `/keys/query` shows them.

use std::collections::BTreeMap;

use accord_db::{CrossSigningKeys, LocalDeviceChange, WriteBatch};
use ruma::{
    OwnedUserId, UserId,
    api::{
        client::keys::upload_signatures::v3::{Failure, SignedKeys},
        error::ErrorKind,
    },
    encryption::CrossSigningKey,
    serde::Raw,
};
use serde_json::{Map, Value, json};

use crate::{
    AuthedUser, Error, Result, Services,
    key_signatures::{check_signature, cross_signing_public_key, merge_signatures, signed_part},
    raw::{json_of, raw_json},
    uiaa::UiaaCompleted,
};

/// Keys sent to `POST /keys/device_signing/upload`.
#[derive(Debug, Default, Clone)]
pub struct SigningKeysUpload {
    /// The master key.
    pub master: Option<Raw<CrossSigningKey>>,
    /// The self-signing key, signed by the master key.
    pub self_signing: Option<Raw<CrossSigningKey>>,
    /// The user-signing key, signed by the master key.
    pub user_signing: Option<Raw<CrossSigningKey>>,
}

/// [`SigningKeysUpload`] as the JSON that is checked, compared and stored.
struct SigningKeysJson {
    master: Option<Value>,
    self_signing: Option<Value>,
    user_signing: Option<Value>,
}

impl SigningKeysUpload {
    fn to_json(&self) -> Result<SigningKeysJson> {
        Ok(SigningKeysJson {
            master: self.master.as_ref().map(json_of).transpose()?,
            self_signing: self.self_signing.as_ref().map(json_of).transpose()?,
            user_signing: self.user_signing.as_ref().map(json_of).transpose()?,
        })
    }
}

/// Cross-signing keys by user, as `/keys/query` answers them.
pub type CrossSigningKeysByUser = BTreeMap<OwnedUserId, Raw<CrossSigningKey>>;

/// Cross-signing keys as `/keys/query` answers them, by user.
#[derive(Debug, Default)]
pub struct CrossSigningAnswer {
    /// Master keys.
    pub master_keys: CrossSigningKeysByUser,
    /// Self-signing keys.
    pub self_signing_keys: CrossSigningKeysByUser,
    /// User-signing keys (the asker's own only).
    pub user_signing_keys: CrossSigningKeysByUser,
}

/// Signature failures by user and key id, as `/keys/signatures/upload` reports them.
pub type SignatureFailures = BTreeMap<OwnedUserId, BTreeMap<String, Failure>>;

fn invalid_signature(message: impl Into<String>) -> Error {
    Error::with_errcode("M_INVALID_SIGNATURE", message)
}

/// Checks one uploaded key: the caller's, for `usage`, with one well-formed public key.
fn check_key(user_id: &UserId, key: &Value, usage: &str) -> Result<String> {
    if key["user_id"].as_str() != Some(user_id.as_str()) {
        return Err(Error::invalid_param(format!(
            "The {usage} key's user_id must be your own user id"
        )));
    }
    let usages = key["usage"].as_array().cloned().unwrap_or_default();
    if !usages.iter().any(|u| u.as_str() == Some(usage)) {
        return Err(Error::invalid_param(format!(
            "The {usage} key's usage must include \"{usage}\""
        )));
    }
    let (_, public) =
        cross_signing_public_key(key).map_err(|err| Error::invalid_param(format!("{usage} key: {err}")))?;
    Ok(public)
}

/// One entry of `failures`: the error's code and message. (ruma's `Failure` has private
/// fields and no constructor; it is built the way it travels, from its JSON.)
fn failure_of(err: &Error) -> Result<Failure> {
    let errcode = err
        .kind()
        .map_or_else(|| "M_UNKNOWN".to_owned(), |kind| kind.errcode().to_string());
    serde_json::from_value(json!({ "errcode": errcode, "error": err.to_string() }))
        .map_err(|err| Error::Internal(format!("a signature failure failed to serialize: {err}")))
}

impl Services {
    /// Whether an upload must go through user-interactive authentication (spec, v1.11): only
    /// when the user already has a master key and the upload is not exactly the stored keys.
    pub fn signing_keys_upload_needs_auth(&self, user_id: &UserId, upload: &SigningKeysUpload) -> Result<bool> {
        let upload = upload.to_json()?;
        let Some(existing) = self.db().get_cross_signing_keys(user_id)? else {
            return Ok(false);
        };
        if existing.master.is_none() {
            return Ok(false);
        }
        let same = |new: &Option<Value>, old: &Option<Value>| new.is_none() || new == old;
        // A key left out of the upload is unchanged (an upload of only a self-signing key
        // re-sent after its UIA completed needs no second UIA; MSC3967's test).
        Ok(!same(&upload.master, &existing.master)
            || !same(&upload.self_signing, &existing.self_signing)
            || !same(&upload.user_signing, &existing.user_signing))
    }

    /// `POST /keys/device_signing/upload` (after authentication): checks and stores the keys.
    /// A new master key drops signing keys it didn't sign.
    pub fn upload_signing_keys(
        &self,
        user: &AuthedUser,
        upload: SigningKeysUpload,
        uiaa: Option<UiaaCompleted>,
    ) -> Result<()> {
        let upload = upload.to_json()?;
        let user_id = &user.user_id;
        let db = self.db();
        let mut keys = db.get_cross_signing_keys(user_id)?.unwrap_or_default();
        let devices = db.devices(user_id)?;
        let new_master = upload.master.is_some() && upload.master != keys.master;
        if let Some(master) = &upload.master {
            check_key(user_id, master, "master")?;
        }
        let master = upload
            .master
            .as_ref()
            .or(keys.master.as_ref())
            .ok_or_else(|| Error::new(ErrorKind::MissingParam, "No master key is available; upload one first"))?;
        let (master_key_id, master_public) =
            cross_signing_public_key(master).map_err(|err| Error::invalid_param(format!("master key: {err}")))?;
        for (key, usage) in [
            (&upload.self_signing, "self_signing"),
            (&upload.user_signing, "user_signing"),
        ] {
            let Some(key) = key else { continue };
            let public = check_key(user_id, key, usage)?;
            if devices.iter().any(|(device_id, _)| device_id.as_str() == public) {
                return Err(Error::forbidden(format!("Key id {public} is one of your device ids")));
            }
            check_signature(key, user_id.as_str(), &master_key_id, &master_public)
                .map_err(|err| invalid_signature(format!("The {usage} key must be signed by the master key: {err}")))?;
        }
        if devices.iter().any(|(device_id, _)| device_id.as_str() == master_public) {
            return Err(Error::forbidden(format!(
                "Key id {master_public} is one of your device ids"
            )));
        }
        let signing_keys_changed =
            new_master || (upload.self_signing.is_some() && upload.self_signing != keys.self_signing);
        if new_master {
            keys = CrossSigningKeys {
                master: upload.master.clone(),
                ..CrossSigningKeys::default()
            };
        }
        if upload.self_signing.is_some() {
            keys.self_signing = upload.self_signing;
        }
        if upload.user_signing.is_some() {
            keys.user_signing = upload.user_signing;
        }
        let mut batch = WriteBatch::new();
        db.put_cross_signing_keys(&mut batch, user_id, &keys);
        if let Some(uiaa) = uiaa {
            uiaa.finish(db, &mut batch);
        }
        db.write(batch)?;
        db.record_local_device_change(&LocalDeviceChange {
            user_id: user_id.clone(),
            devices: Vec::new(),
            signing_keys: signing_keys_changed,
        })?;
        Ok(())
    }

    /// `POST /keys/signatures/upload`: adds each valid signature; the others are reported under
    /// `failures` by user and key id.
    pub async fn upload_key_signatures(
        &self,
        user: &AuthedUser,
        signed: BTreeMap<OwnedUserId, SignedKeys>,
    ) -> Result<SignatureFailures> {
        let mut failures = SignatureFailures::new();
        for (target, objects) in signed {
            for (key_id, object) in objects.iter() {
                let outcome = match serde_json::from_str::<Value>(object.get()) {
                    Err(err) => Err(Error::bad_json(format!("{key_id} is not a JSON object: {err}"))),
                    Ok(object) if target == user.user_id => self.add_own_signature(user, key_id, &object),
                    Ok(object) => self.add_user_signature(user, &target, key_id, &object).await,
                };
                if let Err(err) = outcome {
                    failures
                        .entry(target.clone())
                        .or_default()
                        .insert(key_id.to_owned(), failure_of(&err)?);
                }
            }
        }
        Ok(failures)
    }

    /// A signature on one of the caller's devices (by their self-signing key) or on their
    /// master key (by one of their devices).
    fn add_own_signature(&self, user: &AuthedUser, key_id: &str, object: &Value) -> Result<()> {
        let user_id = &user.user_id;
        let db = self.db();
        let mut keys = db.get_cross_signing_keys(user_id)?.unwrap_or_default();
        let device_id = <&ruma::DeviceId>::from(key_id);
        if let Some(mut device_keys) = db.get_device_keys(user_id, device_id)? {
            if signed_part(&device_keys) != signed_part(object) {
                return Err(Error::invalid_param("The signed object differs from the device's keys"));
            }
            let self_signing = keys
                .self_signing
                .as_ref()
                .ok_or_else(|| Error::not_found("You have no self-signing key"))?;
            let (ssk_id, ssk_public) = cross_signing_public_key(self_signing).map_err(Error::invalid_param)?;
            check_signature(object, user_id.as_str(), &ssk_id, &ssk_public).map_err(invalid_signature)?;
            let only_ours = json!({ "signatures": { user_id.as_str(): { &ssk_id: object["signatures"][user_id.as_str()][&ssk_id] } } });
            merge_signatures(&mut device_keys, &only_ours);
            let mut batch = WriteBatch::new();
            db.put_device_keys(&mut batch, user_id, device_id, &device_keys);
            db.write(batch)?;
            db.record_local_device_change(&crate::sessions::device_change(user_id, vec![device_id.to_owned()]))?;
            return Ok(());
        }
        let Some(master) = keys.master.as_mut() else {
            return Err(Error::not_found(format!("No device or master key {key_id}")));
        };
        let (_, master_public) = cross_signing_public_key(master).map_err(Error::invalid_param)?;
        if master_public != key_id {
            return Err(Error::not_found(format!("No device or master key {key_id}")));
        }
        if signed_part(master) != signed_part(object) {
            return Err(Error::invalid_param("The signed object differs from your master key"));
        }
        // Each signature by one of the user's devices is checked with that device's key.
        let mut valid = Map::new();
        let offered = object["signatures"][user_id.as_str()]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (signing_key_id, signature) in offered {
            let Some(device_id) = signing_key_id.strip_prefix("ed25519:") else {
                continue;
            };
            let device_id = <&ruma::DeviceId>::from(device_id);
            let Some(device_keys) = db.get_device_keys(user_id, device_id)? else {
                continue;
            };
            let Some(public) = device_keys["keys"][&signing_key_id].as_str() else {
                continue;
            };
            check_signature(object, user_id.as_str(), &signing_key_id, public).map_err(invalid_signature)?;
            valid.insert(signing_key_id, signature);
        }
        if valid.is_empty() {
            return Err(invalid_signature("No signature by one of your devices"));
        }
        merge_signatures(master, &json!({ "signatures": { user_id.as_str(): valid } }));
        let mut batch = WriteBatch::new();
        db.put_cross_signing_keys(&mut batch, user_id, &keys);
        db.write(batch)?;
        db.record_local_device_change(&LocalDeviceChange {
            user_id: user_id.clone(),
            devices: Vec::new(),
            signing_keys: true,
        })?;
        Ok(())
    }

    /// A signature by the caller's user-signing key on another user's master key; only the
    /// caller will see it.
    async fn add_user_signature(&self, user: &AuthedUser, target: &UserId, key_id: &str, object: &Value) -> Result<()> {
        let user_id = &user.user_id;
        let keys = self.db().get_cross_signing_keys(user_id)?.unwrap_or_default();
        let user_signing = keys
            .user_signing
            .as_ref()
            .ok_or_else(|| Error::not_found("You have no user-signing key"))?;
        let (usk_id, usk_public) = cross_signing_public_key(user_signing).map_err(Error::invalid_param)?;
        let master = self
            .master_key_of(target)
            .await?
            .ok_or_else(|| Error::not_found(format!("{target} has no master key")))?;
        let (_, master_public) = cross_signing_public_key(&master).map_err(Error::invalid_param)?;
        if master_public != key_id {
            return Err(Error::not_found(format!("{key_id} is not the master key of {target}")));
        }
        if signed_part(&master) != signed_part(object) {
            return Err(Error::invalid_param(format!(
                "The signed object differs from {target}'s master key"
            )));
        }
        check_signature(object, user_id.as_str(), &usk_id, &usk_public).map_err(invalid_signature)?;
        let db = self.db();
        let mut stored = db.get_user_signatures(user_id, target)?.unwrap_or_else(|| json!({}));
        merge_signatures(
            &mut stored,
            &json!({ "signatures": { user_id.as_str(): { &usk_id: object["signatures"][user_id.as_str()][&usk_id] } } }),
        );
        let mut batch = WriteBatch::new();
        db.put_user_signatures(&mut batch, user_id, target, &stored);
        db.write(batch)?;
        // The signer's other devices learn of it through their own device list.
        db.record_device_list_change(user_id)?;
        Ok(())
    }

    /// A user's master key: stored for local users, cached or asked for remote ones.
    async fn master_key_of(&self, user_id: &UserId) -> Result<Option<Value>> {
        if user_id.server_name() == self.config.server_name {
            return Ok(self.db().get_cross_signing_keys(user_id)?.and_then(|keys| keys.master));
        }
        if let Some(list) = self.db().get_remote_device_list(user_id)? {
            return Ok(list.master_key);
        }
        let wanted = BTreeMap::from([(user_id.to_owned(), Vec::new())]);
        let answer = self.query_keys_anywhere(user_id, &wanted, None).await?;
        answer.master_keys.get(user_id).map(json_of).transpose()
    }

    /// Cross-signing keys of local users for `asker`: master and self-signing keys of all,
    /// the user-signing key of the asker only, and the asker's own signatures on master keys.
    /// `asker` is `None` for other servers.
    pub fn local_cross_signing_keys<'a>(
        &self,
        asker: Option<&UserId>,
        users: impl IntoIterator<Item = &'a OwnedUserId>,
        answer: &mut CrossSigningAnswer,
    ) -> Result<()> {
        for user_id in users {
            let Some(keys) = self.db().get_cross_signing_keys(user_id)? else {
                continue;
            };
            if let Some(master) = keys.master {
                let master = self.with_signatures_of(asker, user_id, master)?;
                answer.master_keys.insert(user_id.clone(), raw_json(&master)?);
            }
            if let Some(self_signing) = keys.self_signing {
                answer
                    .self_signing_keys
                    .insert(user_id.clone(), raw_json(&self_signing)?);
            }
            if asker == Some(user_id.as_ref())
                && let Some(user_signing) = keys.user_signing
            {
                answer
                    .user_signing_keys
                    .insert(user_id.clone(), raw_json(&user_signing)?);
            }
        }
        Ok(())
    }

    /// `target`'s master key with the signatures `asker` made on it.
    pub(crate) fn with_signatures_of(
        &self,
        asker: Option<&UserId>,
        target: &UserId,
        mut master: Value,
    ) -> Result<Value> {
        if let Some(asker) = asker
            && asker != target
            && let Some(signatures) = self.db().get_user_signatures(asker, target)?
        {
            merge_signatures(&mut master, &signatures);
        }
        Ok(master)
    }
}
