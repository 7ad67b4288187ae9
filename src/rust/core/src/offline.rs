//! Offline experiments, in Comet's own archive format (wire protocol §4).
//!
//! While a run goes on, it is recorded in a run folder `<offline dir>/<key>/`:
//! `messages.json` (JSON Lines, one `{"payload":…,"type":…}` per logged item, appended
//! and flushed each time the outbox hands over a batch, every ~100 ms, so a killed
//! process loses little), `experiment.json` (rewritten atomically whenever something
//! was recorded), copies of the uploaded files, and `cometr-artifacts.json` (artifacts,
//! which Comet's format has no message for: written by R/offline.R, logged by
//! `upload_offline()` after the messages, ignored by `comet upload`). The writer is
//! the offline sink (`Archive`) of the experiment's outbox. At stop the folder is zipped into `<offline dir>/<key>.zip`,
//! which `comet upload` accepts. `replay()` sends the messages of an archive (or of a
//! run folder a killed process left behind) through the endpoints `comet upload` uses.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::http::Request;
use crate::item::{FileProblem, FileUpload, Kind, RestWrite};
use crate::sink::{self, BoxFuture, Delivery, Sink};
use crate::{new_id, now_ms, retry};

pub const MESSAGES: &str = "messages.json";
pub const EXPERIMENT: &str = "experiment.json";
/// Written while a process records into a run folder: its pid.
pub const LOCK: &str = ".cometr-lock";

fn io_err(what: &str, path: &Path, e: impl std::fmt::Display) -> String {
    format!("cannot {what} {}: {e}", path.display())
}

/// How stale experiment.json may get while messages are recorded: it is rewritten at
/// most this often (at once when tags or times change, and at the end), so a run of many
/// small writes does not rewrite it for each one.
const META_EVERY: Duration = Duration::from_millis(100);

/// The archive writer of one offline experiment.
pub struct Writer {
    pub key: String,
    /// The run folder.
    pub dir: PathBuf,
    messages: BufWriter<File>,
    next_id: u64,
    project: Option<String>,
    workspace: Option<String>,
    start_time: i64,
    end_time: Option<i64>,
    tags: Vec<String>,
    finished: Option<PathBuf>,
    /// When experiment.json was last written, and whether tags or times changed since.
    meta_written: Instant,
    meta_changed: bool,
    /// The error a run ended with (reported as crashed), for `experiment.json`.
    crashed: Option<String>,
}

