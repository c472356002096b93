//! The escrow blob, `/var/db/FileVaultPRK.dat`, read as CMS: whom it is encrypted to. And the
//! escrow payload's certificate, read as X.509: whom the MDM expects it to be encrypted to.
//!
//! Not a tool, but a macOS artefact parsed with the tools' discipline: pure functions over bytes,
//! the evidence for every shape cited, and an explicit "unrecognised, and why" instead of a guess.
//! It sits in `tools/` because both of its readers are here or above: `profiles` turns the
//! certificate it finds in `profiles -C -o stdout-xml` into an [`EscrowCertificate`], and
//! `observe` turns the file's bytes into a [`Recipient`] (the layers import downward only, so the
//! shared type cannot live next to `observe`). Nothing here reads a file, runs a tool, decrypts
//! anything or decides what a mismatch means for the Mac: that is `decide`'s business.
//!
//! What the blob is (docs/tool-behavior.md, "`/var/db/FileVaultPRK.dat`, the escrow blob"): Apple's
//! FDERecoveryKeyEscrow payload reference says the key is "encrypted with the specified
//! certificate, wrapped with a CMS envelope" (`apple/device-management`
//! `mdm/profiles/com.apple.security.FDERecoveryKeyEscrow.yaml`); MDMs decrypt it as CMS
//! enveloped data with the certificate's private key (zentral `openssl smime -decrypt`). Apple's
//! CMS encoder (apple-open-source/macos `Security/OSX/libsecurity_smime/lib/cmsrecinfo.c`)
//! addresses an RSA certificate with a `KeyTransRecipientInfo` and an EC one with a
//! `KeyAgreeRecipientInfo`, both naming it by issuer and serial number (`SecCmsRecipientInfoCreate`
//! hard-codes `SecCmsRecipientIDIssuerSN`); the subject-key-identifier form exists too and is
//! accepted. That encoder descends from NSS, whose streaming encoder may write indefinite-length
//! BER, which the `der` crate refuses: the envelope is therefore read with BER lengths (bounded
//! depth), and only the recipient is handed, re-encoded with definite lengths, to the `cms`
//! crate. Which encoding a Mac really writes is unverified.

use std::fmt;

use cms::enveloped_data::{KeyAgreeRecipientIdentifier, RecipientIdentifier, RecipientInfo};
use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;

/// `id-envelopedData` (RFC 5652 section 6.1).
const ENVELOPED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.3");
/// `id-ce-subjectKeyIdentifier` (RFC 5280 section 4.2.1.2).
const SUBJECT_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
/// How deep BER may nest before the blob is refused: a real envelope nests about eight levels.
const MAX_DEPTH: usize = 32;

/// Whom a blob is encrypted to: a CMS recipient identifier (RFC 5652 section 6.2.1), as stable
/// text an admin can compare with `openssl x509 -noout -issuer -serial -nameopt RFC2253`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Recipient {
    /// The certificate's issuer (RFC 4514 text, as `x509-cert` writes it) and serial number
    /// (upper-case hex of the positive integer, no leading zero bytes, as `openssl -serial`).
    IssuerSerial { issuer: String, serial: String },
    /// The certificate's subject key identifier, lower-case hex.
    SubjectKeyId(String),
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recipient::IssuerSerial { issuer, serial } => {
                write!(f, "issuer={issuer}; serial={serial}")
            }
            Recipient::SubjectKeyId(ski) => write!(f, "subjectKeyIdentifier={ski}"),
        }
    }
}

/// Why a blob names no recipient Keywarden can compare. Each is said in the status; none is a
/// guess about the MDM's copy (issue 14, item 1: fall back to the date rule, report only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobProblem {
    /// Not a BER/DER `ContentInfo` at all (what was wrong, and where).
    NotCms(String),
    /// A `ContentInfo` of another type (its OID).
    NotEnvelopedData(String),
    /// An `EnvelopedData` whose structure did not read (what was wrong).
    Malformed(String),
    /// An empty `recipientInfos`.
    NoRecipient,
    /// More than one recipient: macOS encrypts to the one certificate the payload names, so this
    /// is not what it writes (how many).
    SeveralRecipients(usize),
    /// A recipient that names no certificate (a KEK, a password, another kind; its kind).
    UnsupportedRecipient(&'static str),
}

