//! The spool: an append-only file per experiment outbox that holds every logged item
//! until the server has acknowledged it, so nothing is lost when the network or the
//! process fails.
//!
//! Format, one record per line, tab-separated:
//! - `H <json>`: header, `{"experimentKey", "root", "run", "version"}`. Never the API
//!   key. `run` names the outbox's batches (see `sender::Sender::batch_id`).
//! - `<kind> <seq> <json>`: an item; kind `m` metric, `p` parameter, `o` output line,
//!   `r` REST write (`{"e": endpoint, "b": body}`).
//! - `B <kind> <first> <last>`: a batch of that kind was formed from the items `first`
//!   to `last` and is being sent; a replay sends these items as that same batch, with
//!   the same identity, so a server that already applied it does not apply it again.
//! - `A <kind> <seq>`: every item of that kind up to `seq` has been delivered.
//!
//! Within a kind, items are sent in sequence order, so one high-water mark per kind is
//! enough to know what is left.

use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::item::Kind;

pub struct Writer {
    pub path: PathBuf,
    out: BufWriter<std::fs::File>,
}

impl Writer {
    pub fn create(dir: &Path, key: &str, root: &str, run: &str) -> std::io::Result<Writer> {
        if !crate::valid_experiment_key(key) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not an experiment key (1 to 64 letters, digits, `_` or `-`)",
            ));
        }
        std::fs::create_dir_all(dir)?;
        let name = format!("{key}-{}-{}.spool", std::process::id(), crate::new_id());
        let path = dir.join(name);
        let mut opts = std::fs::OpenOptions::new();
        opts.create_new(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(&path)?;
        let mut out = BufWriter::with_capacity(256 * 1024, file);
        let header = json!({"experimentKey": key, "root": root, "run": run, "version": 1});
        writeln!(out, "H\t{header}")?;
        out.flush()?;
        Ok(Writer { path, out })
    }

    pub fn item(&mut self, kind: Kind, seq: u64, json: &str) -> std::io::Result<()> {
        writeln!(self.out, "{}\t{seq}\t{json}", kind.tag())
    }

    /// Note a batch before it is sent (flushed, so that a replay after a crash sends
    /// the same batch).
    pub fn batch(&mut self, kind: Kind, first: u64, last: u64) -> std::io::Result<()> {
        writeln!(self.out, "B\t{}\t{first}\t{last}", kind.tag())?;
        self.out.flush()
    }

    pub fn ack(&mut self, kind: Kind, seq: u64) -> std::io::Result<()> {
        writeln!(self.out, "A\t{}\t{seq}", kind.tag())?;
        self.out.flush()
    }

    /// Hand what is buffered to the operating system, where it survives the process
    /// being killed.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// What a spool file holds that has not been delivered.
#[derive(Debug, Default)]
pub struct Contents {
    pub experiment_key: String,
    pub root: String,
    /// The run that named the batches (empty in spools of earlier versions).
    pub run: String,
    /// Undelivered items in sequence order, with their kind.
    pub items: Vec<(Kind, u64, String)>,
    /// Per kind, the last item of a batch formed but not acknowledged: it is sent
    /// again as the same batch.
    pub bounds: Vec<(Kind, u64)>,
}

/// Parse a spool's text. A torn last line (the process died while writing it) is
/// skipped; so is anything else that does not parse.
pub fn parse(text: &str) -> Result<Contents, String> {
    let mut c = Contents::default();
    let mut acked: HashMap<Kind, u64> = HashMap::new();
    let mut batches: HashMap<Kind, (u64, u64)> = HashMap::new();
    let mut items = Vec::new();
    let mut header = false;
    for line in text.lines() {
        let mut parts = line.splitn(3, '\t');
        let (Some(a), Some(b)) = (parts.next(), parts.next()) else {
            continue;
        };
        let rest = parts.next();
        match a {
            "H" => {
                let v: Value =
                    serde_json::from_str(b).map_err(|e| format!("bad spool header: {e}"))?;
                c.experiment_key = v["experimentKey"].as_str().unwrap_or("").to_string();
                c.root = v["root"].as_str().unwrap_or("").to_string();
                c.run = v["run"].as_str().unwrap_or("").to_string();
                header = true;
            }
            "B" => {
                let mut seqs = rest.unwrap_or("").split('\t').map(|x| x.parse::<u64>());
                if let (Some(k), Some(Ok(first)), Some(Ok(last))) =
                    (Kind::from_tag(b), seqs.next(), seqs.next())
                {
                    batches.insert(k, (first, last));
                }
            }
            "A" => {
                if let (Some(k), Some(s)) =
                    (Kind::from_tag(b), rest.and_then(|r| r.parse::<u64>().ok()))
                {
                    let e = acked.entry(k).or_insert(0);
                    *e = (*e).max(s);
                }
            }
            tag => {
                if let (Some(k), Ok(seq), Some(json)) =
                    (Kind::from_tag(tag), b.parse::<u64>(), rest)
                {
                    if serde_json::from_str::<serde_json::Value>(json).is_ok() {
                        items.push((k, seq, json.to_string()));
                    }
                }
            }
        }
    }
    if !header || c.experiment_key.is_empty() {
        return Err("not a cometr spool file (no header)".into());
    }
    items.retain(|(k, s, _)| acked.get(k).is_none_or(|a| s > a));
    items.sort_by_key(|(_, s, _)| *s);
    c.items = items;
    let mut bounds: Vec<(Kind, u64)> = batches
        .into_iter()
        .filter(|(k, (first, _))| acked.get(k).is_none_or(|a| first > a))
        .map(|(k, (_, last))| (k, last))
        .collect();
    bounds.sort_by_key(|(k, _)| k.tag());
    c.bounds = bounds;
    Ok(c)
}

