//! Configuration lookup: environment, then `.comet.yml` in the working directory, then in
//! the home directory.
//!
//! The YAML files are read by yaml-rust2's event parser as plain data: a Comet
//! configuration file is a flat mapping of `KEY: scalar`. Tags such as `!expr` are
//! never evaluated: a tagged node makes the whole file malformed (warned about and
//! ignored), as does a nested value. Anchors and aliases of scalars are resolved, with
//! the text aliases add up to bounded, and files over `MAX_FILE_BYTES` are refused
//! unread, so no file can make a lookup slow or large.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use yaml_rust2::parser::{Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::Event;

/// The largest configuration file read (a real one is a few hundred bytes).
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// The most text that aliases may copy, in bytes: bounds "billion laughs" expansion.
pub const MAX_ALIAS_BYTES: usize = 1 << 20;

/// Where a configuration value came from, or why it could not be read.
#[derive(Debug, Default, PartialEq)]
pub struct Lookup {
    pub value: Option<String>,
    pub warnings: Vec<String>,
}

fn at(mark: &Marker, what: impl std::fmt::Display) -> String {
    format!("line {}: {what}", mark.line())
}

fn tag_error(mark: &Marker, tag: &Tag) -> String {
    at(
        mark,
        format!(
            "unsupported YAML tag '{}{}' (tags are not evaluated)",
            tag.handle, tag.suffix
        ),
    )
}

/// A scalar's value: plain `~`, `null` (any case YAML allows) and empty are no value.
fn scalar_value(text: String, style: TScalarStyle) -> Option<String> {
    let null = matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL");
    if style == TScalarStyle::Plain && null {
        None
    } else {
        Some(text)
    }
}

/// Reads one scalar (a key or a value) from the event stream, resolving aliases.
struct Reader<'a> {
    parser: Parser<std::str::Chars<'a>>,
    /// Anchored scalars by anchor id.
    anchors: HashMap<usize, Option<String>>,
    alias_bytes: usize,
}

impl Reader<'_> {
    fn next(&mut self) -> Result<(Event, Marker), String> {
        self.parser.next_token().map_err(|e| e.to_string())
    }

    /// The scalar of `ev`; anything else (a collection, a tag) is an error.
    fn scalar(&mut self, ev: Event, mark: &Marker) -> Result<Option<String>, String> {
        match ev {
            Event::Scalar(_, _, _, Some(tag))
            | Event::MappingStart(_, Some(tag))
            | Event::SequenceStart(_, Some(tag)) => Err(tag_error(mark, &tag)),
            Event::Scalar(text, style, anchor, None) => {
                let v = scalar_value(text, style);
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            Event::Alias(id) => {
                let v = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| at(mark, "an alias must refer to an earlier scalar"))?;
                self.alias_bytes += v.as_ref().map_or(0, |s| s.len());
                if self.alias_bytes > MAX_ALIAS_BYTES {
                    return Err(at(mark, "aliases expand to too much text"));
                }
                Ok(v)
            }
            _ => Err(at(
                mark,
                "nested values are not supported in a cometr config file",
            )),
        }
    }
}

/// Parse the text of a configuration file into (key, value) pairs, in file order
/// (several documents are read one after the other).
pub fn parse_yaml_mapping(text: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let mut r = Reader {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        alias_bytes: 0,
    };
    let mut out = Vec::new();
    loop {
        let (ev, mark) = r.next()?;
        match ev {
            Event::StreamEnd => return Ok(out),
            Event::StreamStart | Event::DocumentStart | Event::DocumentEnd | Event::Nothing => {}
            // An empty document.
            Event::Scalar(ref t, TScalarStyle::Plain, _, None) if t.is_empty() => {}
            Event::MappingStart(_, None) => loop {
                let (ev, mark) = r.next()?;
                if ev == Event::MappingEnd {
                    break;
                }
                let key = r
                    .scalar(ev, &mark)?
                    .filter(|k| !k.is_empty())
                    .ok_or_else(|| at(&mark, "empty key"))?;
                let (ev, mark) = r.next()?;
                let value = r.scalar(ev, &mark)?;
                out.push((key, value));
            },
            Event::MappingStart(_, Some(tag))
            | Event::SequenceStart(_, Some(tag))
            | Event::Scalar(_, _, _, Some(tag)) => return Err(tag_error(&mark, &tag)),
            _ => return Err(at(&mark, "expected 'KEY: value'")),
        }
    }
}

