//! The catalog: every table (RocksDB column family) Accord uses, with its key and value layout.
//!
//! Keys use the tuple codec of `accord_storage::codec` (parts joined by 0xFF, integers
//! big-endian). Values are JSON unless stated. A removed table moves to [`DROPPED`] so the engine
//! deletes its column family at the next start.

use accord_storage::TableDef;

macro_rules! catalog {
    ($($(#[doc = $doc:literal])* $name:ident = $table:literal;)*) => {
        $( $(#[doc = $doc])* pub const $name: &str = $table; )*
        /// Every live table, in declaration order.
        pub const ALL: &[TableDef] = &[$(TableDef { name: $table, doc: concat!($($doc),*) }),*];
    };
}

catalog! {
    /// `name` -> value: server-wide facts such as `schema_version` (u64 big-endian).
    GLOBAL = "global";
    /// `user_id` -> JSON `UserAccount` (password hash, admin flag, deactivation).
    USERID_ACCOUNT = "userid_account";
    /// `user_id` -> JSON object of profile fields (`displayname`, `avatar_url`, ...).
    USERID_PROFILE = "userid_profile";
    /// `user_id 0xFF device_id` -> JSON `DeviceRecord` (display name, token hashes, last seen).
    USERID_DEVICEID_DEVICE = "userid_deviceid_device";
    /// `user_id 0xFF device_id` -> JSON `LastSeen` (ip, ts): activity, apart from the device
    /// record so a late activity write can never resurrect a deleted device.
    USERID_DEVICEID_LASTSEEN = "userid_deviceid_lastseen";
    /// `sha256(access_token)` (32 bytes) -> JSON `AccessSession` (user, device, expiry).
    TOKENHASH_ACCESSSESSION = "tokenhash_accesssession";
    /// `sha256(refresh_token)` (32 bytes) -> JSON `RefreshSession` (user, device).
    TOKENHASH_REFRESHSESSION = "tokenhash_refreshsession";
    /// `sha256(openid_token)` (32 bytes) -> JSON `OpenIdSession` (user, expiry): tokens other
    /// services check through `/openid/userinfo`.
    TOKENHASH_OPENIDSESSION = "tokenhash_openidsession";
    /// `user_id 0xFF device_id` -> JSON of the device's signed identity keys (`/keys/upload`).
    USERID_DEVICEID_DEVICEKEYS = "userid_deviceid_devicekeys";
    /// `user_id 0xFF device_id 0xFF algorithm:key_id` -> JSON one-time key, deleted when claimed.
    USERID_DEVICEID_ONETIMEKEY = "userid_deviceid_onetimekey";
    /// `user_id 0xFF device_id 0xFF algorithm 0xFF position (u64) 0xFF algorithm:key_id` ->
    /// nothing: the order a device uploaded its one-time keys in, so they are claimed oldest
    /// first (spec v1.13). Keys uploaded before this table existed have no row; they are
    /// claimed once the ordered ones are gone, by key id.
    USERID_DEVICEID_ALGORITHM_ONETIMEKEYORDER = "userid_deviceid_algorithm_onetimekeyorder";
    /// `user_id 0xFF device_id 0xFF algorithm` -> JSON `FallbackKey` (key id, key, used).
    USERID_DEVICEID_FALLBACKKEY = "userid_deviceid_fallbackkey";
    /// `user_id 0xFF room_id-or-empty 0xFF event_type` -> JSON content of account data.
    USERID_ROOMID_TYPE_ACCOUNTDATA = "userid_roomid_type_accountdata";
    /// `user_id 0xFF count` (u64) -> `room_id-or-empty 0xFF event_type`: account data changes
    /// in stream order, for incremental `/sync` (stale entries are harmless).
    USERID_COUNT_ACCOUNTDATAKEY = "userid_count_accountdatakey";
    /// `count` (u64) -> `user_id`: stream positions used by per-user changes (account data).
    COUNT_USERID = "count_userid";
    /// `server_name` -> JSON of the server's own signed `/_matrix/key/v2/server` answer, as
    /// fetched (the remote key cache; checked again when loaded).
    SERVERNAME_SERVERKEYS = "servername_serverkeys";
    /// `user_id` -> JSON `PresenceRecord` (state, status message, last activity, count).
    USERID_PRESENCE = "userid_presence";
    /// `count` (u64) -> `user_id`: presence changes in stream order.
    COUNT_PRESENCEUSERID = "count_presenceuserid";
    /// `count` (u64) -> `user_id`: changes of users' device lists (device keys uploaded,
    /// devices deleted) in stream order, for `/keys/changes` and `device_lists` in `/sync`.
    COUNT_DEVICELISTUSERID = "count_devicelistuserid";
    /// `count` (u64) -> JSON `LocalDeviceChange`: the outbox of local users' device and
    /// signing key changes not yet announced to other servers; rows go once queued as EDUs.
    COUNT_LOCALDEVICECHANGE = "count_localdevicechange";
    /// `user_id` -> u64 big-endian: the `stream_id` of a local user's last announced device
    /// list update (`prev_id` of the next one).
    USERID_DEVICELISTVERSION = "userid_devicelistversion";
    /// `user_id` -> JSON `RemoteDeviceList`: cached devices and cross-signing keys of a remote
    /// user who shares a room with a local user, kept fresh by their server's EDUs.
    USERID_REMOTEDEVICELIST = "userid_remotedevicelist";
    /// `user_id` -> JSON `CrossSigningKeys` (master, self-signing, user-signing) of a local user.
    USERID_CROSSSIGNINGKEYS = "userid_crosssigningkeys";
    /// `signer_user_id 0xFF target_user_id` -> JSON signatures the signer's user-signing key
    /// made on the target's master key (shown to the signer only).
    SIGNER_TARGET_USERSIGNATURES = "signer_target_usersignatures";
    /// `user_id 0xFF device_id 0xFF count` (u64) -> JSON `ToDeviceMessage`: to-device messages
    /// waiting for a device, deleted once it acknowledges them.
    USERID_DEVICEID_COUNT_TODEVICE = "userid_deviceid_count_todevice";
    /// `user_id 0xFF device_id` -> JSON `PartialDelivery`: the last `/sync` that delivered only
    /// part of the device's to-device queue.
    USERID_DEVICEID_TODEVICEDELIVERY = "userid_deviceid_todevicedelivery";
    /// `user_id 0xFF device_id 0xFF txn_id` -> empty: to-device transactions already sent.
    USERID_DEVICEID_TXNID_TODEVICE = "userid_deviceid_txnid_todevice";
    /// `sender_user_id 0xFF message_id` -> u64 big-endian receive time (ms): to-device
    /// messages received from other servers, so a retried transaction delivers them once.
    SENDER_MESSAGEID_TODEVICE = "sender_messageid_todevice";
    /// `destination 0xFF count` (u64) -> JSON EDU: the durable outbound EDU queue (to-device,
    /// device list and signing key updates); rows are deleted once the destination accepted.
    DESTINATION_COUNT_EDU = "destination_count_edu";
    /// `user_id 0xFF version` (u64) -> JSON `BackupVersion`: room key backup versions.
    USERID_VERSION_BACKUP = "userid_version_backup";
    /// `user_id 0xFF version` (u64) `0xFF room_id 0xFF session_id` -> JSON `KeyBackupData`.
    USERID_VERSION_ROOMID_SESSIONID_BACKUPKEY = "userid_version_roomid_sessionid_backupkey";
    /// `user_id` -> JSON `DehydratedDevice` (MSC3814): the user's dehydrated device.
    USERID_DEHYDRATEDDEVICE = "userid_dehydrateddevice";
    /// `user_id 0xFF filter_id` -> JSON filter definition.
    USERID_FILTERID_FILTER = "userid_filterid_filter";
    /// `session_id` -> JSON `UiaaSessionRecord` (completed stages, bound request).
    UIAASESSIONID_SESSION = "uiaasessionid_session";
    /// `event_id` -> u64 big-endian short event id.
    EVENTID_SHORTEVENTID = "eventid_shorteventid";
    /// `short event id` (u64) -> the PDU's canonical JSON exactly as signed (without `event_id`).
    SHORTEVENTID_PDU = "shorteventid_pdu";
    /// `short event id` (u64) -> JSON `EventMeta` (event id, room, stream count, state after it).
    SHORTEVENTID_EVENTMETA = "shorteventid_eventmeta";
    /// `event_type 0xFF state_key` -> u64 big-endian short state key.
    STATEKEY_SHORTSTATEKEY = "statekey_shortstatekey";
    /// `short state key` (u64) -> `event_type 0xFF state_key`.
    SHORTSTATEKEY_STATEKEY = "shortstatekey_statekey";
    /// `short state hash` (u64) -> binary `StateSnapshot`: parent and the diff against it.
    SHORTSTATEHASH_SNAPSHOT = "shortstatehash_snapshot";
    /// `room_id` -> JSON `RoomMeta` (room version, current state snapshot).
    ROOMID_ROOMMETA = "roomid_roommeta";
    /// `user_id 0xFF room_id` -> JSON `RemoteInvite`: an invite of a local user to a room this
    /// server is not in (stripped state to show, servers to join or reject through).
    USERID_ROOMID_REMOTEINVITE = "userid_roomid_remoteinvite";
    /// `user_id 0xFF room_id` -> JSON client event: the user's leave of a room this server is
    /// not in (a rejected remote invite or a withdrawn remote knock), shown in `/sync`.
    USERID_ROOMID_OUTOFBANDLEAVE = "userid_roomid_outofbandleave";
    /// `room_id 0xFF event_id` -> empty: the room's forward extremities.
    ROOMID_EVENTID_EXTREMITY = "roomid_eventid_extremity";
    /// `room_id 0xFF count` (u64) -> u64 short event id: the room's timeline in stream order.
    ROOMID_COUNT_SHORTEVENTID = "roomid_count_shorteventid";
    /// `room_id 0xFF parent event_id 0xFF count` (u64) `0xFF child short id` (u64) -> JSON
    /// `RelationRecord` (rel_type, type, sender): events relating to an event (`m.relates_to`),
    /// in timeline order, under the child's room (a child in another room relates to nothing).
    PARENT_COUNT_CHILD = "parent_count_child";
    /// `room_id 0xFF count of the latest reply` (u64) `0xFF root event_id` -> empty: the room's
    /// threads by latest activity.
    ROOMID_THREADACTIVITY = "roomid_threadactivity";
    /// `root event_id` -> u64 count of the thread's latest reply (its key in
    /// `roomid_threadactivity`).
    THREADROOT_LATEST = "threadroot_latest";
    /// `room_id 0xFF origin_server_ts` (u64) `0xFF count` (u64) -> u64 short event id: the
    /// room's timeline events by the time their senders claim, for `/timestamp_to_event`.
    ROOMID_TS_COUNT = "roomid_ts_count";
    /// `count` (u64) -> `room_id`: backfilled timeline positions (outside the global stream),
    /// for followers of every timeline such as the search index.
    BACKFILLCOUNT_ROOMID = "backfillcount_roomid";
    /// `report id` (u64, a stream position) -> JSON `Report`: reports of events, rooms and
    /// users for the server's admins.
    ID_REPORT = "id_report";
    /// `user_id 0xFF app_id 0xFF pushkey` -> JSON `PusherRecord`: where to push a user's
    /// notifications.
    USERID_APPID_PUSHKEY_PUSHER = "userid_appid_pushkey_pusher";
    /// `user_id 0xFF app_id 0xFF pushkey` -> JSON `PusherProgress`: how far each pusher's
    /// delivery got.
    USERID_APPID_PUSHKEY_PUSHERPROGRESS = "userid_appid_pushkey_pusherprogress";
    /// `user_id 0xFF count` (u64) -> JSON `NotificationRecord`: events a user's push rules
    /// said notify, in stream order.
    USERID_COUNT_NOTIFICATION = "userid_count_notification";
    /// `user_id` -> `room_id`: the user's server notices room.
    USERID_NOTICEROOM = "userid_noticeroom";
    /// `delay_id` -> JSON `DelayedEventRecord`: events scheduled to be sent later (MSC4140).
    DELAYID_DELAYEDEVENT = "delayid_delayedevent";
    /// `user_id 0xFF device_id 0xFF txn_id` -> delay id: the transaction that scheduled a
    /// delayed message, so a retry answers the same delay id.
    USERID_DEVICEID_TXNID_DELAYID = "userid_deviceid_txnid_delayid";
    /// `user_id 0xFF room_id 0xFF root event_id` -> JSON `ThreadSubscription` (MSC4306).
    USERID_ROOMID_ROOT_THREADSUB = "userid_roomid_root_threadsub";
    /// `appservice id` -> JSON `AppserviceProgress`: how far the service's transactions have
    /// followed the global stream and its to-device queue, and its next transaction id.
    APPSERVICEID_PROGRESS = "appserviceid_progress";
    /// `appservice id` -> JSON `PendingTransaction`: the transaction being sent (kept until
    /// the service accepts it, so a retry, even after a restart, sends the same id and body).
    APPSERVICEID_PENDINGTXN = "appserviceid_pendingtxn";
    /// `appservice id 0xFF count` (u64) -> JSON to-device message (MSC2409 form): messages
    /// for the service's users, queued in the batch that queued them for the devices.
    APPSERVICEID_COUNT_TODEVICE = "appserviceid_count_todevice";
    /// `token` -> JSON `RegistrationToken`: registration tokens made through the admin API,
    /// with their use limit, expiry and counts of uses pending and completed.
    TOKEN_REGISTRATIONTOKEN = "token_registrationtoken";
    /// `token 0xFF uia session id` -> JSON `TokenUse`: a registration that used the token,
    /// pending while its UIA session lives, completed once the account exists. Counted, not
    /// kept as a counter, so an abandoned registration gives its use back by expiring.
    TOKEN_SESSION_USE = "token_session_use";
    /// `state` -> JSON `SsoAttempt`: a login sent to an identity provider and not yet back
    /// (nonce, PKCE verifier, where to return); deleted when used, so a state works once.
    SSOSTATE_ATTEMPT = "ssostate_attempt";
    /// `sha256(login token)` -> JSON `LoginTokenRecord`: a short-lived, single-use token a
    /// client exchanges for an access token (`m.login.token`).
    LOGINTOKENHASH_LOGINTOKEN = "logintokenhash_logintoken";
    /// `provider id 0xFF subject` -> user id: the account a provider's user is linked to.
    IDPSUBJECT_USERID = "idpsubject_userid";
    /// `user_id 0xFF provider id 0xFF subject` -> empty: a user's provider links.
    USERID_IDPSUBJECT = "userid_idpsubject";
    /// `client_id` -> JSON `OAuthClient`: clients registered through OAuth 2.0 dynamic client
    /// registration (their metadata and redirect URIs).
    OAUTHCLIENTID_CLIENT = "oauthclientid_client";
    /// `request id` -> JSON `PendingAuthorization`: an authorization request whose user is
    /// logging in or deciding on Accord's pages; deleted when decided.
    OAUTHREQUESTID_PENDING = "oauthrequestid_pending";
    /// `sha256(code)` -> JSON `AuthorizationGrant`: an authorization code, single use, minutes.
    OAUTHCODEHASH_GRANT = "oauthcodehash_grant";
    /// `sha256(device code)` -> JSON `DeviceGrant`: a device authorization (RFC 8628) waiting
    /// for its user, approved, or denied.
    OAUTHDEVICECODEHASH_GRANT = "oauthdevicecodehash_grant";
    /// `user code` -> `sha256(device code)`: what a person types on the verification page.
    OAUTHUSERCODE_DEVICECODEHASH = "oauthusercode_devicecodehash";
    /// `sha256(cookie)` -> JSON `AccountPageSession`: a person logged in on the account
    /// management pages (an hour at most).
    ACCOUNTCOOKIEHASH_SESSION = "accountcookiehash_session";
    /// `count` (u64) -> `room_id`: the global stream, for "which rooms changed since".
    COUNT_ROOMID = "count_roomid";
    /// `user_id 0xFF room_id` -> JSON `Membership` (state and the count it changed at).
    USERID_ROOMID_MEMBERSHIP = "userid_roomid_membership";
    /// `room_id 0xFF user_id` -> membership string (`join`, `invite`, ...).
    ROOMID_USERID_MEMBERSHIP = "roomid_userid_membership";
    /// `user_id 0xFF device_id 0xFF txn_id` -> event id the transaction created.
    USERID_DEVICEID_TXNID_EVENTID = "userid_deviceid_txnid_eventid";
    /// `room_id 0xFF user_id 0xFF receipt_type` -> JSON `Receipt` (event, ts, stream count).
    ROOMID_USERID_TYPE_RECEIPT = "roomid_userid_type_receipt";
    /// `room_id 0xFF count` (u64) -> `user_id 0xFF receipt_type`: receipt changes in stream order.
    ROOMID_COUNT_RECEIPTKEY = "roomid_count_receiptkey";
    /// `destination 0xFF count` (u64) -> event id: the durable outbound queue, written in the
    /// same batch as the event; rows are deleted once the destination accepted the transaction.
    DESTINATION_COUNT_EVENTID = "destination_count_eventid";
    /// `destination` -> JSON `DestinationBackoff` (failures, delay, retry time): a destination
    /// the sender could not reach, so a restart keeps backing off instead of hammering it.
    SERVERNAME_BACKOFF = "servername_backoff";
    /// `#alias:server` -> JSON `AliasRecord` (room id, creator).
    ALIAS_ALIASRECORD = "alias_aliasrecord";
    /// `room_id 0xFF #alias:server` -> empty: the aliases of a room.
    ROOMID_ALIAS = "roomid_alias";
    /// `room_id` -> empty: rooms published in the room directory.
    ROOMID_PUBLISHED = "roomid_published";
    /// `server_name 0xFF media_id` -> JSON `MediaRecord`: a local upload (or a reserved id of
    /// an asynchronous upload) or a cached remote file: its content hash, type, name, owner.
    SERVERMEDIAID_MEDIA = "servermediaid_media";
    /// `server_name 0xFF media_id 0xFF width 0xFF height 0xFF method` -> JSON `ThumbnailRecord`:
    /// a thumbnail made (or fetched) once, by the size it was made for.
    SERVERMEDIAID_THUMBNAIL = "servermediaid_thumbnail";
    /// `user_id 0xFF created_ms 0xFF media_id` -> u64 size (big-endian): a user's uploads, for
    /// quotas, pending-upload limits and deleting a user's media.
    USERID_MEDIA = "userid_media";
    /// `sha256 (hex) 0xFF server_name 0xFF media_id 0xFF what` -> empty: what refers to a stored
    /// file (`what` is `file` or a thumbnail's `width 0xFF height 0xFF method`), so a file is
    /// deleted with its last reference.
    SHA256_MEDIAREF = "sha256_mediaref";
    /// `seq` (u64) -> 32-byte SHA-256 of the body, then the body: JSON `AuditBody` naming the
    /// previous record's hash. The audit log: append-only and hash-chained (see `audit.rs`);
    /// the chain's head (`seq` u64 + hash) is `audit_head` in `global`.
    SEQ_AUDITRECORD = "seq_auditrecord";
    /// `room_id` -> JSON `RoomBlock` (admin, time): rooms an admin blocked; local users can't
    /// join them or be invited.
    ROOMID_BLOCK = "roomid_block";
    /// `room_id` -> u64 big-endian: the timeline position up to which the retention job has
    /// pruned the room's expired events (it resumes there after a restart or a crash).
    ROOMID_RETENTIONCURSOR = "roomid_retentioncursor";
    /// `room_id` -> JSON `RoomPurgeMark` (admin, time): a purge that has begun and not ended;
    /// removed with the room's metadata in the purge's last batch (see `rooms/purge_marks.rs`).
    ROOMID_PURGE = "roomid_purge";
}

/// Tables that existed in earlier schema versions; dropped at start.
pub const DROPPED: &[&str] = &[];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    #[test]
    fn table_names_are_unique_and_documented() {
        let mut seen = HashSet::new();
        for table in super::ALL {
            assert!(seen.insert(table.name), "table {} declared twice", table.name);
            assert!(
                table.doc.contains("->"),
                "table {} doc must give `key -> value`",
                table.name
            );
            assert!(
                !super::DROPPED.contains(&table.name),
                "table {} is both live and dropped",
                table.name
            );
        }
    }
}
