//! The escrow blob the simulated Mac writes to `/var/db/FileVaultPRK.dat`: a structurally real
//! CMS `EnvelopedData` (RFC 5652) addressed to a throwaway certificate, encoded with the `cms`
//! and `der` crates.
//!
//! What macOS writes (docs/tool-behavior.md): the personal recovery key "encrypted with the
//! specified certificate, wrapped with a CMS envelope" (Apple's FDERecoveryKeyEscrow reference);
//! Apple's CMS encoder names an RSA certificate in a `KeyTransRecipientInfo` by issuer and serial
//! number (apple-open-source/macos `cmsrecinfo.c`). Here the encrypted key and content are filler
//! bytes derived from the key's hash and the time (so a new key gives a new blob): nothing ever
//! decrypts a simulated blob, no private key exists, and the key itself is never in the file.
//! The simulator writes DER; a real Mac may write BER (unverified), which the daemon's own tests
//! cover. It shares no code with the daemon's parser.

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo,
    RecipientInfos,
};
use der::asn1::{Any, ObjectIdentifier, OctetString, SetOfVec};
use der::{Decode, Encode, Tag};
use sha2::{Digest, Sha256};
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

use crate::scenario::hex;

const ID_ENVELOPED_DATA: &str = "1.2.840.113549.1.7.3";
const ID_DATA: &str = "1.2.840.113549.1.7.1";
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const AES_256_CBC: &str = "2.16.840.1.101.3.4.1.42";

/// `n` filler bytes from `seed` (SHA-256 in counter mode).
fn filler(seed: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 32);
    let mut i = 0u32;
    while out.len() < n {
        out.extend(Sha256::digest(format!("{seed}/{i}").as_bytes()));
        i += 1;
    }
    out.truncate(n);
    out
}

/// A DER `ContentInfo` holding `EnvelopedData` for the one recipient `cert` (DER), as macOS
/// would write it for the key `key` at `at`.
pub fn envelope(cert: &[u8], key: &str, at: &str) -> Result<Vec<u8>, String> {
    let cert = Certificate::from_der(cert).map_err(|e| format!("escrow certificate: {e}"))?;
    let seed = format!("{}|{at}", hex(&Sha256::digest(key.as_bytes())));
    enveloped_to(
        RecipientIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate.issuer.clone(),
            serial_number: cert.tbs_certificate.serial_number.clone(),
        }),
        &seed,
    )
}

/// A stand-in for an escrow file a bundle withheld (`recorded`): an envelope to the recorded
/// recipient, with filler from `seed`, so Keywarden reads the same recipient from it and only the
/// file's hash differs. `recipient` is as Keywarden writes it in the status:
/// `issuer=RFC 4514 NAME; serial=HEX` or `subjectKeyIdentifier=HEX`.
pub fn stand_in(recipient: &str, seed: &str) -> Result<Vec<u8>, String> {
    let bad = |why: String| format!("recipient {recipient:?}: {why}");
    let unhex = |h: &str| -> Result<Vec<u8>, String> {
        if h.len() % 2 != 0 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(format!("{h:?} is not hex")));
        }
        Ok((0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).expect("checked hex"))
            .collect())
    };
    let rid = if let Some(ski) = recipient.strip_prefix("subjectKeyIdentifier=") {
        RecipientIdentifier::SubjectKeyIdentifier(x509_cert::ext::pkix::SubjectKeyIdentifier(
            OctetString::new(unhex(ski)?).map_err(|e| bad(e.to_string()))?,
        ))
    } else {
        let rest = recipient
            .strip_prefix("issuer=")
            .ok_or_else(|| bad("neither issuer= nor subjectKeyIdentifier=".into()))?;
        let (issuer, serial) = rest
            .rsplit_once("; serial=")
            .ok_or_else(|| bad("no serial".into()))?;
        let issuer: x509_cert::name::Name =
            issuer.parse().map_err(|e: der::Error| bad(e.to_string()))?;
        let mut serial = unhex(serial)?;
        // Keywarden prints the positive integer without leading zero bytes; DER needs one back
        // when the high bit is set.
        if serial.first().is_some_and(|b| b & 0x80 != 0) {
            serial.insert(0, 0);
        }
        let serial_number =
            x509_cert::serial_number::SerialNumber::new(&serial).map_err(|e| bad(e.to_string()))?;
        RecipientIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer,
            serial_number,
        })
    };
    enveloped_to(rid, &format!("stand-in|{seed}"))
}

