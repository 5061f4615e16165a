//! The outbound sender delivers to each destination on its own: a partner that accepts
//! connections and never answers stalls nobody else, gets everything once it answers, and a
//! partner back from an outage catches up from the newest events and fetches the rest.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use accord_testkit::{TestServer, TestUser, ca::TestCa};
use serde_json::json;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

use crate::federation_support::{origin, wait_for_bodies};

/// What the proxy in front of partner C does with connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Partner {
    /// Forwards to C: C answers.
    Answers,
    /// Accepts TCP and never says a word (connections wait until C answers again).
    Hangs,
    /// Closes every connection at once: C is down.
    Refuses,
}

/// A TCP proxy on loopback standing in front of C's federation listener.
struct PartnerProxy {
    addr: SocketAddr,
    mode: Arc<watch::Sender<Partner>>,
}

impl PartnerProxy {
    /// Serves on `listener`, forwarding to `target` while the partner answers.
    fn start(listener: TcpListener, target: SocketAddr) -> Self {
        let addr = listener.local_addr().expect("proxy address");
        let mode = Arc::new(watch::Sender::new(Partner::Answers));
        let modes = mode.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                tokio::spawn(serve(inbound, target, modes.subscribe()));
            }
        });
        Self { addr, mode }
    }

    fn set(&self, mode: Partner) {
        self.mode.send_replace(mode);
    }
}

/// One connection: refused, held until C answers, or forwarded until C stops answering.
async fn serve(mut inbound: TcpStream, target: SocketAddr, mut mode: watch::Receiver<Partner>) {
    let Ok(current) = mode.wait_for(|m| *m != Partner::Hangs).await.map(|m| *m) else {
        return;
    };
    if current == Partner::Refuses {
        return;
    }
    let Ok(mut outbound) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        // C stops answering: open connections die, new ones meet the new mode.
        _ = mode.wait_for(|m| *m != Partner::Answers) => {}
    }
}

struct ThreeServers {
    a: TestServer,
    b: TestServer,
    c: TestServer,
    proxy: PartnerProxy,
    alice: TestUser,
    bob: TestUser,
    carol: TestUser,
    room: String,
}

/// A (alice's room), B (bob) and C (carol, reached only through the proxy) share a room.
async fn three_servers(alias: &str) -> ThreeServers {
    let ca = TestCa::new();
    let a = TestServer::start_federating(&ca, |_| {}).await;
    let b = TestServer::start_federating(&ca, |_| {}).await;
    // C's name points at the proxy; its listener stays where the test server bound it.
    let proxy_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("reserve a port");
    let proxy_port = proxy_listener.local_addr().expect("address").port();
    drop(proxy_listener);
    let c = TestServer::start_federating(&ca, |config| {
        config.server_name = ruma::ServerName::parse(format!("localhost:{proxy_port}")).expect("server name");
    })
    .await;
    let target = c.running().federation_addr.expect("C federates");
    let listener = TcpListener::bind(("127.0.0.1", proxy_port)).await.expect("proxy port");
    let proxy = PartnerProxy::start(listener, target);
    let alice = a.register("alice", "pw-alice-1").await;
    let bob = b.register("bob", "pw-bob-1").await;
    let carol = c.register("carol", "pw-carol-1").await;
    let room = a
        .create_room(&alice, json!({ "preset": "public_chat", "room_alias_name": alias }))
        .await;
    let alias = format!("#{alias}:{}", origin(&a));
    assert_eq!(b.join(&bob, &alias).await.status, 200);
    assert_eq!(c.join(&carol, &alias).await.status, 200);
    let hello = vec!["everyone is here".to_owned()];
    a.send_text(&alice, &room, &hello[0]).await;
    for (server, user) in [(&b, &bob), (&c, &carol)] {
        let seen = wait_for_bodies(server, user, &room, &hello, Duration::from_secs(20)).await;
        assert!(seen.contains(&hello[0]), "{seen:?}");
    }
    ThreeServers {
        a,
        b,
        c,
        proxy,
        alice,
        bob,
        carol,
        room,
    }
}

