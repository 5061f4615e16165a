//! The TLS client configuration for outbound federation: the system's root certificates plus
//! an optional CA file. Verification is always on.

use std::{path::Path, sync::Arc};

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{CertificateDer, pem::PemObject};

use crate::{Error, Result};

/// Roots from the system store and `ca_file`, ring provider, HTTP/2 and 1.1.
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>> {
    let mut config = verified_client_config(ca_file, "federation.tls_ca_file")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TLS client trusting the system's roots and `ca_file` (named by its config `key` in
/// errors), ring provider, no ALPN: for any outbound TLS (the LDAP directory too).
pub fn verified_client_config(ca_file: Option<&Path>, key: &str) -> Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // Unparsable system certificates are skipped, as every TLS client does.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
            .map_err(|err| Error::Tls(format!("cannot read {key} {}: {err}", path.display())))?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|err| Error::Tls(format!("{}: {err}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| Error::Tls(err.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
