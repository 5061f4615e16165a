//! The audit log: each security event and admin action leaves exactly one record; admins list
//! (with filters), export and verify it; non-admins can't read it.

use accord_testkit::{TestServer, TestUser, ca::TestCa};
use ruma::{UserId, api::federation::query::get_profile_information::v1 as get_profile};
use serde_json::{Value, json};

use crate::federation_support::origin;

/// Every record, oldest first, from the export.
async fn export(server: &TestServer, admin: &TestUser) -> Vec<Value> {
    let reply = server
        .request_raw(
            http::Method::GET,
            "/_accord/admin/v1/audit/export",
            Some(&admin.token),
            None,
            None,
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), "application/jsonl");
    String::from_utf8(reply.bytes)
        .expect("utf-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// Records of `kind` written after the first `seen` records, leaving out the test's own
/// exports (each is an admin request too).
fn new_of_kind<'a>(records: &'a [Value], seen: usize, kind: &str) -> Vec<&'a Value> {
    records[seen..]
        .iter()
        .filter(|record| record["kind"] == kind && record["detail"]["path"] != "/_accord/admin/v1/audit/export")
        .collect()
}

/// Runs `action`, then checks it left exactly one record of `kind`, and returns it.
macro_rules! exactly_one {
    ($server:expr, $admin:expr, $kind:expr, $action:expr) => {{
        let before = export($server, $admin).await.len();
        $action;
        let after = export($server, $admin).await;
        let found = new_of_kind(&after, before, $kind);
        assert_eq!(found.len(), 1, "{}: {:?}", $kind, &after[before..]);
        found[0].clone()
    }};
}