/// The text of a configuration file: at most `MAX_FILE_BYTES`, and UTF-8.
fn read_config(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "{} is larger than {} KiB, too large for a configuration file",
            path.display(),
            MAX_FILE_BYTES / 1024
        ));
    }
    String::from_utf8(bytes).map_err(|_| format!("{} is not valid UTF-8 text", path.display()))
}

/// Look a key up in one directory's `.comet.yml`.
fn lookup_file(dir: &Path, key: &str, warnings: &mut Vec<String>) -> Option<String> {
    let yml = dir.join(".comet.yml");
    if !yml.exists() {
        let yaml = dir.join(".comet.yaml");
        if yaml.exists() {
            warnings.push(format!(
                "While looking for config file at path: {}\n  Found file with .yaml extension: {}\n  cometr requires a .yml extension for configuration files.\n  Please change the file extension to .yml.",
                yml.display(),
                yaml.display()
            ));
        }
        return None;
    }
    let text = match read_config(&yml) {
        Ok(t) => t,
        Err(e) => {
            warnings.push(format!("Error trying to read from config file: {e}"));
            return None;
        }
    };
    match parse_yaml_mapping(&text) {
        Ok(pairs) => pairs
            .into_iter()
            .rev()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v)
            .filter(|v| !v.is_empty()),
        Err(e) => {
            warnings.push(format!("Error trying to read from config file: {e}"));
            None
        }
    }
}

/// Resolve one key: environment (empty counts as unset), then `<cwd>/.comet.yml`, then
/// `<home>/.comet.yml`.
pub fn lookup(key: &str, cwd: &str, home: &str) -> Lookup {
    let mut warnings = Vec::new();
    if let Ok(v) = std::env::var(key) {
        if !v.is_empty() {
            return Lookup {
                value: Some(v),
                warnings,
            };
        }
    }
    for dir in [cwd, home] {
        if dir.is_empty() {
            continue;
        }
        if let Some(v) = lookup_file(Path::new(dir), key, &mut warnings) {
            return Lookup {
                value: Some(v),
                warnings,
            };
        }
    }
    Lookup {
        value: None,
        warnings,
    }
}

