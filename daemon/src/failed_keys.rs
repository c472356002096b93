//! The failed-key store: which recovery keys already failed validation on this Mac, so that none
//! is ever tried again (PLATFORM.md: every `validaterecovery` may spend one of the Secure
//! Enclave's attempts for the life of the volume; "never retry a key that failed").
//!
//! `/var/db/keywarden/failed-keys.plist` under the root: 0600 in the 0700 state directory, written
//! atomically, read only when it is a regular file owned by root (or the simulated root's user)
//! that group and others cannot write. It holds a per-Mac random salt (32 bytes from the OS
//! random source, made on first use) and HMAC-SHA-256(salt, normalised key) of each key that
//! failed: a key is recognised without being stored, and the hashes are useless on any other Mac.
//! A store that cannot be read or parsed is an error that refuses validation (fail closed): it
//! is never silently replaced, since that would forget which keys failed.
//!
//! This module does not decide when a key is tried or recorded (see `validate`).

use std::fmt;
use std::path::PathBuf;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::files::{self, FileError, Owners, Trust};
use crate::paths::{self, Root};
use crate::secret::RecoveryKey;

const VERSION: u64 = 1;
const SALT_BYTES: usize = 32;
/// Hundreds of entries at most in practice (`ValidationFailureCap` is at most 20); the bound only
/// stops a planted file from exhausting memory.
const MAX_STORE_BYTES: u64 = 1024 * 1024;

type Digest = [u8; 32];

/// The salt and the keyed hashes of the keys that failed.
pub struct FailedKeys {
    salt: Zeroizing<[u8; SALT_BYTES]>,
    hashes: Vec<Digest>,
}

impl fmt::Debug for FailedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FailedKeys({} keys, salt <redacted>)", self.hashes.len())
    }
}

/// Why the store cannot be used. Names the file; never holds a key.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the failed-key store cannot be used: {0}")]
    File(#[from] FileError),
    #[error("{} is not a readable failed-key store ({why}); validation is refused until it is repaired or restored from a backup, because Keywarden no longer knows which keys already failed (removing it lets them be tried again)", .path.display())]
    Corrupt { path: PathBuf, why: String },
    #[error("the OS random source failed ({0}); no salt could be made for the failed-key store")]
    Random(String),
}

impl FailedKeys {
    /// Read the store of the Mac under `root`; `None` when there is none yet.
    pub fn load(root: &Root, owners: Owners) -> Result<Option<FailedKeys>, StoreError> {
        let dir = root.resolve(paths::STATE_DIR);
        if files::lstat(&dir)?.is_some() {
            files::ensure_dir(&dir, 0o700, true, owners)?;
        }
        let path = root.resolve(paths::FAILED_KEYS);
        match files::read_file(&path, MAX_STORE_BYTES, Trust::Owned(owners))? {
            None => Ok(None),
            Some(bytes) => parse(&bytes)
                .map(Some)
                .map_err(|why| StoreError::Corrupt { path, why }),
        }
    }

    /// A new, empty store with a fresh salt, saved at once: a store that cannot be written is
    /// found out before a key is tried, not after it failed.
    pub(crate) fn create(root: &Root, owners: Owners) -> Result<FailedKeys, StoreError> {
        let mut salt = Zeroizing::new([0u8; SALT_BYTES]);
        getrandom::getrandom(&mut salt[..]).map_err(|e| StoreError::Random(e.to_string()))?;
        let store = FailedKeys {
            salt,
            hashes: Vec::new(),
        };
        store.save(root, owners)?;
        Ok(store)
    }

    /// How many keys failed.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// This key already failed on this Mac.
    pub fn contains(&self, key: &RecoveryKey) -> bool {
        let d = self.digest(key);
        self.hashes.contains(&d)
    }

    /// Remember that this key failed (once); true when it was not yet known.
    pub fn add(&mut self, key: &RecoveryKey) -> bool {
        let d = self.digest(key);
        if self.hashes.contains(&d) {
            return false;
        }
        self.hashes.push(d);
        true
    }

