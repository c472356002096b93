//! `tools::escrow_blob`: the escrow blob (`/var/db/FileVaultPRK.dat`) read as CMS, and the escrow
//! payload's certificate read as X.509, chosen by the first byte (0: blob, 1: certificate).
//!
//! Beyond "no panic": a parse is a pure function of the bytes (the same twice); a recipient or a
//! problem reads as one line without a control character (both reach the status); a recipient
//! is found only in a constructed SEQUENCE; a certificate is always addressed by its own
//! recipient, and its hashes and identifiers are lower-case hex of the right length.

#![no_main]

use keywarden::tools::escrow_blob::{parse_blob, parse_certificate, Addressed, Recipient};
use libfuzzer_sys::fuzz_target;

fn one_line(s: &str) {
    assert!(!s.chars().any(char::is_control), "{s:?}");
}

fn lower_hex(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

fuzz_target!(|data: &[u8]| {
    let Some((which, bytes)) = data.split_first() else {
        return;
    };
    if which % 2 == 0 {
        let got = parse_blob(bytes);
        assert_eq!(got, parse_blob(bytes));
        match &got {
            Ok(r) => {
                assert_eq!(bytes.first(), Some(&0x30));
                one_line(&r.to_string());
                match r {
                    Recipient::IssuerSerial { serial, .. } => {
                        assert!(!serial.is_empty());
                        assert!(serial
                            .chars()
                            .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)));
                    }
                    Recipient::SubjectKeyId(ski) => assert!(lower_hex(ski)),
                }
            }
            Err(p) => one_line(&p.to_string()),
        }
    } else if let Ok(cert) = parse_certificate(bytes) {
        assert_eq!(cert.addressed_by(&cert.recipient()), Addressed::ToThisCertificate);
        assert_eq!(cert.public_key_sha256.len(), 64);
        assert!(lower_hex(&cert.public_key_sha256));
        if let Some(ski) = &cert.subject_key_id {
            assert!(lower_hex(ski));
            assert_eq!(
                cert.addressed_by(&Recipient::SubjectKeyId(ski.clone())),
                Addressed::ToThisCertificate
            );
        }
        one_line(&cert.recipient().to_string());
        one_line(&cert.subject);
    }
});
