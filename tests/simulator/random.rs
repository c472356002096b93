//! Random values the simulated Mac makes up: new recovery keys, boot session UUIDs, junk.
//!
//! All from the OS random source (`getrandom`); nothing here is secret in the simulator, but
//! new keys must be unpredictable so a test cannot pass by guessing one.

/// Characters of a generated recovery key. Real PRKs are 24 upper-case alphanumerics in six
/// groups (PLATFORM.md); which characters Apple avoids is not known.
const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

pub fn bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    getrandom::getrandom(&mut buf).expect("the OS random source is available");
    buf
}

/// `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`.
pub fn recovery_key() -> String {
    let chars: Vec<char> = bytes(24)
        .into_iter()
        .map(|b| KEY_ALPHABET[usize::from(b) % KEY_ALPHABET.len()] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// An upper-case version-4 UUID, as `kern.bootsessionuuid` prints.
pub fn uuid() -> String {
    let mut b = bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::scenario::hex(&b).to_uppercase();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `n` printable ASCII characters with a newline now and then.
pub fn printable(n: usize) -> Vec<u8> {
    bytes(n)
        .into_iter()
        .enumerate()
        .map(|(i, b)| if i % 61 == 60 { b'\n' } else { b' ' + b % 95 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recovery_key_has_the_shape_of_a_real_one() {
        let key = recovery_key();
        let groups: Vec<&str> = key.split('-').collect();
        assert_eq!(groups.len(), 6, "{key}");
        assert!(groups
            .iter()
            .all(|g| g.len() == 4 && g.bytes().all(|c| KEY_ALPHABET.contains(&c))));
        assert_ne!(recovery_key(), key);
    }

    #[test]
    fn a_uuid_is_upper_case_and_36_characters() {
        let u = uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(u, u.to_uppercase());
    }
}
