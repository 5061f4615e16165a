//! Application services acting at the client-server API (spec: application-service-api.md,
//! "Client-Server API Extensions"): the `as_token`, identity assertion with `user_id` and
//! `device_id`, registration and login of their users, exclusive namespaces, timestamp
//! massaging, and pinging.

use accord_testkit::urlencode;
use serde_json::json;

use crate::appservice_support::{AS_TOKEN, TestAppservice, as_user, server_with_bridge};

#[tokio::test]
async fn the_as_token_acts_as_the_sender_or_an_asserted_user() {
    let dir = tempfile::tempdir().expect("dir");
    let server = server_with_bridge(&dir, None).await;
    // The sender needs no registration; whoami tells no device for a service.
    let me = server
        .get("/_matrix/client/v3/account/whoami", Some(AS_TOKEN))
        .await
        .ok();
    assert_eq!(me["user_id"], "@bridgebot:localhost");
    assert!(me.get("device_id").is_none(), "{me}");

    // A user of the namespace the service never registered: 403.
    server
        .get(
            &as_user("/_matrix/client/v3/account/whoami", "@bridge_alice:localhost"),
            Some(AS_TOKEN),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
    // Outside the namespace: 403, registered or not.
    let bob = server.register("bob", "password-bob").await;
    server
        .get(
            &as_user("/_matrix/client/v3/account/whoami", &bob.user_id),
            Some(AS_TOKEN),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");

    // Registered (with `?user_id=` on /register, as mautrix sends it: ignored there).
    let registered = server
        .post(
            &as_user("/_matrix/client/v3/register", "@bridge_alice:localhost"),
            Some(AS_TOKEN),
            json!({ "type": "m.login.application_service", "username": "bridge_alice", "inhibit_login": true }),
        )
        .await
        .ok();
    assert_eq!(registered["user_id"], "@bridge_alice:localhost");
    assert!(registered.get("access_token").is_none());
    let me = server
        .get(
            &as_user("/_matrix/client/v3/account/whoami", "@bridge_alice:localhost"),
            Some(AS_TOKEN),
        )
        .await
        .ok();
    assert_eq!(me["user_id"], "@bridge_alice:localhost");

    // A device that doesn't exist: 400 M_UNKNOWN_DEVICE; one that does: whoami tells it.
    server
        .get(
            &as_user(
                "/_matrix/client/v3/account/whoami?device_id=NOPE",
                "@bridge_alice:localhost",
            ),
            Some(AS_TOKEN),
        )
        .await
        .assert_error(400, "M_UNKNOWN_DEVICE");
    let login = server
        .post(
            "/_matrix/client/v3/login",
            Some(AS_TOKEN),
            json!({
                "type": "m.login.application_service",
                "identifier": { "type": "m.id.user", "user": "bridge_alice" },
                "device_id": "BRIDGEDEV",
            }),
        )
        .await
        .ok();
    assert_eq!(login["device_id"], "BRIDGEDEV");
    let me = server
        .get(
            &as_user(
                "/_matrix/client/v3/account/whoami?device_id=BRIDGEDEV",
                "@bridge_alice:localhost",
            ),
            Some(AS_TOKEN),
        )
        .await
        .ok();
    assert_eq!(me["device_id"], "BRIDGEDEV");
    // The device's own token works like any user's.
    let token = login["access_token"].as_str().expect("token");
    let me = server.get("/_matrix/client/v3/account/whoami", Some(token)).await.ok();
    assert_eq!(
        (me["user_id"].as_str(), me["device_id"].as_str()),
        (Some("@bridge_alice:localhost"), Some("BRIDGEDEV"))
    );

    // Keys belong to a device: acting without one, an upload is refused.
    server
        .post(
            &as_user("/_matrix/client/v3/keys/upload", "@bridge_alice:localhost"),
            Some(AS_TOKEN),
            json!({ "one_time_keys": crate::e2ee_keys::one_time_keys("x", 1) }),
        )
        .await
        .assert_error(400, "M_MISSING_PARAM");

    // A wrong token is an unknown token; a malformed user_id a bad parameter.
    server
        .get("/_matrix/client/v3/account/whoami", Some("not-the-as-token"))
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    server
        .get("/_matrix/client/v3/account/whoami?user_id=nobody", Some(AS_TOKEN))
        .await
        .assert_error(400, "M_INVALID_PARAM");
}

#[tokio::test]
async fn exclusive_namespaces_refuse_everyone_else() {
    let dir = tempfile::tempdir().expect("dir");
    let server = server_with_bridge(&dir, None).await;
    // A person can't register a bridge's name, nor see it as available.
    server
        .get("/_matrix/client/v3/register/available?username=bridge_x", None)
        .await
        .assert_error(400, "M_EXCLUSIVE");
    server
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({ "username": "bridge_x", "password": "pw-123456", "auth": { "type": "m.login.dummy" } }),
        )
        .await
        .assert_error(400, "M_EXCLUSIVE");
    // The sender's account exists from the start.
    server
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({ "username": "bridgebot", "password": "pw-123456", "auth": { "type": "m.login.dummy" } }),
        )
        .await
        .assert_error(400, "M_USER_IN_USE");
    // The service can't register outside its namespace, nor without its token.
    server
        .post(
            "/_matrix/client/v3/register",
            Some(AS_TOKEN),
            json!({ "type": "m.login.application_service", "username": "carol" }),
        )
        .await
        .assert_error(400, "M_EXCLUSIVE");
    server
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({ "type": "m.login.application_service", "username": "bridge_y" }),
        )
        .await
        .assert_error(401, "M_MISSING_TOKEN");
    // Logging in with the login type needs the service's token and its namespace.
    let carol = server.register("carol", "password-carol").await;
    server
        .post(
            "/_matrix/client/v3/login",
            Some(&carol.token),
            json!({ "type": "m.login.application_service", "identifier": { "type": "m.id.user", "user": "carol" } }),
        )
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    server
        .post(
            "/_matrix/client/v3/login",
            Some(AS_TOKEN),
            json!({ "type": "m.login.application_service", "identifier": { "type": "m.id.user", "user": "carol" } }),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
    let types = server.get("/_matrix/client/v3/login", None).await.ok();
    assert!(
        types["flows"]
            .as_array()
            .expect("flows")
            .iter()
            .any(|f| f["type"] == "m.login.application_service"),
        "{types}"
    );

    // Aliases: a person can't take one in the exclusive namespace; the service can, but only
    // in its own namespace.
    let room = server.create_room(&carol, json!({})).await;
    server
        .put(
            &format!(
                "/_matrix/client/v3/directory/room/{}",
                urlencode("#bridge_room:localhost")
            ),
            Some(&carol.token),
            json!({ "room_id": room }),
        )
        .await
        .assert_error(400, "M_EXCLUSIVE");
    server
        .post(
            "/_matrix/client/v3/createRoom",
            Some(&carol.token),
            json!({ "room_alias_name": "bridge_other" }),
        )
        .await
        .assert_error(400, "M_EXCLUSIVE");
    let bridged = server
        .post(
            "/_matrix/client/v3/createRoom",
            Some(AS_TOKEN),
            json!({ "room_alias_name": "bridge_room" }),
        )
        .await
        .ok();
    let resolved = server
        .get(
            &format!(
                "/_matrix/client/v3/directory/room/{}",
                urlencode("#bridge_room:localhost")
            ),
            None,
        )
        .await
        .ok();
    assert_eq!(resolved["room_id"], bridged["room_id"]);
    server
        .post(
            "/_matrix/client/v3/createRoom",
            Some(AS_TOKEN),
            json!({ "room_alias_name": "elsewhere" }),
        )
        .await
        .assert_error(400, "M_EXCLUSIVE");
}

