//! A tiny XML property-list writer in Apple's layout.
//!
//! Tools on a Mac print plists through CoreFoundation: the XML declaration and DOCTYPE, tab
//! indentation, dictionary keys sorted, `<array/>`/`<dict/>` when empty, and a closing
//! `</plist>` (compare corpus `diskutil-apfs-listcryptousers/fleet-...` and
//! `fdesetup-outputplist/ttg-...`). The simulator writes its own text instead of using the
//! `plist` crate's writer so the layout is under its control; tests parse the result with the
//! `plist` crate. It never parses anything.

/// A property-list value.
#[derive(Debug, Clone, PartialEq)]
pub enum Plist {
    String(String),
    Integer(i64),
    Real(f64),
    Bool(bool),
    /// Written as base64 lines, as CoreFoundation writes `<data>`.
    Data(Vec<u8>),
    Array(Vec<Plist>),
    /// Keys are sorted when written, as CoreFoundation does.
    Dict(Vec<(String, Plist)>),
}

impl Plist {
    pub fn string(s: impl Into<String>) -> Plist {
        Plist::String(s.into())
    }

    pub fn strings<S: AsRef<str>>(items: &[S]) -> Plist {
        Plist::Array(items.iter().map(|s| Plist::string(s.as_ref())).collect())
    }

    pub fn dict<K: Into<String>>(entries: Vec<(K, Plist)>) -> Plist {
        Plist::Dict(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

/// A whole document, ending with a newline.
pub fn document(root: &Plist) -> String {
    let mut out = String::from(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" ",
        "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n",
        "<plist version=\"1.0\">\n"
    ));
    write_value(&mut out, root, 0);
    out.push_str("</plist>\n");
    out
}

fn write_value(out: &mut String, v: &Plist, depth: usize) {
    let pad = "\t".repeat(depth);
    match v {
        Plist::String(s) => out.push_str(&format!("{pad}<string>{}</string>\n", escape(s))),
        Plist::Integer(i) => out.push_str(&format!("{pad}<integer>{i}</integer>\n")),
        Plist::Real(r) => out.push_str(&format!("{pad}<real>{r}</real>\n")),
        Plist::Bool(true) => out.push_str(&format!("{pad}<true/>\n")),
        Plist::Bool(false) => out.push_str(&format!("{pad}<false/>\n")),
        Plist::Data(bytes) => {
            // CoreFoundation keeps a data line within 76 columns, a tab counting as 8, and
            // indents it like the element (e.g. `defaults export`, 56 characters at one tab).
            let width = (76usize.saturating_sub(8 * depth) / 4 * 4).max(16);
            out.push_str(&format!("{pad}<data>\n"));
            let text = base64(bytes);
            for line in text.as_bytes().chunks(width) {
                out.push_str(&pad);
                out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
                out.push('\n');
            }
            out.push_str(&format!("{pad}</data>\n"));
        }
        Plist::Array(items) if items.is_empty() => out.push_str(&format!("{pad}<array/>\n")),
        Plist::Array(items) => {
            out.push_str(&format!("{pad}<array>\n"));
            for item in items {
                write_value(out, item, depth + 1);
            }
            out.push_str(&format!("{pad}</array>\n"));
        }
        Plist::Dict(entries) if entries.is_empty() => out.push_str(&format!("{pad}<dict/>\n")),
        Plist::Dict(entries) => {
            let mut sorted: Vec<&(String, Plist)> = entries.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            out.push_str(&format!("{pad}<dict>\n"));
            for (k, v) in sorted {
                out.push_str(&format!("{pad}\t<key>{}</key>\n", escape(k)));
                write_value(out, v, depth + 1);
            }
            out.push_str(&format!("{pad}</dict>\n"));
        }
    }
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_matches_the_fleet_sample_plus_the_closing_tag() {
        let corpus = include_str!(
            "../fixtures/corpus/diskutil-apfs-listcryptousers/fleet-fixture-plist-volumeowner-mdmrecovery.txt"
        );
        let user = |t: &str, u: &str, owner: bool| {
            Plist::dict(vec![
                ("VolumeOwner", Plist::Bool(owner)),
                ("APFSCryptoUserUUID", Plist::string(u)),
                ("APFSCryptoUserType", Plist::string(t)),
            ])
        };
        let doc = document(&Plist::dict(vec![(
            "Users",
            Plist::Array(vec![
                user(
                    "LocalOpenDirectory",
                    "3C7DB8EE-5EA4-4C18-A7E4-25C6C0F94667",
                    true,
                ),
                user(
                    "PersonalRecovery",
                    "EBC6C064-0000-11AA-AA11-00306543ECAC",
                    true,
                ),
                user("MDMRecovery", "2457711A-523C-4604-B75A-F48A571D5036", false),
            ]),
        )]));
        assert_eq!(doc, format!("{corpus}</plist>\n"));
    }

    #[test]
    fn data_is_base64_in_lines_that_a_plist_reader_takes_back() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        let bytes: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        let doc = document(&Plist::dict(vec![("d", Plist::Data(bytes.clone()))]));
        let data_lines: Vec<&str> = doc
            .lines()
            .skip_while(|l| !l.ends_with("<data>"))
            .skip(1)
            .take_while(|l| !l.ends_with("</data>"))
            .collect();
        assert!(data_lines.len() > 10);
        assert!(
            data_lines
                .iter()
                .all(|l| l.starts_with('\t') && l.len() - 1 + 8 <= 76),
            "{doc}"
        );
        let back = plist::Value::from_reader_xml(doc.as_bytes()).unwrap();
        assert_eq!(
            back.as_dictionary().unwrap().get("d").unwrap().as_data(),
            Some(&bytes[..])
        );
    }

    #[test]
    fn empty_containers_and_special_characters_are_written_like_corefoundation() {
        let doc = document(&Plist::dict(vec![
            ("a", Plist::Array(vec![])),
            ("b", Plist::Dict(vec![])),
            ("c", Plist::string("x < y & z")),
        ]));
        assert!(
            doc.contains("\t<array/>\n\t<key>b</key>\n\t<dict/>\n"),
            "{doc}"
        );
        assert!(doc.contains("<string>x &lt; y &amp; z</string>"), "{doc}");
    }
}
