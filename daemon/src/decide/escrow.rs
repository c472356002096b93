//! Is the current key staged for the installed escrow payload? The one judgement, from evidence
//! only (issue 14, item 1): the escrow file's CMS recipient against the payload's certificate,
//! and dates only where no recipient can be compared.
//!
//! `/var/db/FileVaultPRK.dat` is the key encrypted to the payload's certificate as CMS enveloped
//! data (Apple, `com.apple.security.FDERecoveryKeyEscrow`; the MDM collects it as
//! `FDE_PersonalRecoveryKeyCMS`), so its recipient says which certificate, hence which MDM key,
//! can read it. Dates cannot: an MDM that re-sends its FileVault profile moves the profile's
//! install date past the file's on every Mac at once, and a rule on dates alone would then ask a
//! whole fleet for new keys (the MDM holding a dead key on each until its next inventory).
//!
//! - `Staged`: the file is encrypted to the installed payload's certificate, or to an earlier
//!   certificate of the same public key (zentral re-issues its certificate, same key, new serial,
//!   each time it sends the profile: `zentral/contrib/mdm/commands/setup_filevault.py`); or, with
//!   no recipient to compare, the file is newer than the payload's profile.
//! - `Missing` (certain, a rotation reason): no file while the payload is installed, or a file
//!   encrypted to another certificate (another issuer, or a remembered certificate of another
//!   key).
//! - `Unconfirmed` (the warning `EscrowUnconfirmed`): no comparison settles it and the file is
//!   older than the profile, or the file names another serial of the same issuer whose key is not
//!   known. A rotation reason only with `RotateWhenEscrowUnconfirmed`, and never when the file
//!   itself could not be read as CMS (the date rule is then report-only).
//! - `NotConfigured`: no escrow payload. `External`: `EscrowOutsideMDM`, no escrow check at all.

use jiff::Timestamp;

use crate::guards;
use crate::observe::FileFacts;
use crate::state::CertMark;
use crate::status::EscrowState;
use crate::tools::escrow_blob::{Addressed, EscrowCertificate, Recipient};
use crate::tools::profiles::{ComputerProfiles, EscrowCertificateSeen};

/// How many certificates of the escrow payload the state remembers (a certificate is re-issued
/// a few times a year at most; more than a handful would be a profile storm, not history).
pub(crate) const REMEMBERED_CERTIFICATES: usize = 8;

/// What one check saw of escrow.
pub(crate) struct Seen<'a> {
    /// `EscrowOutsideMDM`.
    pub outside_mdm: bool,
    /// The installed profiles (`None`: `profiles` failed).
    pub profiles: Option<&'a ComputerProfiles>,
    /// The escrow file (`Some(None)`: absent; `None`: could not tell).
    pub file: Option<Option<&'a FileFacts>>,
    /// Certificates of the escrow payload seen installed in earlier checks.
    pub remembered: &'a [CertMark],
    /// The last check that saw no escrow payload installed: a key made after that file and
    /// before the payload came back was never staged, whatever the file's recipient says.
    pub payload_absent_at: Option<Timestamp>,
    /// The time of the check: a profile installed "after" it was installed before the clock was
    /// set back, and its date orders nothing (issue 16, item 4).
    pub now: Timestamp,
}

/// The judgement, with the sentence that says how it was reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Judged {
    pub state: EscrowState,
    /// One sentence for `Escrow.Evidence`: what was compared, or why nothing could be.
    pub evidence: String,
    /// `Unconfirmed` may become a rotation reason (`RotateWhenEscrowUnconfirmed`): false when it
    /// rests on dates because the file itself could not be read.
    pub may_rotate: bool,
}

impl Judged {
    fn new(state: EscrowState, evidence: impl Into<String>) -> Judged {
        Judged {
            state,
            evidence: evidence.into(),
            may_rotate: state == EscrowState::Missing,
        }
    }

    fn unconfirmed(evidence: impl Into<String>, may_rotate: bool) -> Judged {
        Judged {
            state: EscrowState::Unconfirmed,
            evidence: evidence.into(),
            may_rotate,
        }
    }
}