#[tokio::test]
async fn only_a_service_massages_timestamps() {
    let dir = tempfile::tempdir().expect("dir");
    let server = server_with_bridge(&dir, None).await;
    let (alice, room) = crate::appservice_support::bridged_room(&server).await;
    let old = 1_641_168_000_000_u64; // 2022-01-03
    let sent = server
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/send/m.room.message/ts1?ts={old}",
                urlencode(&room)
            ),
            Some(AS_TOKEN),
            json!({ "msgtype": "m.text", "body": "imported" }),
        )
        .await
        .ok();
    let event_id = sent["event_id"].as_str().expect("event id");
    let event = server
        .get(
            &format!(
                "/_matrix/client/v3/rooms/{}/event/{}",
                urlencode(&room),
                urlencode(event_id)
            ),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(event["origin_server_ts"], old);
    // Jump to date finds it at its massaged time (Complement's TestJumpToDateEndpoint).
    let found = server
        .get(
            &format!(
                "/_matrix/client/v1/rooms/{}/timestamp_to_event?ts={}&dir=b",
                urlencode(&room),
                old + 1
            ),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(found["event_id"], event_id);
    // Two messages at the same massaged time: backwards finds the later, forwards the earlier
    // (Complement's TestJumpToDateEndpoint, "should find event ... with the same timestamp").
    let same = old + 1000;
    let mut pair = Vec::new();
    for txn in ["same1", "same2"] {
        let sent = server
            .put(
                &format!(
                    "/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}?ts={same}",
                    urlencode(&room)
                ),
                Some(AS_TOKEN),
                json!({ "msgtype": "m.text", "body": txn }),
            )
            .await
            .ok();
        pair.push(sent["event_id"].clone());
    }
    for (dir, expected) in [("b", &pair[1]), ("f", &pair[0])] {
        let found = server
            .get(
                &format!(
                    "/_matrix/client/v1/rooms/{}/timestamp_to_event?ts={same}&dir={dir}",
                    urlencode(&room)
                ),
                Some(&alice.token),
            )
            .await
            .ok();
        assert_eq!(&found["event_id"], expected, "dir={dir}");
    }
    // State too.
    let state = server
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/state/m.room.topic/?ts={old}",
                urlencode(&room)
            ),
            Some(&alice.token),
            json!({ "topic": "not massaged" }),
        )
        .await
        .ok();
    let topic = server
        .get(
            &format!(
                "/_matrix/client/v3/rooms/{}/event/{}",
                urlencode(&room),
                urlencode(state["event_id"].as_str().expect("id"))
            ),
            Some(&alice.token),
        )
        .await
        .ok();
    assert!(
        topic["origin_server_ts"].as_u64().expect("ts") > old,
        "a person's ts is ignored"
    );
    server
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/send/m.room.message/ts2?ts=yesterday",
                urlencode(&room)
            ),
            Some(AS_TOKEN),
            json!({ "msgtype": "m.text", "body": "bad" }),
        )
        .await
        .assert_error(400, "M_INVALID_PARAM");
}

