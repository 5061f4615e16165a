//! Server-server basics between two Accord servers on loopback with TLS from a test CA:
//! signed requests, key fetching, and refusal of forged or misaddressed requests.

use accord_testkit::{TestServer, ca::TestCa};
use ruma::{
    OwnedServerName, UserId,
    api::federation::{
        authentication::{XMatrix, XMatrixSigningInput},
        query::get_profile_information::v1 as get_profile,
    },
    signatures::Ed25519KeyPair,
};
use serde_json::{Value, json};

use crate::federation_support::{SharedRoom, forge, id_of, origin, shared_room, stored_pdu, transact, wait_for_bodies};

#[tokio::test]
async fn signed_profile_query_between_two_servers() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let bob = b.register("bob", "pw-bob-1").await;
    b.put(
        &format!("/_matrix/client/v3/profile/{}/displayname", bob.user_id),
        Some(&bob.token),
        json!({ "displayname": "Bob of B" }),
    )
    .await
    .ok();
    let federation = a.running().services.federation.as_ref().expect("federation enabled");
    let user = UserId::parse(&bob.user_id).expect("user id");
    // B verifies A's X-Matrix signature by fetching A's key from A.
    let response = federation
        .client()
        .send(&origin(&b), get_profile::Request::new(user.clone()))
        .await
        .expect("profile query");
    assert_eq!(response.data.get("displayname"), Some(&json!("Bob of B")));
    // Unknown users are 404 over federation too.
    let ghost = UserId::parse(format!("@ghost:{}", origin(&b))).expect("user id");
    let err = federation
        .client()
        .send(&origin(&b), get_profile::Request::new(ghost))
        .await
        .expect_err("unknown user");
    assert!(err.to_string().contains("404"), "{err}");
}

/// Sends a profile query to `to` with an X-Matrix header signed by `key` claiming `claimed`.
async fn forged(
    ca: &TestCa,
    to: &TestServer,
    claimed: &OwnedServerName,
    destination: &OwnedServerName,
    key: &Ed25519KeyPair,
) -> (u16, Value) {
    let port = to.running().federation_addr.expect("federation").port();
    let path = format!(
        "/_matrix/federation/v1/query/profile?user_id=%40bob%3A{}",
        urlencoding(to.config.server_name.as_str())
    );
    let request = http::Request::builder()
        .method("GET")
        .uri(path.clone())
        .body(Vec::<u8>::new())
        .expect("request");
    let x_matrix = XMatrix::sign_http_request(
        &request,
        XMatrixSigningInput::new(claimed.clone(), destination.clone(), key),
    )
    .expect("sign");
    let response = ca
        .client()
        .get(format!("https://localhost:{port}{path}"))
        .header("authorization", http::HeaderValue::from(&x_matrix))
        .send()
        .await
        .expect("request reaches the server");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn urlencoding(text: &str) -> String {
    accord_testkit::urlencode(text)
}

#[tokio::test]
async fn forged_misaddressed_and_unsigned_requests_are_401() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    b.register("bob", "pw-bob-1").await;
    let real_key = a.running().services.rooms.rooms().identity().key.clone();
    // A different key published under A's key id: the signature can't verify.
    let impostor = Ed25519KeyPair::from_der(&Ed25519KeyPair::generate(), real_key.version().to_owned()).expect("key");
    let (status, body) = forged(&ca, &b, &origin(&a), &origin(&b), &impostor).await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (401, Some("M_UNAUTHORIZED")),
        "{body}"
    );
    // Correctly signed, but for another destination.
    let (status, body) = forged(&ca, &b, &origin(&a), &origin(&a), &real_key).await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (401, Some("M_UNAUTHORIZED")),
        "{body}"
    );
    // The real key for the right destination works.
    let (status, body) = forged(&ca, &b, &origin(&a), &origin(&b), &real_key).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["displayname"], "bob");
    // No Authorization header at all.
    let port = b.running().federation_addr.expect("federation").port();
    let response = ca
        .client()
        .get(format!(
            "https://localhost:{port}/_matrix/federation/v1/query/profile?user_id=%40bob%3Ax"
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 401);
    // The server keeps serving.
    assert_eq!(b.get("/_matrix/client/versions", None).await.status, 200);
}

