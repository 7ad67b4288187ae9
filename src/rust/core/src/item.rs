//! The logged items that travel from R's `log_*` calls through the outbox to a sink,
//! and their staged form: numbered, serialised JSON text, grouped by kind.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// The kinds of logged items; within a kind, items are delivered in the order logged.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Kind {
    Metric,
    Parameter,
    Output,
    Rest,
    File,
}

impl Kind {
    pub fn tag(self) -> char {
        match self {
            Kind::Metric => 'm',
            Kind::Parameter => 'p',
            Kind::Output => 'o',
            Kind::Rest => 'r',
            Kind::File => 'f',
        }
    }

    pub fn from_tag(c: &str) -> Option<Kind> {
        match c {
            "m" => Some(Kind::Metric),
            "p" => Some(Kind::Parameter),
            "o" => Some(Kind::Output),
            "r" => Some(Kind::Rest),
            "f" => Some(Kind::File),
            _ => None,
        }
    }
}

/// A REST write waiting to be sent: its endpoint below `/api/rest/v2/` and JSON body.
#[derive(Clone, Debug, PartialEq)]
pub struct RestWrite {
    pub endpoint: String,
    pub body: String,
}

impl RestWrite {
    /// The staged form, `{"e": endpoint, "b": body}` (as the spool stores it).
    pub fn to_staged(&self) -> String {
        json!({"e": self.endpoint, "b": self.body}).to_string()
    }

    pub fn from_staged(json: &str) -> RestWrite {
        let v: Value = serde_json::from_str(json).unwrap_or(Value::Null);
        RestWrite {
            endpoint: v["e"].as_str().unwrap_or("").to_string(),
            body: v["b"].as_str().unwrap_or("{}").to_string(),
        }
    }
}

/// One metric point, kept compact while waiting (a million of them must fit in a few
/// tens of MiB) and turned into JSON only when staged.
#[derive(Clone, Debug)]
pub struct MetricPoint {
    pub name: String,
    pub value: Value,
    pub step: Option<i64>,
    pub epoch: Option<i64>,
    pub context: Option<String>,
    pub timestamp: i64,
}

impl MetricPoint {
    pub fn to_json(&self) -> Value {
        json!({
            "metricName": self.name, "metricValue": self.value, "step": self.step,
            "epoch": self.epoch, "context": self.context, "timestamp": self.timestamp
        })
    }

    /// The staged form: `to_json()` as text, written directly (a history of 100,000
    /// steps is staged point by point).
    pub fn staged(&self) -> String {
        let name = json_string(&self.name);
        let context = self.context.as_deref().map(json_string);
        metric_text(
            &name,
            &self.value,
            self.step,
            self.epoch,
            context.as_deref(),
            self.timestamp,
        )
    }
}

/// A string as a JSON string literal.
fn json_string(s: &str) -> String {
    Value::from(s).to_string()
}

/// The JSON text of a metric point, with the keys in the order serde_json writes
/// `MetricPoint::to_json()` (sorted), so both forms are the same text. `name` and
/// `context` are already JSON string literals.
fn metric_text(
    name: &str,
    value: &Value,
    step: Option<i64>,
    epoch: Option<i64>,
    context: Option<&str>,
    timestamp: i64,
) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(96 + name.len());
    let opt = |x: Option<i64>| x.map_or_else(|| "null".to_string(), |v| v.to_string());
    let _ = write!(
        out,
        "{{\"context\":{},\"epoch\":{},\"metricName\":{},\"metricValue\":{},\"step\":{},\"timestamp\":{}}}",
        context.unwrap_or("null"),
        opt(epoch),
        name,
        value,
        opt(step),
        timestamp
    );
    out
}

/// One column of a `MetricTable`; `None` is a missing value (R's NA).
#[derive(Clone, Debug)]
pub enum MetricColumn {
    Numbers(Vec<Option<f64>>),
    Integers(Vec<Option<i32>>),
    Logicals(Vec<Option<bool>>),
    Texts(Vec<Option<String>>),
}