#[tokio::test]
async fn a_service_pings_itself_through_the_server() {
    let appservice = TestAppservice::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let server = server_with_bridge(&dir, Some(&appservice.url)).await;
    let pong = server
        .post(
            "/_matrix/client/v1/appservice/bridge/ping",
            Some(AS_TOKEN),
            json!({ "transaction_id": "ping-1" }),
        )
        .await
        .ok();
    assert!(pong["duration_ms"].is_u64(), "{pong}");
    let pings = appservice
        .wait_until("a ping", |r| r.iter().any(|r| r.kind == "ping"))
        .await;
    let ping = pings.iter().find(|r| r.kind == "ping").expect("ping");
    assert_eq!(ping.body["transaction_id"], "ping-1");
    assert_eq!(
        ping.authorization,
        format!("Bearer {}", crate::appservice_support::HS_TOKEN)
    );

    // Another service's id, or a person: 403.
    server
        .post("/_matrix/client/v1/appservice/other/ping", Some(AS_TOKEN), json!({}))
        .await
        .assert_error(403, "M_FORBIDDEN");
    let alice = server.register("alice", "password-alice").await;
    server
        .post(
            "/_matrix/client/v1/appservice/bridge/ping",
            Some(&alice.token),
            json!({}),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");

    // The service failing: 502 M_BAD_STATUS with its status.
    appservice.set_down(true);
    let failed = server
        .post("/_matrix/client/v1/appservice/bridge/ping", Some(AS_TOKEN), json!({}))
        .await;
    failed.assert_error(502, "M_BAD_STATUS");
    assert_eq!(failed.body["status"], 503, "{}", failed.body);
}

#[tokio::test]
async fn pinging_a_service_without_url_or_listener_says_why() {
    let dir = tempfile::tempdir().expect("dir");
    let server = server_with_bridge(&dir, None).await;
    server
        .post("/_matrix/client/v1/appservice/bridge/ping", Some(AS_TOKEN), json!({}))
        .await
        .assert_error(400, "M_URL_NOT_SET");

    // A port nothing listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://127.0.0.1:{}", free.local_addr().expect("addr").port());
    drop(free);
    let dir = tempfile::tempdir().expect("dir");
    let server = server_with_bridge(&dir, Some(&url)).await;
    server
        .post("/_matrix/client/v1/appservice/bridge/ping", Some(AS_TOKEN), json!({}))
        .await
        .assert_error(502, "M_CONNECTION_FAILED");
}

/// Complement's TestJoinFederatedRoomFromApplicationServiceBridgeUser: the bridge's own user,
/// never registered and without a profile, joins a room on another server.
#[tokio::test]
async fn the_bridge_user_joins_a_room_on_another_server() {
    let ca = accord_testkit::ca::TestCa::new();
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("bridge.yaml");
    std::fs::write(&file, crate::appservice_support::registration(None)).expect("write registration");
    let hs1 = accord_testkit::TestServer::start_federating(&ca, |c| c.appservice.registration_files = vec![file]).await;
    let hs2 = accord_testkit::TestServer::start_federating(&ca, |_| {}).await;
    let charlie = hs2.register("charlie", "password-charlie").await;
    let room = hs2
        .create_room(&charlie, json!({ "preset": "public_chat", "name": "hs2 room" }))
        .await;
    let hs2_name = crate::federation_support::origin(&hs2);
    hs1.post(
        &format!(
            "/_matrix/client/v3/join/{}?server_name={}",
            urlencode(&room),
            urlencode(hs2_name.as_str())
        ),
        Some(AS_TOKEN),
        json!({}),
    )
    .await
    .ok();
    let bot = format!("@bridgebot:{}", crate::federation_support::origin(&hs1));
    let members = hs2
        .get(
            &format!("/_matrix/client/v3/rooms/{}/joined_members", urlencode(&room)),
            Some(&charlie.token),
        )
        .await
        .ok();
    assert!(members["joined"].get(&bot).is_some(), "{members}");
}

/// `rate_limited: false` exempts the users a service acts as; people stay limited.
#[tokio::test]
async fn a_service_registered_without_rate_limits_is_not_limited() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("bridge.yaml");
    std::fs::write(&file, crate::appservice_support::registration(None)).expect("write registration");
    let server = accord_testkit::TestServer::start_with(|c| {
        c.appservice.registration_files = vec![file];
        c.rate_limits.media_create = accord_core::config::BucketConfig {
            per_second: 2.0 / 60.0,
            burst_count: 2,
        };
    })
    .await;
    let upload = |token: String| {
        let server = &server;
        async move {
            server
                .request_raw(
                    http::Method::POST,
                    "/_matrix/media/v3/upload",
                    Some(&token),
                    Some("text/plain"),
                    Some(b"hello".to_vec()),
                )
                .await
                .status
        }
    };
    for _ in 0..4 {
        assert_eq!(upload(AS_TOKEN.to_owned()).await, 200);
    }
    let alice = server.register("alice", "password-alice").await;
    let statuses = [
        upload(alice.token.clone()).await,
        upload(alice.token.clone()).await,
        upload(alice.token.clone()).await,
    ];
    assert_eq!(statuses, [200, 200, 429]);
}

