//! A listener's TLS configuration: mosquitto's `certfile`, `keyfile`,
//! `cafile`, `capath`, `require_certificate`, `tls_version` made into a
//! rustls [`ServerConfig`].

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::config::{Tls, TlsVersion};

/// The rustls server configuration of a listener; the error names the
/// file at fault.
pub fn server_config(tls: &Tls) -> Result<Arc<ServerConfig>, String> {
    // ring: no C or cmake build (as mqtt-tokio). rustls marks its default
    // provider deprecated for lacking post-quantum key exchange; aws-lc-rs
    // would need a C toolchain at build time.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = match tls.min_version {
        TlsVersion::V1_2 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::V1_3 => &[&rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS: {e}"))?;
    let mut roots = RootCertStore::empty();
    if let Some(file) = &tls.cafile {
        add_certificates(&mut roots, file)?;
    }
    if let Some(dir) = &tls.capath {
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("capath {}: {e}", dir.display()))?;
        let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        for file in files.iter().filter(|p| p.is_file()) {
            // A directory prepared with c_rehash holds links and other
            // files too: certificates that do not parse are skipped.
            let _ = add_certificates(&mut roots, file);
        }
        if roots.is_empty() {
            return Err(format!("capath {}: no CA certificate found", dir.display()));
        }
    }
    let builder = if roots.is_empty() {
        if tls.require_certificate {
            return Err("require_certificate needs cafile or capath".into());
        }
        builder.with_no_client_auth()
    } else {
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let verifier = if tls.require_certificate {
            verifier
        } else {
            verifier.allow_unauthenticated()
        };
        builder.with_client_cert_verifier(
            verifier
                .build()
                .map_err(|e| format!("TLS client verifier: {e}"))?,
        )
    };
    let chain = CertificateDer::pem_file_iter(&tls.certfile)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("certfile {}: {e}", tls.certfile.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "certfile {}: no certificate",
            tls.certfile.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.keyfile)
        .map_err(|e| format!("keyfile {}: {e}", tls.keyfile.display()))?;
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("certfile/keyfile: {e}"))?;
    Ok(Arc::new(config))
}

fn add_certificates(roots: &mut RootCertStore, file: &Path) -> Result<(), String> {
    let certs = CertificateDer::pem_file_iter(file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cafile {}: {e}", file.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate", file.display()));
    }
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", file.display()))?;
    }
    Ok(())
}

/// The subject Common Name of a DER certificate (mosquitto's identity for
/// `use_identity_as_username`).
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}