pub fn read(path: &Path) -> Result<Contents, String> {
    let f =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut text = String::new();
    for line in std::io::BufReader::new(f).lines() {
        match line {
            Ok(l) => {
                text.push_str(&l);
                text.push('\n');
            }
            // A line cut in the middle of a multi-byte character: stop there.
            Err(_) => break,
        }
    }
    parse(&text)
}

/// Items of a spool file with sequence number at least `from`, at most `limit` of them,
/// whatever their acknowledgement (used to reload items spilled to disk, which were
/// never sent).
pub fn read_from(path: &Path, from: u64, limit: usize) -> Vec<(Kind, u64, String)> {
    let Ok(f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
        let mut parts = line.splitn(3, '\t');
        let (Some(tag), Some(seq), Some(json)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if let (Some(k), Ok(s)) = (Kind::from_tag(tag), seq.parse::<u64>()) {
            if s >= from {
                out.push((k, s, json.to_string()));
                if out.len() >= limit {
                    break;
                }
            }
        }
    }
    out
}

/// The spool files in a folder.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "spool"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acked_items_are_dropped_and_order_kept() {
        let text = "H\t{\"experimentKey\":\"k\",\"root\":\"http://h\",\"version\":1}\n\
                    m\t1\t{\"metricValue\":1}\n\
                    p\t2\t{\"parameterValue\":2}\n\
                    m\t3\t{\"metricValue\":3}\n\
                    A\tm\t1\n\
                    r\t4\t{\"e\":\"write/experiment/tags\",\"b\":\"{}\"}\n\
                    m\t5\t{\"metricVal";
        let c = parse(text).unwrap();
        assert_eq!(c.experiment_key, "k");
        assert_eq!(c.root, "http://h");
        let seqs: Vec<u64> = c.items.iter().map(|(_, s, _)| *s).collect();
        assert_eq!(seqs, vec![2, 3, 4]);
        assert_eq!(c.items[0].0, Kind::Parameter);
    }

    proptest::proptest! {
        // A spool torn or corrupted anywhere never makes the reader panic.
        #[test]
        fn any_spool_text_parses_or_errors(t in "\\PC*(\n\\PC*){0,5}") {
            let _ = parse(&format!("H\t{{\"experimentKey\":\"k\"}}\n{t}"));
            let _ = parse(&t);
        }
    }

    #[test]
    fn a_batch_sent_but_not_acknowledged_keeps_its_bounds() {
        let text = "H\t{\"experimentKey\":\"k\",\"root\":\"r\",\"run\":\"x1\"}\n\
                    m\t1\t{}\nm\t2\t{}\nm\t3\t{}\nm\t4\t{}\n\
                    B\tm\t1\t2\nA\tm\t2\nB\tm\t3\t4\n";
        let c = parse(text).unwrap();
        assert_eq!(c.run, "x1");
        assert_eq!(c.bounds, vec![(Kind::Metric, 4)]);
        assert_eq!(c.items.len(), 2);
    }

    #[test]
    fn rejects_files_without_header() {
        assert!(parse("m\t1\t{}\n").is_err());
        assert!(parse("").is_err());
        assert!(parse("H\tnot json").is_err());
    }

    #[test]
    fn a_key_that_is_not_one_makes_no_file() {
        let base =
            std::env::temp_dir().join(format!("cometr-spool-{}", uuid::Uuid::new_v4().simple()));
        let dir = base.join("a").join("spool");
        for key in ["../../x", "..", "a/b", "", "k\\x", &"k".repeat(65)] {
            let e = Writer::create(&dir, key, "http://x", "r").err().unwrap();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        }
        assert!(!base.exists());
        assert!(crate::valid_experiment_key(&"aZ0_-".repeat(12)));
    }

    #[test]
    fn writes_and_reads_back() {
        let dir =
            std::env::temp_dir().join(format!("cometr-spool-{}", uuid::Uuid::new_v4().simple()));
        let mut w = Writer::create(&dir, "abc", "http://x", "run1").unwrap();
        w.item(Kind::Metric, 1, "{\"v\":1}").unwrap();
        w.item(Kind::Metric, 2, "{\"v\":2}").unwrap();
        w.ack(Kind::Metric, 1).unwrap();
        w.flush().unwrap();
        let c = read(&w.path).unwrap();
        assert_eq!(c.items.len(), 1);
        assert_eq!(read_from(&w.path, 1, 10).len(), 2);
        assert_eq!(list(&dir), vec![w.path.clone()]);
        let text = std::fs::read_to_string(&w.path).unwrap();
        assert!(!text.contains("apiKey"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
