//! TLS over TCP with rustls (feature `tls`): [`TlsOptions`] says whom to
//! trust and who we are, [`TlsConnector`] opens TCP and runs the rustls
//! client handshake, for the first connection and every reconnection (one
//! shared `Arc<ClientConfig>`, so resumption tickets are reused too).
//!
//! The crypto provider is rustls's `ring` (no cmake build of aws-lc), or
//! the application's process-wide default when it installed one.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use crate::transport::{ConnectFuture, Connector, TcpConnector, Transport};
use crate::Error;

/// PEM text given in memory or read from a file when the configuration is
/// built.
#[derive(Debug, Clone)]
enum Pem {
    Bytes(Vec<u8>),
    File(PathBuf),
}

impl Pem {
    fn describe(&self, what: &str) -> String {
        match self {
            Pem::Bytes(_) => format!("{what} (PEM bytes)"),
            Pem::File(p) => format!("{what} ({})", p.display()),
        }
    }

    fn certificates(&self, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let pem_error = |error| TlsError::Pem {
            source: self.describe(what),
            error,
        };
        let certs = match self {
            Pem::Bytes(b) => CertificateDer::pem_slice_iter(b).collect::<Result<Vec<_>, _>>(),
            Pem::File(p) => CertificateDer::pem_file_iter(p)
                .map_err(pem_error)?
                .collect::<Result<Vec<_>, _>>(),
        }
        .map_err(pem_error)?;
        if certs.is_empty() {
            return Err(pem_error(rustls::pki_types::pem::Error::NoItemsFound));
        }
        Ok(certs)
    }

    fn private_key(&self) -> Result<PrivateKeyDer<'static>, TlsError> {
        match self {
            Pem::Bytes(b) => PrivateKeyDer::from_pem_slice(b),
            Pem::File(p) => PrivateKeyDer::from_pem_file(p),
        }
        .map_err(|error| TlsError::Pem {
            source: self.describe("private key"),
            error,
        })
    }
}

/// How to run TLS: the certificates to trust, the client certificate for
/// mutual TLS, the server name, ALPN, the handshake timeout; or a complete
/// `rustls::ClientConfig` of your own.
///
/// Trust: the CA certificates given with [`with_ca_pem`](Self::with_ca_pem)
/// and [`with_ca_file`](Self::with_ca_file), plus the platform's roots with
/// [`with_native_roots`](Self::with_native_roots) (and Mozilla's compiled-in
/// roots with `with_webpki_roots`, feature `webpki-roots`). When none of
/// these is chosen, the platform's roots are used: `TlsOptions::new()`
/// connects to a server with a publicly trusted certificate.
///
/// The server name checked against the certificate (and sent as SNI) is
/// the host connected to, unless [`with_server_name`](Self::with_server_name)
/// says otherwise; an IP address is checked against the certificate's IP
/// address names (and not sent as SNI).
///
/// ```
/// use mqtt_tokio::{ClientOptions, ConnectOptions, ProtocolVersion, TlsOptions};
/// let tls = TlsOptions::new()
///     .with_ca_file("/etc/mosquitto/ca_certificates/ca.crt")
///     .with_client_cert_files("client.crt", "client.key")
///     .with_alpn(["mqtt"]);
/// let client = ClientOptions::new(ProtocolVersion::V5, "sensor-7").unwrap();
/// let options = ConnectOptions::new("broker.example", 8883, client).with_tls(tls);
/// assert!(options.tls.is_some());
/// ```
#[derive(Debug, Clone)]
pub struct TlsOptions {
    ca: Vec<Pem>,
    native_roots: bool,
    #[cfg(feature = "webpki-roots")]
    webpki_roots: bool,
    client_cert: Option<(Pem, Pem)>,
    server_name: Option<String>,
    alpn: Vec<Vec<u8>>,
    handshake_timeout: Duration,
    config: Option<Arc<ClientConfig>>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions::new()
    }
}

impl TlsOptions {
    /// The defaults: the platform's roots (unless CA certificates are
    /// added), no client certificate, the host as server name, no ALPN, a
    /// 10 s handshake timeout.
    pub fn new() -> Self {
        TlsOptions {
            ca: Vec::new(),
            native_roots: false,
            #[cfg(feature = "webpki-roots")]
            webpki_roots: false,
            client_cert: None,
            server_name: None,
            alpn: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
            config: None,
        }
    }

