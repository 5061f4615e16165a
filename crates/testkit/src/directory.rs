//! A real OpenLDAP directory for tests: Debian's `slapd` (installed by `scripts/setup`)
//! started on 127.0.0.1 with its own config and database in a temp dir, plain and with TLS
//! from the test CA, the `memberof` overlay (groups as Active Directory shows them), and
//! stopped with its process when dropped.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use ldap3::{Ldap, LdapConnAsync, Mod};

use crate::ca::TestCa;

/// Where people live, and the service account Accord searches with.
pub const PEOPLE: &str = "ou=people,dc=example,dc=gov";
/// The service account's DN and password.
pub const SERVICE_DN: &str = "cn=accord,ou=services,dc=example,dc=gov";
/// The service account's password.
pub const SERVICE_PASSWORD: &str = "service-secret";
/// The admins' group.
pub const ADMINS: &str = "cn=matrix-admins,ou=groups,dc=example,dc=gov";

const SUFFIX: &str = "dc=example,dc=gov";
const ROOT_DN: &str = "cn=admin,dc=example,dc=gov";
const ROOT_PASSWORD: &str = "root-secret";

/// A running slapd.
pub struct TestDirectory {
    child: Child,
    dir: tempfile::TempDir,
    /// `ldap://127.0.0.1:<port>` (StartTLS available when started with a CA).
    pub uri: String,
    /// The test CA's certificate file, when started with TLS.
    pub ca_file: Option<PathBuf>,
}