/// The judgement, or `None` when a probe it needs failed (the section is then stale).
pub(crate) fn judge(s: &Seen<'_>) -> Option<Judged> {
    if s.outside_mdm {
        return Some(Judged::new(
            EscrowState::External,
            "EscrowOutsideMDM is set: keys are escrowed outside the MDM, and Keywarden does not check escrow",
        ));
    }
    let profiles = s.profiles?;
    let file = s.file?;
    if !guards::escrow_payload(profiles)? {
        return Some(Judged::new(
            EscrowState::NotConfigured,
            "no installed profile carries the escrow payload",
        ));
    }
    let profile = guards::escrow_profile(profiles)?;
    let Some(file) = file else {
        return Some(Judged::new(
            EscrowState::Missing,
            "no escrow file while the escrow payload is installed: the current key was made before the payload arrived",
        ));
    };
    // The payload was seen absent after this file was written: a key made in that gap was never
    // staged, and the file (whoever it names) may hold an older key (issue 14 review).
    let gap = s
        .payload_absent_at
        .filter(|absent| file.modified_at < *absent)
        .map(|absent| {
            format!(
                "the escrow payload was seen absent at {} UTC, after the escrow file was written: a key made then was never staged",
                crate::clock::ea_format(absent)
            )
        });
    let by_dates = |why: &str, may_rotate: bool| {
        match profile.install_date {
        None => Judged::unconfirmed(
            format!("the escrow profile shows no install date to compare with, and {why}"),
            false,
        ),
        // Installed after the present: the clock was set back since, and a key made after the
        // step is "older" than the profile however new it is. Dates cannot tell, and a rotation
        // resting on them would be asked for again after every new key (issue 16, item 4).
        Some(installed) if installed > s.now => Judged::unconfirmed(
            format!(
                "the escrow profile's install date ({} UTC) is after the present (the clock was set back since), so dates cannot tell, and {why}",
                crate::clock::ea_format(installed)
            ),
            false,
        ),
        Some(installed) if file.modified_at < installed => Judged::unconfirmed(
            format!(
                "the escrow profile was installed after the escrow file was written, and {why}"
            ),
            may_rotate,
        ),
        Some(_) => match &gap {
            Some(gap) => Judged::unconfirmed(format!("{gap}, and {why}"), may_rotate),
            None => Judged::new(
                EscrowState::Staged,
                format!(
                    "the escrow file was written after the escrow profile was installed ({why})"
                ),
            ),
        },
    }
    };
    let recipient = match &file.recipient {
        Ok(r) => r,
        Err(problem) => {
            return Some(by_dates(
                &format!("the file is not readable as CMS enveloped data ({problem})"),
                false,
            ))
        }
    };
    let certificate = match &profile.escrow_certificate {
        Some(EscrowCertificateSeen::Shown(c)) => c,
        Some(EscrowCertificateSeen::Unknown(why)) => {
            return Some(by_dates(
                &format!("the payload's certificate is not shown ({why}), so the file's recipient cannot be compared with it"),
                true,
            ))
        }
        None => {
            return Some(by_dates(
                "the payload's certificate is not shown, so the file's recipient cannot be compared with it",
                true,
            ))
        }
    };
    let judged = compare(recipient, certificate, s.remembered, by_dates);
    Some(match (judged.state, gap) {
        // The file is the payload's, but perhaps not the current key's.
        (EscrowState::Staged, Some(gap)) => Judged::unconfirmed(
            format!("{gap}; the file is encrypted to the payload's certificate but may hold an older key"),
            true,
        ),
        _ => judged,
    })
}

