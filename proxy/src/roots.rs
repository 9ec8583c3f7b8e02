//! The roots a TLS client of ours trusts: the system's, plus an optional
//! extra CA file (PEM) for private servers and tests. Never "accept any".

use std::path::Path;
use std::sync::Arc;

/// The system roots plus every certificate in `ca_file`.
pub fn root_store(ca_file: Option<&Path>) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A system root rustls cannot parse is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let bad = |why: String| format!("{}: {why}", path.display());
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let certs = openssl::x509::X509::stack_from_pem(&pem).map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("holds no PEM certificate".into()));
        }
        for cert in certs {
            let der = cert.to_der().map_err(|e| bad(e.to_string()))?;
            roots
                .add(rustls::pki_types::CertificateDer::from(der))
                .map_err(|e| bad(e.to_string()))?;
        }
    }
    Ok(roots)
}

/// A rustls client configuration (ring, TLS 1.2 and 1.3) over [`root_store`].
pub fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(root_store(ca_file)?)
    .with_no_client_auth())
}
