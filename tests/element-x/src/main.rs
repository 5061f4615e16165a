//! Element X's SDK (matrix-rust-sdk 0.18 from crates.io) against Accord, over simplified
//! sliding sync, the only sync Element X speaks.
//!
//! alice and bob are on Accord, carol on Synapse (federating with Accord). Each logs in with
//! a password and runs the SDK's `SyncService`: its room list service (`conn_id` "room-list")
//! and its encryption sync (`conn_id` "encryption"), both long-polling the MSC4186 endpoint
//! of their own homeserver. Then, for a plain and an encrypted room: alice creates the room
//! and invites bob and carol; the invites show in their room lists, they join from there;
//! alice's message reaches bob and carol and carol's reply reaches alice and bob, each seen
//! in the SDK's timeline (decrypted, in the encrypted room). The room list's own rooms and
//! latest events are checked along the way.
//!
//!   accord-element-x-test --accord http://127.0.0.1:PORT --synapse http://127.0.0.1:PORT
//!
//! Prints one line per step and `OK` at the end; any failure exits non-zero naming the step.

use std::{sync::Arc, time::Duration};

use anyhow::{Context, Result, bail, ensure};
use futures_util::{StreamExt, pin_mut};
use matrix_sdk::{
    Client, Room, RoomState,
    ruma::{
        OwnedEventId, OwnedRoomId, OwnedUserId, UserId,
        api::client::{
            account::register,
            room::create_room::v3::{Request as CreateRoomRequest, RoomPreset},
            uiaa::{AuthData, Dummy},
        },
        events::{
            InitialStateEvent,
            room::{encryption::RoomEncryptionEventContent, member::MembershipState, message::RoomMessageEventContent},
        },
    },
    sliding_sync::VersionBuilder,
};
use matrix_sdk_ui::{
    eyeball_im::Vector,
    room_list_service::{RoomList, RoomListItem, filters},
    sync_service::{State as SyncState, SyncService},
    timeline::{RoomExt, Timeline},
};
use tokio::time::{Instant, sleep, timeout};

/// How long any one propagation may take.
const PATIENCE: Duration = Duration::from_secs(60);
const PASSWORD: &str = "element-x-test-password";

/// One logged-in SDK client with its sync running.
struct Person {
    name: &'static str,
    client: Client,
    sync: Arc<SyncService>,
    rooms: RoomList,
}

impl Person {
    fn user_id(&self) -> Result<OwnedUserId> {
        Ok(self.client.user_id().context("not logged in")?.to_owned())
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    // The SDK logs every non-2xx answer at ERROR, among them the 404s it expects (no secret
    // storage key on a new account): left out unless RUST_LOG asks.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,matrix_sdk::http_client=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| -> Result<String> {
        let at = args
            .iter()
            .position(|a| a == name)
            .with_context(|| format!("missing {name} URL"))?;
        args.get(at + 1).cloned().with_context(|| format!("missing {name} URL"))
    };
    let (accord, synapse) = (arg("--accord")?, arg("--synapse")?);
    let suffix = std::process::id();

    let alice = person("alice", &accord, &format!("alice{suffix}")).await?;
    let bob = person("bob", &accord, &format!("bob{suffix}")).await?;
    let carol = person("carol", &synapse, &format!("carol{suffix}")).await?;
    step("logged in on Accord (alice, bob) and Synapse (carol); sliding sync running");

    for other in [&bob, &carol] {
        wait_for_devices(&alice, &other.user_id()?).await?;
    }
    step("alice sees bob's and carol's device keys");