impl Writer {
    pub fn create(
        offline_dir: &Path,
        key: &str,
        project: Option<String>,
        workspace: Option<String>,
    ) -> Result<Writer, String> {
        if !crate::valid_experiment_key(key) {
            return Err(format!(
                "{key:?} is not an experiment key (1 to 64 letters, digits, `_` or `-`)"
            ));
        }
        crate::create_private_dir(offline_dir).map_err(|e| io_err("create", offline_dir, e))?;
        let dir = offline_dir.join(key);
        crate::create_private_dir(&dir).map_err(|e| io_err("create", &dir, e))?;
        fs::write(dir.join(LOCK), std::process::id().to_string())
            .map_err(|e| io_err("write", &dir, e))?;
        let path = dir.join(MESSAGES);
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_err("create", &path, e))?;
        let w = Writer {
            key: key.to_string(),
            dir,
            messages: BufWriter::new(file),
            next_id: 1,
            project,
            workspace,
            start_time: now_ms(),
            end_time: None,
            tags: Vec::new(),
            finished: None,
            meta_written: Instant::now(),
            meta_changed: false,
            crashed: None,
        };
        w.write_meta(now_ms())?;
        Ok(w)
    }

    fn write_meta(&self, stop: i64) -> Result<(), String> {
        let meta = json!({
            "offline_id": self.key, "project_name": self.project, "workspace": self.workspace,
            "start_time": self.start_time, "stop_time": self.end_time.unwrap_or(stop).max(self.start_time),
            "tags": self.tags, "resume_strategy": "create", "customer_error_reported": self.crashed.is_some(),
            "customer_error_message": self.crashed, "user_provided_experiment_key": false,
            "comet_start_sourced": false
        });
        let tmp = self.dir.join(format!("{EXPERIMENT}.tmp"));
        fs::write(&tmp, meta.to_string()).map_err(|e| io_err("write", &tmp, e))?;
        fs::rename(&tmp, self.dir.join(EXPERIMENT)).map_err(|e| io_err("write", &tmp, e))
    }

    fn message(&mut self, ty: &str, payload: Value) -> Result<(), String> {
        let mut payload = match payload {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        // The SDK omits null top-level fields (nulls inside nested objects stay).
        payload.retain(|_, v| !v.is_null());
        payload.insert("message_id".into(), json!(self.next_id));
        self.next_id += 1;
        let line = json!({"payload": Value::Object(payload), "type": ty});
        writeln!(self.messages, "{line}").map_err(|e| io_err("write", &self.dir, e))
    }

    /// Record a batch of staged items of one kind, then make them durable.
    pub fn record(&mut self, kind: Kind, items: &[(u64, String)]) -> Result<(), String> {
        let mut first_err = None;
        for (_, json) in items {
            for (ty, payload) in self.convert(kind, json) {
                if let Err(err) = self.message(ty, payload) {
                    first_err.get_or_insert(err);
                }
            }
        }
        self.sync(false)?;
        first_err.map_or(Ok(()), Err)
    }

    /// Hand the messages to the operating system (where they survive the process being
    /// killed) and refresh experiment.json when it is due, or always with `force`.
    fn sync(&mut self, force: bool) -> Result<(), String> {
        self.messages
            .flush()
            .map_err(|e| io_err("write", &self.dir, e))?;
        if force || self.meta_changed || self.meta_written.elapsed() >= META_EVERY {
            self.write_meta(now_ms())?;
            self.meta_written = Instant::now();
            self.meta_changed = false;
        }
        Ok(())
    }

    /// The offline messages of one staged item (tags and times go to experiment.json).
    fn convert(&mut self, kind: Kind, staged: &str) -> Vec<(&'static str, Value)> {
        if kind == Kind::Rest {
            let w = RestWrite::from_staged(staged);
            let body: Value = serde_json::from_str(&w.body).unwrap_or(json!({}));
            return self.convert_rest(&w.endpoint, &body);
        }
        let v: Value = serde_json::from_str(staged).unwrap_or(Value::Null);
        let f = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
        match kind {
            Kind::Metric => vec![(
                "metric_msg",
                json!({
                    "local_timestamp": f("timestamp"), "context": f("context"),
                    "metric": {"metricName": f("metricName"),
                               "metricValue": scalar(&f("metricValue")),
                               "step": f("step"), "epoch": f("epoch")}
                }),
            )],
            Kind::Parameter => {
                let value = v.get("parameterValue").cloned().unwrap_or(Value::Null);
                let field = if value.is_array() { "params" } else { "param" };
                let mut p = json!({
                    "local_timestamp": v.get("timestamp").cloned().unwrap_or(json!(now_ms())),
                    "context": v.get("context").cloned().unwrap_or(Value::Null),
                });
                p[field] = json!({
                    "paramName": v.get("parameterName").cloned().unwrap_or(json!("")),
                    "paramValue": value, "step": v.get("step").cloned().unwrap_or(Value::Null),
                    "source": v.get("source").cloned().unwrap_or(json!("manual"))
                });
                vec![("parameter_msg", p)]
            }
            _ => vec![(
                "standard_output",
                json!({
                    "output": v.get("output").cloned().unwrap_or(json!("")),
                    "stderr": v.get("stderr").and_then(|x| x.as_bool()).unwrap_or(false),
                    "local_timestamp": v.get("localTimestamp").cloned().unwrap_or(json!(now_ms())),
                }),
            )],
        }
    }

    fn convert_rest(&mut self, endpoint: &str, b: &Value) -> Vec<(&'static str, Value)> {
        let f = |k: &str| b.get(k).cloned().unwrap_or(Value::Null);
        match endpoint {
            "write/experiment/log-other" => {
                vec![("log_other", json!({"key": f("key"), "value": f("value")}))]
            }
            "write/experiment/tags" => {
                for t in f("addedTags").as_array().into_iter().flatten() {
                    if let Some(t) = t.as_str() {
                        if !self.tags.iter().any(|x| x == t) {
                            self.tags.push(t.to_string());
                            self.meta_changed = true;
                        }
                    }
                }
                Vec::new()
            }
            "write/experiment/html" => {
                if f("override").as_bool() == Some(true) {
                    vec![("htmlOverride", json!({"htmlOverride": f("html")}))]
                } else {
                    vec![("html", json!({"html": f("html")}))]
                }
            }
            "write/experiment/graph" => vec![("graph", json!({"graph": f("graph")}))],
            "write/experiment/git/metadata" => {
                let mut g = Map::new();
                for k in ["user", "root", "branch", "parent", "origin"] {
                    g.insert(k.into(), f(k));
                }
                vec![("git_metadata", json!({ "git_metadata": g }))]
            }
            "write/experiment/set-start-end-time" => {
                if let Some(s) = f("startTimeMillis").as_f64() {
                    self.start_time = s as i64;
                    self.meta_changed = true;
                }
                if let Some(e) = f("endTimeMillis").as_f64() {
                    self.end_time = Some(e as i64);
                    self.meta_changed = true;
                }
                Vec::new()
            }
            // The run ended in an error: the SDK keeps it in experiment.json, and the
            // upload reports it (a report of an error the run survived is not kept).
            "write/experiment/update-status" => {
                if f("hasCrashed").as_bool() == Some(true) {
                    self.crashed = Some(f("error").as_str().unwrap_or("").to_string());
                    self.meta_changed = true;
                }
                Vec::new()
            }
            "write/experiment/system-details" => system_details_messages(b),
            "write/experiment/file-path" => {
                vec![("file_name", json!({"file_name": f("filePath")}))]
            }
            "write/experiment/code" => {
                let code = match f("code") {
                    Value::String(s) => s,
                    Value::Array(a) => a
                        .iter()
                        .map(|x| x.as_str().unwrap_or("").to_string())
                        .collect::<Vec<_>>()
                        .join("\n"),
                    _ => String::new(),
                };
                match self.store_bytes(code.as_bytes(), ".R") {
                    Ok(name) => vec![(
                        "file_upload",
                        upload_payload(
                            &name,
                            "source_code",
                            json!({"fileName": "code.R", "context": null, "step": null,
                                   "overwrite": true, "assetId": new_id(),
                                   "type": "source_code"}),
                            json!({"source_code_type": "manual"}),
                        ),
                    )],
                    Err(_) => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    fn store_bytes(&self, bytes: &[u8], ext: &str) -> Result<String, String> {
        let name = format!("tmp{}{ext}", &new_id()[..12]);
        let path = self.dir.join(&name);
        fs::write(&path, bytes).map_err(|e| io_err("write", &path, e))?;
        Ok(name)
    }

    /// Record the upload of a file already copied into the run folder.
    fn add_copied(
        &mut self,
        dest: &Path,
        upload_type: &str,
        params: Value,
        metadata: Value,
    ) -> Result<(), String> {
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.message(
            "file_upload",
            upload_payload(
                &name,
                upload_type,
                with_asset_id(params, upload_type),
                metadata,
            ),
        )?;
        self.sync(false)
    }

    /// Record a remote asset (a link).
    pub fn add_remote(
        &mut self,
        uri: &str,
        upload_type: &str,
        params: Value,
        metadata: Value,
    ) -> Result<(), String> {
        let mut params = with_asset_id(params, upload_type);
        params["isRemote"] = json!(true);
        self.message(
            "remote_file",
            json!({"additional_params": params, "metadata": object_or_empty(metadata),
                   "remote_uri": uri, "upload_type": upload_type,
                   "local_timestamp": now_ms()}),
        )?;
        self.sync(false)
    }

    /// Record a logged file (copied into the run folder, then checked to be the file
    /// logged) or link, with the parameters Comet's format gives them: the type apart,
    /// `overwrite` always present. The inner error is a file not to record.
    pub fn add_upload(&mut self, f: &FileUpload) -> Result<Result<(), FileProblem>, String> {
        let mut params = match &f.params {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        params.remove("type");
        let overwrite = params.get("overwrite").and_then(|v| v.as_bool()) == Some(true);
        params.insert("overwrite".into(), json!(overwrite));
        if f.upload_type == "git-patch" {
            params.insert("fileName".into(), json!("git_diff.patch"));
            params.insert("overwrite".into(), json!(true));
        }
        let metadata = serde_json::from_str(&f.metadata).unwrap_or(json!({}));
        let upload_type = if f.upload_type.is_empty() {
            "asset"
        } else {
            &f.upload_type
        };
        if f.remote {
            return self
                .add_remote(&f.source, upload_type, Value::Object(params), metadata)
                .map(Ok);
        }
        let src = Path::new(&f.source);
        // A file gone is said so (hashing the file here would only read it twice).
        if !src.is_file() {
            if let Err(p) = f.verify() {
                return Ok(Err(p));
            }
        }
        let dest = self.dir.join(temp_name(src));
        fs::copy(src, &dest).map_err(|e| io_err("copy", src, e))?;
        if let Err(p) = f.verify_at(&dest) {
            let _ = fs::remove_file(&dest);
            return Ok(Err(p));
        }
        self.add_copied(&dest, upload_type, Value::Object(params), metadata)
            .map(Ok)
    }

    /// Write the final experiment.json and zip the run folder. Returns the archive.
    pub fn finish(&mut self) -> Result<PathBuf, String> {
        if let Some(p) = &self.finished {
            return Ok(p.clone());
        }
        self.sync(true)?;
        let _ = fs::remove_file(self.dir.join(LOCK));
        let archive = pack(&self.dir)?;
        self.finished = Some(archive.clone());
        Ok(archive)
    }
}

/// The offline sink: an experiment's archive writer, which the outbox hands its
/// batches to instead of a server.
pub struct Archive(Mutex<Writer>);

impl Archive {
    pub fn new(w: Writer) -> Archive {
        Archive(Mutex::new(w))
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Sink for Archive {
    fn deliver<'a>(
        &'a self,
        kind: Kind,
        items: &'a [(u64, String)],
        _deadline: Instant,
    ) -> BoxFuture<'a, Delivery> {
        // A local file: written at once, nothing to wait for or retry.
        let result = if kind == Kind::File {
            let f = FileUpload::from_staged(items.first().map(|(_, j)| j.as_str()).unwrap_or(""));
            match self.writer().add_upload(&f) {
                Ok(Err(p)) => return Box::pin(async move { sink::file_problem(p) }),
                Ok(Ok(())) => Ok(()),
                Err(e) => Err(e),
            }
        } else {
            self.writer().record(kind, items)
        };
        Box::pin(async move {
            match result {
                Ok(()) => Delivery::Delivered,
                Err(e) => Delivery::Refused(format!("cannot write the offline archive: {e}")),
            }
        })
    }

    fn finish(&self) -> Result<Option<PathBuf>, String> {
        self.writer().finish().map(Some)
    }
}

/// Offline metric values are numbers or strings.
fn scalar(v: &Value) -> Value {
    match v {
        Value::Number(_) | Value::String(_) => v.clone(),
        Value::Null => json!("NaN"),
        other => json!(other.to_string()),
    }
}

fn object_or_empty(v: Value) -> Value {
    if v.is_object() {
        v
    } else {
        json!({})
    }
}

/// The name of a file's copy in the run folder: `tmp<random><its extension>`, as the
/// SDK names them.
fn temp_name(src: &Path) -> String {
    let ext = src
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    format!("tmp{}{ext}", &new_id()[..12])
}

fn with_asset_id(mut params: Value, upload_type: &str) -> Value {
    if !params.is_object() {
        params = json!({});
    }
    // As the SDK does, a type more specific than "asset" travels in the parameters too:
    // `comet upload` sends them as the query string.
    if upload_type != "asset" {
        params["type"] = json!(upload_type);
    }
    for k in ["context", "step"] {
        if params.get(k).is_none() {
            params[k] = Value::Null;
        }
    }
    if params.get("assetId").and_then(|v| v.as_str()).is_none() {
        params["assetId"] = json!(new_id());
    }
    params
}

fn upload_payload(file: &str, upload_type: &str, params: Value, metadata: Value) -> Value {
    json!({"additional_params": params, "clean": true, "file_path": file,
           "local_timestamp": now_ms(), "metadata": object_or_empty(metadata),
           "upload_type": upload_type})
}

/// cometr's one system-details write becomes the SDK's several messages.
fn system_details_messages(b: &Value) -> Vec<(&'static str, Value)> {
    let s = |k: &str| b.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let strings = |k: &str| -> Vec<String> {
        match b.get(k) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            Some(Value::String(x)) => vec![x.clone()],
            _ => Vec::new(),
        }
    };
    let mut out = Vec::new();
    let main = [
        "command",
        "executable",
        "hostname",
        "ip",
        "os",
        "osType",
        "pid",
        "user",
        "pythonVersion",
        "pythonVersionVerbose",
        "networkInterfaceIps",
    ];
    if main.iter().any(|k| b.get(*k).is_some_and(|v| !v.is_null())) {
        out.push((
            "system_details",
            json!({
                "command": strings("command"), "env": {}, "hostname": s("hostname"),
                "ip": s("ip"), "machine": "", "os": s("os"), "os_release": "",
                "os_type": s("osType"),
                "pid": b.get("pid").and_then(|v| v.as_f64()).map(|p| p as i64).unwrap_or(0),
                "processor": "", "python_exe": s("executable"),
                "python_version": s("pythonVersion"),
                "python_version_verbose": s("pythonVersionVerbose"), "user": s("user"),
                "network_interfaces_ips": strings("networkInterfaceIps"),
            }),
        ));
    }
    if b.get("installedPackages").is_some_and(|v| !v.is_null()) {
        out.push((
            "installed_packages",
            json!({"installed_packages": strings("installedPackages")}),
        ));
    }
    if b.get("osPackages").is_some_and(|v| !v.is_null()) {
        out.push(("os_packages", json!({"os_packages": strings("osPackages")})));
    }
    if let Some(Value::Array(g)) = b.get("gpuStaticInfoList") {
        out.push(("gpu_static_info", json!({ "gpu_static_info": g })));
    }
    if let Some(Value::Array(items)) = b.get("logAdditionalSystemInfoList") {
        for it in items {
            let k = it.get("key").cloned().unwrap_or(json!(""));
            let v = match it.get("value") {
                Some(v @ (Value::Number(_) | Value::String(_))) => v.clone(),
                Some(Value::Null) | None => json!(""),
                Some(other) => json!(other.to_string()),
            };
            out.push((
                "system_info",
                json!({"system_info": {"key": k, "value": v}}),
            ));
        }
    }
    out
}

/// Zip a run folder into `<parent>/<folder name>.zip` (deflate), then remove the folder.
pub fn pack(dir: &Path) -> Result<PathBuf, String> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("not a run folder: {}", dir.display()))?;
    let parent = dir.parent().unwrap_or(Path::new("."));
    let archive = parent.join(format!("{name}.zip"));
    let part = parent.join(format!("{name}.zip.part"));
    let write = || -> Result<(), Box<dyn std::error::Error>> {
        let mut z = zip::ZipWriter::new(File::create(&part)?);
        let mut files: Vec<PathBuf> = Vec::new();
        collect_files(dir, &mut files)?;
        files.sort();
        for p in files {
            let rel = p.strip_prefix(dir)?.to_string_lossy().replace('\\', "/");
            if rel == LOCK || rel.ends_with(".tmp") {
                continue;
            }
            let size = fs::metadata(&p)?.len();
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .large_file(size >= u32::MAX as u64);
            z.start_file(rel, opts)?;
            std::io::copy(&mut File::open(&p)?, &mut z)?;
        }
        z.finish()?.sync_all()?;
        Ok(())
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&part);
        return Err(io_err("write", &archive, e));
    }
    fs::rename(&part, &archive).map_err(|e| io_err("write", &archive, e))?;
    let _ = fs::remove_dir_all(dir);
    Ok(archive)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            collect_files(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

/// What an archive may unpack to. A crafted archive must not fill the disk: a small
/// zip of one repeated byte can declare (or simply hold) gigabytes.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub entries: usize,
    pub total_bytes: u64,
    /// Bytes an entry may unpack to per byte it takes in the archive, past `small`.
    pub ratio: u64,
    pub small: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            entries: 100_000,
            total_bytes: 64 << 30,
            ratio: 200,
            small: 1 << 20,
        }
    }
}