#[tokio::test]
async fn denied_servers_are_refused_with_403_before_any_key_fetch() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let a_name = origin(&a).to_string();
    let b = TestServer::start_federating(&ca, |c| c.federation.denied_servers = vec![a_name.clone()]).await;
    let bob = b.register("bob", "pw-bob-1").await;
    let federation = a.running().services.federation.as_ref().expect("federation");
    let user = UserId::parse(&bob.user_id).expect("user id");
    let err = federation
        .client()
        .send(&origin(&b), get_profile::Request::new(user))
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("403") && err.to_string().contains("M_FORBIDDEN"),
        "{err}"
    );
}

/// With `allowed_servers`, nothing leaves for other servers: a listener standing in for a
/// third server sees no connection at all, whatever asks (raw query, client join, invite, alias
/// and profile lookups, media, the notary, a room event). After a reload that opens federation, it does.
#[tokio::test]
async fn allow_list_blocks_outbound_requests_until_reloaded() {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    let ca = TestCa::new();
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let b_name = origin(&b).to_string();
    let a = TestServer::start_federating(&ca, |c| c.federation.allowed_servers = vec![b_name.clone()]).await;
    b.register("bob", "pw-bob-1").await;

    let outsider = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let outsider_name =
        ruma::ServerName::parse(format!("127.0.0.1:{}", outsider.local_addr().expect("addr").port())).expect("name");
    let connections = Arc::new(AtomicUsize::new(0));
    {
        let connections = connections.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = outsider.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                drop(socket);
            }
        });
    }

    let federation = a.running().services.federation.as_ref().expect("federation");
    let outsider_user = UserId::parse(format!("@x:{outsider_name}")).expect("user id");
    let refused = federation
        .client()
        .send(&outsider_name, get_profile::Request::new(outsider_user.clone()))
        .await;
    assert!(
        matches!(refused, Err(accord_federation::Error::Forbidden(_))),
        "{refused:?}"
    );
    // The allowed server still works.
    let bob = UserId::parse(format!("@bob:{b_name}")).expect("user id");
    federation
        .client()
        .send(&origin(&b), get_profile::Request::new(bob))
        .await
        .expect("allowed server");
    // Every other path a client or the server can take towards the outsider: joins, invites,
    // a knock, its room directory, alias lookups, profiles, the notary, and a room event that
    // would be queued for it.
    let alice = a.register("alice", "pw-alice-1").await;
    let room = a.create_room(&alice, json!({ "preset": "public_chat" })).await;
    let attempts = [
        (
            format!(
                "/_matrix/client/v3/join/{}",
                accord_testkit::urlencode(&format!("!nowhere:{outsider_name}"))
            ),
            Some(json!({})),
        ),
        (
            format!("/_matrix/client/v3/rooms/{room}/invite"),
            Some(json!({ "user_id": outsider_user })),
        ),
        (
            format!(
                "/_matrix/client/v3/knock/{}?via={outsider_name}",
                accord_testkit::urlencode(&format!("!nowhere:{outsider_name}"))
            ),
            Some(json!({})),
        ),
        (
            format!("/_matrix/client/v3/publicRooms?server={outsider_name}"),
            Some(json!({})),
        ),
    ];
    for (path, body) in attempts {
        let reply = a.post(&path, Some(&alice.token), body.unwrap_or_default()).await;
        assert!(reply.status >= 400, "{path}: {:?}", reply.body);
    }
    let alias = a
        .get(
            &format!(
                "/_matrix/client/v3/directory/room/{}",
                accord_testkit::urlencode(&format!("#x:{outsider_name}"))
            ),
            Some(&alice.token),
        )
        .await;
    assert!(alias.status >= 400, "{:?}", alias.body);
    let profile = a
        .get(
            &format!(
                "/_matrix/client/v3/profile/{}",
                accord_testkit::urlencode(outsider_user.as_str())
            ),
            Some(&alice.token),
        )
        .await;
    assert!(profile.status >= 400, "{:?}", profile.body);
    // Its media, by every download path (the legacy ones with the freeze on fetch nothing).
    for path in [
        format!("/_matrix/client/v1/media/download/{outsider_name}/abcdef"),
        format!("/_matrix/client/v1/media/thumbnail/{outsider_name}/abcdef?width=32&height=32"),
        format!("/_matrix/media/v3/download/{outsider_name}/abcdef"),
    ] {
        let media = a.get(&path, Some(&alice.token)).await;
        assert!(media.status >= 400, "{path}: {:?}", media.body);
    }
    assert!(federation.notarised_keys(&outsider_name).await.is_none());
    a.send_text(&alice, &room, "nobody outside hears this").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "no connection may reach a server outside the allow list"
    );

    // Reload with an open configuration: now the request goes out (and fails at TLS).
    let mut open = a.config.clone();
    open.federation.allowed_servers.clear();
    a.running().reload(&open);
    let attempt = federation
        .client()
        .send(&outsider_name, get_profile::Request::new(outsider_user))
        .await;
    assert!(
        matches!(attempt, Err(accord_federation::Error::Transport { .. })),
        "{attempt:?}"
    );
    assert!(
        connections.load(Ordering::SeqCst) >= 1,
        "after the reload the request is attempted"
    );
}

