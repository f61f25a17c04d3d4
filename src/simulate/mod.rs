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

/// A joiner plan document for benchmarks and demos: `persons` new people, each with
/// the actions of the chosen targets in plan order. `tag` keeps names apart between
/// runs against the same directory.
///
/// - `ad`: create (cn, sAMAccountName, department), enable, groups `Staff-{tag}` and
///   `Sales-{tag}` (which must exist);
/// - `entra`: create (mail on `example.nl`), enable, group "All Staff", licence
///   `SPE_E3`;
/// - `exchange`: the mailbox (after the Entra licence).
pub fn joiner_plan(persons: usize, tag: &str, targets: &[&str]) -> String {
    use crate::rules::program::OpKind;
    use serde_json::json;
    let mut actions = Vec::new();
    let has = |t: &str| targets.contains(&t);
    for k in 0..persons {
        let p = format!("b{k}-{tag}");
        let mut push = |target: &str, mut a: serde_json::Value| {
            a["seq"] = json!(actions.len() + 1);
            a["target"] = json!(target);
            a["person"] = json!(p);
            actions.push(a);
        };
        if has("ad") {
            push(
                "ad",
                json!({"op": OpKind::Create, "attributes": {
                "cn": format!("Bench Person {k} {tag}"), "sAMAccountName": format!("b{k}{tag}"),
                "department": "Sales"}}),
            );
        }
        if has("entra") {
            push(
                "entra",
                json!({"op": OpKind::Create, "attributes": {
                "mail": format!("b{k}.{tag}@example.nl"), "displayName": format!("Bench Person {k}"),
                "department": "Sales", "usageLocation": "NL"}}),
            );
        }
        if has("ad") {
            push("ad", json!({"op": OpKind::Enable}));
        }
        if has("entra") {
            push("entra", json!({"op": OpKind::Enable}));
        }
        if has("ad") {
            for g in ["Staff", "Sales"] {
                push(
                    "ad",
                    json!({"op": OpKind::Grant, "kind": "group", "name": format!("{g}-{tag}")}),
                );
            }
        }
        if has("entra") {
            push(
                "entra",
                json!({"op": OpKind::Grant, "kind": "group", "name": "All Staff"}),
            );
            push(
                "entra",
                json!({"op": OpKind::Grant, "kind": "license", "name": "SPE_E3"}),
            );
        }
        if has("exchange") {
            push(
                "exchange",
                json!({"op": OpKind::Grant, "kind": "mailbox", "name": "UserMailbox"}),
            );
        }
    }
    json!({"today": "2026-12-01", "summary": {}, "blocked": null, "actions": actions}).to_string()
}