/// Unpack an archive into a new folder `dest`, within the default [`Limits`].
pub fn extract(archive: &Path, dest: &Path) -> Result<(), String> {
    extract_within(archive, dest, Limits::default())
}

/// Unpack an archive into a new folder `dest`. Entries that would land outside it are
/// skipped; an archive with too many entries, or that unpacks to more than the limits
/// allow (counted on the bytes actually written, not on what the archive declares), is
/// refused and what was unpacked removed.
pub fn extract_within(archive: &Path, dest: &Path, limits: Limits) -> Result<(), String> {
    let run = || -> Result<(), Box<dyn std::error::Error>> {
        let mut a = zip::ZipArchive::new(File::open(archive)?)?;
        if a.len() > limits.entries {
            return Err(format!("it has {} entries (at most {})", a.len(), limits.entries).into());
        }
        crate::create_private_dir(dest)?;
        let mut total: u64 = 0;
        for i in 0..a.len() {
            let mut f = a.by_index(i)?;
            let Some(rel) = f.enclosed_name() else {
                continue;
            };
            let out = dest.join(rel);
            if f.is_dir() {
                fs::create_dir_all(&out)?;
                continue;
            }
            if let Some(p) = out.parent() {
                fs::create_dir_all(p)?;
            }
            let allowed = f
                .compressed_size()
                .saturating_mul(limits.ratio)
                .max(limits.small)
                .min(limits.total_bytes - total);
            let name = f.name().to_string();
            let written = std::io::copy(
                &mut std::io::Read::take(&mut f, allowed + 1),
                &mut File::create(&out)?,
            )?;
            if written > allowed {
                return Err(format!(
                    "its entry '{name}' unpacks to more than {allowed} bytes (a ratio over {} or a total over {} bytes)",
                    limits.ratio, limits.total_bytes
                )
                .into());
            }
            total += written;
        }
        Ok(())
    };
    run().map_err(|e| {
        let _ = fs::remove_dir_all(dest);
        io_err("unpack the archive", archive, e)
    })
}

