//! The escrow blob and the escrow profile's certificate on the simulated Mac: `FileVaultPRK.dat`
//! is a CMS envelope to the certificate `profiles -C -o stdout-xml` shows, and the scenario's
//! knobs (the certificate, a re-sent profile, a blob that is not CMS, a certificate the output
//! does not show) change what the daemon will find.
//!
//! The blob is decoded here with the `cms` crate directly, not with the daemon's parser.

use std::fs;

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::ContentInfo;
use cms::enveloped_data::{EnvelopedData, RecipientIdentifier, RecipientInfo};
use der::Decode;
use x509_cert::Certificate;

use crate::support::tools::ToolsMac;

const PRK: &str = "/var/db/FileVaultPRK.dat";
const A: &[u8] = include_bytes!("../fixtures/escrow/escrow-a.der");
const A_REISSUED: &[u8] = include_bytes!("../fixtures/escrow/escrow-a-reissued.der");
const B: &[u8] = include_bytes!("../fixtures/escrow/escrow-b.der");

/// Issuer and serial of a DER certificate, the way a recipient names it.
fn named(cert: &[u8]) -> IssuerAndSerialNumber {
    let c = Certificate::from_der(cert).unwrap();
    IssuerAndSerialNumber {
        issuer: c.tbs_certificate.issuer,
        serial_number: c.tbs_certificate.serial_number,
    }
}

