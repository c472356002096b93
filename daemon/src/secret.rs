//! The one type that holds secrets: recovery keys, passwords, and the captured output of the
//! `fdesetup` commands that print keys.
//!
//! A `Secret` has a private field, a `Debug` that prints no byte of it, no `Display`, no
//! `Serialize`, and it wipes its memory on drop (`zeroize`). Its only way out of the process is
//! the stdin of a child (`runner`), as the `-inputplist` dictionary built here. Everything else
//! (logs, errors, the status and state files) can only ever see a redaction. This module does not
//! read keys from a terminal (see `cli`) and does not decide when a key may be used.

use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// Bytes that must never be shown, logged or stored.
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(Zeroizing::new(bytes))
    }

    /// Access the bytes. Callers hand them to a child's stdin or compare them; they never format
    /// them. (Named so that every use is easy to find in review.)
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The `-inputplist` dictionary that `fdesetup validaterecovery` and
    /// `fdesetup changerecovery -personal` read from stdin: `{Password: <this secret>}`
    /// (corpus/PATTERNS.md, "fdesetup validaterecovery": Crypt passes only `Password`).
    /// Built by hand into wiped memory: a plist serializer would leave unwiped copies behind.
    pub fn password_input_plist(&self) -> Secret {
        const HEAD: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
<plist version=\"1.0\">\n<dict>\n\t<key>Password</key>\n\t<string>";
        const TAIL: &[u8] = b"</string>\n</dict>\n</plist>\n";
        let mut out = Zeroizing::new(Vec::with_capacity(HEAD.len() + TAIL.len() + self.len() * 6));
        out.extend_from_slice(HEAD);
        for &b in self.expose_secret() {
            match b {
                b'&' => out.extend_from_slice(b"&amp;"),
                b'<' => out.extend_from_slice(b"&lt;"),
                b'>' => out.extend_from_slice(b"&gt;"),
                b'"' => out.extend_from_slice(b"&quot;"),
                b'\'' => out.extend_from_slice(b"&apos;"),
                _ => out.push(b),
            }
        }
        out.extend_from_slice(TAIL);
        Secret(out)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Zeroizing wipes the initialised bytes; also wipe spare capacity a push may have left.
        self.0.zeroize();
    }
}

/// Why a string is not a recovery key. Never carries the offending text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyShapeError {
    #[error("the key is empty")]
    Empty,
    #[error("a recovery key has 24 letters and digits in six groups of four, like XXXX-XXXX-XXXX-XXXX-XXXX-XXXX; this one has {0} letters and digits")]
    WrongLength(usize),
    #[error("a recovery key holds only letters, digits and dashes, in six groups of four")]
    BadCharacter,
}

/// A personal recovery key as typed or pasted by a person: six groups of four letters or digits
/// separated by dashes (PLATFORM.md; `fdesetup` man page: "xxxx-xxxx-xxxx-xxxx-xxxx-xxxx").
pub struct RecoveryKey(Secret);

impl RecoveryKey {
    /// Check the shape and normalise: surrounding whitespace is dropped and letters are
    /// upper-cased (keys are generated in upper case: corpus cauliflowervest fixture), so a key
    /// typed in lower case is still recognised. The dashes may be omitted.
    pub fn parse(input: Secret) -> Result<RecoveryKey, KeyShapeError> {
        let raw = input.expose_secret();
        let start = raw
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(raw.len());
        let end = raw
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(start, |p| p + 1);
        let body = &raw[start..end.max(start)];
        if body.is_empty() {
            return Err(KeyShapeError::Empty);
        }
        let mut chars = Zeroizing::new(Vec::with_capacity(24));
        for &b in body {
            if b.is_ascii_alphanumeric() {
                chars.push(b.to_ascii_uppercase());
            } else if b != b'-' {
                return Err(KeyShapeError::BadCharacter);
            }
        }
        if chars.len() != 24 {
            return Err(KeyShapeError::WrongLength(chars.len()));
        }
        // With dashes, they must sit between groups of four.
        if body.contains(&b'-') {
            let groups = body.split(|&b| b == b'-');
            if groups.clone().count() != 6 || groups.into_iter().any(|g| g.len() != 4) {
                return Err(KeyShapeError::BadCharacter);
            }
        }
        let mut out = Vec::with_capacity(29);
        for (i, group) in chars.chunks(4).enumerate() {
            if i > 0 {
                out.push(b'-');
            }
            out.extend_from_slice(group);
        }
        Ok(RecoveryKey(Secret::new(out)))
    }

    pub fn secret(&self) -> &Secret {
        &self.0
    }
}

impl fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "DLEV-ZYT9-ODLA-PVML-66DV-HZ8R";

    #[test]
    fn debug_output_shows_no_byte_of_the_secret() {
        let s = Secret::new(KEY.as_bytes().to_vec());
        let shown = format!(
            "{s:?} {:?}",
            RecoveryKey::parse(Secret::new(KEY.into())).unwrap()
        );
        assert!(!shown.contains("DLEV"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn the_input_plist_carries_the_password_escaped() {
        let s = Secret::new(b"a<b&c".to_vec());
        let plist = s.password_input_plist();
        let value: plist::Value = plist::from_bytes(plist.expose_secret()).unwrap();
        let dict = value.as_dictionary().unwrap();
        assert_eq!(dict.len(), 1);
        assert_eq!(dict["Password"].as_string(), Some("a<b&c"));
    }

    #[test]
    fn a_well_formed_key_is_accepted_and_normalised() {
        for input in [
            KEY,
            "dlev-zyt9-odla-pvml-66dv-hz8r",
            "  DLEV-ZYT9-ODLA-PVML-66DV-HZ8R\n",
            "DLEVZYT9ODLAPVML66DVHZ8R",
        ] {
            let key = RecoveryKey::parse(Secret::new(input.into())).unwrap();
            assert_eq!(key.secret().expose_secret(), KEY.as_bytes(), "{input}");
        }
    }

    #[test]
    fn malformed_keys_are_refused_without_echoing_them() {
        let cases = [
            ("", KeyShapeError::Empty),
            ("   ", KeyShapeError::Empty),
            ("DLEV-ZYT9", KeyShapeError::WrongLength(8)),
            (
                "DLEV-ZYT9-ODLA-PVML-66DV-HZ8R-AAAA",
                KeyShapeError::WrongLength(28),
            ),
            ("DLEV_ZYT9-ODLA-PVML-66DV-HZ8R", KeyShapeError::BadCharacter),
            ("DLEVZ-YT9-ODLA-PVML-66DV-HZ8R", KeyShapeError::BadCharacter),
        ];
        for (input, expected) in cases {
            let err = RecoveryKey::parse(Secret::new(input.into())).err();
            assert_eq!(err, Some(expected), "{input:?}");
            assert!(!err.unwrap().to_string().contains("ZYT9"));
        }
    }
}