/// The file's recipient against the installed certificate (and the ones remembered).
fn compare(
    recipient: &Recipient,
    certificate: &EscrowCertificate,
    remembered: &[CertMark],
    by_dates: impl Fn(&str, bool) -> Judged,
) -> Judged {
    let addressed = certificate.addressed_by(recipient);
    // An earlier certificate with the file's issuer and serial: the one the file names, unless
    // that name was also worn by another key (two CAs of one name, a serial reused).
    let earlier = remembered.iter().find(|m| {
        m.names(recipient)
            && (addressed != Addressed::ToThisCertificate
                || m.public_key_sha256 != certificate.public_key_sha256)
    });
    match (addressed, earlier) {
        (Addressed::ToThisCertificate, Some(e)) => Judged::unconfirmed(
            format!("the escrow file names the installed certificate's issuer and serial ({}), but an earlier certificate of that name had another key: the name does not tell which key the file is for", e.serial),
            true,
        ),
        (Addressed::ToThisCertificate, None) => Judged::new(
            EscrowState::Staged,
            "the escrow file is encrypted to the installed escrow payload's certificate",
        ),
        (_, Some(e)) if e.public_key_sha256 == certificate.public_key_sha256 => Judged::new(
            EscrowState::Staged,
            format!("the escrow file is encrypted to an earlier certificate of the same key (serial {}), which the installed one re-issues", e.serial),
        ),
        (_, Some(e)) => Judged::new(
            EscrowState::Missing,
            format!("the escrow file is encrypted to an earlier escrow certificate (serial {}) of another key than the installed payload's", e.serial),
        ),
        (Addressed::ToAnotherCertificate, None) => Judged::new(
            EscrowState::Missing,
            format!(
                "the escrow file is encrypted to another certificate ({recipient}) than the installed payload's ({})",
                certificate.recipient()
            ),
        ),
        // Another serial of the same issuer: perhaps a certificate re-issued for the same key
        // (zentral), perhaps not; the file alone cannot tell.
        (Addressed::ToAnotherCertificateOfTheSameIssuer, None) => Judged::unconfirmed(
            format!(
                "the escrow file is encrypted to another serial of the payload's issuer ({recipient}); whether that certificate has the same key is not known"
            ),
            true,
        ),
        (Addressed::Unknown, None) => by_dates(
            "the file names a subject key identifier the payload's certificate does not carry",
            true,
        ),
    }
}

/// The certificates to remember after this check: the installed payload's, if shown, added to
/// the ones already known (newest last, at most `REMEMBERED_CERTIFICATES`).
pub(crate) fn remember(profiles: Option<&ComputerProfiles>, known: &[CertMark]) -> Vec<CertMark> {
    let mut out = known.to_vec();
    let shown =
        profiles
            .and_then(guards::escrow_profile)
            .and_then(|p| match &p.escrow_certificate {
                Some(EscrowCertificateSeen::Shown(c)) => Some(CertMark::of(c)),
                Some(EscrowCertificateSeen::Unknown(_)) | None => None,
            });
    if let Some(mark) = shown {
        if !out.contains(&mark) {
            out.push(mark);
        }
    }
    let excess = out.len().saturating_sub(REMEMBERED_CERTIFICATES);
    out.drain(..excess);
    out
}

#[cfg(test)]
mod tests {
    //! One row per way the evidence can fall, with what must be concluded: every state, and
    //! every reason a comparison cannot be made.

    use jiff::Timestamp;

    use super::*;
    use crate::tools::escrow_blob::BlobProblem;
    use crate::tools::profiles::{InstalledProfile, UnreadableProfile, ESCROW_PAYLOAD_TYPE};

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn cert(issuer: &str, serial: &str, key: &str) -> EscrowCertificate {
        EscrowCertificate {
            issuer: issuer.into(),
            serial: serial.into(),
            subject: "CN=FileVault Recovery Key Escrow".into(),
            subject_key_id: Some(format!("{key}-ski")),
            public_key_sha256: key.into(),
        }
    }

    const MDM: &str = "CN=Example MDM CA";

    fn profiles(
        installed_at: &str,
        certificate: Option<EscrowCertificateSeen>,
    ) -> ComputerProfiles {
        ComputerProfiles {
            installed: vec![InstalledProfile {
                identifier: "com.example.filevault".into(),
                display_name: None,
                install_date: Some(t(installed_at)),
                payload_types: vec![ESCROW_PAYLOAD_TYPE.into()],
                escrow_certificate: certificate,
                notes: Vec::new(),
            }],
            unreadable: Vec::new(),
        }
    }