/// Turn a configured URL override into the server root: strip a trailing `/clientlib`
/// (with or without slash) and any trailing slashes.
pub fn url_root(url: &str) -> String {
    let mut u = url.trim().trim_end_matches('/').to_string();
    if let Some(s) = u.strip_suffix("/clientlib") {
        u = s.trim_end_matches('/').to_string();
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_flat_mapping() {
        let p = parse_yaml_mapping(
            "# comment\nCOMET_API_KEY: abc\nCOMET_WORKSPACE: \"w s\"\nCOMET_PROJECT_NAME: 'p''q' # c\nEMPTY:\n",
        )
        .unwrap();
        assert_eq!(p[0], ("COMET_API_KEY".into(), Some("abc".into())));
        assert_eq!(p[1], ("COMET_WORKSPACE".into(), Some("w s".into())));
        assert_eq!(p[2], ("COMET_PROJECT_NAME".into(), Some("p'q".into())));
        assert_eq!(p[3], ("EMPTY".into(), None));
    }

    #[test]
    fn never_evaluates_tags() {
        assert!(parse_yaml_mapping("COMET_API_KEY: !expr system('touch /tmp/x')").is_err());
        assert!(parse_yaml_mapping("COMET_WORKSPACE workspace_error").is_err());
        assert!(parse_yaml_mapping("A:\n  b: 1").is_err());
    }

    #[test]
    fn refuses_every_tag() {
        for text in [
            "COMET_API_KEY: !expr system('touch /tmp/x')",
            "COMET_API_KEY: !!str abc",
            "COMET_API_KEY: !<tag:yaml.org,2002:str> abc",
            "!!map\nA: 1",
            "--- !expr\nA: 1",
            "!expr A: 1",
            "A: !!seq [1]",
            "A: 1\n---\nB: !expr x",
        ] {
            let e = parse_yaml_mapping(text).unwrap_err();
            assert!(e.contains("tag") || e.contains("expected"), "{text:?}: {e}");
        }
    }

    #[test]
    fn resolves_anchors_and_aliases_of_scalars() {
        let p = parse_yaml_mapping("A: &w workspace\nB: *w\nC: &n ~\nD: *n").unwrap();
        assert_eq!(
            p,
            vec![
                ("A".into(), Some("workspace".into())),
                ("B".into(), Some("workspace".into())),
                ("C".into(), None),
                ("D".into(), None),
            ]
        );
        // An alias as a key, an alias before its anchor, an alias of a collection.
        assert_eq!(
            parse_yaml_mapping("&k A: 1\n*k : 2").unwrap(),
            vec![
                ("A".into(), Some("1".into())),
                ("A".into(), Some("2".into()))
            ]
        );
        assert!(parse_yaml_mapping("A: *nothing").is_err());
        assert!(parse_yaml_mapping("A: &l [1, 2]\nB: *l").is_err());
    }

    #[test]
    fn bounds_alias_expansion() {
        // A "billion laughs" in the only shape this reader accepts: many aliases of one
        // long scalar. Each alias copies the text, so the copies are counted.
        let long = "x".repeat(10_000);
        let mut text = format!("A: &a {long}\n");
        for i in 0..200 {
            text.push_str(&format!("K{i}: *a\n"));
        }
        let e = parse_yaml_mapping(&text).unwrap_err();
        assert!(e.contains("too much"), "{e}");
        // The classic nested form is refused at its first collection.
        let bomb = "a: &a [\"lol\",\"lol\"]\nb: &b [*a,*a,*a]\nc: &c [*b,*b,*b]\n";
        assert!(parse_yaml_mapping(bomb).is_err());
        // Deep nesting does not recurse.
        let deep = format!("A: {}", "[".repeat(100_000));
        assert!(parse_yaml_mapping(&deep).is_err());
    }

    fn temp_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("cometr-config-test-{}", crate::new_id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn refuses_huge_and_non_utf8_files() {
        let dir = temp_dir();
        let yml = dir.join(".comet.yml");
        let mut huge = String::from("COMET_WORKSPACE: w\n");
        while huge.len() as u64 <= MAX_FILE_BYTES {
            huge.push_str("# padding padding padding padding padding padding padding\n");
        }
        std::fs::write(&yml, &huge).unwrap();
        let l = lookup("COMET_CFG_TEST_NOT_SET", dir.to_str().unwrap(), "");
        assert_eq!(l.value, None);
        assert!(l.warnings[0].contains("too large"), "{:?}", l.warnings);

        std::fs::write(&yml, b"COMET_WORKSPACE: w\xff\xfe\n").unwrap();
        let mut warnings = Vec::new();
        assert_eq!(lookup_file(&dir, "COMET_WORKSPACE", &mut warnings), None);
        assert!(warnings[0].contains("not valid UTF-8"), "{warnings:?}");

        std::fs::write(&yml, "COMET_WORKSPACE: w\n").unwrap();
        let mut warnings = Vec::new();
        assert_eq!(
            lookup_file(&dir, "COMET_WORKSPACE", &mut warnings),
            Some("w".into())
        );
        assert!(warnings.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn url_roots() {
        assert_eq!(url_root("http://h/clientlib"), "http://h");
        assert_eq!(url_root("http://h/clientlib/"), "http://h");
        assert_eq!(url_root("https://host/"), "https://host");
        assert_eq!(url_root("http://h/clientlib/x"), "http://h/clientlib/x");
        assert_eq!(
            url_root("https://www.comet.com/clientlib/"),
            "https://www.comet.com"
        );
    }

    proptest::proptest! {
        // Whatever a .comet.yml holds, reading it never panics and never yields a
        // value for a line it could not parse.
        #[test]
        fn any_text_parses_or_errors(text in "\\PC*(\n\\PC*){0,8}") {
            let _ = parse_yaml_mapping(&text);
        }

        #[test]
        fn plain_pairs_round_trip(key in "[A-Z_]{1,20}", value in "[a-zA-Z0-9_./:-]{1,40}") {
            let text = format!("{key}: \"{value}\"\n");
            let parsed = parse_yaml_mapping(&text).unwrap();
            proptest::prop_assert_eq!(parsed, vec![(key, Some(value))]);
        }

        #[test]
        fn tags_are_never_values(key in "[A-Z_]{1,20}", tag in "![a-z]{1,8}", rest in "[ -~]{0,30}") {
            let text = format!("{} : {} {}", key, tag, rest).replacen(" :", ":", 1);
            let parsed = parse_yaml_mapping(&text);
            proptest::prop_assert!(parsed.is_err());
        }
    }

    #[test]
    fn parses_anything_without_panicking() {
        for s in [
            "",
            ":",
            ": :",
            "a:b",
            "\"",
            "k: \"unterminated",
            "k: 'x",
            "\u{0}: \u{1}",
            "\u{feff}A: 1",
            "A: 'x\n",
            "? A\n: B",
            "%YAML 1.2\n---\nA: 1",
            "A: |\n  x\n",
        ] {
            let _ = parse_yaml_mapping(s);
        }
    }
}