    /// Write the store atomically, 0600.
    pub fn save(&self, root: &Root, owners: Owners) -> Result<(), StoreError> {
        files::ensure_dir(&root.resolve(paths::STATE_DIR), 0o700, true, owners)?;
        let bytes = self.to_bytes();
        files::write_atomic(&root.resolve(paths::FAILED_KEYS), &bytes, 0o600)?;
        Ok(())
    }

    fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut dict = plist::Dictionary::new();
        dict.insert("Version".into(), plist::Value::Integer(VERSION.into()));
        dict.insert("Salt".into(), plist::Value::Data(self.salt.to_vec()));
        dict.insert(
            "FailedKeys".into(),
            plist::Value::Array(
                self.hashes
                    .iter()
                    .map(|h| plist::Value::Data(h.to_vec()))
                    .collect(),
            ),
        );
        let mut out = Zeroizing::new(Vec::new());
        plist::to_writer_xml(&mut *out, &plist::Value::Dictionary(dict))
            .expect("a dictionary of an integer and data serialises");
        out
    }

    /// HMAC-SHA-256(salt, normalised key). The key (29 bytes after `RecoveryKey::parse`) is
    /// copied into one zero-padded 64-byte block in wiped memory and given to the MAC in one
    /// call: a whole block is compressed straight from our buffer, whereas a partial one would be
    /// copied into the hasher's internal block buffer, which hmac 0.12 / sha2 0.10 never wipe
    /// (block-buffer 0.10 `digest_blocks`; neither crate has a zeroize feature). Normalised keys
    /// contain no NUL byte and all have the same length, so the padding is unambiguous.
    fn digest(&self, key: &RecoveryKey) -> Digest {
        let bytes = key.secret().expose_secret();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.salt[..])
            .expect("HMAC accepts a key of any length");
        let mut block = Zeroizing::new([0u8; 64]);
        if bytes.len() <= block.len() {
            block[..bytes.len()].copy_from_slice(bytes);
            mac.update(&block[..]);
        } else {
            // Not reachable for a parsed key (always 29 bytes); hash it anyway rather than fail.
            mac.update(bytes);
        }
        mac.finalize().into_bytes().into()
    }
}

fn data(value: &plist::Value, what: &str) -> Result<Digest, String> {
    match value {
        plist::Value::Data(d) if d.len() == 32 => {
            let mut out = [0u8; 32];
            out.copy_from_slice(d);
            Ok(out)
        }
        plist::Value::Data(d) => Err(format!("{what} has {} bytes, not 32", d.len())),
        _ => Err(format!("{what} is not data")),
    }
}