/// The file `rel` (a path read from an archive) inside the unpacked folder `dir`, or why
/// not: `rel` must be relative, without `..`, and name a regular file reached through no
/// symbolic link, so an archive can make nothing but its own files be uploaded.
pub fn inside(dir: &Path, rel: &str) -> Result<PathBuf, String> {
    use std::path::Component;
    let refuse = |why: &str| Err(format!("the archive's path '{rel}' {why}"));
    let relp = Path::new(rel);
    if rel.is_empty() || !relp.components().all(|c| matches!(c, Component::Normal(_))) {
        return refuse("is not a plain relative path inside the archive");
    }
    let base = match dir.canonicalize() {
        Ok(b) => b,
        Err(e) => return refuse(&format!("cannot be checked ({e})")),
    };
    let real = match dir.join(relp).canonicalize() {
        Ok(r) => r,
        Err(_) => return refuse("names no file in the archive"),
    };
    // Canonicalising resolves every link: a path through one comes out different.
    if real != base.join(relp) {
        return refuse("goes through a symbolic link");
    }
    if !real.is_file() {
        return refuse("names no file in the archive");
    }
    Ok(real)
}

/// Where and as whom to replay an archive.
pub struct Target {
    pub root: String,
    pub api_key: String,
    pub key: String,
    pub run_id: String,
    /// At most this many points of each metric are sent (`Sampler`); 0: all of them.
    pub sampling_size: usize,
}

#[derive(Default, Debug)]
pub struct Summary {
    pub messages: usize,
    pub metrics: usize,
    pub parameters: usize,
    pub output: usize,
    pub writes: usize,
    pub uploads: usize,
    pub problems: Vec<String>,
    /// The metrics sampled down: name, points in the archive, points sent.
    pub sampled: Vec<(String, usize, usize)>,
}

/// Comet's offline sampling (`comet_ml`'s `MetricsSampler`, option
/// `comet.offline_sampling_size`, 15,000 by default): an offline run may hold millions
/// of points, and Comet's upload keeps at most that many of each metric name. The
/// first, last, smallest and largest point of each metric always stay; the others are
/// a uniform reservoir sample of the rest. The kept points are sent in step order (or
/// in order of time when some point has no step), after every other message.
///
/// Unlike `comet_ml`, whose reservoir draws from Python's global random state, the
/// draws here are seeded by the experiment key: uploading the same archive again (or
/// resuming an interrupted upload) picks the same points, so the batch identities stay
/// the same and the local server stores them once.
pub struct Sampler {
    size: usize,
    rng: u64,
    metrics: Vec<MetricSample>,
    index: std::collections::HashMap<String, usize>,
    all_have_steps: bool,
}

struct MetricSample {
    name: String,
    seen: usize,
    reservoir: Vec<Value>,
    reservoir_seen: usize,
    first: Option<Value>,
    last: Option<Value>,
    min: Option<Value>,
    max: Option<Value>,
}

impl Sampler {
    /// `size` below 4 cannot keep first, last, smallest and largest; the caller checks.
    pub fn new(size: usize, seed: &str) -> Sampler {
        // FNV-1a of the seed, never zero (xorshift's fixed point).
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in seed.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Sampler {
            size: size.max(4),
            rng: h | 1,
            metrics: Vec::new(),
            index: std::collections::HashMap::new(),
            all_have_steps: true,
        }
    }

    /// A uniform number in `0..n` (xorshift64*; the modulo bias is negligible here).
    fn below(&mut self, n: usize) -> usize {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
    }

