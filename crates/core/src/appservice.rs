//! Application service registrations (spec: application-service-api.md, "Registration"), read
//! from the YAML files Synapse reads, so a bridge's existing registration works unchanged.
//!
//! A file is checked on its own (required fields, regexes, the sender's user id, the URL), then
//! the set is checked together (ids and tokens unique, no exclusive namespace claimed twice).
//! Every problem is one line naming the file and the field.

use std::path::{Path, PathBuf};

use regex::Regex;
use ruma::{OwnedUserId, ServerName, UserId};
use serde::Deserialize;

/// One application service, as registered.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Its unique id (`id:`).
    pub id: String,
    /// Where the homeserver sends transactions and queries; `None` when it wants no traffic
    /// (`url: null` or an empty string, as Complement writes it).
    pub url: Option<String>,
    /// What the service authenticates with at this server.
    pub as_token: String,
    /// What this server authenticates with at the service.
    pub hs_token: String,
    /// The service's own user (`@<sender_localpart>:<server_name>`), which needs no namespace.
    pub sender: OwnedUserId,
    /// The user ids, aliases and room ids it is interested in.
    pub namespaces: Namespaces,
    /// Whether the users it acts as are rate limited (the default; `rate_limited: false`
    /// exempts them all).
    pub rate_limited: bool,
    /// Third-party protocols it bridges (`/thirdparty/*` lookups go to it).
    pub protocols: Vec<String>,
    /// Whether transactions carry ephemeral events (receipts, typing) and to-device messages
    /// for its users: `receive_ephemeral`, or MSC2409's `de.sorunome.msc2409.push_ephemeral`
    /// as older bridges write it. Synapse has no key of its own for to-device messages: they
    /// come with ephemeral events (MSC2409/MSC4203), and so they do here.
    pub receive_ephemeral: bool,
    /// MSC3202: device masquerading and device-list changes and one-time key counts in
    /// transactions, for bridges that encrypt (`org.matrix.msc3202: true`).
    pub msc3202: bool,
    /// The file it was read from, for messages.
    pub source: PathBuf,
}

/// The three namespaces of a registration.
#[derive(Debug, Clone, Default)]
pub struct Namespaces {
    /// User ids.
    pub users: Vec<Namespace>,
    /// Room aliases.
    pub aliases: Vec<Namespace>,
    /// Room ids.
    pub rooms: Vec<Namespace>,
}

/// One namespace entry: a regex and whether the service claims it alone.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// Whether nobody else may register or create what it matches.
    pub exclusive: bool,
    /// The pattern as written.
    pub source: String,
    /// The pattern anchored at the start, as Synapse matches it (`re.match`): bridges write
    /// `@irc_.*` and expect `@irc_alice:example.org` to match.
    regex: Regex,
}

impl Namespace {
    /// Whether `value` (a user id, alias or room id) is in this namespace.
    pub fn matches(&self, value: &str) -> bool {
        self.regex.is_match(value)
    }
}

/// Which of a registration's namespaces a value is looked up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceKind {
    /// User ids.
    Users,
    /// Room aliases.
    Aliases,
    /// Room ids.
    Rooms,
}

impl NamespaceKind {
    fn key(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Aliases => "aliases",
            Self::Rooms => "rooms",
        }
    }
}

impl Namespaces {
    /// The entries of one kind.
    pub fn of(&self, kind: NamespaceKind) -> &[Namespace] {
        match kind {
            NamespaceKind::Users => &self.users,
            NamespaceKind::Aliases => &self.aliases,
            NamespaceKind::Rooms => &self.rooms,
        }
    }
}

impl Registration {
    /// Whether `value` is in any namespace of `kind`.
    pub fn matches(&self, kind: NamespaceKind, value: &str) -> bool {
        self.namespaces.of(kind).iter().any(|ns| ns.matches(value))
    }

    /// Whether `value` is in an exclusive namespace of `kind`.
    pub fn claims(&self, kind: NamespaceKind, value: &str) -> bool {
        self.namespaces
            .of(kind)
            .iter()
            .any(|ns| ns.exclusive && ns.matches(value))
    }

    /// Whether the service may act as `user_id`: its sender, or a user in its namespace.
    pub fn may_act_as(&self, user_id: &UserId) -> bool {
        user_id == self.sender || self.matches(NamespaceKind::Users, user_id.as_str())
    }
}

/// A problem with one registration file, on one line: the file, the field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("appservice registration {}: {field}: {message}", .file.display())]
pub struct RegistrationError {
    /// The file.
    pub file: PathBuf,
    /// The field (dotted: `namespaces.users[0].regex`), or `file` for the file as a whole.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl RegistrationError {
    fn new(file: &Path, field: impl Into<String>, message: impl Into<String>) -> Self {
        let message: String = message.into();
        Self {
            file: file.to_owned(),
            field: field.into(),
            message: message.split_whitespace().collect::<Vec<_>>().join(" "),
        }
    }
}

