//! Simulators of the cloud APIs Stroom talks to, for tests and demos. They follow the
//! vendors' documented shapes (paging envelopes, error bodies, OAuth) and can inject
//! the faults real services show: throttling, server errors, slow answers, dropped
//! connections.

pub mod microsoft;
pub mod nmbrs;

/// Runs an axum router on a loopback port in a background thread with its own
/// runtime; returns the base URL (`http://127.0.0.1:PORT`). For tests and examples.
pub fn spawn(router: axum::Router) -> std::io::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name(format!("simulator-{}", addr.port()))
        .spawn(move || {
            runtime.block_on(async move {
                if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                    let _ = axum::serve(listener, router).await;
                }
            })
        })?;
    Ok(format!("http://{addr}"))
}