impl fmt::Display for BlobProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobProblem::NotCms(why) => write!(f, "not CMS: {why}"),
            BlobProblem::NotEnvelopedData(oid) => {
                write!(f, "CMS content type {oid}, not enveloped data")
            }
            BlobProblem::Malformed(why) => {
                write!(f, "CMS enveloped data that does not read: {why}")
            }
            BlobProblem::NoRecipient => write!(f, "CMS enveloped data without a recipient"),
            BlobProblem::SeveralRecipients(n) => {
                write!(f, "CMS enveloped data with {n} recipients (one expected)")
            }
            BlobProblem::UnsupportedRecipient(kind) => {
                write!(
                    f,
                    "CMS recipient of kind {kind}, which names no certificate"
                )
            }
        }
    }
}

impl std::error::Error for BlobProblem {}

/// The recipient of an escrow blob, or why there is none to compare. Never panics, whatever the
/// bytes (property test below, fuzz target `escrow_blob`).
pub fn parse_blob(bytes: &[u8]) -> Result<Recipient, BlobProblem> {
    let (outer, rest) = Tlv::read(bytes, 0).map_err(BlobProblem::NotCms)?;
    if !rest.iter().all(|b| *b == 0) {
        // Trailing zero bytes are tolerated (a BER writer's padding); anything else is not one
        // ContentInfo.
        return Err(BlobProblem::NotCms(format!(
            "{} bytes after the ContentInfo",
            rest.len()
        )));
    }
    let fields = outer
        .sequence()
        .ok_or_else(|| BlobProblem::NotCms("not a SEQUENCE".into()))?;
    let [content_type, content] = fields.as_slice() else {
        return Err(BlobProblem::NotCms(format!(
            "a SEQUENCE of {} elements, not ContentInfo's 2",
            fields.len()
        )));
    };
    let oid = content_type
        .oid()
        .ok_or_else(|| BlobProblem::NotCms("no content type OID".into()))?;
    if oid != ENVELOPED_DATA {
        return Err(BlobProblem::NotEnvelopedData(oid.to_string()));
    }
    // content [0] EXPLICIT EnvelopedData
    let enveloped = match content.children() {
        Some([only]) if content.is_context(0) => only,
        _ => return Err(BlobProblem::Malformed("content is not [0] EXPLICIT".into())),
    };
    let fields = enveloped
        .sequence()
        .ok_or_else(|| BlobProblem::Malformed("EnvelopedData is not a SEQUENCE".into()))?;
    // version, originatorInfo [0] OPTIONAL, recipientInfos SET, encryptedContentInfo SEQUENCE,
    // unprotectedAttrs [1] OPTIONAL (RFC 5652 section 6.1).
    let mut rest = fields.as_slice();
    match rest.split_first() {
        Some((v, tail)) if v.identifier == [0x02] => rest = tail,
        _ => return Err(BlobProblem::Malformed("no version".into())),
    }
    if let Some((o, tail)) = rest.split_first() {
        if o.is_context(0) {
            rest = tail;
        }
    }
    let (infos, tail) = match rest.split_first() {
        Some((set, tail)) if set.identifier == [0x31] => (set, tail),
        _ => return Err(BlobProblem::Malformed("no recipientInfos SET".into())),
    };
    match tail.first() {
        Some(eci) if eci.identifier == [0x30] => {}
        _ => return Err(BlobProblem::Malformed("no encryptedContentInfo".into())),
    }
    let recipients = infos.children().unwrap_or(&[]);
    let info = match recipients {
        [] => return Err(BlobProblem::NoRecipient),
        [one] => one,
        many => return Err(BlobProblem::SeveralRecipients(many.len())),
    };
    let der = info.to_der();
    let info = RecipientInfo::from_der(&der)
        .map_err(|e| BlobProblem::Malformed(format!("recipientInfo: {e}")))?;
    match info {
        RecipientInfo::Ktri(k) => Ok(match k.rid {
            RecipientIdentifier::IssuerAndSerialNumber(is) => {
                issuer_serial(&is.issuer, &is.serial_number)
            }
            RecipientIdentifier::SubjectKeyIdentifier(ski) => {
                Recipient::SubjectKeyId(hex(ski.0.as_bytes()))
            }
        }),
        // Apple's encoder uses key agreement for an EC certificate, with exactly one encrypted
        // key (cmsrecinfo.c: "force single recipientEncryptedKey for now").
        RecipientInfo::Kari(k) => match k.recipient_enc_keys.as_slice() {
            [one] => Ok(match &one.rid {
                KeyAgreeRecipientIdentifier::IssuerAndSerialNumber(is) => {
                    issuer_serial(&is.issuer, &is.serial_number)
                }
                KeyAgreeRecipientIdentifier::RKeyId(r) => {
                    Recipient::SubjectKeyId(hex(r.subject_key_identifier.0.as_bytes()))
                }
            }),
            [] => Err(BlobProblem::NoRecipient),
            many => Err(BlobProblem::SeveralRecipients(many.len())),
        },
        RecipientInfo::Kekri(_) => Err(BlobProblem::UnsupportedRecipient("KEK")),
        RecipientInfo::Pwri(_) => Err(BlobProblem::UnsupportedRecipient("password")),
        RecipientInfo::Ori(_) => Err(BlobProblem::UnsupportedRecipient("other")),
    }
}