/// Parse a store: `Version` 1, `Salt` (32 bytes of data), `FailedKeys` (an array of 32-byte
/// data). Anything else is corrupt.
fn parse(bytes: &[u8]) -> Result<FailedKeys, String> {
    let value = crate::plistio::value_from_bytes(bytes).map_err(|e| e.to_string())?;
    let dict = value
        .as_dictionary()
        .ok_or_else(|| "not a dictionary".to_owned())?;
    match dict.get("Version").and_then(|v| v.as_unsigned_integer()) {
        Some(VERSION) => {}
        Some(v) => return Err(format!("version {v}, which this Keywarden does not know")),
        None => return Err("no Version".to_owned()),
    }
    let salt = data(
        dict.get("Salt").ok_or_else(|| "no Salt".to_owned())?,
        "Salt",
    )?;
    let list = dict
        .get("FailedKeys")
        .and_then(|v| v.as_array())
        .ok_or_else(|| "no FailedKeys array".to_owned())?;
    let hashes = list
        .iter()
        .enumerate()
        .map(|(i, v)| data(v, &format!("FailedKeys item {i}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(FailedKeys {
        salt: Zeroizing::new(salt),
        hashes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_or_create(root: &Root, owners: Owners) -> Result<FailedKeys, StoreError> {
        match FailedKeys::load(root, owners)? {
            Some(s) => Ok(s),
            None => FailedKeys::create(root, owners),
        }
    }

    fn path(root: &Root) -> std::path::PathBuf {
        root.resolve(paths::FAILED_KEYS)
    }
    use crate::secret::Secret;
    use std::os::unix::fs::PermissionsExt;

    const A: &str = "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF";
    const B: &str = "ABCD-EFGH-JKLM-NPQR-STUV-WXYZ";

    fn key(s: &str) -> RecoveryKey {
        RecoveryKey::parse(Secret::new(s.as_bytes().to_vec())).unwrap()
    }

    fn root() -> (tempfile::TempDir, Root) {
        let d = tempfile::tempdir().unwrap();
        let r = Root::new(d.path());
        (d, r)
    }

    fn me() -> Owners {
        Owners::current()
    }

    #[test]
    fn a_failed_key_round_trips_and_is_recognised_in_any_spelling() {
        let (_d, root) = root();
        assert!(FailedKeys::load(&root, me()).unwrap().is_none());
        let mut store = load_or_create(&root, me()).unwrap();
        assert!(store.is_empty());
        assert!(store.add(&key(A)));
        assert!(!store.add(&key(A)), "added once");
        store.save(&root, me()).unwrap();
        let back = FailedKeys::load(&root, me()).unwrap().unwrap();
        assert_eq!(back.len(), 1);
        assert!(back.contains(&key(A)));
        assert!(back.contains(&key("aaaabbbbccccddddeeeeffff")));
        assert!(!back.contains(&key(B)));
        let meta = std::fs::metadata(path(&root)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    }

    #[test]
    fn the_salt_is_made_once_and_stays() {
        let (_d, root) = root();
        let first = load_or_create(&root, me()).unwrap();
        let again = load_or_create(&root, me()).unwrap();
        assert_eq!(first.salt[..], again.salt[..]);
        let (_d2, other) = self::root();
        let elsewhere = load_or_create(&other, me()).unwrap();
        assert_ne!(first.salt[..], elsewhere.salt[..], "a salt per Mac");
        assert_ne!(first.digest(&key(A)), elsewhere.digest(&key(A)));
    }

    #[test]
    fn the_file_holds_neither_the_key_nor_an_unsalted_hash_of_it() {
        let (_d, root) = root();
        let mut store = load_or_create(&root, me()).unwrap();
        store.add(&key(A));
        store.save(&root, me()).unwrap();
        let bytes = std::fs::read(path(&root)).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("AAAA") && !text.contains("BBBB"), "{text}");
        use sha2::Digest as _;
        let plain = sha2::Sha256::digest(A.as_bytes());
        let value: plist::Value = plist::from_bytes(&bytes).unwrap();
        let listed = value.as_dictionary().unwrap()["FailedKeys"]
            .as_array()
            .unwrap()[0]
            .as_data()
            .unwrap()
            .to_vec();
        assert_ne!(listed, plain.to_vec());
        assert!(!format!("{store:?}").contains("AAAA"));
    }

    #[test]
    fn a_corrupt_store_refuses_with_a_message_naming_the_file() {
        for (content, why) in [
            (&b"garbage"[..], "not a readable property list"),
            (
                &b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>Version</key><integer>1</integer><key>Salt</key><data>AAAA</data><key>FailedKeys</key><array/></dict></plist>"[..],
                "Salt has 3 bytes",
            ),
            (
                &b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>Version</key><integer>2</integer></dict></plist>"[..],
                "version 2",
            ),
        ] {
            let (_d, root) = root();
            std::fs::create_dir_all(root.resolve(paths::STATE_DIR)).unwrap();
            std::fs::set_permissions(
                root.resolve(paths::STATE_DIR),
                std::fs::Permissions::from_mode(0o700),
            )
            .unwrap();
            std::fs::write(path(&root), content).unwrap();
            std::fs::set_permissions(path(&root), std::fs::Permissions::from_mode(0o600)).unwrap();
            let err = load_or_create(&root, me()).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("failed-keys.plist"), "{msg}");
            assert!(msg.contains(why), "{msg}");
            assert!(msg.contains("validation is refused"), "{msg}");
            assert_eq!(std::fs::read(path(&root)).unwrap(), content, "never replaced");
        }
    }

    #[test]
    fn a_store_others_can_write_is_not_trusted() {
        let (_d, root) = root();
        load_or_create(&root, me()).unwrap();
        std::fs::set_permissions(path(&root), std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = FailedKeys::load(&root, me()).unwrap_err();
        assert!(
            err.to_string().contains("writable by group or others"),
            "{err}"
        );
    }
}