#[tokio::test]
async fn a_partner_that_never_answers_stalls_nobody_else_and_gets_everything_once_it_answers() {
    let s = three_servers("hang").await;
    assert_ne!(s.proxy.addr, s.c.running().federation_addr.expect("C"));
    s.proxy.set(Partner::Hangs);

    let bodies: Vec<String> = (0..20).map(|i| format!("while C hangs {i}")).collect();
    for body in &bodies {
        s.a.send_text(&s.alice, &s.room, body).await;
    }
    let sent = Instant::now();
    let on_b = wait_for_bodies(&s.b, &s.bob, &s.room, &bodies, Duration::from_secs(2)).await;
    assert!(
        bodies.iter().all(|b| on_b.contains(b)),
        "B had every event within 2 s while C hung ({:?} after the last send): {on_b:?}",
        sent.elapsed()
    );
    let on_c = wait_for_bodies(&s.c, &s.carol, &s.room, &bodies, Duration::from_millis(500)).await;
    assert!(!on_c.contains(&bodies[19]), "C cannot have them: it hangs: {on_c:?}");

    s.proxy.set(Partner::Answers);
    let on_c = wait_for_bodies(&s.c, &s.carol, &s.room, &bodies, Duration::from_secs(30)).await;
    assert!(
        bodies.iter().all(|b| on_c.contains(b)),
        "C got every event once it answered: {on_c:?}"
    );
}

#[tokio::test]
async fn a_partner_back_from_an_outage_catches_up_from_the_newest_events() {
    let s = three_servers("outage").await;
    s.proxy.set(Partner::Refuses);
    let bodies: Vec<String> = (0..70).map(|i| format!("during the outage {i}")).collect();
    for body in &bodies {
        s.a.send_text(&s.alice, &s.room, body).await;
    }
    let on_b = wait_for_bodies(&s.b, &s.bob, &s.room, &bodies, Duration::from_secs(10)).await;
    assert!(bodies.iter().all(|b| on_b.contains(b)), "{on_b:?}");

    // A failed to reach C and recorded it, durably.
    let db = s.a.running().services.db().clone();
    let c_name = origin(&s.c);
    let deadline = Instant::now() + Duration::from_secs(10);
    while db.get_destination_backoff(&c_name).expect("read").is_none() {
        assert!(Instant::now() < deadline, "A records C's backoff");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    s.proxy.set(Partner::Answers);
    // A sends the newest 50; C fetches the 20 before them with /get_missing_events.
    let on_c = wait_for_bodies(&s.c, &s.carol, &s.room, &bodies, Duration::from_secs(40)).await;
    let arrived: Vec<String> = on_c
        .into_iter()
        .filter(|b| b.starts_with("during the outage"))
        .collect();
    assert_eq!(arrived, bodies, "C has all 70, in order");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let queued = db.queued_for(&c_name, 1000).expect("queue");
        let backoff = db.get_destination_backoff(&c_name).expect("read");
        if queued.is_empty() && backoff.is_none() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A's queue for C empties and its backoff ends: {} queued, {backoff:?}",
            queued.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_destinations_backoff_survives_a_restart() {
    let mut s = three_servers("backoff").await;
    s.proxy.set(Partner::Refuses);
    s.a.send_text(&s.alice, &s.room, "C is down").await;
    let c_name = origin(&s.c);
    let deadline = Instant::now() + Duration::from_secs(10);
    while s
        .a
        .running()
        .services
        .db()
        .get_destination_backoff(&c_name)
        .expect("read")
        .is_none()
    {
        assert!(Instant::now() < deadline, "A records C's backoff");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.a.restart().await;
    let stored =
        s.a.running()
            .services
            .db()
            .get_destination_backoff(&c_name)
            .expect("read");
    assert!(stored.is_some_and(|b| b.failures >= 1), "{stored:?}");

    s.proxy.set(Partner::Answers);
    let body = vec!["C is down".to_owned()];
    let on_c = wait_for_bodies(&s.c, &s.carol, &s.room, &body, Duration::from_secs(30)).await;
    assert!(on_c.contains(&body[0]), "{on_c:?}");
}