    fn file(written_at: &str, recipient: Result<Recipient, BlobProblem>) -> FileFacts {
        FileFacts {
            modified_at: t(written_at),
            sha256: "ab".repeat(32),
            recipient,
        }
    }

    fn shown(c: EscrowCertificate) -> Option<EscrowCertificateSeen> {
        Some(EscrowCertificateSeen::Shown(c))
    }

    /// The file was written on 1 June, the profile installed on 1 May ("before") or re-sent on
    /// 1 July ("after").
    const WRITTEN: &str = "2026-06-01T10:00:00Z";
    const BEFORE: &str = "2026-05-01T09:00:00Z";
    const AFTER: &str = "2026-07-01T09:00:00Z";

    /// The time of every check here: after all the dates above.
    fn checked_at() -> Timestamp {
        t("2026-11-22T10:00:00Z")
    }

    struct Row {
        name: &'static str,
        outside_mdm: bool,
        profiles: Option<ComputerProfiles>,
        file: Option<Option<FileFacts>>,
        remembered: Vec<CertMark>,
        payload_absent_at: Option<Timestamp>,
        want: Option<(EscrowState, bool)>,
    }

    fn row(
        name: &'static str,
        profiles: ComputerProfiles,
        file: Option<FileFacts>,
        want: (EscrowState, bool),
    ) -> Row {
        Row {
            name,
            outside_mdm: false,
            profiles: Some(profiles),
            file: Some(file),
            remembered: Vec::new(),
            payload_absent_at: None,
            want: Some(want),
        }
    }