    /// One point, as sent in a batch (`metricName`, `metricValue`, `step`, ...).
    pub fn add(&mut self, point: Value) {
        let name = point["metricName"].as_str().unwrap_or("").to_string();
        self.all_have_steps = self.all_have_steps && !point["step"].is_null();
        let at = match self.index.get(&name) {
            Some(&i) => i,
            None => {
                self.metrics.push(MetricSample {
                    name: name.clone(),
                    seen: 0,
                    reservoir: Vec::new(),
                    reservoir_seen: 0,
                    first: None,
                    last: None,
                    min: None,
                    max: None,
                });
                self.index.insert(name, self.metrics.len() - 1);
                self.metrics.len() - 1
            }
        };
        self.metrics[at].seen += 1;
        // The pipeline of comet_ml: each stage keeps a point and passes another on.
        let m = &mut self.metrics[at];
        let Some(point) = keep_first(&mut m.first, point) else {
            return;
        };
        let Some(point) = m.last.replace(point) else {
            return;
        };
        let Some(point) = keep_extreme(&mut m.min, point, |new, old| new < old) else {
            return;
        };
        let Some(point) = keep_extreme(&mut m.max, point, |new, old| new > old) else {
            return;
        };
        let room = self.size - 4;
        let seen = self.metrics[at].reservoir_seen;
        self.metrics[at].reservoir_seen += 1;
        if self.metrics[at].reservoir.len() < room {
            self.metrics[at].reservoir.push(point);
        } else {
            let i = self.below(seen + 1);
            if i < room {
                self.metrics[at].reservoir[i] = point;
            }
        }
    }

    /// The kept points of every metric, in step (or time) order, and the metrics that
    /// lost points: name, points seen, points kept.
    pub fn finish(self) -> (Vec<Value>, Vec<(String, usize, usize)>) {
        let mut out = Vec::new();
        let mut sampled = Vec::new();
        for m in self.metrics {
            let before = out.len();
            out.extend(m.reservoir);
            out.extend([m.first, m.last, m.min, m.max].into_iter().flatten());
            let kept = out.len() - before;
            if kept < m.seen {
                sampled.push((m.name, m.seen, kept));
            }
        }
        let key = if self.all_have_steps {
            "step"
        } else {
            "timestamp"
        };
        // Stable, as Python's sort: equal keys keep their order.
        out.sort_by(|a, b| {
            let (x, y) = (a[key].as_f64(), b[key].as_f64());
            x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal)
        });
        (out, sampled)
    }
}

fn keep_first(slot: &mut Option<Value>, point: Value) -> Option<Value> {
    if slot.is_none() {
        *slot = Some(point);
        return None;
    }
    Some(point)
}

/// Keep the point with the smallest (or largest) numeric value, passing the other on.
/// A value that is not a number passes through, as in comet_ml.
fn keep_extreme(
    slot: &mut Option<Value>,
    point: Value,
    better: fn(f64, f64) -> bool,
) -> Option<Value> {
    let Some(v) = point["metricValue"].as_f64() else {
        return Some(point);
    };
    match slot {
        None => {
            *slot = Some(point);
            None
        }
        Some(old) => {
            let old_v = old["metricValue"].as_f64().unwrap_or(f64::NAN);
            if better(v, old_v) {
                slot.replace(point)
            } else {
                Some(point)
            }
        }
    }
}

const CHUNK: usize = 1000;

/// Items to send in batches, each with the line of messages.json it comes from.
type Lines = Vec<(i64, Value)>;

impl Target {
    fn clientlib(&self, ep: &str) -> String {
        format!("{}/clientlib/{ep}", self.root)
    }

    fn rest(&self, ep: &str) -> String {
        format!("{}/api/rest/v2/{ep}", self.root)
    }