/// The identity of the certificate an escrow payload encrypts to (its `com.apple.security.pkcs1`
/// item), in the terms a blob can name it by, plus its public key so a certificate re-issued for
/// the same key can be told from a new key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscrowCertificate {
    /// As [`Recipient::IssuerSerial`] writes them.
    pub issuer: String,
    pub serial: String,
    /// RFC 4514 text, for people.
    pub subject: String,
    /// The subject key identifier extension, lower-case hex; `None` when the certificate has none.
    pub subject_key_id: Option<String>,
    /// Lower-case hex SHA-256 of the DER `SubjectPublicKeyInfo`.
    pub public_key_sha256: String,
}

/// How a blob's recipient relates to a certificate. Only [`Addressed::ToThisCertificate`] is
/// evidence that the MDM holding this certificate's key can read the blob; the others say only
/// that the blob names something else, which may still be the same key: zentral builds a new
/// certificate (random serial, same key) every time it sends the FileVault profile
/// (`zentral/contrib/mdm/commands/setup_filevault.py`, `get_escrow_key_certificate_der_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressed {
    /// The same issuer and serial, or the same subject key identifier.
    ToThisCertificate,
    /// Another serial of the same issuer: another certificate, perhaps for the same key.
    ToAnotherCertificateOfTheSameIssuer,
    /// Another issuer, or another subject key identifier.
    ToAnotherCertificate,
    /// The blob names a subject key identifier and the certificate has no such extension.
    Unknown,
}

impl EscrowCertificate {
    /// The recipient a blob encrypted to this certificate names (macOS's form: issuer and serial).
    pub fn recipient(&self) -> Recipient {
        Recipient::IssuerSerial {
            issuer: self.issuer.clone(),
            serial: self.serial.clone(),
        }
    }

    pub fn addressed_by(&self, recipient: &Recipient) -> Addressed {
        match recipient {
            Recipient::IssuerSerial { issuer, serial } => {
                match (*issuer == self.issuer, *serial == self.serial) {
                    (true, true) => Addressed::ToThisCertificate,
                    (true, false) => Addressed::ToAnotherCertificateOfTheSameIssuer,
                    (false, _) => Addressed::ToAnotherCertificate,
                }
            }
            Recipient::SubjectKeyId(ski) => match &self.subject_key_id {
                Some(own) if own == ski => Addressed::ToThisCertificate,
                Some(_) => Addressed::ToAnotherCertificate,
                None => Addressed::Unknown,
            },
        }
    }
}