impl TestDirectory {
    /// Starts slapd; with `ca`, it also offers StartTLS with a certificate from it.
    pub async fn start(ca: Option<&TestCa>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("data dir");
        let mut tls = String::new();
        let mut ca_file = None;
        if let Some(ca) = ca {
            let leaf = ca.leaf(dir.path(), "slapd", &[]);
            let file = dir.path().join("ca.pem");
            std::fs::write(&file, &ca.ca_pem).expect("write CA");
            tls = format!(
                "TLSCACertificateFile {}\nTLSCertificateFile {}\nTLSCertificateKeyFile {}\n",
                file.display(),
                leaf.cert.display(),
                leaf.key.display()
            );
            ca_file = Some(file);
        }
        let config = dir.path().join("slapd.conf");
        std::fs::write(&config, slapd_conf(dir.path(), &data, &tls)).expect("write slapd.conf");
        let port = free_port();
        let uri = format!("ldap://127.0.0.1:{port}");
        let child = Command::new("/usr/sbin/slapd")
            .arg("-f")
            .arg(&config)
            .args(["-h", &format!("{uri}/"), "-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("slapd runs (scripts/setup installs Debian's slapd)");
        let directory = Self {
            child,
            dir,
            uri,
            ca_file,
        };
        directory.wait_ready().await;
        directory.seed().await;
        directory
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if LdapConnAsync::new(&self.uri).await.is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "slapd did not start at {}", self.uri);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A connection bound as the directory's root, to change entries.
    pub async fn root(&self) -> Ldap {
        let (connection, mut ldap) = LdapConnAsync::new(&self.uri).await.expect("connect to slapd");
        tokio::spawn(async move {
            let _ = connection.drive().await;
        });
        ldap.simple_bind(ROOT_DN, ROOT_PASSWORD)
            .await
            .expect("bind")
            .success()
            .expect("root bind");
        ldap
    }

    async fn seed(&self) {
        let mut ldap = self.root().await;
        let entries: [(&str, Attributes<'_>); 5] = [
            (
                SUFFIX,
                vec![
                    ("objectClass", vec!["dcObject", "organization"]),
                    ("dc", vec!["example"]),
                    ("o", vec!["Example Agency"]),
                ],
            ),
            (
                PEOPLE,
                vec![("objectClass", vec!["organizationalUnit"]), ("ou", vec!["people"])],
            ),
            (
                "ou=services,dc=example,dc=gov",
                vec![("objectClass", vec!["organizationalUnit"]), ("ou", vec!["services"])],
            ),
            (
                "ou=groups,dc=example,dc=gov",
                vec![("objectClass", vec!["organizationalUnit"]), ("ou", vec!["groups"])],
            ),
            (
                SERVICE_DN,
                vec![
                    ("objectClass", vec!["organizationalRole", "simpleSecurityObject"]),
                    ("cn", vec!["accord"]),
                    ("userPassword", vec![SERVICE_PASSWORD]),
                ],
            ),
        ];
        for (dn, attrs) in entries {
            ldap.add(dn, owned(attrs))
                .await
                .expect("add")
                .success()
                .expect("seed entry");
        }
    }

    /// Adds a person `uid` with display name `cn` and `password`.
    pub async fn add_person(&self, uid: &str, cn: &str, password: &str) {
        let mut ldap = self.root().await;
        let dn = person_dn(uid);
        let attrs = owned(vec![
            ("objectClass", vec!["inetOrgPerson"]),
            ("uid", vec![uid]),
            ("cn", vec![cn]),
            ("sn", vec![cn]),
            ("userPassword", vec![password]),
        ]);
        ldap.add(&dn, attrs).await.expect("add").success().expect("add person");
    }

    /// Creates the admins' group with `members` (uids); the overlay gives them `memberOf`.
    pub async fn add_admins(&self, members: &[&str]) {
        let mut ldap = self.root().await;
        // groupOfNames needs a member even when no person is one: the service account.
        let mut dns: Vec<String> = members.iter().map(|uid| person_dn(uid)).collect();
        dns.push(SERVICE_DN.to_owned());
        let attrs = vec![
            ("objectClass".to_owned(), HashSet::from(["groupOfNames".to_owned()])),
            ("cn".to_owned(), HashSet::from(["matrix-admins".to_owned()])),
            ("member".to_owned(), dns.into_iter().collect()),
        ];
        ldap.add(ADMINS, attrs)
            .await
            .expect("add")
            .success()
            .expect("add group");
    }

    /// Removes `uid` from the admins' group.
    pub async fn remove_admin(&self, uid: &str) {
        let mut ldap = self.root().await;
        let change = vec![Mod::Delete("member".to_owned(), HashSet::from([person_dn(uid)]))];
        ldap.modify(ADMINS, change)
            .await
            .expect("modify")
            .success()
            .expect("remove member");
    }

    /// Sets `attribute` of `uid`'s entry (replacing what it held).
    pub async fn set(&self, uid: &str, attribute: &str, value: &str) {
        let mut ldap = self.root().await;
        let change = vec![Mod::Replace(attribute.to_owned(), HashSet::from([value.to_owned()]))];
        ldap.modify(&person_dn(uid), change)
            .await
            .expect("modify")
            .success()
            .expect("set attribute");
    }

    /// Stops slapd (the directory becomes unreachable).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The temp dir holding config and data.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestDirectory {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `uid=<uid>,ou=people,...`
pub fn person_dn(uid: &str) -> String {
    format!("uid={uid},{PEOPLE}")
}

/// An entry's attributes and their values, as written in the tests.
type Attributes<'a> = Vec<(&'a str, Vec<&'a str>)>;

fn owned(attrs: Attributes<'_>) -> Vec<(String, HashSet<String>)> {
    attrs
        .into_iter()
        .map(|(name, values)| (name.to_owned(), values.into_iter().map(str::to_owned).collect()))
        .collect()
}

/// Passwords are readable by no one (only binds use them); the service account and people
/// read the rest.
fn slapd_conf(dir: &Path, data: &Path, tls: &str) -> String {
    format!(
        "include /etc/ldap/schema/core.schema\n\
         include /etc/ldap/schema/cosine.schema\n\
         include /etc/ldap/schema/inetorgperson.schema\n\
         include /etc/ldap/schema/nis.schema\n\
         modulepath /usr/lib/ldap\n\
         moduleload back_mdb\n\
         moduleload memberof\n\
         pidfile {}/slapd.pid\n\
         {tls}\
         access to attrs=userPassword by self write by anonymous auth by * none\n\
         access to * by * read\n\
         database mdb\n\
         maxsize 10485760\n\
         suffix \"{SUFFIX}\"\n\
         rootdn \"{ROOT_DN}\"\n\
         rootpw {ROOT_PASSWORD}\n\
         directory {}\n\
         overlay memberof\n",
        dir.display(),
        data.display()
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}