impl MetricColumn {
    pub fn len(&self) -> usize {
        match self {
            MetricColumn::Numbers(v) => v.len(),
            MetricColumn::Integers(v) => v.len(),
            MetricColumn::Logicals(v) => v.len(),
            MetricColumn::Texts(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn is_missing(&self, i: usize) -> bool {
        match self {
            MetricColumn::Numbers(v) => v[i].is_none(),
            MetricColumn::Integers(v) => v[i].is_none(),
            MetricColumn::Logicals(v) => v[i].is_none(),
            MetricColumn::Texts(v) => v[i].is_none(),
        }
    }

    /// The value at row `i`, with a missing one as Comet's missing number "NaN".
    fn value(&self, i: usize) -> Value {
        let v = match self {
            MetricColumn::Numbers(v) => v[i].map(number),
            MetricColumn::Integers(v) => v[i].map(Value::from),
            MetricColumn::Logicals(v) => v[i].map(Value::from),
            MetricColumn::Texts(v) => v[i].as_deref().map(Value::from),
        };
        v.unwrap_or_else(|| json!("NaN"))
    }
}

/// Many points logged in one call (`log_metrics()` of a data frame: one row per step,
/// one column per metric). It is queued as the columns R gave, which takes a few
/// copies, and made into points only when staged, off R's thread.
#[derive(Clone, Debug)]
pub struct MetricTable {
    pub names: Vec<String>,
    /// As long as `names`, each as long as `steps`.
    pub columns: Vec<MetricColumn>,
    pub steps: Vec<Option<i64>>,
    pub epochs: Vec<Option<i64>>,
    pub context: Option<String>,
    pub timestamp: i64,
    /// Skip missing cells (a metric not measured at that step) instead of sending
    /// them as "NaN".
    pub skip_missing: bool,
}

impl MetricTable {
    fn rows(&self) -> usize {
        self.steps.len()
    }

    /// The number of points it stages.
    pub fn points(&self) -> usize {
        self.columns
            .iter()
            .map(|c| {
                if self.skip_missing {
                    (0..c.len()).filter(|&i| !c.is_missing(i)).count()
                } else {
                    c.len()
                }
            })
            .sum()
    }

    /// Hand each point's staged JSON text to `f`, row by row (the form
    /// `MetricPoint::staged()` gives a point logged alone).
    pub fn each_staged(&self, mut f: impl FnMut(String)) {
        let names: Vec<String> = self.names.iter().map(|n| json_string(n)).collect();
        let context = self.context.as_deref().map(json_string);
        for i in 0..self.rows() {
            let epoch = self.epochs.get(i).copied().flatten();
            for (c, name) in self.columns.iter().zip(&names) {
                if self.skip_missing && c.is_missing(i) {
                    continue;
                }
                f(metric_text(
                    name,
                    &c.value(i),
                    self.steps[i],
                    epoch,
                    context.as_deref(),
                    self.timestamp,
                ));
            }
        }
    }
}

/// A logged item waiting to be staged.
pub enum Entry {
    Metric(MetricPoint),
    Metrics(MetricTable),
    Parameter(Value),
    Output(Value),
    Rest(RestWrite),
    File(FileUpload),
}

impl Entry {
    /// How many items it stages into.
    pub fn items(&self) -> usize {
        match self {
            Entry::Metrics(t) => t.points(),
            _ => 1,
        }
    }

    /// Hand its kind and staged JSON text to `f`: what the spool stores and a sink
    /// receives. A `MetricTable` stages into one item per point.
    pub fn stage(&self, mut f: impl FnMut(Kind, String)) {
        match self {
            Entry::Metric(m) => f(Kind::Metric, m.staged()),
            Entry::Metrics(t) => t.each_staged(|j| f(Kind::Metric, j)),
            Entry::Parameter(v) => f(Kind::Parameter, v.to_string()),
            Entry::Output(v) => f(Kind::Output, v.to_string()),
            Entry::Rest(w) => f(Kind::Rest, w.to_staged()),
            Entry::File(fu) => f(Kind::File, fu.to_staged()),
        }
    }
}

/// Files up to this size are copied aside when logged, so the user may change or delete
/// them at once; larger ones are read in place when sent, and hashed when logged so
/// that a change in between is noticed instead of sent.
pub const COPY_LIMIT: u64 = 10 * 1024 * 1024;

/// A file (or a link to a remote one) logged with the experiment, waiting to be sent.
/// Its staged form is what the spool keeps, so that `send_spool()` in another process
/// can still send it: the path of the copy, or the path, size and SHA-256 of the file
/// to read in place.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FileUpload {
    /// The file to send (the copy when `copied`), or the URI of a remote asset.
    pub source: String,
    /// The path the user gave (for messages); the URI of a remote asset.
    pub original: String,
    pub remote: bool,
    /// `source` is a copy of our own, deleted once the file has been sent.
    pub copied: bool,
    /// `asset`, `image`, `git-patch`, ...
    pub upload_type: String,
    /// The upload's parameters (step, overwrite, context, fileName, ...), a JSON object.
    pub params: Value,
    /// Its metadata as JSON text, or "" for none (kept as text: re-encoding would
    /// reorder its keys).
    pub metadata: String,
    /// For a file read in place: its size and SHA-256 when it was logged.
    pub size: u64,
    pub sha256: String,
}

/// Why a logged file is not sent.
#[derive(Debug, PartialEq)]
pub enum FileProblem {
    /// It changed after it was logged (its bytes now are not those logged).
    Changed(String),
    /// It (or its copy) is gone or unreadable.
    Missing(String),
}

impl FileUpload {
    /// A file to upload: copied into `copy_dir` when small (or `always_copy`), else
    /// hashed to be read in place later. Errors name what is wrong with the file.
    pub fn local(
        path: &str,
        upload_type: &str,
        params: Value,
        metadata: &str,
        copy_dir: &Path,
        always_copy: bool,
    ) -> Result<FileUpload, String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        if !meta.is_file() {
            return Err(format!("{path} is not a file"));
        }
        let mut up = FileUpload {
            source: path.to_string(),
            original: path.to_string(),
            upload_type: upload_type.to_string(),
            params,
            metadata: metadata.to_string(),
            size: meta.len(),
            ..FileUpload::default()
        };
        if always_copy || meta.len() <= COPY_LIMIT {
            // One folder per copy keeps the file's own name, which the upload carries.
            let dir = copy_dir.join(crate::new_id());
            crate::create_private_dir(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let name = Path::new(path)
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_else(|| "file".into());
            let dest = dir.join(name);
            if let Err(e) = std::fs::copy(path, &dest) {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!("cannot copy {path} to {}: {e}", dir.display()));
            }
            up.source = dest.display().to_string();
            up.copied = true;
        } else {
            up.sha256 = crate::transfer::sha256_file(path)?;
        }
        Ok(up)
    }

    /// A link to a remote asset.
    pub fn remote(uri: &str, upload_type: &str, params: Value, metadata: &str) -> FileUpload {
        FileUpload {
            source: uri.to_string(),
            original: uri.to_string(),
            remote: true,
            upload_type: upload_type.to_string(),
            params,
            metadata: metadata.to_string(),
            ..FileUpload::default()
        }
    }

    pub fn to_staged(&self) -> String {
        json!({
            "source": self.source, "original": self.original, "remote": self.remote,
            "copied": self.copied, "type": self.upload_type, "params": self.params,
            "metadata": self.metadata, "size": self.size, "sha256": self.sha256
        })
        .to_string()
    }

    pub fn from_staged(json: &str) -> FileUpload {
        let v: Value = serde_json::from_str(json).unwrap_or(Value::Null);
        let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
        FileUpload {
            source: s("source"),
            original: s("original"),
            remote: v["remote"].as_bool().unwrap_or(false),
            copied: v["copied"].as_bool().unwrap_or(false),
            upload_type: s("type"),
            params: if v["params"].is_object() {
                v["params"].clone()
            } else {
                json!({})
            },
            metadata: s("metadata"),
            size: v["size"].as_u64().unwrap_or(0),
            sha256: s("sha256"),
        }
    }

    /// The asset's name, for messages.
    pub fn name(&self) -> String {
        self.params["fileName"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| {
                Path::new(&self.original)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| self.original.clone())
            })
    }