#[tokio::test]
async fn clients_read_remote_profiles_and_aliases_over_federation() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let room = b.create_room(&bob, json!({ "room_alias_name": "lobby" })).await;

    let profile = a
        .get(
            &format!("/_matrix/client/v3/profile/{}", bob.user_id),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(profile["displayname"], "bob");
    let name = a
        .get(&format!("/_matrix/client/v3/profile/{}/displayname", bob.user_id), None)
        .await
        .ok();
    assert_eq!(name["displayname"], "bob");
    let missing = format!("/_matrix/client/v3/profile/@nobody:{}", origin(&b));
    a.get(&missing, None).await.assert_error(404, "M_NOT_FOUND");

    let alias = accord_testkit::urlencode(&format!("#lobby:{}", origin(&b)));
    let resolved = a
        .get(
            &format!("/_matrix/client/v3/directory/room/{alias}"),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(resolved["room_id"], json!(room));
    assert_eq!(resolved["servers"], json!([origin(&b)]));
    let unknown = accord_testkit::urlencode(&format!("#nope:{}", origin(&b)));
    a.get(
        &format!("/_matrix/client/v3/directory/room/{unknown}"),
        Some(&alice.token),
    )
    .await
    .assert_error(404, "M_NOT_FOUND");
}

/// Signing keys published by a server, as a map for `verify_json`.
fn key_map(server: &TestServer) -> ruma::signatures::PublicKeyMap {
    let identity = server.running().services.rooms.rooms().identity();
    let mut keys = std::collections::BTreeMap::new();
    keys.insert(
        format!("ed25519:{}", identity.key.version()),
        ruma::serde::Base64::new(identity.key.public_key().to_vec()),
    );
    let mut map = std::collections::BTreeMap::new();
    map.insert(identity.server_name.to_string(), keys);
    map
}

#[tokio::test]
async fn notary_serves_other_servers_keys_countersigned_and_respects_the_allow_list() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let a_name = origin(&a).to_string();
    let b = TestServer::start_federating(&ca, |c| c.federation.allowed_servers = vec![a_name.clone()]).await;
    let port = b.running().federation_addr.expect("federation").port();
    let client = ca.client();

    let url = format!(
        "https://localhost:{port}/_matrix/key/v2/query/{}",
        accord_testkit::urlencode(&a_name)
    );
    let body: Value = client
        .get(url)
        .send()
        .await
        .expect("notary")
        .json()
        .await
        .expect("json");
    let answer = body["server_keys"][0].clone();
    assert_eq!(answer["server_name"], json!(a_name));
    let object: ruma::CanonicalJsonObject = serde_json::from_value(answer).expect("canonical json");
    // verify_json checks every signing entity: A's own signature and B's countersignature.
    let mut both = key_map(&a);
    both.extend(key_map(&b));
    ruma::signatures::verify_json(&both, &object).expect("A's signature and B's notary signature");
    let signers: Vec<&String> = object
        .get("signatures")
        .and_then(|s| s.as_object())
        .map(|s| s.keys().collect())
        .unwrap_or_default();
    assert_eq!(signers.len(), 2, "signed by A and B: {signers:?}");

    // The batch form, asking for A and for a server outside B's allow list.
    let outsider = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let outsider_name = format!("127.0.0.1:{}", outsider.local_addr().expect("addr").port());
    let accepted = tokio::spawn(async move {
        tokio::time::timeout(std::time::Duration::from_secs(2), outsider.accept())
            .await
            .is_ok()
    });
    let batch = json!({ "server_keys": { a_name.clone(): {}, outsider_name.clone(): {} } });
    let body: Value = client
        .post(format!("https://localhost:{port}/_matrix/key/v2/query"))
        .json(&batch)
        .send()
        .await
        .expect("notary batch")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = body["server_keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["server_name"].as_str())
        .collect();
    assert_eq!(names, [a_name.as_str()], "only the allowed server's keys: {body}");
    assert!(
        !accepted.await.expect("listener task"),
        "the notary must not contact a server outside the allow list"
    );
}

#[tokio::test]
async fn fetched_keys_are_kept_across_restart() {
    let ca = TestCa::new();
    let mut a = TestServer::start_federating(&ca, |_| {}).await;
    let mut b = TestServer::start_federating(&ca, |_| {}).await;
    let b_name = origin(&b).to_string();
    let b_keys = key_map(&b);
    let client = ca.client();
    let ask = |a: &TestServer| {
        let url = format!(
            "https://localhost:{}/_matrix/key/v2/query/{}",
            a.running().federation_addr.expect("federation").port(),
            accord_testkit::urlencode(&b_name)
        );
        let client = client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .expect("notary")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    assert_eq!(ask(&a).await["server_keys"][0]["server_name"], json!(b_name));
    // B goes away; A restarts with an empty memory cache and still knows B's keys.
    b.stop().await;
    a.restart().await;
    let answer = ask(&a).await["server_keys"][0].clone();
    assert_eq!(
        answer["server_name"],
        json!(b_name),
        "served from the stored cache: {answer}"
    );
    let object: ruma::CanonicalJsonObject = serde_json::from_value(answer).expect("canonical json");
    let mut both = b_keys;
    both.extend(key_map(&a));
    ruma::signatures::verify_json(&both, &object).expect("B's signature and A's notary signature");
}

/// Acting as server B: asks A for a join template, signs it with B's key, sends it back.
async fn remote_join(
    b: &TestServer,
    a_name: &OwnedServerName,
    room: &str,
    user: &str,
    tamper: bool,
) -> Result<ruma::api::federation::membership::create_join_event::v2::Response, accord_federation::Error> {
    use ruma::api::federation::membership::create_join_event::v2 as send_join;
    let (room_id, event_id, pdu) = signed_join(b, a_name, room, user, tamper, None).await?;
    let federation = b.running().services.federation.as_ref().expect("federation");
    federation
        .client()
        .send(a_name, send_join::Request::new(room_id, event_id, pdu))
        .await
}

/// Acting as server B: A's join template for `user`, signed by B (its content tampered with
/// after signing, or its membership changed before, when asked), with its event id.
async fn signed_join(
    b: &TestServer,
    a_name: &OwnedServerName,
    room: &str,
    user: &str,
    tamper: bool,
    membership: Option<&str>,
) -> Result<(ruma::OwnedRoomId, ruma::OwnedEventId, Box<serde_json::value::RawValue>), accord_federation::Error> {
    use ruma::api::federation::membership::prepare_join_event::v1 as make_join;
    let federation = b.running().services.federation.as_ref().expect("federation");
    let room_id = ruma::OwnedRoomId::try_from(room).expect("room id");
    let user_id = UserId::parse(user).expect("user id");
    let mut request = make_join::Request::new(room_id.clone(), user_id);
    // Without `ver` a server assumes the joiner supports only room version 1 (spec).
    request.ver = accord_service::rooms::SUPPORTED_ROOM_VERSIONS.to_vec();
    let template = federation.client().send(a_name, request).await?;
    let version = template.room_version.expect("room version");
    let rules = version.rules().expect("rules");
    let mut object: ruma::CanonicalJsonObject = serde_json::from_str(template.event.get()).expect("template json");
    if let Some(membership) = membership
        && let Some(ruma::CanonicalJsonValue::Object(content)) = object.get_mut("content")
    {
        content.insert(
            "membership".to_owned(),
            ruma::CanonicalJsonValue::String(membership.to_owned()),
        );
    }
    let identity = b.running().services.rooms.rooms().identity().clone();
    ruma::signatures::hash_and_sign_event(
        identity.server_name.as_str(),
        identity.key.as_ref(),
        &mut object,
        &rules.redaction,
    )
    .expect("sign");
    if tamper {
        // Changes the content but not the redacted form: event id and signature still match,
        // the content hash does not.
        if let Some(ruma::CanonicalJsonValue::Object(content)) = object.get_mut("content") {
            content.insert(
                "displayname".to_owned(),
                ruma::CanonicalJsonValue::String("Mallory".to_owned()),
            );
        }
    }
    let event_id = ruma::OwnedEventId::try_from(format!(
        "${}",
        ruma::signatures::reference_hash(&object, &rules).expect("hash")
    ))
    .expect("event id");
    let pdu = serde_json::value::to_raw_value(&object).expect("raw");
    Ok((room_id, event_id, pdu))
}

/// TestCannotSendNonJoinViaSendJoinV1 / ...LeaveViaSendLeaveV1: the v1 forms (gone from the
/// spec, still sent by older servers) take only what their name says, 400 otherwise; a real
/// join through v1 is answered `[200, {state, auth_chain, ...}]`.
#[tokio::test]
async fn v1_send_join_and_send_leave_take_only_their_own_event() {
    use accord_api::federation::membership_v1::{send_join_v1, send_leave_v1};
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let room = a.create_room(&alice, json!({ "preset": "public_chat" })).await;
    let bob = format!("@bob:{}", origin(&b));
    let federation = b.running().services.federation.as_ref().expect("federation");

    let (room_id, event_id, pdu) = signed_join(&b, &origin(&a), &room, &bob, false, Some("knock"))
        .await
        .expect("make_join");
    let refused = federation
        .client()
        .send(&origin(&a), send_join_v1::Request::new(room_id, event_id, pdu))
        .await;
    assert!(format!("{refused:?}").contains("400"), "{refused:?}");
    let (room_id, event_id, pdu) = signed_join(&b, &origin(&a), &room, &bob, false, None)
        .await
        .expect("make_join");
    let refused = federation
        .client()
        .send(
            &origin(&a),
            send_leave_v1::Request::new(room_id.clone(), event_id.clone(), pdu.clone()),
        )
        .await;
    assert!(format!("{refused:?}").contains("400"), "{refused:?}");

    let joined = federation
        .client()
        .send(&origin(&a), send_join_v1::Request::new(room_id, event_id, pdu))
        .await
        .expect("a join through v1");
    let body: Value = serde_json::from_str(joined.body.get()).expect("json");
    assert_eq!(body[0], 200, "{body}");
    assert!(body[1]["state"].as_array().is_some_and(|s| !s.is_empty()), "{body}");
}

#[tokio::test]
async fn a_remote_server_joins_a_local_room_with_make_join_and_send_join() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let room = a
        .create_room(&alice, json!({ "preset": "public_chat", "name": "Across servers" }))
        .await;
    a.send_text(&alice, &room, "before bob").await;
    let since = a.sync(&alice, None, 0, None).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();
    let bob = format!("@bob:{}", origin(&b));

    let joined = remote_join(&b, &origin(&a), &room, &bob, false)
        .await
        .expect("send_join accepted");
    let types: Vec<String> = joined
        .room_state
        .state
        .iter()
        .filter_map(|raw| serde_json::from_str::<Value>(raw.get()).ok())
        .filter_map(|event| event["type"].as_str().map(str::to_owned))
        .collect();
    assert!(
        types.iter().any(|t| t == "m.room.create") && types.iter().any(|t| t == "m.room.name"),
        "{types:?}"
    );
    assert!(
        !joined.room_state.auth_chain.is_empty(),
        "the auth chain of the state comes along"
    );

    let members = a
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/members?membership=join"),
            Some(&alice.token),
        )
        .await
        .ok();
    let joined_ids: Vec<&str> = members["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|m| m["state_key"].as_str())
        .collect();
    assert!(joined_ids.contains(&bob.as_str()), "{joined_ids:?}");
    let update = a.sync(&alice, Some(&since), 0, None).await;
    let timeline = update["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .expect("timeline")
        .clone();
    assert!(
        timeline
            .iter()
            .any(|e| e["type"] == "m.room.member" && e["state_key"] == json!(bob)),
        "alice sees bob join"
    );

    // A join whose content was changed after signing fails the content hash check.
    let carol = format!("@carol:{}", origin(&b));
    let err = remote_join(&b, &origin(&a), &room, &carol, true)
        .await
        .expect_err("tampered join refused");
    assert!(
        err.to_string().contains("400") || err.to_string().contains("403"),
        "{err}"
    );
    let members = a
        .get(&format!("/_matrix/client/v3/rooms/{room}/members"), Some(&alice.token))
        .await
        .ok();
    assert!(
        !members.to_string().contains(&carol),
        "nothing of the tampered join is visible"
    );
    // B may only join its own users.
    let err = remote_join(&b, &origin(&a), &room, &alice.user_id, false)
        .await
        .expect_err("foreign user refused");
    assert!(err.to_string().contains("403"), "{err}");
    // Private rooms refuse the join already at make_join.
    let private = a.create_room(&alice, json!({ "preset": "private_chat" })).await;
    let err = remote_join(&b, &origin(&a), &private, &bob, false)
        .await
        .expect_err("invite-only");
    assert!(err.to_string().contains("403"), "{err}");
}

#[tokio::test]
async fn a_client_joins_a_room_on_another_server_by_alias_and_by_id_with_via() {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let room = a
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "name": "Partners", "room_alias_name": "partners" }),
        )
        .await;

    let alias = format!("#partners:{}", origin(&a));
    let joined = b.join(&bob, &alias).await.ok();
    assert_eq!(joined["room_id"], json!(room));
    // B now holds the room: its state, and both members.
    let name = b
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.name/"),
            Some(&bob.token),
        )
        .await
        .ok();
    assert_eq!(name["name"], "Partners");
    let members = b
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/joined_members"),
            Some(&bob.token),
        )
        .await
        .ok();
    assert!(
        members["joined"].get(&alice.user_id).is_some() && members["joined"].get(&bob.user_id).is_some(),
        "{members}"
    );
    let rooms = b.get("/_matrix/client/v3/joined_rooms", Some(&bob.token)).await.ok();
    assert_eq!(rooms["joined_rooms"], json!([room]));
    let synced = b.sync(&bob, None, 0, None).await;
    assert!(
        synced["rooms"]["join"][&room].is_object(),
        "the joined room is in bob's sync"
    );
    // A sees bob in the room.
    let on_a = a
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/joined_members"),
            Some(&alice.token),
        )
        .await
        .ok();
    assert!(on_a["joined"].get(&bob.user_id).is_some(), "{on_a}");

    // By room id with `via`, into a v12 room (ids carry no server name).
    let carol = b.register("carol", "pw-carol-1").await;
    let v12 = a
        .create_room(&alice, json!({ "preset": "public_chat", "room_version": "12" }))
        .await;
    let path = format!(
        "/_matrix/client/v3/join/{}?via={}",
        accord_testkit::urlencode(&v12),
        accord_testkit::urlencode(origin(&a).as_str())
    );
    assert_eq!(
        b.post(&path, Some(&carol.token), json!({})).await.ok()["room_id"],
        json!(v12)
    );
    // Without `via` nothing says where a v12 room lives.
    let dave = b.register("dave", "pw-dave-1").await;
    let other = a
        .create_room(&alice, json!({ "preset": "public_chat", "room_version": "12" }))
        .await;
    b.join(&dave, &other).await.assert_error(404, "M_NOT_FOUND");
}