    for encrypted in [false, true] {
        let kind = if encrypted { "encrypted" } else { "plain" };
        let room_id = create_room(&alice, &[&bob, &carol], encrypted).await?;
        let room = wait_for_room(&alice, &room_id, RoomState::Joined).await?;
        step(&format!("{kind}: alice's room list shows her new room"));
        for invitee in [&bob, &carol] {
            let invite = wait_for_room(invitee, &room_id, RoomState::Invited).await?;
            invite
                .join()
                .await
                .with_context(|| format!("{} joining", invitee.name))?;
            wait_for_room(invitee, &room_id, RoomState::Joined).await?;
        }
        step(&format!(
            "{kind}: bob and carol saw the invite in their room lists and joined"
        ));
        for member in [&bob, &carol] {
            wait_for_member(&room, &member.user_id()?).await?;
        }
        ensure!(
            room.latest_encryption_state().await?.is_encrypted() == encrypted,
            "{kind}: alice's SDK has the room's encryption wrong"
        );
        let text = format!("hello from alice ({kind})");
        let sent = alice_send(&room, &text, encrypted).await?;
        for reader in [&bob, &carol] {
            wait_for_message(reader, &room_id, &sent, &text, encrypted).await?;
        }
        step(&format!(
            "{kind}: alice's message reached bob (Accord) and carol (Synapse)"
        ));
        let carol_room = carol.client.get_room(&room_id).context("carol lacks the room")?;
        let reply = format!("reply from carol ({kind})");
        let reply_id = carol_room
            .send(RoomMessageEventContent::text_plain(&reply))
            .await
            .context("carol sending")?
            .response
            .event_id;
        for reader in [&alice, &bob] {
            wait_for_message(reader, &room_id, &reply_id, &reply, encrypted).await?;
        }
        step(&format!("{kind}: carol's reply reached alice and bob on Accord"));
    }
    for person in [&alice, &bob, &carol] {
        person.sync.stop().await;
    }
    println!("OK");
    Ok(())
}

fn step(what: &str) {
    println!("ok - {what}");
}

/// Registers `localpart` on `homeserver`, logs in as Element X would and starts its sync.
async fn person(name: &'static str, homeserver: &str, localpart: &str) -> Result<Person> {
    let build = || {
        Client::builder()
            .homeserver_url(homeserver)
            .sliding_sync_version_builder(VersionBuilder::DiscoverNative)
            .respect_login_well_known(false)
            .build()
    };
    let registrar = build()
        .await
        .with_context(|| format!("{name}: client for {homeserver}"))?;
    let mut request = register::v3::Request::new();
    request.username = Some(localpart.to_owned());
    request.password = Some(PASSWORD.to_owned());
    request.inhibit_login = true;
    request.auth = Some(AuthData::Dummy(Dummy::new()));
    registrar
        .matrix_auth()
        .register(request)
        .await
        .with_context(|| format!("{name}: registering {localpart} on {homeserver}"))?;
    // DiscoverNative fails the build unless /versions announces simplified sliding sync.
    let client = build()
        .await
        .with_context(|| format!("{name}: {homeserver} does not announce simplified sliding sync"))?;
    client
        .matrix_auth()
        .login_username(localpart, PASSWORD)
        .initial_device_display_name("accord element-x test")
        .await
        .with_context(|| format!("{name}: logging in"))?;
    client.encryption().wait_for_e2ee_initialization_tasks().await;
    let sync = Arc::new(SyncService::builder(client.clone()).build().await?);
    sync.start().await;
    watch_sync(name, sync.clone());
    let rooms = sync.room_list_service().all_rooms().await?;
    Ok(Person {
        name,
        client,
        sync,
        rooms,
    })
}

/// A sync error stops the SDK's `SyncService` (as in the app, which restarts it): reported,
/// and restarted, so one failed request shows in the log without ending the test. A test
/// that depends on the failed request still fails on its own timeout.
fn watch_sync(name: &'static str, sync: Arc<SyncService>) {
    tokio::spawn(async move {
        let mut states = sync.state();
        while let Some(state) = states.next().await {
            if let SyncState::Error(error) = &state {
                eprintln!("[{name}] sync stopped with an error, restarting: {error:?}");
                sleep(Duration::from_millis(500)).await;
                sync.start().await;
            }
        }
    });
}

/// Waits until `of` has device keys `person`'s SDK knows (else no room key reaches them).
async fn wait_for_devices(person: &Person, of: &UserId) -> Result<()> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        person.client.encryption().request_user_identity(of).await?;
        if person.client.encryption().get_user_devices(of).await?.devices().count() > 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{} never saw device keys of {of}", person.name);
        }
        sleep(Duration::from_millis(500)).await;
    }
}