    /// Trusts the CA certificates in this PEM text (one or more
    /// `CERTIFICATE` sections).
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca.push(Pem::Bytes(pem.into()));
        self
    }

    /// Trusts the CA certificates in this PEM file (read when the
    /// connection is first opened).
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca.push(Pem::File(path.into()));
        self
    }

    /// Trusts the platform's root certificates too (with
    /// `rustls-native-certs`: on Linux the system's CA bundle, or the files
    /// named by `SSL_CERT_FILE` / `SSL_CERT_DIR`).
    pub fn with_native_roots(mut self) -> Self {
        self.native_roots = true;
        self
    }

    /// Trusts Mozilla's root certificates as compiled into the
    /// `webpki-roots` crate (for systems without a CA bundle, e.g. small
    /// containers).
    #[cfg(feature = "webpki-roots")]
    pub fn with_webpki_roots(mut self) -> Self {
        self.webpki_roots = true;
        self
    }

    /// Presents this client certificate for mutual TLS: the chain (PEM,
    /// the client's certificate first) and its private key (PEM: PKCS#8
    /// `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`).
    pub fn with_client_cert_pem(
        mut self,
        cert_chain: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.client_cert = Some((Pem::Bytes(cert_chain.into()), Pem::Bytes(key.into())));
        self
    }

    /// [`with_client_cert_pem`](Self::with_client_cert_pem) from files.
    pub fn with_client_cert_files(
        mut self,
        cert_chain: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.client_cert = Some((Pem::File(cert_chain.into()), Pem::File(key.into())));
        self
    }

    /// Checks the server's certificate against this name (a DNS name or an
    /// IP address), and sends it as SNI, instead of the host connected to.
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Offers these ALPN protocols (e.g. `"mqtt"`, which AWS IoT and other
    /// servers sharing port 443 with HTTPS expect).
    pub fn with_alpn<P: Into<Vec<u8>>>(mut self, protocols: impl IntoIterator<Item = P>) -> Self {
        self.alpn = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// How long the TLS handshake may take (after TCP connected).
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Uses this rustls configuration as it is: the CA, client certificate
    /// and ALPN settings of these options are then not used (the server
    /// name and the handshake timeout still are).
    pub fn with_client_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.config = Some(config);
        self
    }

    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// Builds the rustls configuration these options describe (reading
    /// the PEM files), or returns the one given with
    /// [`with_client_config`](Self::with_client_config).
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        if let Some(config) = &self.config {
            return Ok(config.clone());
        }
        let mut roots = RootCertStore::empty();
        for ca in &self.ca {
            for cert in ca.certificates("CA certificate")? {
                roots.add(cert).map_err(TlsError::Config)?;
            }
        }
        #[cfg(feature = "webpki-roots")]
        if self.webpki_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        #[cfg(feature = "webpki-roots")]
        let chosen = !self.ca.is_empty() || self.webpki_roots;
        #[cfg(not(feature = "webpki-roots"))]
        let chosen = !self.ca.is_empty();
        if self.native_roots || !chosen {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::warn!(%error, "a platform root certificate could not be loaded");
            }
            let (added, ignored) = roots.add_parsable_certificates(found.certs);
            tracing::debug!(added, ignored, "platform root certificates");
            if added == 0 {
                return Err(TlsError::NoRoots(
                    "no platform root certificate was found (install ca-certificates, \
                     set SSL_CERT_FILE, or give a CA certificate)"
                        .into(),
                ));
            }
        }
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(ring_provider);
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_root_certificates(roots);
        let mut config = match &self.client_cert {
            Some((chain, key)) => builder
                .with_client_auth_cert(
                    chain.certificates("client certificate")?,
                    key.private_key()?,
                )
                .map_err(TlsError::Config)?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn.clone();
        Ok(Arc::new(config))
    }
}

