//! `[tls]`: the certificate chain and key Keyhole terminates TLS with, read from PEM files
//! into a rustls server config (ALPN h2 and http/1.1). Read at start and again on each
//! SIGHUP, by the config's own validation, so a bad file is refused like any bad key.

use std::io::{self, IoSlice};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::watchdog::Activity;

/// What `[tls]` named, and the server config made from it.
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub server: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for Tls {
    // The key's bytes stay out of every dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Reads `cert` and `key`; the error starts with the key (`tls.cert`, `tls.key`) it is about.
pub fn load(cert: PathBuf, key: PathBuf) -> Result<Tls, String> {
    let chain_pem = read(&cert, "tls.cert")?;
    let chain = CertificateDer::pem_slice_iter(&chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            format!(
                "tls.cert: {}: not a PEM certificate chain: {e}",
                cert.display()
            )
        })?;
    if chain.is_empty() {
        return Err(format!(
            "tls.cert: {}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            cert.display()
        ));
    }
    let key_pem = read(&key, "tls.key")?;
    // SECURITY: the parser's message never quotes the file, so no key bytes reach a log.
    let private = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("tls.key: {}: not a PEM private key: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_no_client_auth()
        // Checks that the key is the certificate's (rustls `InconsistentKeys`).
        .with_single_cert(chain, private)
        .map_err(|e| {
            format!(
                "tls.key: {} does not go with tls.cert {}: {e}",
                key.display(),
                cert.display()
            )
        })?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Tls {
        cert,
        key,
        server: Arc::new(server),
    })
}

fn read(path: &Path, key: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{key}: {}: cannot read: {e}", path.display()))
}

/// A TLS connection as hyper reads and writes it, telling the connection's watchdog what
/// moved (as `zerocopy::Conn` does for plain TCP). Bodies are copied through the cipher.
pub struct TlsConn {
    io: TokioIo<TlsStream<TcpStream>>,
    activity: Arc<Activity>,
}

impl TlsConn {
    pub fn new(stream: TlsStream<TcpStream>, activity: Arc<Activity>) -> TlsConn {
        TlsConn {
            io: TokioIo::new(stream),
            activity,
        }
    }
}

impl hyper::rt::Read for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            self.activity.read();
        }
        r
    }
}

impl hyper::rt::Write for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.activity.wrote_poll(&r);
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.activity.wrote_poll(&r);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