    /// Where the file waits, for messages about what was not delivered.
    pub fn whereabouts(&self) -> String {
        if self.remote {
            format!("link {}", self.source)
        } else if self.copied {
            format!("{} (copied to {})", self.original, self.source)
        } else {
            format!("{} (read in place when sent)", self.original)
        }
    }

    /// Check, just before sending, that the bytes to send are those logged. Hashing a
    /// large file takes a while: call from a thread that may block.
    pub fn verify(&self) -> Result<(), FileProblem> {
        self.verify_at(Path::new(&self.source))
    }

    /// `verify()` of a copy just made of the file at `path`: what was copied is exactly
    /// what was logged, even if the file changes while it is read.
    pub fn verify_at(&self, path: &Path) -> Result<(), FileProblem> {
        if self.remote {
            return Ok(());
        }
        let meta = match std::fs::metadata(path) {
            Ok(m) if m.is_file() => m,
            _ if self.copied => {
                return Err(FileProblem::Missing(format!(
                    "the copy of {} made when it was logged is gone ({}); it was not sent",
                    self.original, self.source
                )))
            }
            _ => {
                return Err(FileProblem::Missing(format!(
                    "{} was removed after it was logged, before it could be sent",
                    self.original
                )))
            }
        };
        if self.copied {
            return Ok(());
        }
        let same = meta.len() == self.size
            && crate::transfer::sha256_file(&path.to_string_lossy())
                .is_ok_and(|h| h == self.sha256);
        if same {
            Ok(())
        } else {
            Err(FileProblem::Changed(format!(
                "{} changed after it was logged as asset '{}' and before it could be sent; \
                 its new content was not sent (log it again to send it)",
                self.original,
                self.name()
            )))
        }
    }

