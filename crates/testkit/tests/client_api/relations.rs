//! Relations and threads (spec: "Relationships", "Threading"): `/relations` filtered by type,
//! paged both ways (also from a `/sync` token), recursive; `/threads` ordered by latest reply;
//! the aggregations bundled into events (`m.thread`, `m.replace`, `m.reference`); redacted
//! children dropped; an invisible parent is 404. The behaviours Complement's TestRelations,
//! TestRelationsPagination, TestRelationsPaginationSync and TestThreadsEndpoint check.

use accord_testkit::{TestServer, TestUser, urlencode};
use serde_json::{Value, json};

/// Sends an event of `kind` with `content`; returns its id.
async fn send(server: &TestServer, user: &TestUser, room: &str, kind: &str, content: Value) -> String {
    server.send_event(user, room, kind, content).await
}

fn reply_in_thread(root: &str, body: &str) -> Value {
    json!({
        "msgtype": "m.text",
        "body": body,
        "m.relates_to": { "rel_type": "m.thread", "event_id": root },
    })
}

/// The event ids of a page's `chunk`, in order.
fn ids(page: &Value) -> Vec<String> {
    page["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .map(|event| event["event_id"].as_str().expect("event_id").to_owned())
        .collect()
}

async fn get(server: &TestServer, user: &TestUser, path: &str) -> Value {
    let reply = server.get(path, Some(&user.token)).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    reply.body
}

#[tokio::test]
async fn relations_are_filtered_by_type_and_any_event_type_counts() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    let root = server.send_text(&alice, &room, "root").await;
    let thread = send(
        &server,
        &alice,
        &room,
        "m.room.message",
        reply_in_thread(&root, "in thread"),
    )
    .await;
    let dummy = send(
        &server,
        &alice,
        &room,
        "m.dummy",
        json!({ "m.relates_to": { "rel_type": "m.thread", "event_id": root } }),
    )
    .await;
    let edit = send(
        &server,
        &alice,
        &room,
        "m.room.message",
        json!({
            "msgtype": "m.text",
            "body": "* edited root",
            "m.new_content": { "msgtype": "m.text", "body": "edited root" },
            "m.relates_to": { "rel_type": "m.replace", "event_id": root },
        }),
    )
    .await;
    let base = format!("/_matrix/client/v1/rooms/{room}/relations/{root}");
    let all = get(&server, &alice, &base).await;
    assert_eq!(
        ids(&all),
        vec![edit.clone(), dummy.clone(), thread.clone()],
        "newest first"
    );
    assert!(all.get("next_batch").is_none(), "{all}");
    assert!(all.get("recursion_depth").is_none(), "only with recurse: {all}");
    let threads = get(&server, &alice, &format!("{base}/m.thread")).await;
    assert_eq!(ids(&threads), vec![dummy, thread.clone()]);
    let messages = get(&server, &alice, &format!("{base}/m.thread/m.room.message")).await;
    assert_eq!(ids(&messages), vec![thread]);
    // Edits survive in /sync's timeline (clients apply them there).
    let sync = server.sync(&alice, None, 0, None).await;
    let timeline = sync["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .expect("timeline");
    assert!(timeline.iter().any(|event| event["event_id"] == edit.as_str()));
}

#[tokio::test]
async fn relations_page_both_ways_and_from_a_sync_token() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    let root = server.send_text(&alice, &room, "root").await;
    let mut replies = Vec::new();
    for i in 0..10 {
        replies.push(
            send(
                &server,
                &alice,
                &room,
                "m.room.message",
                reply_in_thread(&root, &format!("r{i}")),
            )
            .await,
        );
    }
    let base = format!("/_matrix/client/v1/rooms/{room}/relations/{root}");
    let first = get(&server, &alice, &format!("{base}?limit=3")).await;
    assert_eq!(ids(&first), replies[7..10].iter().rev().cloned().collect::<Vec<_>>());
    let next = first["next_batch"].as_str().expect("next_batch on a full page");
    let second = get(&server, &alice, &format!("{base}?limit=3&from={next}")).await;
    assert_eq!(ids(&second), replies[4..7].iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(second["prev_batch"].as_str(), Some(next));
    let forward = get(&server, &alice, &format!("{base}?limit=3&dir=f")).await;
    assert_eq!(ids(&forward), replies[0..3].to_vec());
    let next = forward["next_batch"].as_str().expect("next_batch");
    let forward_2 = get(&server, &alice, &format!("{base}?limit=3&dir=f&from={next}")).await;
    assert_eq!(ids(&forward_2), replies[3..6].to_vec());
    // `to` bounds a page: forward from the start up to the token after r1.
    let bounded = get(&server, &alice, &format!("{base}?dir=f&limit=10&to={next}")).await;
    assert_eq!(ids(&bounded), replies[0..3].to_vec());
    // The last page says nothing more.
    let all = get(&server, &alice, &format!("{base}?limit=10")).await;
    assert_eq!(ids(&all).len(), 10);
    assert!(all.get("next_batch").is_none(), "{all}");

    // A /sync token as `from`: the replies sent after it, oldest first.
    let since = server.sync(&alice, None, 0, None).await["next_batch"]
        .as_str()
        .expect("next_batch")
        .to_owned();
    let mut later = Vec::new();
    for i in 0..5 {
        later.push(
            send(
                &server,
                &alice,
                &room,
                "m.room.message",
                reply_in_thread(&root, &format!("a{i}")),
            )
            .await,
        );
    }
    let after_sync = get(&server, &alice, &format!("{base}?limit=3&dir=f&from={since}")).await;
    assert_eq!(ids(&after_sync), later[0..3].to_vec());
    let next = after_sync["next_batch"].as_str().expect("next_batch");
    let rest = get(&server, &alice, &format!("{base}?limit=3&dir=f&from={next}")).await;
    assert_eq!(ids(&rest), later[3..5].to_vec());
}

#[tokio::test]
async fn threads_are_listed_by_latest_reply_with_their_summary() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    assert_eq!(server.join(&bob, &room).await.status, 200);
    let first = server.send_text(&alice, &room, "first thread").await;
    let second = server.send_text(&alice, &room, "second thread").await;
    let r1 = send(&server, &alice, &room, "m.room.message", reply_in_thread(&first, "r1")).await;
    let r2 = send(&server, &alice, &room, "m.room.message", reply_in_thread(&second, "r2")).await;
    let path = format!("/_matrix/client/v1/rooms/{room}/threads");
    let listed = get(&server, &alice, &path).await;
    assert_eq!(ids(&listed), vec![second.clone(), first.clone()]);
    let latest = |page: &Value, i: usize| {
        page["chunk"][i]["unsigned"]["m.relations"]["m.thread"]["latest_event"]["event_id"].clone()
    };
    assert_eq!((latest(&listed, 0), latest(&listed, 1)), (json!(r2), json!(r1)));

    // Bob replies in the first thread: it moves to the top.
    let r3 = send(&server, &bob, &room, "m.room.message", reply_in_thread(&first, "r3")).await;
    let listed = get(&server, &alice, &path).await;
    assert_eq!(ids(&listed), vec![first.clone(), second.clone()]);
    let summary = &listed["chunk"][0]["unsigned"]["m.relations"]["m.thread"];
    assert_eq!(summary["latest_event"]["event_id"], json!(r3));
    assert_eq!(summary["latest_event"]["sender"], json!(bob.user_id));
    assert_eq!(summary["count"], json!(2));
    assert_eq!(summary["current_user_participated"], json!(true), "alice sent the root");

    // Bob took part only in the first; for him the second is someone else's.
    let bobs = get(&server, &bob, &format!("{path}?include=participated")).await;
    assert_eq!(ids(&bobs), vec![first.clone()]);
    let for_bob = get(&server, &bob, &path).await;
    assert_eq!(
        for_bob["chunk"][1]["unsigned"]["m.relations"]["m.thread"]["current_user_participated"],
        json!(false)
    );
    // Paging one at a time.
    let one = get(&server, &alice, &format!("{path}?limit=1")).await;
    assert_eq!(ids(&one), vec![first.clone()]);
    let next = one["next_batch"].as_str().expect("next_batch");
    let two = get(&server, &alice, &format!("{path}?limit=1&from={next}")).await;
    assert_eq!(ids(&two), vec![second]);
    assert!(two.get("next_batch").is_none(), "{two}");
    // The root fetched alone carries the same summary.
    let event = get(
        &server,
        &alice,
        &format!("/_matrix/client/v3/rooms/{room}/event/{first}"),
    )
    .await;
    assert_eq!(event["unsigned"]["m.relations"]["m.thread"]["count"], json!(2));
}