async fn create_room(creator: &Person, invitees: &[&Person], encrypted: bool) -> Result<OwnedRoomId> {
    let mut request = CreateRoomRequest::new();
    request.name = Some(format!("element-x test, encrypted: {encrypted}"));
    request.invite = invitees.iter().map(|p| p.user_id()).collect::<Result<_>>()?;
    request.preset = Some(RoomPreset::PrivateChat);
    if encrypted {
        request.initial_state = vec![
            InitialStateEvent::with_empty_state_key(RoomEncryptionEventContent::with_recommended_defaults())
                .to_raw_any(),
        ];
    }
    let room = creator.client.create_room(request).await.context("creating the room")?;
    Ok(room.room_id().to_owned())
}

/// Waits until the room shows in the person's room list (the room list service's
/// `all_rooms`, filled by sliding sync) in `state`.
async fn wait_for_room(person: &Person, room_id: &OwnedRoomId, state: RoomState) -> Result<Room> {
    let (stream, controller) = person.rooms.entries_with_dynamic_adapters(500);
    // The stream yields nothing until a filter is set.
    controller.set_filter(Box::new(filters::new_filter_non_left()));
    pin_mut!(stream);
    let mut entries: Vector<RoomListItem> = Vector::new();
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(item) = entries.iter().find(|item| {
            let room: &Room = item;
            room.room_id() == room_id && room.state() == state
        }) {
            return Ok(item.clone().into_inner());
        }
        if Instant::now() > deadline {
            bail!("{}'s room list never showed {room_id} as {state:?}", person.name);
        }
        match timeout(Duration::from_millis(500), stream.next()).await {
            Ok(Some(diffs)) => {
                for diff in diffs {
                    diff.apply(&mut entries);
                }
            }
            Ok(None) => bail!("{}'s room list stream ended", person.name),
            // The state of a listed room changes without a diff (invited, then joined).
            Err(_) => {}
        }
    }
}

async fn wait_for_member(room: &Room, user: &UserId) -> Result<()> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(member) = room.get_member_no_sync(user).await?
            && *member.membership() == MembershipState::Join
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("alice never saw {user} join");
        }
        sleep(Duration::from_millis(250)).await;
    }
}

async fn alice_send(room: &Room, text: &str, encrypted: bool) -> Result<OwnedEventId> {
    let sent = room
        .send(RoomMessageEventContent::text_plain(text))
        .await
        .context("alice sending")?;
    ensure!(
        sent.encryption_info.is_some() == encrypted,
        "alice's message was {}encrypted",
        if encrypted { "not " } else { "" }
    );
    Ok(sent.response.event_id)
}

/// Waits until the message shows, readable, in the person's timeline of the room: opened as
/// Element X opens a room (a room subscription of the room list service, then its timeline).
async fn wait_for_message(
    person: &Person,
    room_id: &OwnedRoomId,
    event_id: &OwnedEventId,
    text: &str,
    encrypted: bool,
) -> Result<()> {
    person.sync.room_list_service().subscribe_to_rooms(&[room_id]).await;
    let room = person
        .client
        .get_room(room_id)
        .with_context(|| format!("{} lacks {room_id}", person.name))?;
    let timeline: Timeline = room.timeline().await?;
    let deadline = Instant::now() + PATIENCE;
    loop {
        for item in timeline.items().await.iter() {
            let Some(event) = item.as_event() else {
                continue;
            };
            if event.event_id() != Some(event_id) || event.content().is_unable_to_decrypt() {
                continue;
            }
            let message = event.content().as_message().context("not a message")?;
            ensure!(
                message.body() == text,
                "{} read {:?}, not {text:?}",
                person.name,
                message.body()
            );
            ensure!(
                event.encryption_info().is_some() == encrypted,
                "{} got the message {}encrypted",
                person.name,
                if encrypted { "un" } else { "" }
            );
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{} never read {event_id} in {room_id}", person.name);
        }
        sleep(Duration::from_millis(250)).await;
    }
}