    /// Send one request, retrying transient failures (the client's policy) for a minute.
    fn send(&self, mut req: Request, s: &mut Summary) -> bool {
        req.api_key = self.api_key.clone();
        let what = req.url.clone();
        let why = match retry::send_blocking(&req, retry::REPLAY_BUDGET) {
            Ok(r) if (200..300).contains(&r.status) => return true,
            Ok(r) => format!(
                "HTTP {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ),
            Err(e) => e.message(),
        };
        if s.problems.len() < 50 {
            s.problems.push(format!("{what}: {why}"));
        }
        false
    }

    /// Post, naming the batch when it has an identity (see `sink::BATCH_ID_HEADER`).
    fn post_batch(
        &self,
        url: String,
        body: Value,
        gzip: bool,
        id: Option<String>,
        s: &mut Summary,
    ) -> bool {
        let req = Request {
            method: "POST".into(),
            url,
            json_body: Some(body.to_string()),
            gzip_body: gzip,
            headers: id
                .map(|id| vec![(crate::sink::BATCH_ID_HEADER.to_string(), id)])
                .unwrap_or_default(),
            ..Default::default()
        };
        self.send(req, s)
    }

    /// The identity of what the lines `first` to `last` of messages.json become
    /// (`tag` tells metrics, parameters, output, writes and uploads apart). The lines
    /// are the same in every upload of the archive, and the key names the run, so a
    /// request resent after a lost answer, or a second upload of an archive whose
    /// first upload was cut short, is applied once.
    fn batch_id(&self, tag: &str, first: i64, last: i64) -> String {
        format!("{}-offline-{tag}{first}-{last}", self.key)
    }

    /// A REST write made from line `offset` of messages.json.
    fn write(&self, endpoint: &str, mut body: Value, offset: i64, s: &mut Summary) {
        body["experimentKey"] = json!(self.key);
        let id = self.batch_id("w", offset, offset);
        if self.post_batch(self.rest(endpoint), body, false, Some(id), s) {
            s.writes += 1;
        }
    }

    /// Send `items` (each with the line it comes from) in chunks; `tag` as in `batch_id`.
    fn batch(
        &self,
        endpoint: &str,
        field: &str,
        tag: &str,
        items: &mut Lines,
        s: &mut Summary,
    ) -> usize {
        let mut sent = 0;
        while !items.is_empty() {
            let n = items.len().min(CHUNK);
            let chunk: Lines = items.drain(..n).collect();
            let first = chunk.first().map(|(o, _)| *o).unwrap_or(0);
            let last = chunk.last().map(|(o, _)| *o).unwrap_or(0);
            let id = Some(self.batch_id(tag, first, last));
            let mut body = json!({"experimentKey": self.key});
            body[field] = Value::Array(chunk.into_iter().map(|(_, v)| v).collect());
            if endpoint.ends_with("output") {
                body["runContext"] = Value::Null;
            }
            let url = if endpoint.starts_with("batch/") {
                self.clientlib(endpoint)
            } else {
                format!("{}/clientlib/rest/v2/{endpoint}", self.root)
            };
            if self.post_batch(url, body, true, id, s) {
                sent += n;
            }
        }
        sent
    }

    /// The upload of line `offset` of messages.json.
    fn upload(&self, dir: &Path, p: &Value, remote: bool, offset: i64, s: &mut Summary) {
        let upload_type = p["upload_type"].as_str().unwrap_or("asset").to_string();
        let endpoint = match upload_type.as_str() {
            "git-patch" => "git-patch/upload",
            "visualization" | "shap" | "prophet" => "visualizations/upload",
            _ => "asset/upload",
        };
        let mut query = vec![
            ("experimentKey".to_string(), self.key.clone()),
            ("runId".to_string(), self.run_id.clone()),
            ("type".to_string(), upload_type.clone()),
        ];
        if let Some(Value::Object(params)) = p.get("additional_params") {
            for (k, v) in params {
                let v = match v {
                    Value::Null => continue,
                    Value::String(x) => x.clone(),
                    // Steps and epochs are whole numbers on the wire.
                    Value::Number(n) if k == "step" || k == "epoch" => n
                        .as_f64()
                        .map(|f| (f as i64).to_string())
                        .unwrap_or_default(),
                    other => other.to_string(),
                };
                if k != "runId" && k != "type" {
                    query.push((k.clone(), v));
                }
            }
        }
        let mut form = Vec::new();
        if let Some(m) = p
            .get("metadata")
            .filter(|m| m.as_object().is_some_and(|o| !o.is_empty()))
        {
            form.push(("metadata".to_string(), m.to_string()));
        }
        let file_part = if remote {
            form.push((
                "link".to_string(),
                p["remote_uri"].as_str().unwrap_or("").to_string(),
            ));
            None
        } else {
            let rel = p["file_path"].as_str().unwrap_or("");
            match inside(dir, rel) {
                Ok(path) => Some(path.display().to_string()),
                Err(why) => {
                    s.problems.push(format!("an upload was not sent: {why}"));
                    return;
                }
            }
        };
        let req = Request {
            method: "POST".into(),
            url: self.clientlib(endpoint),
            query,
            file_part,
            form,
            multipart: true,
            headers: vec![(
                crate::sink::BATCH_ID_HEADER.to_string(),
                self.batch_id("u", offset, offset),
            )],
            ..Default::default()
        };
        if self.send(req, s) {
            s.uploads += 1;
        }
    }
}

/// Send the messages of an unpacked archive (or run folder) to an experiment that the
/// caller has already created: metrics in batches as they come, REST writes and
/// uploads in order, then parameters and output in batches, as `comet upload` does.
pub fn replay(dir: &Path, t: &Target) -> Summary {
    let mut s = Summary::default();
    let path = dir.join(MESSAGES);
    let file = match File::open(&path) {
        Ok(f) => f,
        // A run killed before it logged anything has no messages: nothing to send.
        Err(_) => return s,
    };
    let mut sampler = (t.sampling_size > 0).then(|| Sampler::new(t.sampling_size.max(4), &t.key));
    let mut metrics = Vec::new();
    let mut params = Vec::new();
    let mut output = Vec::new();
    let mut info = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let offset = i as i64 + 1;
        // A process killed mid-write can leave a partial last line: skip it.
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            s.problems.push(format!(
                "line {offset} of messages.json is not JSON; skipped"
            ));
            continue;
        };
        s.messages += 1;
        let p = &msg["payload"];
        let g = |k: &str| p.get(k).cloned().unwrap_or(Value::Null);
        match msg["type"].as_str().unwrap_or("") {
            "metric_msg" => {
                let m = &p["metric"];
                metrics.push((
                    offset,
                    json!({
                        "metricName": m["metricName"], "metricValue": m["metricValue"],
                        "step": m.get("step").cloned().unwrap_or(Value::Null),
                        "epoch": m.get("epoch").cloned().unwrap_or(Value::Null),
                        "context": g("context"), "timestamp": g("local_timestamp"),
                        "offset": offset,
                    }),
                ));
                if let Some(sampler) = sampler.as_mut() {
                    if let Some((_, p)) = metrics.pop() {
                        sampler.add(p);
                    }
                } else if metrics.len() >= CHUNK {
                    s.metrics += t.batch(
                        "batch/logger/experiment/metric",
                        "values",
                        "m",
                        &mut metrics,
                        &mut s,
                    );
                }
            }
            "parameter_msg" => {
                let q = p
                    .get("param")
                    .or_else(|| p.get("params"))
                    .unwrap_or(&Value::Null);
                params.push((
                    offset,
                    json!({
                        "parameterName": q["paramName"], "parameterValue": q["paramValue"],
                        "step": q.get("step").cloned().unwrap_or(Value::Null),
                        "source": q.get("source").cloned().unwrap_or(Value::Null),
                        "context": g("context"), "timestamp": g("local_timestamp"),
                    }),
                ));
            }
            "standard_output" => output.push((
                offset,
                json!({
                    "output": g("output"), "stderr": g("stderr").as_bool().unwrap_or(false),
                    "localTimestamp": g("local_timestamp"), "offset": offset,
                }),
            )),
            "log_other" => t.write(
                "write/experiment/log-other",
                json!({"key": g("key"), "value": g("value")}),
                offset,
                &mut s,
            ),
            "html" => t.write(
                "write/experiment/html",
                json!({"html": g("html"), "override": false}),
                offset,
                &mut s,
            ),
            "htmlOverride" => t.write(
                "write/experiment/html",
                json!({"html": g("htmlOverride"), "override": true}),
                offset,
                &mut s,
            ),
            "graph" => t.write(
                "write/experiment/graph",
                json!({"graph": g("graph")}),
                offset,
                &mut s,
            ),
            "file_name" => t.write(
                "write/experiment/file-path",
                json!({"filePath": g("file_name")}),
                offset,
                &mut s,
            ),
            "git_metadata" => t.write(
                "write/experiment/git/metadata",
                g("git_metadata"),
                offset,
                &mut s,
            ),
            "system_details" => {
                let mut b = Map::new();
                for (from, to) in [
                    ("command", "command"),
                    ("hostname", "hostname"),
                    ("ip", "ip"),
                    ("machine", "machine"),
                    ("os", "os"),
                    ("os_release", "osRelease"),
                    ("os_type", "osType"),
                    ("pid", "pid"),
                    ("processor", "processor"),
                    ("python_exe", "executable"),
                    ("python_version", "pythonVersion"),
                    ("python_version_verbose", "pythonVersionVerbose"),
                    ("user", "user"),
                    ("network_interfaces_ips", "networkInterfaceIps"),
                    ("env", "env"),
                ] {
                    let v = g(from);
                    // Fields the run did not know are empty in the archive: leave them unset.
                    let empty = v.is_null()
                        || v.as_str() == Some("")
                        || v.as_array().is_some_and(|a| a.is_empty())
                        || v.as_object().is_some_and(|o| o.is_empty())
                        || (from == "pid" && v.as_i64() == Some(0));
                    if !empty {
                        b.insert(to.into(), v);
                    }
                }
                t.write(
                    "write/experiment/system-details",
                    Value::Object(b),
                    offset,
                    &mut s,
                );
            }
            "installed_packages" => t.write(
                "write/experiment/system-details",
                json!({"installedPackages": g("installed_packages")}),
                offset,
                &mut s,
            ),
            "os_packages" => t.write(
                "write/experiment/system-details",
                json!({"osPackages": g("os_packages")}),
                offset,
                &mut s,
            ),
            "gpu_static_info" => t.write(
                "write/experiment/system-details",
                json!({"gpuStaticInfoList": g("gpu_static_info")}),
                offset,
                &mut s,
            ),
            "system_info" => info.push((offset, g("system_info"))),
            "file_upload" => t.upload(dir, p, false, offset, &mut s),
            "remote_file" => t.upload(dir, p, true, offset, &mut s),
            other => s.problems.push(format!(
                "message type '{other}' (line {offset}) is not supported; skipped"
            )),
        }
    }
    if let Some(sampler) = sampler {
        let (kept, sampled) = sampler.finish();
        // Each kept point still names the line it came from, for the batch identity.
        metrics = kept
            .into_iter()
            .map(|v| (v["offset"].as_i64().unwrap_or(0), v))
            .collect();
        s.sampled = sampled;
    }
    s.metrics += t.batch(
        "batch/logger/experiment/metric",
        "values",
        "m",
        &mut metrics,
        &mut s,
    );
    s.parameters += t.batch(
        "batch/logger/experiment/parameter",
        "values",
        "p",
        &mut params,
        &mut s,
    );
    // Standard output first, then standard error, as `comet upload` sends them.
    let (mut out, mut err): (Lines, Lines) = output
        .into_iter()
        .partition(|(_, o)| !o["stderr"].as_bool().unwrap_or(false));
    s.output += t.batch(
        "write/experiment/output",
        "outputLines",
        "o",
        &mut out,
        &mut s,
    );
    s.output += t.batch(
        "write/experiment/output",
        "outputLines",
        "o",
        &mut err,
        &mut s,
    );
    if let Some((first, _)) = info.first() {
        // One write for every line that holds additional system information, named
        // after the first of them.
        let first = *first;
        let info: Vec<Value> = info.into_iter().map(|(_, v)| v).collect();
        t.write(
            "write/experiment/system-details",
            json!({ "logAdditionalSystemInfoList": info }),
            first,
            &mut s,
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{Entry, MetricPoint};

    /// Hand items to the writer as the outbox does: staged, in batches of one kind.
    fn record(w: &mut Writer, entries: Vec<Entry>) {
        let mut seq = 0u64;
        for e in &entries {
            e.stage(|kind, json| {
                seq += 1;
                w.record(kind, &[(seq, json)]).unwrap();
            });
        }
    }

    fn temp() -> PathBuf {
        let d = std::env::temp_dir().join(format!("cometr-offline-test-{}", new_id()));
        crate::create_private_dir(&d).unwrap();
        d
    }

    /// Read experiment.json of an unpacked archive or a run folder.
    fn read_meta(dir: &Path) -> Result<Value, String> {
        let p = dir.join(EXPERIMENT);
        let text = fs::read_to_string(&p).map_err(|e| io_err("read", &p, e))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| io_err("parse", &p, e))?;
        if !v.is_object() {
            return Err(format!("{} is not a JSON object", p.display()));
        }
        Ok(v)
    }

    fn lines(dir: &Path) -> Vec<Value> {
        fs::read_to_string(dir.join(MESSAGES))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn records_messages_in_comet_format() {
        let base = temp();
        let mut w = Writer::create(&base, "abc", Some("p".into()), None).unwrap();
        record(
            &mut w,
            vec![
                Entry::Metric(MetricPoint {
                    name: "loss".into(),
                    value: json!(0.5),
                    step: Some(1),
                    epoch: None,
                    context: None,
                    timestamp: 7,
                }),
                Entry::Parameter(json!({"parameterName": "layers", "parameterValue": [1, 2],
                                    "step": null, "source": "manual", "timestamp": 8})),
                Entry::Rest(RestWrite {
                    endpoint: "write/experiment/tags".into(),
                    body: json!({"addedTags": ["a", "b", "a"]}).to_string(),
                }),
                Entry::Rest(RestWrite {
                    endpoint: "write/experiment/log-other".into(),
                    body: json!({"key": "k", "value": 1}).to_string(),
                }),
            ],
        );
        let m = lines(&w.dir);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0]["type"], "metric_msg");
        assert_eq!(m[0]["payload"]["message_id"], 1);
        assert!(m[0]["payload"].get("context").is_none());
        assert_eq!(m[0]["payload"]["metric"]["epoch"], Value::Null);
        assert_eq!(m[1]["payload"]["params"]["paramValue"], json!([1, 2]));
        assert_eq!(
            m[2]["payload"],
            json!({"key": "k", "value": 1, "message_id": 3})
        );
        let meta = read_meta(&w.dir).unwrap();
        assert_eq!(meta["tags"], json!(["a", "b"]));
        assert_eq!(meta["project_name"], "p");
        // Keys are sorted, as the SDK writes them.
        let first = fs::read_to_string(w.dir.join(MESSAGES)).unwrap();
        assert!(first.starts_with("{\"payload\":{\"local_timestamp\":7,\"message_id\":1,"));
        let archive = w.finish().unwrap();
        assert_eq!(archive, base.join("abc.zip"));
        assert!(!base.join("abc").exists());
        let out = base.join("out");
        extract(&archive, &out).unwrap();
        assert_eq!(lines(&out).len(), 3);
        assert!(!out.join(LOCK).exists());
        let _ = fs::remove_dir_all(&base);
    }

    #[test]
    fn a_crashed_run_is_marked_in_experiment_json() {
        let base = temp();
        let mut w = Writer::create(&base, "crashed", None, None).unwrap();
        let status = |crashed: bool, error: &str| {
            Entry::Rest(RestWrite {
                endpoint: "write/experiment/update-status".into(),
                body: json!({"isAlive": false, "error": error, "hasCrashed": crashed}).to_string(),
            })
        };
        record(&mut w, vec![status(false, "a hiccup")]);
        assert_eq!(read_meta(&w.dir).unwrap()["customer_error_reported"], false);
        record(&mut w, vec![status(true, "Error: boom")]);
        let meta = read_meta(&w.dir).unwrap();
        assert_eq!(meta["customer_error_reported"], true);
        assert_eq!(meta["customer_error_message"], "Error: boom");
        assert!(lines(&w.dir).is_empty());
        let _ = fs::remove_dir_all(&base);
    }

    fn crafted_zip(path: &Path, entries: &[(&str, &[u8], usize)]) {
        let mut z = zip::ZipWriter::new(File::create(path).unwrap());
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, chunk, times) in entries {
            z.start_file(*name, opts).unwrap();
            for _ in 0..*times {
                z.write_all(chunk).unwrap();
            }
        }
        z.finish().unwrap();
    }

    #[test]
    fn a_crafted_archive_cannot_fill_the_disk() {
        let base =
            std::env::temp_dir().join(format!("cometr-bomb-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&base).unwrap();
        // 64 MiB of zeros packs to some 64 KB: refused, and nothing is left unpacked.
        let bomb = base.join("bomb.zip");
        crafted_zip(&bomb, &[("messages.json", &[0u8; 1 << 20], 64)]);
        assert!(fs::metadata(&bomb).unwrap().len() < 1 << 20);
        let out = base.join("out");
        let e = extract(&bomb, &out).unwrap_err();
        assert!(e.contains("unpacks to more than"), "{e}");
        assert!(!out.exists());
        // Too many entries, or too many bytes in all.
        let many = base.join("many.zip");
        crafted_zip(&many, &[("a", b"x", 1), ("b", b"y", 1), ("c", b"z", 1)]);
        let few = Limits {
            entries: 2,
            ..Limits::default()
        };
        assert!(extract_within(&many, &out, few)
            .unwrap_err()
            .contains("3 entries"));
        let small = Limits {
            total_bytes: 2,
            ..Limits::default()
        };
        assert!(extract_within(&many, &out, small).is_err());
        assert!(!out.exists());
        // An ordinary archive unpacks.
        extract(&many, &out).unwrap();
        assert_eq!(fs::read_to_string(out.join("c")).unwrap(), "z");
        let _ = fs::remove_dir_all(&base);
    }

    #[test]
    fn only_the_archives_own_files_can_be_uploaded() {
        let base =
            std::env::temp_dir().join(format!("cometr-inside-{}", uuid::Uuid::new_v4().simple()));
        let dir = base.join("run");
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("sub").join("f.txt"), "mine").unwrap();
        fs::write(base.join("secret.txt"), "not mine").unwrap();
        assert!(inside(&dir, "sub/f.txt").is_ok());
        let outside = base.join("secret.txt").display().to_string();
        for rel in [
            "",
            "../secret.txt",
            "sub/../../secret.txt",
            &outside,
            "sub",
            "nope",
        ] {
            assert!(inside(&dir, rel).is_err(), "{rel}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(base.join("secret.txt"), dir.join("link.txt")).unwrap();
            std::os::unix::fs::symlink(&base, dir.join("up")).unwrap();
            let e = inside(&dir, "link.txt").unwrap_err();
            assert!(e.contains("symbolic link"), "{e}");
            assert!(inside(&dir, "up/secret.txt").is_err());
        }
        let _ = fs::remove_dir_all(&base);
    }

    #[test]
    fn a_key_that_is_not_one_makes_no_folder() {
        let base =
            std::env::temp_dir().join(format!("cometr-offline-{}", uuid::Uuid::new_v4().simple()));
        let dir = base.join("a").join("offline");
        for key in ["../../x", "..", "a/b", "/tmp/x", ""] {
            assert!(Writer::create(&dir, key, None, None).is_err(), "{key}");
        }
        assert!(!base.exists());
    }

    fn point(name: &str, value: f64, step: Option<i64>, ts: i64) -> Value {
        json!({"metricName": name, "metricValue": value, "step": step, "timestamp": ts})
    }

    #[test]
    fn samples_each_metric_as_comet_does() {
        let mut s = Sampler::new(15_000, "abc");
        for i in 1..=20_000i64 {
            // The extremes sit in the middle, where only the pipeline can keep them.
            let v = match i {
                7_000 => -5.0,
                9_000 => 99_999.0,
                _ => (i % 100) as f64,
            };
            s.add(point("loss", v, Some(i), i));
        }
        for i in 1..=10i64 {
            s.add(point("acc", i as f64, Some(i), i));
        }
        let (kept, sampled) = s.finish();
        assert_eq!(kept.len(), 15_010);
        assert_eq!(sampled, vec![("loss".to_string(), 20_000, 15_000)]);
        let steps = |name: &str| -> Vec<i64> {
            kept.iter()
                .filter(|p| p["metricName"] == name)
                .map(|p| p["step"].as_i64().unwrap())
                .collect()
        };
        let loss = steps("loss");
        assert_eq!(loss.len(), 15_000);
        assert_eq!(loss.first(), Some(&1));
        assert_eq!(loss.last(), Some(&20_000));
        assert!(loss.contains(&7_000) && loss.contains(&9_000));
        assert!(
            loss.windows(2).all(|w| w[0] < w[1]),
            "in step order, each once"
        );
        assert_eq!(steps("acc"), (1..=10).collect::<Vec<_>>());
        // The same archive samples the same points.
        let again = |seed: &str| {
            let mut s = Sampler::new(100, seed);
            for i in 1..=1000i64 {
                s.add(point("x", i as f64, Some(i), i));
            }
            s.finish().0
        };
        assert_eq!(again("k1"), again("k1"));
        assert_ne!(again("k1"), again("k2"));
    }

    #[test]
    fn sampling_orders_by_time_without_steps_and_passes_text() {
        let mut s = Sampler::new(5, "k");
        s.add(point("a", 1.0, Some(2), 20));
        s.add(json!({"metricName": "a", "metricValue": "NaN", "step": null, "timestamp": 5}));
        s.add(point("a", 3.0, Some(1), 30));
        let (kept, sampled) = s.finish();
        assert!(sampled.is_empty());
        let ts: Vec<i64> = kept
            .iter()
            .map(|p| p["timestamp"].as_i64().unwrap())
            .collect();
        assert_eq!(ts, vec![5, 20, 30]);
    }

    #[test]
    fn splits_system_details() {
        let m = system_details_messages(&json!({
            "pid": 12, "hostname": "h", "installedPackages": ["a"],
            "logAdditionalSystemInfoList": [{"key": "x", "value": true}]
        }));
        let types: Vec<&str> = m.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            types,
            vec!["system_details", "installed_packages", "system_info"]
        );
        assert_eq!(m[0].1["pid"], 12);
        assert_eq!(m[2].1["system_info"]["value"], "true");
    }
}