/// The one recipient of the escrow file.
fn blob_recipient(mac: &ToolsMac) -> IssuerAndSerialNumber {
    let bytes = fs::read(mac.path(PRK)).unwrap();
    let ci = ContentInfo::from_der(&bytes).expect("a DER ContentInfo");
    assert_eq!(ci.content_type.to_string(), "1.2.840.113549.1.7.3");
    let ed: EnvelopedData = ci.content.decode_as().unwrap();
    let infos = ed.recip_infos.0.into_vec();
    assert_eq!(infos.len(), 1);
    match infos.into_iter().next().unwrap() {
        RecipientInfo::Ktri(k) => match k.rid {
            RecipientIdentifier::IssuerAndSerialNumber(is) => is,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

/// The escrow profile as `profiles -C -o stdout-xml` shows it.
fn escrow_profile(mac: &ToolsMac) -> plist::Dictionary {
    let out = mac.run("profiles", &["-C", "-o", "stdout-xml"]).plist();
    out.as_dictionary().unwrap()["_computerlevel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_dictionary().unwrap().clone())
        .find(|p| {
            p["ProfileItems"].as_array().unwrap().iter().any(|i| {
                i.as_dictionary().unwrap()["PayloadType"].as_string()
                    == Some("com.apple.security.FDERecoveryKeyEscrow")
            })
        })
        .expect("the escrow profile")
}

/// The certificate item the escrow payload's `EncryptCertPayloadUUID` names.
fn certificate_item(profile: &plist::Dictionary) -> plist::Dictionary {
    let items: Vec<&plist::Dictionary> = profile["ProfileItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_dictionary().unwrap())
        .collect();
    let escrow = items
        .iter()
        .find(|i| i["PayloadType"].as_string() == Some("com.apple.security.FDERecoveryKeyEscrow"))
        .unwrap();
    let uuid = escrow["PayloadContent"].as_dictionary().unwrap()["EncryptCertPayloadUUID"]
        .as_string()
        .unwrap();
    let item = items
        .iter()
        .find(|i| i["PayloadUUID"].as_string() == Some(uuid))
        .expect("the item EncryptCertPayloadUUID names");
    assert_eq!(
        item["PayloadType"].as_string(),
        Some("com.apple.security.pkcs1")
    );
    (*item).clone()
}

fn shown_certificate(mac: &ToolsMac) -> Vec<u8> {
    certificate_item(&escrow_profile(mac))["PayloadContent"]
        .as_data()
        .expect("the certificate as data")
        .to_vec()
}

#[test]
fn the_escrow_file_is_a_cms_envelope_to_the_certificate_profiles_shows() {
    let mac = ToolsMac::healthy();
    assert_eq!(shown_certificate(&mac), A);
    assert_eq!(blob_recipient(&mac), named(A));
    // The managed preference names the same certificate item.
    let prefs = plist::Value::from_file(
        mac.path("/Library/Managed Preferences/com.apple.security.FDERecoveryKeyEscrow.plist"),
    )
    .unwrap();
    assert_eq!(
        prefs.as_dictionary().unwrap()["EncryptCertPayloadUUID"].as_string(),
        certificate_item(&escrow_profile(&mac))["PayloadUUID"].as_string()
    );
    // The key never reaches the file.
    let bytes = fs::read(mac.path(PRK)).unwrap();
    assert!(!bytes.windows(9).any(|w| w == b"ABCD-EFGH"));
}

#[test]
fn a_new_certificate_leaves_the_old_blob_until_a_new_key_is_made() {
    let mac = ToolsMac::with(&["escrow.certificate=\"b\""]);
    assert_eq!(shown_certificate(&mac), B);
    assert_eq!(
        blob_recipient(&mac),
        named(A),
        "the blob of the old key stays"
    );
    let key = mac.scenario()["recovery_key"]["personal"]
        .as_str()
        .unwrap()
        .to_owned();
    let plist = format!(
        "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>Password</key><string>{key}</string></dict></plist>"
    );
    let out = mac.run_with_stdin(
        "fdesetup",
        &["changerecovery", "-personal", "-inputplist"],
        plist.as_bytes(),
    );
    assert_eq!(out.code(), 0, "{}", out.err());
    assert_eq!(blob_recipient(&mac), named(B), "a new key is escrowed to B");
}

#[test]
fn a_resent_profile_has_a_new_install_date_and_the_blob_is_untouched() {
    let mac = ToolsMac::healthy();
    let before_date = escrow_profile(&mac)["ProfileInstallDate"].clone();
    let before_blob = fs::read(mac.path(PRK)).unwrap();
    let before_mtime = mac.mtime(PRK);
    let said = mac.event(&["resend-profile"]);
    assert!(said.contains("the same certificate"), "{said}");
    let after = escrow_profile(&mac);
    assert_ne!(after["ProfileInstallDate"], before_date);
    assert_eq!(shown_certificate(&mac), A);
    assert_eq!(fs::read(mac.path(PRK)).unwrap(), before_blob);
    assert_eq!(mac.mtime(PRK), before_mtime);
}

#[test]
fn a_profile_resent_with_a_reissued_or_another_certificate_shows_it() {
    let mac = ToolsMac::healthy();
    mac.event(&["resend-profile", "--certificate", "a_reissued"]);
    assert_eq!(shown_certificate(&mac), A_REISSUED);
    let (old, new) = (named(A), named(A_REISSUED));
    assert_eq!(old.issuer, new.issuer);
    assert_ne!(old.serial_number, new.serial_number);
    assert_eq!(blob_recipient(&mac), old);
    mac.event(&["resend-profile", "--certificate", "b"]);
    assert_eq!(shown_certificate(&mac), B);
    let bad = mac.cli(&[
        "event",
        &mac.root().display().to_string(),
        "resend-profile",
        "--certificate",
        "c",
    ]);
    assert!(!bad.status.success());
}

#[test]
fn a_blob_that_is_not_cms_is_written_at_the_next_escrow() {
    let mac = ToolsMac::with(&[
        "escrow.prk_file_format=\"not_cms\"",
        "escrow.prk_file_written_at=\"2024-07-01T10:00:00Z\"",
    ]);
    let bytes = fs::read(mac.path(PRK)).unwrap();
    assert!(ContentInfo::from_der(&bytes).is_err());
    assert!(bytes.starts_with(b"SIMULATED-NOT-CMS\n"));
}

#[test]
fn a_blob_can_be_addressed_to_another_certificate_than_the_profiles() {
    let mac = ToolsMac::with(&[
        "escrow.prk_file_certificate=\"b\"",
        "escrow.prk_file_written_at=\"2024-07-01T10:00:00Z\"",
    ]);
    assert_eq!(shown_certificate(&mac), A);
    assert_eq!(blob_recipient(&mac), named(B));
}

#[test]
fn the_certificate_item_can_be_shown_without_its_content() {
    let mac = ToolsMac::with(&["escrow.certificate_shown=false"]);
    let item = certificate_item(&escrow_profile(&mac));
    assert!(!item.contains_key("PayloadContent"));
    assert_eq!(blob_recipient(&mac), named(A));
}