/// The identity of a DER X.509 certificate; `Err` says why it is not one.
pub fn parse_certificate(der: &[u8]) -> Result<EscrowCertificate, String> {
    let cert =
        Certificate::from_der(der).map_err(|e| format!("not a DER X.509 certificate: {e}"))?;
    let tbs = &cert.tbs_certificate;
    let (issuer, serial) = issuer_and_serial(&tbs.issuer, &tbs.serial_number);
    let mut subject_key_id = None;
    for ext in tbs.extensions.iter().flatten() {
        if ext.extn_id == SUBJECT_KEY_IDENTIFIER {
            let ski = SubjectKeyIdentifier::from_der(ext.extn_value.as_bytes())
                .map_err(|e| format!("subject key identifier extension: {e}"))?;
            subject_key_id = Some(hex(ski.0.as_bytes()));
        }
    }
    let spki = tbs
        .subject_public_key_info
        .to_der()
        .map_err(|e| format!("public key: {e}"))?;
    Ok(EscrowCertificate {
        issuer,
        serial,
        subject: tbs.subject.to_string(),
        subject_key_id,
        public_key_sha256: hex(&Sha256::digest(&spki)),
    })
}

fn issuer_serial(issuer: &Name, serial: &SerialNumber) -> Recipient {
    let (issuer, serial) = issuer_and_serial(issuer, serial);
    Recipient::IssuerSerial { issuer, serial }
}

