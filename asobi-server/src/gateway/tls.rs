//! The QUIC gateway's TLS identity: a certificate chain and key from configuration
//! (production), or a self-signed development certificate generated on first start, kept in
//! one PEM file so restarts keep the same fingerprint, which clients pin.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::config::Config;

/// The ALPN protocol id of the native path; its major version is the wire's.
pub const ALPN: &[u8] = b"asobi/1";

/// Why the TLS identity could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("cannot read {what} from {path}: {why}")]
    Pem {
        /// Certificate or key.
        what: &'static str,
        /// File.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// The development certificate could not be generated or written.
    #[error("cannot create the development certificate {path}: {why}")]
    Generate {
        /// File.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// rustls or quinn refused the certificate and key.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// A certificate chain, its key, and the end-entity certificate's SHA-256 fingerprint.
#[derive(Debug)]
pub struct Identity {
    /// Leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
    /// Lowercase hex SHA-256 of the leaf certificate's DER bytes.
    pub fingerprint: String,
    /// Whether this is the generated development certificate.
    pub development: bool,
}

/// The SHA-256 fingerprint clients pin: lowercase hex of the certificate's DER bytes.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    Sha256::digest(cert.as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The configured identity, or the development one (created when missing).
pub fn identity(config: &Config) -> Result<Identity, TlsError> {
    match (&config.quic_cert, &config.quic_key) {
        (Some(cert), Some(key)) => read_identity(cert, key, false),
        _ => {
            let path = &config.quic_dev_cert;
            if !path.exists() {
                generate(path)?;
            }
            read_identity(path, path, true)
        }
    }
}

/// A PEM certificate chain (leaf first, at least one) and a PEM private key.
pub fn read_pem(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let pem_error = |what, path: &Path, why: String| TlsError::Pem {
        what,
        path: path.to_owned(),
        why,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem_error("certificates", cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error("certificates", cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(pem_error("certificates", cert, "no certificate".into()));
    }
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error("key", key, e.to_string()))?;
    Ok((chain, key))
}

fn read_identity(cert: &Path, key: &Path, development: bool) -> Result<Identity, TlsError> {
    let (chain, key) = read_pem(cert, key)?;
    let fingerprint = chain.first().map(fingerprint).unwrap_or_default();
    Ok(Identity {
        chain,
        key,
        fingerprint,
        development,
    })
}

/// Writes a self-signed certificate for `localhost`, `127.0.0.1` and `::1` with its key.
fn generate(path: &Path) -> Result<(), TlsError> {
    let fail = |why: String| TlsError::Generate {
        path: path.to_owned(),
        why,
    };
    let names = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    let certified = rcgen::generate_simple_self_signed(names).map_err(|e| fail(e.to_string()))?;
    let pem = format!(
        "{}{}",
        certified.cert.pem(),
        certified.signing_key.serialize_pem()
    );
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    }
    write_private(path, pem.as_bytes()).map_err(|e| fail(e.to_string()))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// The rustls server configuration: TLS 1.3 only, ALPN `asobi/1`, the ring provider.
pub fn server_crypto(identity: Identity) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut crypto = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(identity.chain, identity.key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    crypto.alpn_protocols = vec![ALPN.to_vec()];
    Ok(Arc::new(crypto))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_development_certificate_is_created_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("asobi-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config = Config {
            quic_dev_cert: dir.join("dev.pem"),
            ..Config::default()
        };
        let first = identity(&config).expect("generated");
        let again = identity(&config).expect("read back");
        assert!(first.development);
        assert_eq!(first.fingerprint, again.fingerprint);
        assert_eq!(first.fingerprint.len(), 64);
        server_crypto(again).expect("rustls accepts it");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_certificate_is_a_clear_error() {
        let config = Config {
            quic_cert: Some("/nonexistent/cert.pem".into()),
            quic_key: Some("/nonexistent/key.pem".into()),
            ..Config::default()
        };
        let e = identity(&config).expect_err("missing");
        assert!(e.to_string().contains("/nonexistent/cert.pem"), "{e}");
    }
}
