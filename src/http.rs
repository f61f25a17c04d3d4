//! Small pieces every HTTP client of Stroom shares (Nmbrs, Microsoft Graph, Exchange
//! Online): the backoff rule with jitter, `Retry-After`, percent-encoding, and transport
//! errors described without URLs or headers.

use std::time::Duration;

/// The async runtime a blocking caller drives its HTTP client with: two worker threads
/// (the calls wait on the network, not the CPU), timers and sockets on.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// Percent-encodes a query or path value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The delay before retry `attempt` (1 = first retry): exponential from `base` with
/// "equal jitter" (half fixed, half random), capped at `max`; a `Retry-After` from the
/// server wins (capped too).
pub fn backoff(
    base: Duration,
    max: Duration,
    attempt: u32,
    retry_after: Option<Duration>,
) -> Duration {
    if let Some(after) = retry_after {
        return after.min(max);
    }
    let exp = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(max);
    let half = exp / 2;
    let jitter_ms = half.as_millis() as u64;
    let extra = if jitter_ms == 0 {
        0
    } else {
        crate::random::random_u64() % (jitter_ms + 1)
    };
    half + Duration::from_millis(extra)
}

/// True for an `https://` URL, or an `http://` one to loopback (tests): where a secret
/// (a token, a webhook's URL) may be sent.
pub fn secure_or_loopback(url: &str) -> bool {
    url.starts_with("https://")
        || ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| url.starts_with(p))
}

/// The `Retry-After` header: seconds, or an HTTP date.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    wait.to_std().ok().or(Some(Duration::ZERO))
}

/// Describes a transport failure without the URL and without any header.
pub fn transport_message(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the connection broke while reading the answer"
    } else if e.is_request() {
        "the request failed"
    } else {
        "transport error"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} ({detail})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_honours_retry_after() {
        let (base, max) = (Duration::from_millis(100), Duration::from_secs(2));
        for attempt in 1..8 {
            let d = backoff(base, max, attempt, None);
            let full = (base * (1 << (attempt - 1))).min(max);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
        assert_eq!(
            backoff(base, max, 1, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(backoff(base, max, 1, Some(Duration::from_secs(60))), max);
    }
}
