//! Message search (`POST /search`, spec "Server Side Search"): words found as soon as they are
//! sent, context around a hit, newest-first pages with a stable count, redacted and invisible
//! events left out, bad requests refused, and the index surviving restarts and being rebuilt
//! when deleted. The behaviours Complement's TestSearch checks.

use accord_testkit::{TestServer, TestUser, urlencode};
use serde_json::{Value, json};

fn body(term: &str, room: &str, extra: Value) -> Value {
    let mut events = json!({
        "keys": ["content.body"],
        "search_term": term,
        "filter": { "rooms": [room] },
    });
    if let (Value::Object(events), Value::Object(extra)) = (&mut events, extra) {
        for (key, value) in extra {
            if key == "limit" {
                events["filter"]["limit"] = value;
            } else {
                events.insert(key, value);
            }
        }
    }
    json!({ "search_categories": { "room_events": events } })
}

async fn search(server: &TestServer, user: &TestUser, request: Value, next_batch: Option<&str>) -> Value {
    let path = match next_batch {
        Some(token) => format!("/_matrix/client/v3/search?next_batch={}", urlencode(token)),
        None => "/_matrix/client/v3/search".to_owned(),
    };
    let reply = server.post(&path, Some(&user.token), request).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["search_categories"]["room_events"].clone()
}

fn bodies(events: &Value) -> Vec<String> {
    events
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            let e = if e.get("result").is_some() { &e["result"] } else { e };
            e["content"]["body"].as_str().expect("body").to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_message_is_found_as_soon_as_it_is_sent_with_its_context() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({ "preset": "private_chat" })).await;
    let hello = server.send_text(&alice, &room, "hello, world").await;
    let found = search(&server, &alice, body("hello", &room, json!({})), None).await;
    assert_eq!(found["count"], 1);
    let result = &found["results"][0]["result"];
    assert_eq!(
        (
            &result["event_id"],
            &result["room_id"],
            &result["type"],
            &result["content"]["body"]
        ),
        (
            &json!(hello),
            &json!(room),
            &json!("m.room.message"),
            &json!("hello, world")
        )
    );
    assert_eq!(found["highlights"], json!(["hello"]));

    for n in 1..=7 {
        server.send_text(&alice, &room, &format!("Message number {n}")).await;
    }
    let request = body(
        "Message 4",
        &room,
        json!({
            "order_by": "recent", "limit": 1,
            "event_context": { "before_limit": 2, "after_limit": 2, "include_profile": true },
        }),
    );
    let found = search(&server, &alice, request, None).await;
    assert_eq!(found["count"], 1);
    assert!(found["next_batch"].is_string(), "a full page has a next_batch: {found}");
    let context = &found["results"][0]["context"];
    assert_eq!(
        bodies(&context["events_before"]),
        ["Message number 3", "Message number 2"]
    );
    assert_eq!(
        bodies(&context["events_after"]),
        ["Message number 5", "Message number 6"]
    );
    assert!(context["profile_info"][&alice.user_id].is_object(), "{context}");
}

#[tokio::test]
async fn newest_first_pages_keep_the_count_and_end_empty() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({ "preset": "private_chat" })).await;
    for n in 0..20 {
        server.send_text(&alice, &room, &format!("Message {n}")).await;
    }
    let request = body("Message", &room, json!({ "order_by": "recent", "limit": 10 }));
    let first = search(&server, &alice, request.clone(), None).await;
    assert_eq!(first["count"], 20);
    let first_bodies = bodies(&first["results"]);
    assert_eq!(
        (first_bodies[0].as_str(), first_bodies[9].as_str()),
        ("Message 19", "Message 10")
    );
    let token = first["next_batch"].as_str().expect("next_batch");
    let second = search(&server, &alice, request.clone(), Some(token)).await;
    let second_bodies = bodies(&second["results"]);
    assert_eq!(
        (second_bodies[0].as_str(), second_bodies[9].as_str()),
        ("Message 9", "Message 0")
    );
    let token = second["next_batch"].as_str().expect("next_batch");
    let third = search(&server, &alice, request, Some(token)).await;
    assert_eq!(third["count"], 20);
    assert_eq!(third["results"], json!([]));
    assert!(third.get("next_batch").is_none(), "{third}");
}

