//! The index on a real directory: words matched all together and folded, ranked or newest
//! first, paged, limited to rooms and senders, removals, and progress surviving a reopen.

#![allow(clippy::unwrap_used)]

use accord_search::{IndexedEvent, Order, Progress, SearchIndex, SearchKey, SearchQuery};

fn event(n: u64, room: &str, sender: &str, body: &str) -> IndexedEvent {
    IndexedEvent {
        event_id: format!("$e{n}"),
        room_id: room.to_owned(),
        sender: sender.to_owned(),
        count: n,
        body: Some(body.to_owned()),
        name: None,
        topic: None,
    }
}

fn query<'a>(term: &'a str, rooms: &'a [String], order: Order) -> SearchQuery<'a> {
    SearchQuery {
        term,
        keys: &[SearchKey::Body],
        rooms,
        senders: None,
        not_senders: &[],
        order,
        after: None,
        limit: 10,
    }
}

fn ids(hits: &accord_search::Hits) -> Vec<&str> {
    hits.hits.iter().map(|hit| hit.event_id.as_str()).collect()
}

#[test]
fn words_match_together_folded_and_within_the_rooms_asked() {
    let dir = tempfile::tempdir().unwrap();
    let index = SearchIndex::open(dir.path()).unwrap();
    index
        .add(&event(1, "!a", "@x", "Message number 4 about the Café"))
        .unwrap();
    index.add(&event(2, "!a", "@y", "Message number 5")).unwrap();
    index.add(&event(3, "!b", "@x", "message number 4 elsewhere")).unwrap();
    index.commit(Progress { live: 3, backfill: 10 }).unwrap();

    let room_a = vec!["!a".to_owned()];
    let found = index.search(&query("message 4", &room_a, Order::Rank)).unwrap();
    assert_eq!((ids(&found), found.total), (vec!["$e1"], 1));
    let found = index.search(&query("cafe", &room_a, Order::Rank)).unwrap();
    assert_eq!(ids(&found), vec!["$e1"]);
    let both = vec!["!a".to_owned(), "!b".to_owned()];
    let senders_x = vec!["@x".to_owned()];
    let mut query_both = query("message", &both, Order::Recent);
    query_both.senders = Some(&senders_x);
    let found = index.search(&query_both).unwrap();
    assert_eq!(ids(&found), vec!["$e3", "$e1"]);
    let mut not_x = query("message", &both, Order::Recent);
    not_x.not_senders = &senders_x;
    assert_eq!(ids(&index.search(&not_x).unwrap()), vec!["$e2"]);
    // No rooms, no words, or only punctuation: nothing.
    assert_eq!(index.search(&query("message", &[], Order::Rank)).unwrap().total, 0);
    assert_eq!(index.search(&query(" ?! ", &both, Order::Rank)).unwrap().total, 0);
    assert_eq!(index.words("Hello, WORLD hello"), vec!["hello", "world"]);
}

#[test]
fn recent_order_pages_by_position_and_rank_by_offset() {
    let dir = tempfile::tempdir().unwrap();
    let index = SearchIndex::open(dir.path()).unwrap();
    for n in 0..20 {
        index.add(&event(n, "!a", "@x", &format!("Message {n}"))).unwrap();
    }
    index
        .commit(Progress {
            live: 20,
            backfill: 100,
        })
        .unwrap();
    let rooms = vec!["!a".to_owned()];
    let mut page = query("message", &rooms, Order::Recent);
    let first = index.search(&page).unwrap();
    assert_eq!(first.total, 20);
    assert_eq!(first.hits.first().map(|h| h.count), Some(19));
    assert_eq!(first.hits.last().map(|h| h.count), Some(10));
    page.after = first.hits.last().map(|h| h.count);
    let second = index.search(&page).unwrap();
    assert_eq!((second.total, second.hits.len()), (20, 10));
    assert_eq!(second.hits.last().map(|h| h.count), Some(0));
    page.after = Some(0);
    assert!(index.search(&page).unwrap().hits.is_empty());

    let mut ranked = query("message", &rooms, Order::Rank);
    ranked.after = Some(15);
    assert_eq!(index.search(&ranked).unwrap().hits.len(), 5);
}

#[test]
fn removals_and_progress_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = SearchIndex::open(dir.path()).unwrap();
        assert_eq!(index.progress().unwrap(), None);
        index.add(&event(1, "!a", "@x", "secret plans")).unwrap();
        index.add(&event(2, "!a", "@x", "public plans")).unwrap();
        index.commit(Progress { live: 2, backfill: 50 }).unwrap();
        index.remove("$e1").unwrap();
        // Added again: replaced, not doubled.
        index.add(&event(2, "!a", "@x", "public plans")).unwrap();
        index.commit(Progress { live: 3, backfill: 50 }).unwrap();
    }
    let index = SearchIndex::open(dir.path()).unwrap();
    assert_eq!(index.progress().unwrap(), Some(Progress { live: 3, backfill: 50 }));
    let rooms = vec!["!a".to_owned()];
    let found = index.search(&query("plans", &rooms, Order::Rank)).unwrap();
    assert_eq!((ids(&found), found.total), (vec!["$e2"], 1));
    index.clear().unwrap();
    index.commit(Progress { live: 0, backfill: 50 }).unwrap();
    assert_eq!(index.search(&query("plans", &rooms, Order::Rank)).unwrap().total, 0);
}

/// Compaction right after commits: the commit that makes the eighth small segment starts a
/// background merge of them, which tantivy lets an explicit merge race (the one that ends
/// second fails: a retention run answered 500 now and then). Every round must compact without
/// an error, with the removed words gone and the rest still found.
#[test]
fn compaction_right_after_commits_survives_background_merges() {
    let dir = tempfile::tempdir().unwrap();
    let index = SearchIndex::open(dir.path()).unwrap();
    let room = vec!["!a".to_owned()];
    let mut n = 0;
    for round in 0..40 {
        for _ in 0..8 {
            n += 1;
            index.add(&event(n, "!a", "@x", &format!("kept{round}"))).unwrap();
            index.commit(Progress { live: n, backfill: 0 }).unwrap();
        }
        index.remove(&format!("$e{n}")).unwrap();
        index.commit(Progress { live: n, backfill: 0 }).unwrap();
        index.compact().unwrap();
        let found = index
            .search(&query(&format!("kept{round}"), &room, Order::Recent))
            .unwrap();
        assert_eq!(found.total, 7, "round {round}");
    }
}
