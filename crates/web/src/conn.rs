//! Serving connections, for the store and HQ alike, with limits a stranger cannot hold open:
//!
//! * a request's headers must arrive within [`HEADER_READ_TIMEOUT`] of the connection being
//!   ready for them, which also closes a kept-alive connection idle that long;
//! * a request (body included) is answered within the routers' own timeout (30 s), 408 past it;
//! * one address holds at most [`MAX_CONNECTIONS_PER_ADDRESS`] connections; more are closed at
//!   once, before a byte is read;
//! * headers are at most [`MAX_HEADERS`] lines and [`MAX_HEADER_BYTES`] bytes, answered 431 in
//!   the JSON error shape (see `error::json_errors`); hyper's own, larger, limits stay behind
//!   them.
//!
//! Shutting down stops accepting, lets requests in flight finish (up to [`DRAIN`]), then ends.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::Service;

pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 64;
/// Connections held at once, all addresses together (well under the usual limit of 1,024 open
/// files, which the database and its logs share): past it the server stops accepting until one
/// ends, and the rest wait in the kernel's queue.
pub const MAX_CONNECTIONS: usize = 512;
pub const MAX_HEADERS: usize = 64;
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// What shutting down waits for requests in flight.
pub const DRAIN: Duration = Duration::from_secs(10);

#[derive(Default, Clone)]
struct PerAddress(Arc<Mutex<HashMap<IpAddr, usize>>>);

struct Held {
    table: PerAddress,
    ip: IpAddr,
}

impl PerAddress {
    fn take(&self, ip: IpAddr) -> Option<Held> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= MAX_CONNECTIONS_PER_ADDRESS {
            return None;
        }
        *n += 1;
        Some(Held { table: self.clone(), ip })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut m = self.table.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, with the limits above. Handlers see
/// the client's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(listener: tokio::net::TcpListener, router: Router, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let mut make = router.into_make_service_with_connect_info::<SocketAddr>();
    let per_address = PerAddress::default();
    let graceful = GracefulShutdown::new();
    let all = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = all.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shutdown.as_mut() => break,
        };
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors and the like: pause rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.as_mut() => break,
        };
        let Some(held) = per_address.take(crate::client_key(addr.ip())) else {
            tracing::debug!("connection refused: too many from one address");
            drop(stream);
            continue;
        };
        let Ok(service) = make.call(addr).await;
        let hyper_service = hyper::service::service_fn(move |req| service.clone().call(req));
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).max_headers(MAX_HEADERS * 2).max_buf_size(MAX_HEADER_BYTES * 4);
        let conn = builder.serve_connection(TokioIo::new(stream), hyper_service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _held = (held, permit);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after {DRAIN:?}; closing");
    }
    Ok(())
}
