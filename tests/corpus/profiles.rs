//! Corpus and hand-written samples of `profiles`, with the asserted outcome of each.
//!
//! `status -type bootstraptoken` answers on stdout (the TTG sample was captured with backticks);
//! `-C -o stdout-xml` prints its plist on stdout. Exit 0 where not shown.

use keywarden::runner::Output;
use keywarden::tools::escrow_blob::parse_certificate;
use keywarden::tools::profiles::{
    parse_bootstrap_token, parse_computer_profiles, BootstrapToken, ComputerProfiles,
    EscrowCertificateSeen, InstalledProfile, ESCROW_PAYLOAD_TYPE,
};

use super::{Case, Stream};

fn bootstrap(out: &Output, supported: bool, escrowed: Option<bool>) {
    assert_eq!(
        parse_bootstrap_token(out),
        Ok(BootstrapToken {
            supported,
            escrowed
        })
    );
}

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            file: "profiles-status-bootstraptoken/ttg-10.15.6-supported-no.txt",
            stream: Stream::Stdout,
            exit: 0,
            // Unsupported: one line, nothing said about escrow.
            check: |out| bootstrap(out, false, None),
        },
        Case {
            file: "handwritten/profiles-status-bootstraptoken/supported-yes-escrowed-no-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |out| bootstrap(out, true, Some(false)),
        },
        Case {
            file: "handwritten/profiles-status-bootstraptoken/supported-yes-escrowed-yes-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |out| bootstrap(out, true, Some(true)),
        },
        Case {
            file: "handwritten/profiles-computer-xml/escrow-and-mdm-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            // The per-user key `ann` is ignored.
            check: |out| {
                let all = parse_computer_profiles(out).expect("parses");
                assert_eq!(all.unreadable, [], "every profile reads");
                let got = all.installed;
                // The certificate item holds a cut placeholder: unknown, with the reason.
                match &got[0].escrow_certificate {
                    Some(EscrowCertificateSeen::Unknown(why)) => {
                        assert!(why.contains("not a DER X.509 certificate"), "{why}")
                    }
                    other => panic!("{other:?}"),
                }
                assert_eq!(
                    got,
                    [
                        InstalledProfile {
                            identifier: "com.example.mdm.filevault-escrow".into(),
                            display_name: Some("FileVault Recovery Key Escrow".into()),
                            install_date: Some("2024-03-01T09:15:42Z".parse().expect("a timestamp")),
                            payload_types: vec![
                                ESCROW_PAYLOAD_TYPE.into(),
                                "com.apple.security.pkcs1".into()
                            ],
                            escrow_certificate: got[0].escrow_certificate.clone(),
                            notes: Vec::new(),
                        },
                        InstalledProfile {
                            identifier: "com.example.mdm.enrollment".into(),
                            display_name: Some("MDM Profile".into()),
                            install_date: Some("2023-11-20T16:02:11Z".parse().expect("a timestamp")),
                            payload_types: vec![
                                "com.apple.security.scep".into(),
                                "com.apple.mdm".into()
                            ],
                            escrow_certificate: None,
                            notes: Vec::new(),
                        },
                    ]
                );
                assert!(got[0].has_payload(ESCROW_PAYLOAD_TYPE));
                assert!(!got[1].has_payload(ESCROW_PAYLOAD_TYPE));
            },
        },
        Case {
            file: "handwritten/profiles-computer-xml/escrow-certificate-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            // The pkcs1 item EncryptCertPayloadUUID names carries the certificate as data.
            check: |out| {
                let got = parse_computer_profiles(out).expect("parses").installed;
                let want = parse_certificate(include_bytes!("../fixtures/escrow/escrow-a.der"))
                    .expect("the throwaway certificate");
                assert_eq!(
                    got[0].escrow_certificate,
                    Some(EscrowCertificateSeen::Shown(want))
                );
            },
        },
        Case {
            file: "handwritten/profiles-computer-xml/empty-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |out| {
                assert_eq!(parse_computer_profiles(out), Ok(ComputerProfiles::default()))
            },
        },
    ]
}
