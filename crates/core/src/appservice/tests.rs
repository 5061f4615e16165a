use std::path::PathBuf;

use ruma::server_name;

use super::*;

const BRIDGE: &str = r##"
id: bridge
url: "http://127.0.0.1:9000"
as_token: as-secret
hs_token: hs-secret
sender_localpart: bridgebot
rate_limited: false
de.sorunome.msc2409.push_ephemeral: true
namespaces:
  users:
    - exclusive: true
      regex: "@bridge_.*"
  aliases:
    - exclusive: true
      regex: "#bridge_.*"
  rooms: []
"##;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write registration");
    path
}

fn load_one(text: &str) -> Result<Registration, RegistrationError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "r.yaml", text);
    load_registration(&path, server_name!("example.org"))
}

#[test]
fn reads_a_synapse_registration() {
    let reg = load_one(BRIDGE).expect("valid");
    assert_eq!(reg.id, "bridge");
    assert_eq!(reg.sender.as_str(), "@bridgebot:example.org");
    assert_eq!(reg.url.as_deref(), Some("http://127.0.0.1:9000"));
    assert!(!reg.rate_limited);
    assert!(
        reg.receive_ephemeral,
        "the unstable MSC2409 key turns ephemeral events on"
    );
    assert!(reg.claims(NamespaceKind::Users, "@bridge_alice:example.org"));
    assert!(reg.claims(NamespaceKind::Aliases, "#bridge_x:example.org"));
    assert!(!reg.matches(NamespaceKind::Users, "@alice:example.org"));
    // Anchored at the start only, as Synapse's `re.match`.
    assert!(!reg.matches(NamespaceKind::Users, "@x@bridge_a:example.org"));
    assert!(reg.may_act_as(&reg.sender));
}

#[test]
fn an_empty_url_means_no_traffic() {
    let reg = load_one(&BRIDGE.replace("\"http://127.0.0.1:9000\"", "''")).expect("valid");
    assert_eq!(reg.url, None);
    let reg = load_one(&BRIDGE.replace("\"http://127.0.0.1:9000\"", "null")).expect("valid");
    assert_eq!(reg.url, None);
}

#[test]
fn each_problem_names_the_file_and_field() {
    let err = load_one(&BRIDGE.replace("as_token: as-secret\n", "")).expect_err("missing token");
    assert_eq!(err.field, "as_token");
    assert!(err.to_string().contains("r.yaml: as_token: is missing"), "{err}");

    let err = load_one(&BRIDGE.replace("\"@bridge_.*\"", "\"@bridge_(\"")).expect_err("bad regex");
    assert_eq!(err.field, "namespaces.users[0].regex");

    let err = load_one(&BRIDGE.replace(
        "      regex: \"#bridge_.*\"",
        "      regex: \"#bridge_.*\"\n    - regex: x",
    ))
    .expect_err("missing exclusive");
    assert_eq!(err.field, "namespaces.aliases[1].exclusive");

    let err = load_one(&BRIDGE.replace("hs_token: hs-secret", "hs_token: as-secret")).expect_err("same tokens");
    assert_eq!(err.field, "hs_token");

    let err = load_one(&BRIDGE.replace("bridgebot", "Bad Bot")).expect_err("bad localpart");
    assert_eq!(err.field, "sender_localpart");

    let err = load_one(&BRIDGE.replace("http://127.0.0.1:9000", "ftp://x")).expect_err("bad scheme");
    assert_eq!(err.field, "url");

    let err = load_one("id: [unclosed").expect_err("not yaml");
    assert_eq!(err.field, "file");
    assert!(!err.to_string().contains('\n'));
}

#[test]
fn a_directory_holds_one_registration_per_yaml_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.yaml", BRIDGE);
    let other = BRIDGE
        .replace("id: bridge", "id: other")
        .replace("as-secret", "as-2")
        .replace("hs-secret", "hs-2")
        .replace("bridgebot", "otherbot")
        .replace("bridge_", "other_");
    write(dir.path(), "b.yml", &other);
    write(dir.path(), "notes.txt", "not a registration");
    let regs = load_registrations(&[dir.path().to_owned()], server_name!("example.org")).expect("valid set");
    let ids: Vec<&str> = regs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["bridge", "other"]);
}

#[test]
fn the_set_refuses_clashes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = write(dir.path(), "a.yaml", BRIDGE);
    let set = |b: &str| {
        let b = write(dir.path(), "b.yaml", b);
        load_registrations(&[a.clone(), b], server_name!("example.org"))
    };
    let distinct = |text: &str| {
        text.replace("as-secret", "as-2")
            .replace("hs-secret", "hs-2")
            .replace("bridgebot", "otherbot")
    };
    let err = set(&distinct(BRIDGE)).expect_err("same id");
    assert_eq!(err.field, "id");
    let err = set(&distinct(BRIDGE)
        .replace("id: bridge", "id: b")
        .replace("as-2", "as-secret"))
    .expect_err("same as_token");
    assert_eq!(err.field, "as_token");
    let err = set(&distinct(BRIDGE).replace("id: bridge", "id: b")).expect_err("same exclusive regex");
    assert_eq!(err.field, "namespaces.users[0].regex");
    let err = set(&distinct(BRIDGE)
        .replace("id: bridge", "id: b")
        .replace("bridge_", "other_")
        .replace("otherbot", "bridge_bot"))
    .expect_err("sender inside another's exclusive namespace");
    assert_eq!(err.field, "sender_localpart");
}

#[test]
fn a_pattern_matches_file_names_and_a_missing_directory_holds_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.yaml", BRIDGE);
    write(dir.path(), "a.yaml.bak", "junk");
    let regs = load_registrations(&[dir.path().join("*.yaml")], server_name!("example.org")).expect("valid set");
    assert_eq!(regs.len(), 1);
    let none = load_registrations(&[dir.path().join("missing/*.yaml")], server_name!("example.org"))
        .expect("a missing directory is no registration");
    assert!(none.is_empty());
    let err = load_registrations(&[dir.path().join("missing.yaml")], server_name!("example.org"))
        .expect_err("a named file must exist");
    assert_eq!(err.field, "file");
}