#[tokio::test]
async fn each_security_event_and_admin_action_leaves_one_record() {
    let server = TestServer::start().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let created = exactly_one!(
        &server,
        &admin,
        "account_created",
        server.register("alice", "pw-alice-1").await
    );
    assert_eq!(created["target"], "@alice:localhost");
    let alice = server.login("alice", "pw-alice-1").await.ok();
    let token = alice["access_token"].as_str().expect("token").to_owned();
    let device = alice["device_id"].as_str().expect("device").to_owned();

    let login = exactly_one!(&server, &admin, "login", server.login("alice", "pw-alice-1").await.ok());
    assert_eq!(login["actor"], "@alice:localhost");
    assert_eq!(login["ip"], "127.0.0.1");
    assert_eq!(login["detail"]["method"], "m.login.password");
    let failed = exactly_one!(
        &server,
        &admin,
        "login_failed",
        server
            .login("alice", "wrong-password")
            .await
            .assert_error(403, "M_FORBIDDEN")
    );
    assert_eq!(failed["actor"], "@alice:localhost");
    assert_eq!(failed["ip"], "127.0.0.1");

    let logout = exactly_one!(
        &server,
        &admin,
        "devices_deleted",
        server
            .post("/_matrix/client/v3/logout", Some(&token), json!({}))
            .await
            .ok()
    );
    assert_eq!(logout["detail"]["device_ids"], json!([device]));
    assert_eq!(logout["detail"]["how"], "logout");

    let bob = server.register("bob", "pw-bob-12").await;
    let changed = exactly_one!(
        &server,
        &admin,
        "password_changed",
        server
            .post(
                "/_matrix/client/v3/account/password",
                Some(&bob.token),
                json!({
                    "new_password": "pw-bob-new-1",
                    "logout_devices": false,
                    "auth": { "type": "m.login.password", "password": "pw-bob-12",
                              "identifier": { "type": "m.id.user", "user": "bob" } },
                }),
            )
            .await
            .ok()
    );
    assert_eq!(changed["target"], bob.user_id);

    let version = server
        .post(
            "/_matrix/client/v3/room_keys/version",
            Some(&bob.token),
            json!({ "algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": { "public_key": "abc" } }),
        )
        .await
        .ok();
    let version = version["version"].as_str().expect("version").to_owned();
    let _ = exactly_one!(
        &server,
        &admin,
        "key_backup_deleted",
        server
            .delete(
                &format!("/_matrix/client/v3/room_keys/version/{version}"),
                Some(&bob.token),
                None,
            )
            .await
            .ok()
    );

    let locked = exactly_one!(
        &server,
        &admin,
        "account_state_changed",
        server
            .put(
                &format!("/_matrix/client/v1/admin/lock/{}", bob.user_id),
                Some(&admin.token),
                json!({ "locked": true }),
            )
            .await
            .ok()
    );
    assert_eq!(
        (locked["actor"].clone(), locked["detail"]["change"].clone()),
        (json!(admin.user_id), json!("locked"))
    );

    let support = exactly_one!(
        &server,
        &admin,
        "admin_login_as",
        server
            .post(
                "/_synapse/admin/v1/users/@alice:localhost/login",
                Some(&admin.token),
                json!({}),
            )
            .await
            .ok()
    );
    assert_eq!(support["target"], "@alice:localhost");

    let everything = exactly_one!(
        &server,
        &admin,
        "logout_all",
        server
            .post("/_matrix/client/v3/logout/all", Some(&bob.token), json!({}))
            .await
            .ok()
    );
    assert_eq!(everything["actor"], bob.user_id);

    // Admin requests are recorded with the path, status and target, never the token; refused
    // attempts too.
    let carol = server.register("carol", "pw-carol-1").await;
    let probe = exactly_one!(
        &server,
        &admin,
        "admin_request",
        server
            .get(
                &format!(
                    "/_synapse/admin/v2/users/{}?access_token={}",
                    admin.user_id, carol.token
                ),
                None,
            )
            .await
            .assert_error(403, "M_FORBIDDEN")
    );
    assert_eq!(probe["actor"], carol.user_id);
    assert_eq!(probe["detail"]["status"], 403);
    assert_eq!(probe["target"], admin.user_id);
    assert!(!probe.to_string().contains(&carol.token), "the token is never recorded");
    let deactivation = exactly_one!(
        &server,
        &admin,
        "account_deactivated",
        server
            .post(
                &format!("/_synapse/admin/v1/deactivate/{}", carol.user_id),
                Some(&admin.token),
                json!({}),
            )
            .await
            .ok()
    );
    assert_eq!(deactivation["actor"], admin.user_id);

    // Listing with filters, newest first, paged; verification; non-admins refused.
    let listed = server
        .get(
            &format!(
                "/_accord/admin/v1/audit?kind=login&actor={}&limit=2",
                "%40alice%3Alocalhost"
            ),
            Some(&admin.token),
        )
        .await
        .ok();
    let records = listed["records"].as_array().expect("records");
    assert_eq!(records.len(), 2);
    assert!(records[0]["seq"].as_u64() > records[1]["seq"].as_u64(), "newest first");
    assert!(listed["next_token"].as_u64().is_some());
    let all = export(&server, &admin).await;
    for pair in all.windows(2) {
        assert_eq!(
            pair[1]["prev_hash"], pair[0]["hash"],
            "each record names the one before"
        );
        assert_eq!(pair[1]["seq"].as_u64(), pair[0]["seq"].as_u64().map(|seq| seq + 1));
    }
    let verified = server
        .get("/_accord/admin/v1/audit/verify", Some(&admin.token))
        .await
        .ok();
    assert_eq!(verified["intact"], true, "{verified}");
    // The export's own request record came after the export was made.
    assert_eq!(verified["records"], all.len() + 1);
    server
        .get("/_accord/admin/v1/audit", Some(&alice_token(&server).await))
        .await
        .assert_error(403, "M_FORBIDDEN");
}

async fn alice_token(server: &TestServer) -> String {
    let login = server.login("alice", "pw-alice-1").await.ok();
    login["access_token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn reloads_and_refused_federation_are_recorded_once() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let a_name = origin(&a).to_string();
    let b = TestServer::start_federating(&ca, |c| c.federation.denied_servers = vec![a_name.clone()]).await;
    let admin = b.create_user("root", "pw-root-1", true).await;
    let bob = b.register("bob", "pw-bob-12").await;
    // Two refused requests from the same server: one record (quiet period).
    let federation = a.running().services.federation.as_ref().expect("federation");
    for _ in 0..2 {
        let user = UserId::parse(&bob.user_id).expect("user id");
        let err = federation
            .client()
            .send(&origin(&b), get_profile::Request::new(user))
            .await
            .expect_err("refused");
        assert!(err.to_string().contains("403"), "{err}");
    }
    let refused = export(&b, &admin).await;
    let refusals = new_of_kind(&refused, 0, "federation_refused");
    assert_eq!(refusals.len(), 1, "{refused:?}");
    assert_eq!(refusals[0]["actor"], a_name);

    let mut config = (*b.running().services.config).clone();
    config.federation.denied_servers.clear();
    let _ = exactly_one!(&b, &admin, "config_reloaded", b.running().reload(&config));
}