/// Third-party lookups go to the bridges that serve the protocol.
#[tokio::test]
async fn third_party_lookups_reach_the_bridge_of_the_protocol() {
    let appservice = TestAppservice::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let server = server_with_bridge(&dir, Some(&appservice.url)).await;
    let alice = server.register("alice", "password-alice").await;
    let protocols = server
        .get("/_matrix/client/v3/thirdparty/protocols", Some(&alice.token))
        .await
        .ok();
    let instance = &protocols["gitter"]["instances"][0];
    assert_eq!(instance["network_id"], "gitter", "{protocols}");
    assert_eq!(
        instance["instance_id"], "bridge|gitter",
        "the instance names its bridge"
    );
    server
        .get("/_matrix/client/v3/thirdparty/protocol/gitter", Some(&alice.token))
        .await
        .ok();
    server
        .get("/_matrix/client/v3/thirdparty/protocol/irc", Some(&alice.token))
        .await
        .assert_error(404, "M_NOT_FOUND");
    let locations = server
        .get(
            "/_matrix/client/v3/thirdparty/location/gitter?room=matrix",
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(locations[0]["alias"], "#bridge_gitter_matrix:localhost", "{locations}");
    let users = server
        .get(
            "/_matrix/client/v3/thirdparty/user/gitter?username=alice",
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(users[0]["userid"], "@bridge_gitter_alice:localhost", "{users}");
    // No bridge serves it: nothing, not an error.
    let none = server
        .get("/_matrix/client/v3/thirdparty/location/irc", Some(&alice.token))
        .await
        .ok();
    assert_eq!(none, serde_json::json!([]));
}

/// SIGHUP reads the registration files again; a broken file leaves the old set in force.
#[tokio::test]
async fn a_reload_applies_new_registrations_and_keeps_the_old_on_a_broken_file() {
    let dir = tempfile::tempdir().expect("dir");
    let server = server_with_bridge(&dir, None).await;
    let file = dir.path().join("bridge.yaml");
    let renewed = crate::appservice_support::registration(None).replace(AS_TOKEN, "a-new-as-token");
    std::fs::write(&file, renewed).expect("rewrite registration");
    let mut config = server.config.clone();
    config.appservice.registration_files = vec![file.clone()];
    server.running().reload(&config);
    server
        .get("/_matrix/client/v3/account/whoami", Some(AS_TOKEN))
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    server
        .get("/_matrix/client/v3/account/whoami", Some("a-new-as-token"))
        .await
        .ok();

    std::fs::write(&file, "id: [broken").expect("break registration");
    server.running().reload(&config);
    server
        .get("/_matrix/client/v3/account/whoami", Some("a-new-as-token"))
        .await
        .ok();
}
