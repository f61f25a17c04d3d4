//! Random numbers from the operating system, for retry jitter, OAuth state, generated
//! passwords and test tags: one source for every layer that needs one.

/// A random number from the OS, for jitter, OAuth state and generated passwords.
pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::getrandom(&mut bytes).is_err() {
        // Jitter only needs to differ between processes; the clock is enough then.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        return nanos ^ u64::from(std::process::id()).rotate_left(32);
    }
    u64::from_le_bytes(bytes)
}