#[tokio::test]
async fn redacted_and_invisible_messages_are_not_found() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let eve = server.register("eve", "pw-eve-1").await;
    let room = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "initial_state": [{
                "type": "m.room.history_visibility", "state_key": "",
                "content": { "history_visibility": "joined" },
            }] }),
        )
        .await;
    let secret = server.send_text(&alice, &room, "budget draft before bob").await;
    let gone = server.send_text(&alice, &room, "budget typo").await;
    let reply = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/redact/{gone}/r1"),
            Some(&alice.token),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(server.join(&bob, &room).await.status, 200);
    server.send_text(&alice, &room, "budget final").await;

    for order in ["rank", "recent"] {
        let found = search(
            &server,
            &alice,
            body("budget", &room, json!({ "order_by": order })),
            None,
        )
        .await;
        let mut found = bodies(&found["results"]);
        if order == "rank" {
            found.sort();
            found.reverse();
        }
        assert_eq!(found, ["budget final", "budget draft before bob"], "{order}");
    }
    // Bob joined after the draft, in a room whose history is for members only then.
    let found = search(&server, &bob, body("budget", &room, json!({})), None).await;
    assert_eq!(bodies(&found["results"]), ["budget final"]);
    assert!(!found.to_string().contains(&secret));
    // Eve is in no room: nothing, whatever rooms she names.
    let found = search(&server, &eve, body("budget", &room, json!({})), None).await;
    assert_eq!(
        (found["count"].clone(), found["results"].clone()),
        (json!(0), json!([]))
    );
}

#[tokio::test]
async fn bad_search_requests_are_refused() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({})).await;
    server.send_text(&alice, &room, "anything").await;
    let cases = [
        (
            json!({ "search_categories": { "room_events": { "keys": ["content.body"] } } }),
            None,
        ),
        (body("anything", &room, json!({ "order_by": "sideways" })), None),
        (
            json!({ "search_categories": { "room_events": { "search_term": "x", "filter": { "limit": "ten" } } } }),
            None,
        ),
        (
            json!({ "search_categories": { "room_events": { "search_term": "x", "keys": ["content.nope"] } } }),
            None,
        ),
        (body("anything", &room, json!({ "order_by": "recent" })), Some("rank_3")),
        (body("anything", &room, json!({})), Some("garbage")),
        (
            body(
                "anything",
                &room,
                json!({ "groupings": { "group_by": [{ "key": "state_key" }] } }),
            ),
            None,
        ),
    ];
    for (request, token) in cases {
        let path = match token {
            Some(token) => format!("/_matrix/client/v3/search?next_batch={token}"),
            None => "/_matrix/client/v3/search".to_owned(),
        };
        let reply = server.post(&path, Some(&alice.token), request.clone()).await;
        assert_eq!(reply.status, 400, "{request} {token:?}: {}", reply.body);
        assert!(
            matches!(reply.errcode(), Some("M_BAD_JSON" | "M_INVALID_PARAM" | "M_NOT_JSON")),
            "{}",
            reply.body
        );
    }
}

#[tokio::test]
async fn the_index_survives_restarts_and_is_rebuilt_when_deleted() {
    let mut server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({ "name": "Quarterly review" })).await;
    server.send_text(&alice, &room, "durable words").await;
    assert_eq!(
        search(&server, &alice, body("durable", &room, json!({})), None).await["count"],
        1
    );
    server.restart().await;
    server.send_text(&alice, &room, "more durable words").await;
    assert_eq!(
        search(&server, &alice, body("durable", &room, json!({})), None).await["count"],
        2
    );

    server.stop().await;
    std::fs::remove_dir_all(server.config.search_path()).expect("index removed");
    server.restart().await;
    let found = search(&server, &alice, body("durable", &room, json!({})), None).await;
    assert_eq!(found["count"], 2);
    // Room names are searched too, by default.
    let request = json!({ "search_categories": { "room_events": { "search_term": "quarterly" } } });
    let found = search(&server, &alice, request, None).await;
    assert_eq!(found["results"][0]["result"]["type"], "m.room.name");
}

#[tokio::test]
async fn history_fetched_from_another_server_is_searchable() {
    use accord_testkit::ca::TestCa;

    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let room = a
        .create_room(&alice, json!({ "preset": "public_chat", "room_alias_name": "archive" }))
        .await;
    a.send_text(&alice, &room, "ancient minutes of the board").await;
    let server_a = alice.user_id.split_once(':').expect("server").1;
    assert_eq!(b.join(&bob, &format!("#archive:{server_a}")).await.status, 200);
    // B holds nothing from before Bob's join until a client reads back into it.
    let found = search(&b, &bob, body("minutes", &room, json!({})), None).await;
    assert_eq!(found["count"], 0);
    let history = b
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50"),
            Some(&bob.token),
        )
        .await;
    assert_eq!(history.status, 200, "{}", history.body);
    let found = search(&b, &bob, body("minutes", &room, json!({})), None).await;
    assert_eq!(bodies(&found["results"]), ["ancient minutes of the board"]);
}