    /// Remove our copy once the file has been sent (or will never be).
    pub fn discard_copy(&self) {
        if self.copied {
            let p = PathBuf::from(&self.source);
            let _ = std::fs::remove_file(&p);
            if let Some(dir) = p.parent() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }

    /// The upload's parameters as query-string pairs: numbers that are whole without
    /// a decimal point or exponent (JSON from R may say `1e+05`), logicals as
    /// `true`/`false`, nulls left out.
    pub fn query(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Value::Object(m) = &self.params {
            for (k, v) in m {
                let s = match v {
                    Value::Null => continue,
                    Value::String(x) => x.clone(),
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => match n.as_f64() {
                        Some(f) if f == f.trunc() && f.abs() < 9.0e15 => format!("{}", f as i64),
                        _ => n.to_string(),
                    },
                    other => other.to_string(),
                };
                out.push((k.clone(), s));
            }
        }
        out
    }
}

/// Comet's encoding of metric values: numbers as numbers, NaN and infinities as the
/// strings the official SDK sends.
pub fn number(x: f64) -> Value {
    if x.is_nan() {
        json!("NaN")
    } else if x == f64::INFINITY {
        json!("Infinity")
    } else if x == f64::NEG_INFINITY {
        json!("-Infinity")
    } else if x == x.trunc() && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_numbers() {
        assert_eq!(number(f64::NAN), json!("NaN"));
        assert_eq!(number(f64::INFINITY), json!("Infinity"));
        assert_eq!(number(f64::NEG_INFINITY), json!("-Infinity"));
        assert_eq!(number(100000.0), json!(100000));
        assert_eq!(number(0.25), json!(0.25));
    }

    #[test]
    fn a_point_is_staged_as_the_text_of_its_json() {
        let points = [
            MetricPoint {
                name: "lo\"ss\u{e9}\n".into(),
                value: number(0.1),
                step: Some(3),
                epoch: None,
                context: Some("tr\\ain".into()),
                timestamp: 1_700_000_000_123,
            },
            MetricPoint {
                name: "acc".into(),
                value: json!("NaN"),
                step: None,
                epoch: Some(-2),
                context: None,
                timestamp: 0,
            },
        ];
        for p in &points {
            assert_eq!(p.staged(), p.to_json().to_string());
        }
    }

    #[test]
    fn a_table_stages_one_point_per_cell_row_by_row() {
        let table = MetricTable {
            names: vec!["loss".into(), "note".into()],
            columns: vec![
                MetricColumn::Numbers(vec![Some(0.5), None, Some(f64::INFINITY)]),
                MetricColumn::Texts(vec![None, Some("x".into()), None]),
            ],
            steps: vec![Some(10), Some(20), Some(30)],
            epochs: vec![Some(1), None, Some(1)],
            context: Some("fit".into()),
            timestamp: 5,
            skip_missing: true,
        };
        let mut out = Vec::new();
        table.each_staged(|j| out.push(j));
        assert_eq!(table.points(), 3);
        let point = |name: &str, value: Value, step, epoch| {
            MetricPoint {
                name: name.into(),
                value,
                step: Some(step),
                epoch,
                context: Some("fit".into()),
                timestamp: 5,
            }
            .to_json()
            .to_string()
        };
        assert_eq!(
            out,
            vec![
                point("loss", json!(0.5), 10, Some(1)),
                point("note", json!("x"), 20, None),
                point("loss", json!("Infinity"), 30, Some(1)),
            ]
        );
        let kept = MetricTable {
            skip_missing: false,
            ..table
        };
        let mut all = Vec::new();
        kept.each_staged(|j| all.push(j));
        assert_eq!(kept.points(), 6);
        assert_eq!(all[1], point("note", json!("NaN"), 10, Some(1)));
    }

    #[test]
    fn rest_writes_round_trip_through_the_staged_form() {
        let w = RestWrite {
            endpoint: "write/experiment/tags".into(),
            body: "{\"addedTags\":[\"a\"]}".into(),
        };
        assert_eq!(RestWrite::from_staged(&w.to_staged()), w);
        for k in [
            Kind::Metric,
            Kind::Parameter,
            Kind::Output,
            Kind::Rest,
            Kind::File,
        ] {
            assert_eq!(Kind::from_tag(&k.tag().to_string()), Some(k));
        }
    }

    fn temp() -> PathBuf {
        let d = std::env::temp_dir().join(format!("cometr-item-{}", crate::new_id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_small_file_is_copied_and_survives_changes_to_the_original() {
        let d = temp();
        let f = d.join("a.txt");
        std::fs::write(&f, "one").unwrap();
        let up = FileUpload::local(
            f.to_str().unwrap(),
            "asset",
            json!({"fileName": "a.txt", "step": 100000.0, "overwrite": true, "context": null}),
            "{\"b\":1,\"a\":2}",
            &d.join("copies"),
            false,
        )
        .unwrap();
        assert!(up.copied && up.source.ends_with("a.txt") && up.source != up.original);
        std::fs::write(&f, "changed").unwrap();
        let again = FileUpload::from_staged(&up.to_staged());
        assert_eq!(again, up);
        assert_eq!(again.verify(), Ok(()));
        assert_eq!(std::fs::read_to_string(&again.source).unwrap(), "one");
        let mut q = again.query();
        q.sort();
        assert_eq!(
            q,
            vec![
                ("fileName".to_string(), "a.txt".to_string()),
                ("overwrite".to_string(), "true".to_string()),
                ("step".to_string(), "100000".to_string())
            ]
        );
        again.discard_copy();
        assert!(!Path::new(&again.source).exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_large_file_read_in_place_is_checked_for_changes() {
        let d = temp();
        let f = d.join("big.bin");
        std::fs::write(&f, vec![7u8; (COPY_LIMIT + 1) as usize]).unwrap();
        let path = f.to_str().unwrap();
        let up = FileUpload::local(path, "asset", json!({}), "", &d, false).unwrap();
        assert!(!up.copied && up.source == path && up.sha256.len() == 64);
        assert_eq!(up.verify(), Ok(()));
        // Same size, other bytes.
        let mut bytes = std::fs::read(&f).unwrap();
        bytes[10] = 8;
        std::fs::write(&f, &bytes).unwrap();
        assert!(matches!(up.verify(), Err(FileProblem::Changed(m)) if m.contains("big.bin")));
        std::fs::remove_file(&f).unwrap();
        assert!(matches!(up.verify(), Err(FileProblem::Missing(_))));
        assert!(FileUpload::local(path, "asset", json!({}), "", &d, false).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