#[tokio::test]
async fn edits_and_references_are_bundled_and_redacted_children_drop_out() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    assert_eq!(server.join(&bob, &room).await.status, 200);
    let original = server.send_text(&alice, &room, "original").await;
    let edit = |body: &str| {
        json!({
            "msgtype": "m.text",
            "body": format!("* {body}"),
            "m.new_content": { "msgtype": "m.text", "body": body },
            "m.relates_to": { "rel_type": "m.replace", "event_id": original },
        })
    };
    send(&server, &alice, &room, "m.room.message", edit("one")).await;
    let latest_edit = send(&server, &alice, &room, "m.room.message", edit("two")).await;
    // Bob's "edit" of alice's message is no edit (spec: same sender only).
    send(&server, &bob, &room, "m.room.message", edit("bob's")).await;
    let reference = send(
        &server,
        &bob,
        &room,
        "m.room.message",
        json!({ "msgtype": "m.text", "body": "see above",
                "m.relates_to": { "rel_type": "m.reference", "event_id": original } }),
    )
    .await;
    let annotation = send(
        &server,
        &bob,
        &room,
        "m.reaction",
        json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": original, "key": "👍" } }),
    )
    .await;
    let event = get(
        &server,
        &alice,
        &format!("/_matrix/client/v3/rooms/{room}/event/{original}"),
    )
    .await;
    let relations = &event["unsigned"]["m.relations"];
    assert_eq!(relations["m.replace"]["event_id"], json!(latest_edit), "{relations}");
    assert_eq!(relations["m.replace"]["content"]["m.new_content"]["body"], json!("two"));
    assert_eq!(
        event["content"]["body"],
        json!("original"),
        "the original content stays"
    );
    assert_eq!(relations["m.reference"]["chunk"], json!([{ "event_id": reference }]));
    assert!(
        relations.get("m.annotation").is_none(),
        "annotations are not bundled: {relations}"
    );
    // /messages bundles too.
    let messages = get(
        &server,
        &alice,
        &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=20"),
    )
    .await;
    let in_messages = messages["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .find(|e| e["event_id"] == original.as_str())
        .expect("the original in /messages")
        .clone();
    assert_eq!(
        in_messages["unsigned"]["m.relations"]["m.replace"]["event_id"],
        json!(latest_edit)
    );

    // Redacting the reaction and the reference takes them out of /relations and the bundle.
    for target in [&annotation, &reference] {
        let reply = server
            .put(
                &format!("/_matrix/client/v3/rooms/{room}/redact/{target}/{}", urlencode(target)),
                Some(&bob.token),
                json!({}),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let page = get(
        &server,
        &alice,
        &format!("/_matrix/client/v1/rooms/{room}/relations/{original}?limit=50"),
    )
    .await;
    let listed = ids(&page);
    assert!(
        !listed.contains(&annotation) && !listed.contains(&reference),
        "{listed:?}"
    );
    let event = get(
        &server,
        &alice,
        &format!("/_matrix/client/v3/rooms/{room}/event/{original}"),
    )
    .await;
    assert!(event["unsigned"]["m.relations"].get("m.reference").is_none(), "{event}");

    // Once the original is redacted, its edits are not listed or bundled.
    let reply = server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/redact/{original}/y1"),
            Some(&alice.token),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let edits = get(
        &server,
        &alice,
        &format!("/_matrix/client/v1/rooms/{room}/relations/{original}/m.replace"),
    )
    .await;
    assert_eq!(ids(&edits), Vec::<String>::new());
    let event = get(
        &server,
        &alice,
        &format!("/_matrix/client/v3/rooms/{room}/event/{original}"),
    )
    .await;
    assert!(event["unsigned"].get("m.relations").is_none(), "{event}");
}

#[tokio::test]
async fn recursion_unknown_parents_and_outsiders() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let eve = server.register("eve", "pw-eve-1").await;
    let room = server.create_room(&alice, json!({ "preset": "private_chat" })).await;
    let root = server.send_text(&alice, &room, "root").await;
    let reply = send(
        &server,
        &alice,
        &room,
        "m.room.message",
        reply_in_thread(&root, "reply"),
    )
    .await;
    let edit_of_reply = send(
        &server,
        &alice,
        &room,
        "m.room.message",
        json!({ "msgtype": "m.text", "body": "* reply!", "m.new_content": { "msgtype": "m.text", "body": "reply!" },
                "m.relates_to": { "rel_type": "m.replace", "event_id": reply } }),
    )
    .await;
    let base = format!("/_matrix/client/v1/rooms/{room}/relations/{root}");
    let direct = get(&server, &alice, &base).await;
    assert_eq!(ids(&direct), vec![reply.clone()]);
    let recursive = get(&server, &alice, &format!("{base}?recurse=true")).await;
    assert_eq!(ids(&recursive), vec![edit_of_reply, reply]);
    assert_eq!(recursive["recursion_depth"], json!(3));

    // An id that names no event, and an outsider asking: no answer about the event.
    let unknown = server
        .get(
            &format!("/_matrix/client/v1/rooms/{room}/relations/$nothere:localhost"),
            Some(&alice.token),
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert_eq!(unknown.body["errcode"], json!("M_NOT_FOUND"));
    let outsider = server.get(&base, Some(&eve.token)).await;
    assert_eq!(outsider.status, 403, "{}", outsider.body);
    let threads = server
        .get(&format!("/_matrix/client/v1/rooms/{room}/threads"), Some(&eve.token))
        .await;
    assert_eq!(threads.status, 403, "{}", threads.body);
    let bad_token = server.get(&format!("{base}?from=nonsense"), Some(&alice.token)).await;
    assert_eq!(
        (bad_token.status, bad_token.body["errcode"].clone()),
        (400, json!("M_INVALID_PARAM"))
    );
}

#[tokio::test]
async fn relations_from_another_room_or_malformed_ones_relate_to_nothing() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    let other = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    let root = server.send_text(&alice, &room, "root").await;
    // From the other room: a thread reply, an edit and a reference naming the root.
    for rel_type in ["m.thread", "m.replace", "m.reference"] {
        send(
            &server,
            &alice,
            &other,
            "m.room.message",
            json!({ "msgtype": "m.text", "body": "elsewhere", "m.new_content": { "msgtype": "m.text", "body": "hijacked" },
                    "m.relates_to": { "rel_type": rel_type, "event_id": root } }),
        )
        .await;
    }
    // Malformed relations in the same room: accepted as events, related to nothing.
    for relates_to in [
        json!("not an object"),
        json!({ "rel_type": "m.thread" }),
        json!({ "rel_type": 7, "event_id": root }),
        json!({ "rel_type": "m.thread", "event_id": "not an event id" }),
    ] {
        send(
            &server,
            &alice,
            &room,
            "m.room.message",
            json!({ "msgtype": "m.text", "body": "odd", "m.relates_to": relates_to }),
        )
        .await;
    }
    let page = get(
        &server,
        &alice,
        &format!("/_matrix/client/v1/rooms/{room}/relations/{root}"),
    )
    .await;
    assert_eq!(ids(&page), Vec::<String>::new());
    let event = get(
        &server,
        &alice,
        &format!("/_matrix/client/v3/rooms/{room}/event/{root}"),
    )
    .await;
    assert!(event["unsigned"].get("m.relations").is_none(), "{event}");
    assert_eq!(event["content"]["body"], json!("root"));
    let threads = get(&server, &alice, &format!("/_matrix/client/v1/rooms/{room}/threads")).await;
    assert_eq!(ids(&threads), Vec::<String>::new());
}