/// The file as written. Fields are optional here so a missing one is reported by name.
#[derive(Debug, Deserialize)]
struct RegistrationFile {
    id: Option<String>,
    url: Option<String>,
    as_token: Option<String>,
    hs_token: Option<String>,
    sender_localpart: Option<String>,
    #[serde(default)]
    namespaces: Option<NamespacesFile>,
    rate_limited: Option<bool>,
    #[serde(default)]
    protocols: Option<Vec<String>>,
    receive_ephemeral: Option<bool>,
    #[serde(rename = "de.sorunome.msc2409.push_ephemeral")]
    unstable_push_ephemeral: Option<bool>,
    #[serde(rename = "org.matrix.msc3202")]
    msc3202: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
struct NamespacesFile {
    #[serde(default)]
    users: Option<Vec<NamespaceFile>>,
    #[serde(default)]
    aliases: Option<Vec<NamespaceFile>>,
    #[serde(default)]
    rooms: Option<Vec<NamespaceFile>>,
}

#[derive(Debug, Deserialize)]
struct NamespaceFile {
    exclusive: Option<bool>,
    regex: Option<String>,
}

/// Reads and checks one registration file.
pub fn load_registration(path: &Path, server_name: &ServerName) -> Result<Registration, RegistrationError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| RegistrationError::new(path, "file", format!("cannot be read: {err}")))?;
    let file: RegistrationFile = serde_yaml_ng::from_str(&text)
        .map_err(|err| RegistrationError::new(path, "file", format!("is not a valid registration: {err}")))?;
    parse_registration(path, file, server_name)
}

fn required(path: &Path, field: &str, value: Option<String>) -> Result<String, RegistrationError> {
    match value {
        Some(value) if !value.trim().is_empty() => Ok(value),
        Some(_) => Err(RegistrationError::new(path, field, "must not be empty")),
        None => Err(RegistrationError::new(path, field, "is missing")),
    }
}

fn parse_registration(
    path: &Path,
    file: RegistrationFile,
    server_name: &ServerName,
) -> Result<Registration, RegistrationError> {
    let id = required(path, "id", file.id)?;
    let as_token = required(path, "as_token", file.as_token)?;
    let hs_token = required(path, "hs_token", file.hs_token)?;
    if as_token == hs_token {
        return Err(RegistrationError::new(
            path,
            "hs_token",
            "must differ from as_token (each side would accept the other's requests)",
        ));
    }
    let localpart = required(path, "sender_localpart", file.sender_localpart)?;
    // The spec's user id grammar; historical ids with other characters can't be new users.
    let conforming = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._=-/+".contains(c);
    if !localpart.chars().all(conforming) {
        return Err(RegistrationError::new(
            path,
            "sender_localpart",
            "may hold only a-z, 0-9 and . _ = - / +",
        ));
    }
    let sender = UserId::parse(format!("@{localpart}:{server_name}")).map_err(|err| {
        RegistrationError::new(
            path,
            "sender_localpart",
            format!("is not a valid user localpart: {err}"),
        )
    })?;
    let url = file.url.filter(|url| !url.trim().is_empty());
    if let Some(url) = &url {
        match url::Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
            Ok(parsed) => {
                return Err(RegistrationError::new(
                    path,
                    "url",
                    format!("must be http or https, not {}", parsed.scheme()),
                ));
            }
            Err(err) => return Err(RegistrationError::new(path, "url", format!("is not a URL: {err}"))),
        }
    }
    let raw = file.namespaces.unwrap_or_default();
    let namespaces = Namespaces {
        users: parse_namespaces(path, NamespaceKind::Users, raw.users)?,
        aliases: parse_namespaces(path, NamespaceKind::Aliases, raw.aliases)?,
        rooms: parse_namespaces(path, NamespaceKind::Rooms, raw.rooms)?,
    };
    Ok(Registration {
        id,
        url,
        as_token,
        hs_token,
        sender,
        namespaces,
        rate_limited: file.rate_limited.unwrap_or(true),
        protocols: file.protocols.unwrap_or_default(),
        receive_ephemeral: file.receive_ephemeral.or(file.unstable_push_ephemeral).unwrap_or(false),
        msc3202: file.msc3202.unwrap_or(false),
        source: path.to_owned(),
    })
}