    #[test]
    fn every_way_the_evidence_falls_gives_its_judgement() {
        use EscrowState::*;
        let a = cert(MDM, "0A", "key-a");
        let a_reissued = cert(MDM, "0B", "key-a");
        let b = cert("CN=Other MDM CA", "01", "key-b");
        let mut rows = vec![
            row(
                "a file encrypted to the installed certificate is staged",
                profiles(BEFORE, shown(a.clone())),
                Some(file(WRITTEN, Ok(a.recipient()))),
                (Staged, false),
            ),
            row(
                "issue 14: a re-sent profile with the same certificate changes nothing",
                profiles(AFTER, shown(a.clone())),
                Some(file(WRITTEN, Ok(a.recipient()))),
                (Staged, false),
            ),
            row(
                "no file while the payload is installed is certainly not escrowed",
                profiles(BEFORE, shown(a.clone())),
                None,
                (Missing, true),
            ),
            row(
                "a file encrypted to another issuer's certificate is certainly not escrowed",
                profiles(BEFORE, shown(b.clone())),
                Some(file(WRITTEN, Ok(a.recipient()))),
                (Missing, true),
            ),
            row(
                "another serial of the same issuer, its key unknown, is unconfirmed",
                profiles(AFTER, shown(a_reissued.clone())),
                Some(file(WRITTEN, Ok(a.recipient()))),
                (Unconfirmed, true),
            ),
            row(
                "a certificate not shown falls back to dates: profile newer, unconfirmed",
                profiles(
                    AFTER,
                    Some(EscrowCertificateSeen::Unknown("redacted".into())),
                ),
                Some(file(WRITTEN, Ok(a.recipient()))),
                (Unconfirmed, true),
            ),
            row(
                "a certificate not shown falls back to dates: file newer, staged",
                profiles(BEFORE, None),
                Some(file(WRITTEN, Ok(a.recipient()))),
                (Staged, false),
            ),
            row(
                "a file that is not CMS falls back to dates, report-only",
                profiles(AFTER, shown(a.clone())),
                Some(file(WRITTEN, Err(BlobProblem::NotCms("tag 0x04".into())))),
                (Unconfirmed, false),
            ),
            row(
                "a file that is not CMS but newer than the profile is staged",
                profiles(BEFORE, shown(a.clone())),
                Some(file(WRITTEN, Err(BlobProblem::NoRecipient))),
                (Staged, false),
            ),
            row(
                "a subject key identifier the certificate lacks falls back to dates",
                profiles(
                    AFTER,
                    shown(EscrowCertificate {
                        subject_key_id: None,
                        ..a.clone()
                    }),
                ),
                Some(file(WRITTEN, Ok(Recipient::SubjectKeyId("99".into())))),
                (Unconfirmed, true),
            ),
            row(
                "a subject key identifier that matches is staged",
                profiles(AFTER, shown(a.clone())),
                Some(file(
                    WRITTEN,
                    Ok(Recipient::SubjectKeyId("key-a-ski".into())),
                )),
                (Staged, false),
            ),
            row(
                "no escrow payload is not configured",
                ComputerProfiles::default(),
                Some(file(WRITTEN, Ok(a.recipient()))),
                (NotConfigured, false),
            ),
        ];
        rows.push(Row {
            remembered: vec![CertMark::of(&a)],
            ..row(
                "issue 14 (zentral): a certificate re-issued for the same key, the old one remembered, is staged",
                profiles(AFTER, shown(a_reissued.clone())),
                Some(file(WRITTEN, Ok(a.recipient()))),
                (Staged, false),
            )
        });
        rows.push(Row {
            remembered: vec![CertMark::of(&cert(MDM, "0A", "key-old"))],
            ..row(
                "a remembered earlier certificate of another key is certainly not escrowed",
                profiles(AFTER, shown(a_reissued.clone())),
                Some(file(WRITTEN, Ok(a.recipient()))),
                (Missing, true),
            )
        });
        rows.push(Row {
            outside_mdm: true,
            ..row(
                "EscrowOutsideMDM turns the check off, whatever is seen",
                ComputerProfiles::default(),
                None,
                (External, false),
            )
        });
        rows.push(Row {
            profiles: None,
            want: None,
            ..row(
                "profiles failing leaves it unknown",
                ComputerProfiles::default(),
                None,
                (Unknown, false),
            )
        });
        rows.push(Row {
            file: None,
            want: None,
            ..row(
                "the file unreadable leaves it unknown",
                profiles(BEFORE, shown(a.clone())),
                None,
                (Unknown, false),
            )
        });
        rows.push(row(
            "issue 14, item 6: an unreadable unrelated profile does not blind the check",
            ComputerProfiles {
                unreadable: vec![UnreadableProfile {
                    name: "com.vendor.odd".into(),
                    problem: "no ProfileItems array".into(),
                    carries_escrow: None,
                }],
                ..profiles(BEFORE, shown(a.clone()))
            },
            Some(file(WRITTEN, Ok(a.recipient()))),
            (Staged, false),
        ));
        rows.push(Row {
            want: None,
            ..row(
                "issue 14, item 6: with no readable escrow profile, an unreadable one that may carry it leaves it unknown",
                ComputerProfiles {
                    installed: Vec::new(),
                    unreadable: vec![UnreadableProfile {
                        name: "com.example.filevault".into(),
                        problem: "ProfileInstallDate is neither a string nor a date".into(),
                        carries_escrow: Some(true),
                    }],
                },
                Some(file(WRITTEN, Ok(a.recipient()))),
                (Unknown, false),
            )
        });
        rows.push(Row {
            payload_absent_at: Some(t("2026-06-15T00:00:00Z")),
            ..row(
                "issue 14 review: the payload seen absent after the file was written: a matching recipient is unconfirmed (the key may have changed meanwhile)",
                profiles(AFTER, shown(a.clone())),
                Some(file(WRITTEN, Ok(a.recipient()))),
                (Unconfirmed, true),
            )
        });
        rows.push(Row {
            payload_absent_at: Some(t("2026-05-15T00:00:00Z")),
            ..row(
                "the payload absent before the file was written changes nothing",
                profiles(AFTER, shown(a.clone())),
                Some(file(WRITTEN, Ok(a.recipient()))),
                (Staged, false),
            )
        });
        rows.push(Row {
            payload_absent_at: Some(t("2026-06-15T00:00:00Z")),
            ..row(
                "the payload absent after the file, nothing to compare, the file newer than the profile: unconfirmed",
                profiles(BEFORE, None),
                Some(file(WRITTEN, Ok(a.recipient()))),
                (Unconfirmed, true),
            )
        });
        rows.push(row(
            "issue 14 review: no install date and nothing to compare is unconfirmed, report only",
            ComputerProfiles {
                installed: vec![InstalledProfile {
                    install_date: None,
                    ..profiles(BEFORE, None).installed[0].clone()
                }],
                unreadable: Vec::new(),
            },
            Some(file(WRITTEN, Err(BlobProblem::NotCms("x".into())))),
            (Unconfirmed, false),
        ));
        rows.push(row(
            "no install date, but the recipient matches the certificate: staged",
            ComputerProfiles {
                installed: vec![InstalledProfile {
                    install_date: None,
                    ..profiles(BEFORE, shown(a.clone())).installed[0].clone()
                }],
                unreadable: Vec::new(),
            },
            Some(file(WRITTEN, Ok(a.recipient()))),
            (Staged, false),
        ));
        rows.push(Row {
            remembered: vec![CertMark::of(&cert(MDM, "0A", "key-other"))],
            ..row(
                "issue 14 review: the installed certificate's name was worn by another key before: unconfirmed",
                profiles(AFTER, shown(a.clone())),
                Some(file(WRITTEN, Ok(a.recipient()))),
                (Unconfirmed, true),
            )
        });
        rows.push(Row {
            remembered: vec![CertMark::of(&a)],
            ..row(
                "the installed certificate itself remembered: staged",
                profiles(AFTER, shown(a.clone())),
                Some(file(WRITTEN, Ok(a.recipient()))),
                (Staged, false),
            )
        });
        let mut failures = Vec::new();
        for r in &rows {
            let got = judge(&Seen {
                outside_mdm: r.outside_mdm,
                profiles: r.profiles.as_ref(),
                file: r.file.as_ref().map(Option::as_ref),
                remembered: &r.remembered,
                payload_absent_at: r.payload_absent_at,
                now: checked_at(),
            });
            let short = got.as_ref().map(|j| (j.state, j.may_rotate));
            if short != r.want {
                failures.push(format!("{}: got {got:?}, want {:?}", r.name, r.want));
            }
            if let Some(j) = &got {
                if j.evidence.is_empty() {
                    failures.push(format!("{}: no evidence sentence", r.name));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn the_evidence_names_both_certificates_when_they_differ() {
        let a = cert(MDM, "0A", "key-a");
        let b = cert("CN=Other MDM CA", "01", "key-b");
        let p = profiles(BEFORE, shown(b));
        let f = file(WRITTEN, Ok(a.recipient()));
        let j = judge(&Seen {
            outside_mdm: false,
            profiles: Some(&p),
            file: Some(Some(&f)),
            remembered: &[],
            payload_absent_at: None,
            now: checked_at(),
        })
        .unwrap();
        assert_eq!(
            j.evidence,
            "the escrow file is encrypted to another certificate (issuer=CN=Example MDM CA; serial=0A) than the installed payload's (issuer=CN=Other MDM CA; serial=01)"
        );
    }

    #[test]
    fn the_installed_certificate_is_remembered_once_and_the_oldest_forgotten() {
        let p = |serial: &str| profiles(BEFORE, shown(cert(MDM, serial, "key-a")));
        let mut known = Vec::new();
        for n in 0..REMEMBERED_CERTIFICATES + 2 {
            known = remember(Some(&p(&format!("{n:02X}"))), &known);
            known = remember(Some(&p(&format!("{n:02X}"))), &known);
        }
        assert_eq!(known.len(), REMEMBERED_CERTIFICATES);
        assert_eq!(known[0].serial, "02");
        assert_eq!(known.last().unwrap().serial, "09");
        assert_eq!(remember(None, &known), known);
    }
}