async fn recent(server: &TestServer, token: &str, room: &str) -> Vec<Value> {
    let page = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=20"),
            Some(token),
        )
        .await
        .ok();
    page["chunk"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn transactions_deliver_valid_pdus_and_refuse_bad_ones_one_by_one() {
    let SharedRoom { a, b, alice, bob, room } = shared_room("chat").await;

    // Bob writes on B; B's stored, signed PDU travels to A in a transaction (the sender may
    // deliver it too: accepting it twice is harmless).
    let hello = b.send_text(&bob, &room, "hello from B").await;
    let hello_json = stored_pdu(&b, &hello);
    let results = transact(&b, &a, vec![hello_json.clone()]).await.expect("transaction");
    let key = ruma::OwnedEventId::try_from(hello.as_str()).expect("id");
    assert_eq!(results.get(&key), Some(&Ok(())), "{results:?}");
    assert!(
        recent(&a, &alice.token, &room)
            .await
            .iter()
            .any(|e| e["content"]["body"] == "hello from B")
    );

    // In one transaction: a valid event, one with a broken signature, one whose body changed
    // after signing. Each is judged alone.
    let valid = forge(&b, &hello_json, "valid forged");
    let mut bad_signature = forge(&b, &hello_json, "bad signature");
    if let Some(ruma::CanonicalJsonValue::Object(signatures)) = bad_signature.get_mut("signatures")
        && let Some(ruma::CanonicalJsonValue::Object(by_key)) = signatures.values_mut().next()
        && let Some(sig) = by_key.values_mut().next()
    {
        *sig = ruma::CanonicalJsonValue::String("A".repeat(86));
    }
    let mut tampered = forge(&b, &hello_json, "signed body");
    if let Some(ruma::CanonicalJsonValue::Object(content)) = tampered.get_mut("content") {
        content.insert("body".to_owned(), ruma::CanonicalJsonValue::String("forged".to_owned()));
    }
    let ids = (id_of(&valid), id_of(&bad_signature), id_of(&tampered));
    let results = transact(&b, &a, vec![valid, bad_signature, tampered])
        .await
        .expect("transaction");
    assert_eq!(results.get(&ids.0), Some(&Ok(())), "{results:?}");
    assert!(matches!(results.get(&ids.1), Some(Err(_))), "{results:?}");
    // Content hash mismatch: the spec keeps the redacted form.
    assert_eq!(results.get(&ids.2), Some(&Ok(())), "{results:?}");
    let events = recent(&a, &alice.token, &room).await;
    assert!(events.iter().any(|e| e["content"]["body"] == "valid forged"));
    assert!(
        !events.iter().any(|e| e["content"]["body"] == "bad signature"),
        "nothing of the refused PDU is visible"
    );
    assert!(
        !events.iter().any(|e| e["content"]["body"] == "forged"),
        "the forged body is never served"
    );
    let redacted = a
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/event/{}", ids.2),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(redacted["content"], json!({}), "{redacted}");

    // A transaction over the limit is refused as a whole.
    let many: Vec<_> = (0..51).map(|_| hello_json.clone()).collect();
    let err = transact(&b, &a, many).await.expect_err("51 PDUs");
    assert!(err.to_string().contains("400"), "{err}");
    assert_eq!(a.get("/_matrix/client/versions", None).await.status, 200);
}

#[tokio::test]
async fn messages_flow_both_ways_and_survive_a_partition() {
    let SharedRoom {
        a,
        mut b,
        alice,
        bob,
        room,
    } = shared_room("both").await;

    a.send_text(&alice, &room, "hi bob").await;
    let seen = wait_for_bodies(
        &b,
        &bob,
        &room,
        &["hi bob".to_owned()],
        std::time::Duration::from_secs(15),
    )
    .await;
    assert!(seen.contains(&"hi bob".to_owned()), "A -> B: {seen:?}");
    b.send_text(&bob, &room, "hi alice").await;
    let seen = wait_for_bodies(
        &a,
        &alice,
        &room,
        &["hi alice".to_owned()],
        std::time::Duration::from_secs(15),
    )
    .await;
    assert!(seen.contains(&"hi alice".to_owned()), "B -> A: {seen:?}");

    // Partition: B stops, A sends 100 messages, B comes back and gets all of them, in order.
    b.stop().await;
    let sent: Vec<String> = (0..100).map(|i| format!("while away {i}")).collect();
    for body in &sent {
        a.send_text(&alice, &room, body).await;
    }
    b.restart().await;
    let seen = wait_for_bodies(&b, &bob, &room, &sent, std::time::Duration::from_secs(30)).await;
    let arrived: Vec<String> = seen.into_iter().filter(|b| b.starts_with("while away")).collect();
    assert_eq!(arrived, sent, "all 100, in order, within 30 s");
}

#[tokio::test]
async fn server_acls_shut_out_denied_servers() {
    let SharedRoom { a, b, alice, bob, room } = shared_room("acl").await;
    let hello = b.send_text(&bob, &room, "before the ACL").await;
    let hello_json = stored_pdu(&b, &hello);
    transact(&b, &a, vec![hello_json.clone()]).await.expect("transaction");

    // Both test servers are `localhost` (ACLs ignore ports); A exempts itself.
    let acl = json!({ "allow": ["*"], "deny": ["localhost"] });
    a.put(
        &format!("/_matrix/client/v3/rooms/{room}/state/m.room.server_acl/"),
        Some(&alice.token),
        acl,
    )
    .await
    .ok();
    let after = forge(&b, &hello_json, "after the ACL");
    let id = id_of(&after);
    let results = transact(&b, &a, vec![after]).await.expect("transaction");
    assert!(
        matches!(results.get(&id), Some(Err(reason)) if reason.contains("ACL")),
        "{results:?}"
    );
    assert!(
        !recent(&a, &alice.token, &room)
            .await
            .iter()
            .any(|e| e["content"]["body"] == "after the ACL")
    );
    // New joins from the denied server are refused at make_join.
    let err = remote_join(&b, &origin(&a), &room, &format!("@carol:{}", origin(&b)), false)
        .await
        .expect_err("ACL");
    assert!(err.to_string().contains("403"), "{err}");
    // A's own users are unaffected.
    a.send_text(&alice, &room, "still talking").await;
}

#[tokio::test]
async fn typing_travels_between_servers() {
    let SharedRoom { a, b, alice, bob, room } = shared_room("typing").await;
    let since = a.sync(&alice, None, 0, None).await["next_batch"]
        .as_str()
        .expect("token")
        .to_owned();

    let path = format!("/_matrix/client/v3/rooms/{room}/typing/{}", bob.user_id);
    b.put(&path, Some(&bob.token), json!({ "typing": true, "timeout": 20000 }))
        .await
        .ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut since = since;
    loop {
        let update = a.sync(&alice, Some(&since), 2_000, None).await;
        let typing = update["rooms"]["join"][&room]["ephemeral"]["events"]
            .as_array()
            .and_then(|events| events.iter().find(|e| e["type"] == "m.typing").cloned());
        if let Some(event) = typing
            && event["content"]["user_ids"] == json!([bob.user_id])
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "bob's typing never reached alice");
        since = update["next_batch"].as_str().expect("token").to_owned();
    }
}

#[tokio::test]
async fn read_receipts_travel_between_servers() {
    let SharedRoom { a, b, alice, bob, room } = shared_room("receipts").await;
    let event = a.send_text(&alice, &room, "read me").await;
    wait_for_bodies(
        &b,
        &bob,
        &room,
        &["read me".to_owned()],
        std::time::Duration::from_secs(15),
    )
    .await;

    b.post(
        &format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{event}"),
        Some(&bob.token),
        json!({}),
    )
    .await
    .ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let sync = a.sync(&alice, None, 0, None).await;
        let receipt = sync["rooms"]["join"][&room]["ephemeral"]["events"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["type"] == "m.receipt")
            .cloned();
        if let Some(receipt) = receipt
            && receipt["content"][&event]["m.read"][&bob.user_id]["ts"].is_u64()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "bob's receipt never reached alice: {sync}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