/// rustls's `ring` provider: used unless the application installed a
/// process-wide one (`CryptoProvider::install_default`, e.g. aws-lc-rs for
/// post-quantum key exchange, which is why rustls 0.23.48 marks this
/// function deprecated; ring keeps the build free of C/cmake toolchains).
#[allow(deprecated)]
fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Why TLS failed: [`Error::Tls`](crate::Error::Tls), or the inner error of
/// an `io::Error` that [`TlsConnector`] returns.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// The handshake failed, or the server ended the session with an
    /// alert: rustls's error, e.g. `InvalidCertificate(UnknownIssuer)` when
    /// the server's certificate is not signed by a trusted CA,
    /// `InvalidCertificate(NotValidForName)` when it is not for the server
    /// name, `AlertReceived(CertificateRequired)` when the server wants a
    /// client certificate.
    Handshake(rustls::Error),
    /// The handshake did not finish within the handshake timeout.
    HandshakeTimeout(Duration),
    /// A certificate or key could not be read (which one, and why).
    Pem {
        /// What was read: the file, or which PEM bytes.
        source: String,
        /// Why it failed.
        error: rustls::pki_types::pem::Error,
    },
    /// rustls refused the configuration (e.g. a CA certificate it cannot
    /// parse, a private key that does not fit).
    Config(rustls::Error),
    /// The server name is neither a DNS name nor an IP address.
    InvalidServerName(String),
    /// No root certificate to trust (why).
    NoRoots(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use rustls::CertificateError as C;
        match self {
            TlsError::Handshake(e @ rustls::Error::InvalidCertificate(c)) => match c {
                C::NotValidForName | C::NotValidForNameContext { .. } => write!(
                    f,
                    "TLS handshake failed: the server's certificate is not valid for the server name ({e})"
                ),
                C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. } => {
                    write!(f, "TLS handshake failed: the server's certificate is not valid now ({e})")
                }
                _ => write!(
                    f,
                    "TLS handshake failed: the server's certificate was not trusted ({e})"
                ),
            },
            TlsError::Handshake(e @ rustls::Error::AlertReceived(alert)) => {
                use rustls::AlertDescription as A;
                let why = match alert {
                    A::CertificateRequired => ": it requires a client certificate",
                    A::UnknownCA | A::BadCertificate | A::UnsupportedCertificate
                    | A::CertificateUnknown | A::CertificateExpired | A::CertificateRevoked
                    | A::AccessDenied => ": it did not accept the client certificate",
                    _ => "",
                };
                write!(f, "TLS failed: the server refused the session{why} ({e})")
            }
            TlsError::Handshake(e) => write!(f, "TLS handshake failed: {e}"),
            TlsError::HandshakeTimeout(t) => {
                write!(f, "TLS handshake did not finish within {} ms", t.as_millis())
            }
            TlsError::Pem { source, error } => write!(f, "TLS: cannot read the {source}: {error}"),
            TlsError::Config(e) => write!(f, "TLS configuration refused: {e}"),
            TlsError::InvalidServerName(n) => {
                write!(f, "TLS: {n:?} is not a valid server name (DNS name or IP address)")
            }
            TlsError::NoRoots(why) => write!(f, "TLS: {why}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Handshake(e) | TlsError::Config(e) => Some(e),
            TlsError::Pem { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl TlsError {
    /// The `TlsError` an `io::Error` carries: one from [`TlsConnector`], or
    /// a rustls error as tokio-rustls reports it (a failed handshake, an
    /// alert read later); otherwise the `io::Error` back.
    pub(crate) fn from_io(e: io::Error) -> Result<TlsError, io::Error> {
        let carries = e
            .get_ref()
            .is_some_and(|inner| inner.is::<TlsError>() || inner.is::<rustls::Error>());
        if !carries {
            return Err(e);
        }
        let kind = e.kind();
        match e.into_inner().map(|inner| inner.downcast::<TlsError>()) {
            Some(Ok(tls)) => Ok(*tls),
            Some(Err(inner)) => match inner.downcast::<rustls::Error>() {
                Ok(r) => Ok(TlsError::Handshake(*r)),
                Err(inner) => Err(io::Error::new(kind, inner)),
            },
            None => Err(io::Error::from(kind)),
        }
    }

    fn into_io(self) -> io::Error {
        let kind = match self {
            TlsError::HandshakeTimeout(_) => io::ErrorKind::TimedOut,
            TlsError::Handshake(_) => io::ErrorKind::InvalidData,
            _ => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, self)
    }
}

impl From<TlsError> for Error {
    fn from(e: TlsError) -> Self {
        Error::Tls(e)
    }
}

/// TCP (as [`TcpConnector`]: connect timeout, `TCP_NODELAY`) then a rustls
/// client handshake within the handshake timeout; every connection it
/// opens shares one `Arc<ClientConfig>`. [`connect`](crate::connect) uses
/// one when [`ConnectOptions::tls`](crate::ConnectOptions::tls) is set; give
/// one to [`connect_with`](crate::connect_with) to combine it with your own
/// options.
///
/// Its errors are `io::Error`s carrying a [`TlsError`] (which `connect`
/// turns into [`Error::Tls`](crate::Error::Tls)), or TCP's own errors.
#[derive(Clone)]
pub struct TlsConnector {
    tcp: TcpConnector,
    server_name: ServerName<'static>,
    config: Arc<ClientConfig>,
    handshake_timeout: Duration,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("tcp", &self.tcp)
            .field("server_name", &self.server_name)
            .field("alpn_protocols", &self.config.alpn_protocols)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl TlsConnector {
    /// A connector to `tcp`'s host and port with these options; builds the
    /// rustls configuration now (reading the PEM files).
    pub fn new(tcp: TcpConnector, options: &TlsOptions) -> Result<Self, TlsError> {
        let name = options.server_name.as_deref().unwrap_or(&tcp.host);
        // "[::1]" as written in URLs is "::1".
        let name = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(name);
        let server_name = ServerName::try_from(name.to_owned())
            .map_err(|_| TlsError::InvalidServerName(name.to_owned()))?;
        Ok(TlsConnector {
            config: options.client_config()?,
            server_name,
            handshake_timeout: options.handshake_timeout,
            tcp,
        })
    }

    /// The rustls configuration every connection uses.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// Opens TCP and runs the handshake.
    pub async fn connect_tls(
        &self,
    ) -> io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let tcp = self.tcp.open().await?;
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        let handshake = connector.connect(self.server_name.clone(), tcp);
        match tokio::time::timeout(self.handshake_timeout, handshake).await {
            Err(_) => Err(TlsError::HandshakeTimeout(self.handshake_timeout).into_io()),
            Ok(Ok(stream)) => {
                tracing::debug!(
                    server_name = ?self.server_name,
                    alpn = ?stream.get_ref().1.alpn_protocol().map(String::from_utf8_lossy),
                    version = ?stream.get_ref().1.protocol_version(),
                    "TLS handshake done"
                );
                Ok(stream)
            }
            Ok(Err(e)) => Err(match TlsError::from_io(e) {
                Ok(tls) => tls.into_io(),
                Err(e) => e,
            }),
        }
    }
}

impl Connector for TlsConnector {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move { Ok(Box::new(self.connect_tls().await?) as Box<dyn Transport>) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn options_build_one_config_with_the_ca_and_alpn() {
        let tcp = TcpConnector {
            host: "127.0.0.1".into(),
            port: 8883,
            timeout: Duration::from_secs(1),
        };
        let tls = TlsOptions::new().with_ca_pem(ca_pem()).with_alpn(["mqtt"]);
        let c = TlsConnector::new(tcp, &tls).unwrap();
        assert_eq!(c.config().alpn_protocols, vec![b"mqtt".to_vec()]);
        assert!(matches!(c.server_name, ServerName::IpAddress(_)));
        // Clones share the configuration (reconnections reuse it).
        assert!(Arc::ptr_eq(c.clone().config(), c.config()));
    }

    #[test]
    fn bad_pem_and_names_are_tls_errors_naming_the_cause() {
        let tcp = TcpConnector {
            host: "broker.example".into(),
            port: 8883,
            timeout: Duration::from_secs(1),
        };
        let e =
            TlsConnector::new(tcp.clone(), &TlsOptions::new().with_ca_pem("not PEM")).unwrap_err();
        assert!(matches!(e, TlsError::Pem { .. }), "{e:?}");
        assert!(e.to_string().contains("CA certificate"), "{e}");
        let e = TlsConnector::new(
            tcp.clone(),
            &TlsOptions::new().with_ca_file("/nonexistent/ca.pem"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let e = TlsConnector::new(
            tcp.clone(),
            &TlsOptions::new()
                .with_ca_pem(ca_pem())
                .with_client_cert_pem(ca_pem(), "-----BEGIN PRIVATE KEY-----\n"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("private key"), "{e}");
        let e = TlsConnector::new(
            tcp,
            &TlsOptions::new()
                .with_ca_pem(ca_pem())
                .with_server_name("bad name!"),
        )
        .unwrap_err();
        assert!(matches!(e, TlsError::InvalidServerName(_)), "{e:?}");
    }

    #[test]
    fn keys_in_pkcs8_pkcs1_and_sec1_pem_are_read() {
        // PKCS#8 from rcgen; the SEC1 and PKCS#1 bodies are only wrapped
        // here (rustls parses them later), their labels decide the kind.
        let key = rcgen::KeyPair::generate().unwrap();
        let pkcs8 = Pem::Bytes(key.serialize_pem().into_bytes())
            .private_key()
            .unwrap();
        assert!(matches!(pkcs8, PrivateKeyDer::Pkcs8(_)));
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIA==\n-----END EC PRIVATE KEY-----\n";
        assert!(matches!(
            Pem::Bytes(sec1.into()).private_key().unwrap(),
            PrivateKeyDer::Sec1(_)
        ));
        let pkcs1 =
            "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJB\n-----END RSA PRIVATE KEY-----\n";
        assert!(matches!(
            Pem::Bytes(pkcs1.into()).private_key().unwrap(),
            PrivateKeyDer::Pkcs1(_)
        ));
    }

    #[test]
    fn io_errors_carrying_tls_errors_are_recognised() {
        let e = TlsError::HandshakeTimeout(Duration::from_secs(1)).into_io();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(matches!(
            TlsError::from_io(e),
            Ok(TlsError::HandshakeTimeout(_))
        ));
        let alert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
        );
        let tls = TlsError::from_io(alert).unwrap();
        assert!(tls.to_string().contains("CertificateRequired"), "{tls}");
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(
            TlsError::from_io(refused).unwrap_err().kind(),
            io::ErrorKind::ConnectionRefused
        );
    }
}