fn issuer_and_serial(issuer: &Name, serial: &SerialNumber) -> (String, String) {
    let bytes = serial.as_bytes();
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let digits = if first == bytes.len() {
        "00".to_owned()
    } else {
        hex(&bytes[first..]).to_uppercase()
    };
    (issuer.to_string(), digits)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One BER element: its identifier octets, and its content as bytes (primitive) or as elements
/// (constructed, definite or indefinite length). Just enough BER to find the recipient in an
/// envelope an NSS-style encoder wrote; `to_der` writes it back with definite, minimal lengths.
#[derive(Debug)]
struct Tlv {
    identifier: Vec<u8>,
    content: Content,
}

#[derive(Debug)]
enum Content {
    Primitive(Vec<u8>),
    Constructed(Vec<Tlv>),
}

impl Tlv {
    /// The element at the start of `input` and what follows it.
    fn read(input: &[u8], depth: usize) -> Result<(Tlv, &[u8]), String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH}"));
        }
        let (&first, mut rest) = input
            .split_first()
            .ok_or("no data where an element was due")?;
        let mut identifier = vec![first];
        if first & 0x1f == 0x1f {
            // High tag number form: base-128 digits, the last without bit 8 (X.690 8.1.2.4).
            loop {
                let (&b, tail) = rest.split_first().ok_or("a tag cut short")?;
                identifier.push(b);
                rest = tail;
                if b & 0x80 == 0 {
                    break;
                }
                if identifier.len() > 6 {
                    return Err("a tag number too large".into());
                }
            }
        }
        let constructed = first & 0x20 != 0;
        let (&len0, tail) = rest.split_first().ok_or("a length cut short")?;
        rest = tail;
        if len0 == 0x80 {
            // Indefinite length: constructed only, ended by two zero octets (X.690 8.1.3.6).
            if !constructed {
                return Err("an indefinite length on a primitive element".into());
            }
            let mut children = Vec::new();
            loop {
                if let [0, 0, tail @ ..] = rest {
                    return Ok((
                        Tlv {
                            identifier,
                            content: Content::Constructed(children),
                        },
                        tail,
                    ));
                }
                let (child, tail) = Tlv::read(rest, depth + 1)?;
                children.push(child);
                rest = tail;
            }
        }
        let len = if len0 & 0x80 == 0 {
            usize::from(len0)
        } else {
            let n = usize::from(len0 & 0x7f);
            if n > 4 || rest.len() < n {
                return Err("a length that does not fit".into());
            }
            let (digits, tail) = rest.split_at(n);
            rest = tail;
            digits
                .iter()
                .fold(0usize, |acc, d| (acc << 8) | usize::from(*d))
        };
        if rest.len() < len {
            return Err(format!(
                "an element of {len} bytes where {} remain",
                rest.len()
            ));
        }
        let (mut body, tail) = rest.split_at(len);
        let content = if constructed {
            let mut children = Vec::new();
            while !body.is_empty() {
                let (child, more) = Tlv::read(body, depth + 1)?;
                children.push(child);
                body = more;
            }
            Content::Constructed(children)
        } else {
            Content::Primitive(body.to_vec())
        };
        Ok((
            Tlv {
                identifier,
                content,
            },
            tail,
        ))
    }

    fn children(&self) -> Option<&[Tlv]> {
        match &self.content {
            Content::Constructed(c) => Some(c),
            Content::Primitive(_) => None,
        }
    }

    fn sequence(&self) -> Option<&Vec<Tlv>> {
        match &self.content {
            Content::Constructed(c) if self.identifier == [0x30] => Some(c),
            _ => None,
        }
    }

    /// `[n]` constructed, context-specific, low tag number.
    fn is_context(&self, n: u8) -> bool {
        self.identifier == [0xa0 | n]
    }

    fn oid(&self) -> Option<ObjectIdentifier> {
        match &self.content {
            Content::Primitive(bytes) if self.identifier == [0x06] => {
                ObjectIdentifier::from_bytes(bytes).ok()
            }
            _ => None,
        }
    }

    fn to_der(&self) -> Vec<u8> {
        let body = match &self.content {
            Content::Primitive(bytes) => bytes.clone(),
            Content::Constructed(children) => children.iter().flat_map(Tlv::to_der).collect(),
        };
        let mut out = self.identifier.clone();
        let len = body.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let digits: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | digits.len() as u8);
            out.extend(digits);
        }
        out.extend(body);
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use cms::cert::IssuerAndSerialNumber;
    use cms::content_info::{CmsVersion, ContentInfo};
    use cms::enveloped_data::{
        EncryptedContentInfo, EnvelopedData, KeyTransRecipientInfo, RecipientInfos,
    };
    use der::asn1::{Any, OctetString, SetOfVec};
    use x509_cert::spki::AlgorithmIdentifierOwned;

    /// The simulator's first throwaway certificate (tests/fixtures/escrow/README.md).
    pub(crate) const CERT_A: &[u8] = include_bytes!("../../../tests/fixtures/escrow/escrow-a.der");
    /// Another issuer and key: "the MDM's certificate changed".
    pub(crate) const CERT_B: &[u8] = include_bytes!("../../../tests/fixtures/escrow/escrow-b.der");
    /// Certificate A re-issued: same issuer, subject and key, another serial (zentral's re-send).
    pub(crate) const CERT_A2: &[u8] =
        include_bytes!("../../../tests/fixtures/escrow/escrow-a-reissued.der");

    const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
    const AES_128_CBC: &str = "2.16.840.1.101.3.4.1.2";
    const ID_DATA: &str = "1.2.840.113549.1.7.1";

    fn alg(oid: &str) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap(oid),
            parameters: None,
        }
    }

    /// An EnvelopedData whose recipients are `rids`, DER, as the simulator writes it.
    pub(crate) fn envelope(rids: Vec<RecipientIdentifier>) -> Vec<u8> {
        let infos: Vec<RecipientInfo> = rids
            .into_iter()
            .map(|rid| {
                RecipientInfo::Ktri(KeyTransRecipientInfo {
                    version: match rid {
                        RecipientIdentifier::IssuerAndSerialNumber(_) => CmsVersion::V0,
                        RecipientIdentifier::SubjectKeyIdentifier(_) => CmsVersion::V2,
                    },
                    rid,
                    key_enc_alg: alg(RSA_ENCRYPTION),
                    enc_key: OctetString::new(vec![0x5a; 256]).unwrap(),
                })
            })
            .collect();
        let mut set = SetOfVec::new();
        for i in infos {
            set.insert(i).unwrap();
        }
        let ed = EnvelopedData {
            version: CmsVersion::V0,
            originator_info: None,
            recip_infos: RecipientInfos(set),
            encrypted_content: EncryptedContentInfo {
                content_type: ObjectIdentifier::new_unwrap(ID_DATA),
                content_enc_alg: alg(AES_128_CBC),
                encrypted_content: Some(OctetString::new(vec![0xa5; 48]).unwrap()),
            },
            unprotected_attrs: None,
        };
        ContentInfo {
            content_type: ENVELOPED_DATA,
            content: Any::encode_from(&ed).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    fn rid_of(cert: &[u8]) -> RecipientIdentifier {
        let c = Certificate::from_der(cert).unwrap();
        RecipientIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: c.tbs_certificate.issuer.clone(),
            serial_number: c.tbs_certificate.serial_number.clone(),
        })
    }

    /// `der` re-written with indefinite lengths on every constructed element, as an NSS-style
    /// streaming encoder writes BER.
    fn indefinite(der: &[u8]) -> Vec<u8> {
        fn go(t: &Tlv, out: &mut Vec<u8>) {
            match &t.content {
                Content::Primitive(_) => out.extend(t.to_der()),
                Content::Constructed(children) => {
                    out.extend(&t.identifier);
                    out.push(0x80);
                    for c in children {
                        go(c, out);
                    }
                    out.extend([0, 0]);
                }
            }
        }
        let (t, _) = Tlv::read(der, 0).unwrap();
        let mut out = Vec::new();
        go(&t, &mut out);
        out
    }

    #[test]
    fn a_blob_encrypted_to_a_certificate_names_its_issuer_and_serial() {
        let cert = parse_certificate(CERT_A).unwrap();
        let got = parse_blob(&envelope(vec![rid_of(CERT_A)])).unwrap();
        assert_eq!(got, cert.recipient());
        assert_eq!(cert.addressed_by(&got), Addressed::ToThisCertificate);
        let Recipient::IssuerSerial { issuer, serial } = &got else {
            panic!("{got:?}")
        };
        assert!(issuer.contains("CN=Keywarden Test Escrow A"), "{issuer}");
        assert!(serial
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
        assert!(got.to_string().starts_with("issuer=CN="), "{got}");
    }

    #[test]
    fn the_same_envelope_in_indefinite_length_ber_names_the_same_recipient() {
        let der = envelope(vec![rid_of(CERT_A)]);
        let ber = indefinite(&der);
        assert_ne!(ber, der);
        assert_eq!(parse_blob(&ber), parse_blob(&der));
    }

    #[test]
    fn another_certificate_and_a_reissued_one_are_told_apart() {
        let a = parse_certificate(CERT_A).unwrap();
        let b = parse_certificate(CERT_B).unwrap();
        let a2 = parse_certificate(CERT_A2).unwrap();
        let to_b = parse_blob(&envelope(vec![rid_of(CERT_B)])).unwrap();
        let to_a2 = parse_blob(&envelope(vec![rid_of(CERT_A2)])).unwrap();
        assert_eq!(a.addressed_by(&to_b), Addressed::ToAnotherCertificate);
        assert_eq!(
            a.addressed_by(&to_a2),
            Addressed::ToAnotherCertificateOfTheSameIssuer
        );
        // The re-issued certificate carries the same key; a new MDM's does not.
        assert_eq!(a.public_key_sha256, a2.public_key_sha256);
        assert_ne!(a.public_key_sha256, b.public_key_sha256);
        assert_ne!(a.serial, a2.serial);
    }

    #[test]
    fn a_subject_key_identifier_recipient_is_compared_with_the_extension() {
        let a = parse_certificate(CERT_A).unwrap();
        let ski = a.subject_key_id.clone().expect("the fixture has one");
        let bytes: Vec<u8> = (0..ski.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&ski[i..i + 2], 16).unwrap())
            .collect();
        let rid = RecipientIdentifier::SubjectKeyIdentifier(SubjectKeyIdentifier(
            OctetString::new(bytes).unwrap(),
        ));
        let got = parse_blob(&envelope(vec![rid])).unwrap();
        assert_eq!(got, Recipient::SubjectKeyId(ski));
        assert_eq!(a.addressed_by(&got), Addressed::ToThisCertificate);
        let b = parse_certificate(CERT_B).unwrap();
        assert_eq!(b.addressed_by(&got), Addressed::ToAnotherCertificate);
        let without = EscrowCertificate {
            subject_key_id: None,
            ..b
        };
        assert_eq!(without.addressed_by(&got), Addressed::Unknown);
    }

    #[test]
    fn what_macos_would_not_write_is_said_not_guessed() {
        assert!(matches!(parse_blob(b""), Err(BlobProblem::NotCms(_))));
        assert!(matches!(
            parse_blob(b"SIMULATED-CMS\n0123\n"),
            Err(BlobProblem::NotCms(_))
        ));
        // A certificate is DER but not a ContentInfo.
        assert!(matches!(parse_blob(CERT_A), Err(BlobProblem::NotCms(_))));
        assert_eq!(
            parse_blob(&envelope(vec![rid_of(CERT_A), rid_of(CERT_B)])),
            Err(BlobProblem::SeveralRecipients(2))
        );
        // A certs-only SignedData: another content type.
        let signed = ContentInfo::try_from(Certificate::from_der(CERT_A).unwrap())
            .unwrap()
            .to_der()
            .unwrap();
        assert_eq!(
            parse_blob(&signed),
            Err(BlobProblem::NotEnvelopedData("1.2.840.113549.1.7.2".into()))
        );
        // Cut anywhere, the envelope is refused, never half-read.
        let whole = envelope(vec![rid_of(CERT_A)]);
        for at in 0..whole.len() {
            assert!(parse_blob(&whole[..at]).is_err(), "cut at {at}");
        }
        // Garbage after it is not one ContentInfo; zero padding is tolerated.
        let mut padded = whole.clone();
        padded.extend([0, 0]);
        assert!(parse_blob(&padded).is_ok());
        padded.push(1);
        assert!(matches!(parse_blob(&padded), Err(BlobProblem::NotCms(_))));
    }

    #[test]
    fn problems_read_as_one_line_for_the_status() {
        for p in [
            BlobProblem::NotCms("x".into()),
            BlobProblem::NotEnvelopedData("1.2.3".into()),
            BlobProblem::Malformed("y".into()),
            BlobProblem::NoRecipient,
            BlobProblem::SeveralRecipients(2),
            BlobProblem::UnsupportedRecipient("KEK"),
        ] {
            let s = p.to_string();
            assert!(!s.is_empty() && !s.contains('\n'), "{s:?}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_recursed() {
        let mut deep = Vec::new();
        for _ in 0..10_000 {
            deep.extend([0x30, 0x80]);
        }
        assert!(matches!(parse_blob(&deep), Err(BlobProblem::NotCms(_))));
    }

    #[test]
    fn a_certificate_that_is_not_one_says_why() {
        assert!(parse_certificate(b"").is_err());
        assert!(parse_certificate(&CERT_A[..CERT_A.len() - 1]).is_err());
        assert!(parse_certificate(b"-----BEGIN CERTIFICATE-----").is_err());
    }

    mod properties {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..600)) {
                let _ = parse_blob(&bytes);
                let _ = parse_certificate(&bytes);
            }

            #[test]
            fn a_real_envelope_with_bytes_changed_never_panics(
                edits in vec((any::<usize>(), any::<u8>()), 1..8)
            ) {
                let mut bytes = envelope(vec![rid_of(CERT_A)]);
                for (at, b) in edits {
                    let n = bytes.len();
                    bytes[at % n] = b;
                }
                let _ = parse_blob(&bytes);
                let _ = parse_blob(&indefinite_or_same(&bytes));
            }
        }

        fn indefinite_or_same(bytes: &[u8]) -> Vec<u8> {
            if Tlv::read(bytes, 0).is_ok() {
                indefinite(bytes)
            } else {
                bytes.to_vec()
            }
        }
    }
}
