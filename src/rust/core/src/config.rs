//! Configuration lookup: environment, then `.comet.yml` in the working directory, then in
//! the home directory.
//!
//! The YAML files are read as plain data by a small reader that only understands what a
//! Comet configuration file holds: a flat mapping of `KEY: scalar`. Tags such as `!expr`
//! are never evaluated; a tagged value is treated as a malformed file.

use std::path::Path;

/// Where a configuration value came from, or why it could not be read.
#[derive(Debug, Default, PartialEq)]
pub struct Lookup {
    pub value: Option<String>,
    pub warnings: Vec<String>,
}

/// Parse one scalar of a flat YAML mapping. Returns `Err` for anything this reader does
/// not accept (tags, flow collections, anchors), so the caller can warn.
fn parse_scalar(raw: &str) -> Result<Option<String>, String> {
    let v = raw.trim();
    if v.is_empty() || v == "~" || v == "null" || v == "Null" || v == "NULL" {
        return Ok(None);
    }
    if v.starts_with('!') || v.starts_with('&') || v.starts_with('*') {
        return Err(format!(
            "unsupported YAML value '{v}' (tags are not evaluated)"
        ));
    }
    if v.starts_with('[') || v.starts_with('{') || v.starts_with('|') || v.starts_with('>') {
        return Err(format!("unsupported YAML value '{v}' (expected a scalar)"));
    }
    if let Some(rest) = v.strip_prefix('"') {
        let end = rest
            .rfind('"')
            .ok_or_else(|| "unterminated double-quoted string".to_string())?;
        let mut out = String::new();
        let mut chars = rest[..end].chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('\\') => out.push('\\'),
                    Some('"') => out.push('"'),
                    Some(o) => {
                        out.push('\\');
                        out.push(o)
                    }
                    None => out.push('\\'),
                }
            } else {
                out.push(c);
            }
        }
        return Ok(Some(out));
    }
    if let Some(rest) = v.strip_prefix('\'') {
        let end = rest
            .rfind('\'')
            .ok_or_else(|| "unterminated single-quoted string".to_string())?;
        return Ok(Some(rest[..end].replace("''", "'")));
    }
    // A plain scalar ends at a comment.
    let plain = match v.find(" #") {
        Some(i) => v[..i].trim_end(),
        None => v,
    };
    Ok(Some(plain.to_string()))
}

/// Parse the text of a configuration file into (key, value) pairs.
pub fn parse_yaml_mapping(text: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_end();
        let content = trimmed.trim_start();
        if content.is_empty() || content.starts_with('#') || content == "---" || content == "..." {
            continue;
        }
        if trimmed.len() != content.len() {
            return Err(format!(
                "line {}: nested values are not supported in a cometr config file",
                i + 1
            ));
        }
        let Some(colon) = find_key_colon(content) else {
            return Err(format!("line {}: expected 'KEY: value'", i + 1));
        };
        let key = content[..colon].trim();
        let key = key.trim_matches('"').trim_matches('\'');
        if key.is_empty() {
            return Err(format!("line {}: empty key", i + 1));
        }
        let value =
            parse_scalar(&content[colon + 1..]).map_err(|e| format!("line {}: {e}", i + 1))?;
        out.push((key.to_string(), value));
    }
    Ok(out)
}

/// The colon that separates a key from its value: followed by a space or the end of line.
fn find_key_colon(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    (0..bytes.len()).find(|&i| bytes[i] == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' '))
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
    let text = match std::fs::read_to_string(&yml) {
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
        ] {
            let _ = parse_yaml_mapping(s);
        }
    }
}