fn parse_namespaces(
    path: &Path,
    kind: NamespaceKind,
    entries: Option<Vec<NamespaceFile>>,
) -> Result<Vec<Namespace>, RegistrationError> {
    let mut out = Vec::new();
    for (index, entry) in entries.unwrap_or_default().into_iter().enumerate() {
        let field = |name: &str| format!("namespaces.{}[{index}].{name}", kind.key());
        let exclusive = entry
            .exclusive
            .ok_or_else(|| RegistrationError::new(path, field("exclusive"), "is missing (true or false)"))?;
        let source = required(path, &field("regex"), entry.regex)?;
        let regex = Regex::new(&format!("^(?:{source})"))
            .map_err(|err| RegistrationError::new(path, field("regex"), format!("is not a valid regex: {err}")))?;
        out.push(Namespace {
            exclusive,
            source,
            regex,
        });
    }
    Ok(out)
}

/// Expands the configured entries (files; directories, whose `*.yaml` and `*.yml` files are
/// each a registration; or a `*` pattern of file names, such as Complement's
/// `/complement/appservice/*.yaml`, which matches nothing while the directory is missing) and reads
/// every registration, checking them one by one and then as a set.
pub fn load_registrations(
    entries: &[PathBuf],
    server_name: &ServerName,
) -> Result<Vec<Registration>, RegistrationError> {
    let mut files = Vec::new();
    for entry in entries {
        let pattern = entry
            .file_name()
            .and_then(|name| name.to_str())
            .filter(|name| name.contains('*'));
        if let Some(pattern) = pattern {
            let dir = entry.parent().unwrap_or(Path::new("."));
            files.extend(files_in(dir, |name| crate::glob::glob_matches(pattern, name))?);
        } else if entry.is_dir() {
            files.extend(files_in(entry, |name| {
                name.ends_with(".yaml") || name.ends_with(".yml")
            })?);
        } else {
            files.push(entry.clone());
        }
    }
    let registrations = files
        .iter()
        .map(|file| load_registration(file, server_name))
        .collect::<Result<Vec<_>, _>>()?;
    check_set(&registrations)?;
    Ok(registrations)
}

/// The files in `dir` whose names `keep` accepts, sorted; none when `dir` does not exist
/// (Complement creates `/complement/appservice/` only for tests that use a service).
fn files_in(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>, RegistrationError> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => {
            return Err(RegistrationError::new(
                dir,
                "file",
                format!("directory cannot be listed: {err}"),
            ));
        }
    };
    let mut found: Vec<PathBuf> = listing
        .filter_map(|item| item.ok().map(|item| item.path()))
        .filter(|path| path.file_name().and_then(|name| name.to_str()).is_some_and(&keep))
        .collect();
    found.sort();
    Ok(found)
}

/// Checks registrations against each other: ids and tokens unique, and no exclusive
/// namespace claimed by two services (the same regex, or one service's sender inside
/// another's exclusive user namespace). Regexes that overlap only in some values can't be
/// detected in general; Synapse checks none of this.
fn check_set(registrations: &[Registration]) -> Result<(), RegistrationError> {
    for (index, this) in registrations.iter().enumerate() {
        for earlier in &registrations[..index] {
            let clash = |field: &str, what: &str| {
                RegistrationError::new(
                    &this.source,
                    field,
                    format!("{what} is also used by {}", earlier.source.display()),
                )
            };
            if this.id == earlier.id {
                return Err(clash("id", &format!("id {:?}", this.id)));
            }
            let tokens = [&earlier.as_token, &earlier.hs_token];
            if tokens.contains(&&this.as_token) {
                return Err(clash("as_token", "the token"));
            }
            if tokens.contains(&&this.hs_token) {
                return Err(clash("hs_token", "the token"));
            }
            if this.sender == earlier.sender {
                return Err(clash("sender_localpart", &format!("the sender {}", this.sender)));
            }
            for kind in [NamespaceKind::Users, NamespaceKind::Aliases, NamespaceKind::Rooms] {
                for (i, ns) in this.namespaces.of(kind).iter().enumerate() {
                    let shared = earlier
                        .namespaces
                        .of(kind)
                        .iter()
                        .any(|other| other.source == ns.source && (other.exclusive || ns.exclusive));
                    if shared {
                        return Err(clash(
                            &format!("namespaces.{}[{i}].regex", kind.key()),
                            &format!("the exclusive namespace {:?}", ns.source),
                        ));
                    }
                }
            }
            if earlier.claims(NamespaceKind::Users, this.sender.as_str()) {
                return Err(clash(
                    "sender_localpart",
                    &format!("{} is in an exclusive user namespace that", this.sender),
                ));
            }
            if this.claims(NamespaceKind::Users, earlier.sender.as_str()) {
                return Err(RegistrationError::new(
                    &this.source,
                    "namespaces.users",
                    format!(
                        "an exclusive namespace takes in {}, the sender of {}",
                        earlier.sender,
                        earlier.source.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