fn enveloped_to(rid: RecipientIdentifier, seed: &str) -> Result<Vec<u8>, String> {
    let alg = |oid: &str, parameters: Option<Any>| AlgorithmIdentifierOwned {
        oid: ObjectIdentifier::new_unwrap(oid),
        parameters,
    };
    let der_err = |e: der::Error| format!("CMS: {e}");
    let recipient = RecipientInfo::Ktri(KeyTransRecipientInfo {
        version: CmsVersion::V0,
        rid,
        key_enc_alg: alg(RSA_ENCRYPTION, Some(Any::null())),
        // An RSA 2048 key wraps to 256 bytes.
        enc_key: OctetString::new(filler(&format!("key|{seed}"), 256)).map_err(der_err)?,
    });
    let mut recipients = SetOfVec::new();
    recipients.insert(recipient).map_err(der_err)?;
    let iv = Any::new(Tag::OctetString, filler(&format!("iv|{seed}"), 16)).map_err(der_err)?;
    let enveloped = EnvelopedData {
        version: CmsVersion::V0,
        originator_info: None,
        recip_infos: RecipientInfos(recipients),
        encrypted_content: EncryptedContentInfo {
            content_type: ObjectIdentifier::new_unwrap(ID_DATA),
            content_enc_alg: alg(AES_256_CBC, Some(iv)),
            // A 29-character key padded to two AES blocks.
            encrypted_content: Some(
                OctetString::new(filler(&format!("content|{seed}"), 32)).map_err(der_err)?,
            ),
        },
        unprotected_attrs: None,
    };
    ContentInfo {
        content_type: ObjectIdentifier::new_unwrap(ID_ENVELOPED_DATA),
        content: Any::encode_from(&enveloped).map_err(der_err)?,
    }
    .to_der()
    .map_err(der_err)
}

/// Bytes that are not CMS, for `escrow.prk_file_format = "not_cms"`.
pub fn not_cms(key: &str, at: &str) -> Vec<u8> {
    format!(
        "SIMULATED-NOT-CMS\n{}\n{at}\n",
        hex(&Sha256::digest(key.as_bytes()))
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::EscrowCert;

    fn recipient(blob: &[u8]) -> IssuerAndSerialNumber {
        let ci = ContentInfo::from_der(blob).unwrap();
        assert_eq!(ci.content_type.to_string(), ID_ENVELOPED_DATA);
        let ed: EnvelopedData = ci.content.decode_as().unwrap();
        let infos: Vec<_> = ed.recip_infos.0.into_vec();
        assert_eq!(infos.len(), 1);
        match infos.into_iter().next().unwrap() {
            RecipientInfo::Ktri(k) => match k.rid {
                RecipientIdentifier::IssuerAndSerialNumber(is) => is,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_envelope_names_the_certificate_by_issuer_and_serial() {
        for which in [EscrowCert::A, EscrowCert::AReissued, EscrowCert::B] {
            let cert = Certificate::from_der(which.der()).unwrap();
            let blob = envelope(
                which.der(),
                "ABCD-EFGH-JKLM-NPQR-STUV-WXYZ",
                "2024-06-01T10:00:00Z",
            )
            .unwrap();
            let is = recipient(&blob);
            assert_eq!(is.issuer, cert.tbs_certificate.issuer);
            assert_eq!(is.serial_number, cert.tbs_certificate.serial_number);
        }
    }

    #[test]
    fn a_new_key_or_time_makes_a_new_blob_and_the_key_is_never_in_it() {
        let key = "ABCD-EFGH-JKLM-NPQR-STUV-WXYZ";
        let one = envelope(EscrowCert::A.der(), key, "2024-06-01T10:00:00Z").unwrap();
        let same = envelope(EscrowCert::A.der(), key, "2024-06-01T10:00:00Z").unwrap();
        let other_key = envelope(
            EscrowCert::A.der(),
            "ZZZZ-EFGH-JKLM-NPQR-STUV-WXYZ",
            "2024-06-01T10:00:00Z",
        )
        .unwrap();
        let other_time = envelope(EscrowCert::A.der(), key, "2024-06-01T10:00:01Z").unwrap();
        assert_eq!(one, same);
        assert_ne!(one, other_key);
        assert_ne!(one, other_time);
        assert!(!one.windows(4).any(|w| w == b"ABCD"));
        assert!(!not_cms(key, "t").windows(4).any(|w| w == b"ABCD"));
        assert!(ContentInfo::from_der(&not_cms(key, "t")).is_err());
    }
}
