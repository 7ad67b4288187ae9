//! The online sink: sends an experiment's batches to Comet's clientlib batch endpoints
//! (gzip-compressed), its REST writes and logged files (multipart uploads) one by one,
//! through the one retry loop of `retry.rs`, and keeps the run marked alive with
//! heartbeats.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::http::{self, Failure, Request};
use crate::item::{FileUpload, Kind, RestWrite};
use crate::retry::{self, Outcome};
use crate::sink::{self, BoxFuture, Delivery, Sink};

use crate::sink::BATCH_ID_HEADER;

pub struct Sender {
    key: String,
    api_key: String,
    /// The run of the outbox the batches come from (kept in its spool's header), so a
    /// batch has the same identity when it is retried, and when a later process
    /// replays the spool.
    run: String,
    /// The server root, without `/clientlib` and trailing slashes.
    root: String,
}

impl Sender {
    pub fn new(key: &str, api_key: &str, root: &str, run: &str) -> Sender {
        Sender {
            key: key.to_string(),
            api_key: api_key.to_string(),
            run: run.to_string(),
            root: root.trim_end_matches('/').to_string(),
        }
    }

    fn clientlib(&self, endpoint: &str) -> String {
        format!("{}/clientlib/{endpoint}", self.root)
    }

    fn request(&self, url: String, body: String, gzip: bool) -> Request {
        Request {
            method: "POST".into(),
            url,
            api_key: self.api_key.clone(),
            json_body: Some(body),
            gzip_body: gzip,
            ..Default::default()
        }
    }

    /// The multipart upload of a logged file or link, as `upload_asset()`,
    /// `log_remote_asset()` and the git patch send it.
    fn file_request(&self, f: &FileUpload) -> Request {
        let mut query = vec![("experimentKey".to_string(), self.key.clone())];
        let endpoint = if f.upload_type == "git-patch" {
            "write/experiment/git/patch"
        } else {
            query.extend(f.query());
            "write/experiment/upload-asset"
        };
        let mut form = Vec::new();
        if f.remote {
            form.push(("link".to_string(), f.source.clone()));
        }
        if !f.metadata.is_empty() {
            form.push(("metadata".to_string(), f.metadata.clone()));
        }
        Request {
            method: "POST".into(),
            url: format!("{}/api/rest/v2/{endpoint}", self.root),
            api_key: self.api_key.clone(),
            query,
            multipart: true,
            file_part: (!f.remote).then(|| f.source.clone()),
            // A file read in place is checked as it goes, too.
            file_sha256: (!f.remote && !f.sha256.is_empty()).then(|| f.sha256.clone()),
            form,
            ..Default::default()
        }
    }

    /// A batch's identity: its run, kind and the sequence numbers of its first and last
    /// items. The outbox forms a batch once and keeps its bounds through retries and
    /// spool replays, so equal identities always mean the same items.
    pub fn batch_id(run: &str, kind: Kind, batch: &[(u64, String)]) -> String {
        let first = batch.first().map(|(s, _)| *s).unwrap_or(0);
        let last = batch.last().map(|(s, _)| *s).unwrap_or(0);
        format!("{run}-{}{first}-{last}", kind.tag())
    }

    /// The request that delivers a batch of one kind: items are already JSON text.
    fn batch_request(&self, kind: Kind, batch: &[(u64, String)]) -> Request {
        let mut req = self.unnamed_batch_request(kind, batch);
        req.headers.push((
            BATCH_ID_HEADER.into(),
            Self::batch_id(&self.run, kind, batch),
        ));
        req
    }

    fn unnamed_batch_request(&self, kind: Kind, batch: &[(u64, String)]) -> Request {
        if kind == Kind::Rest {
            let w = batch
                .first()
                .map(|(_, j)| RestWrite::from_staged(j))
                .unwrap_or(RestWrite {
                    endpoint: String::new(),
                    body: "{}".into(),
                });
            let url = format!("{}/api/rest/v2/{}", self.root, w.endpoint);
            return self.request(url, w.body, false);
        }
        let mut items =
            String::with_capacity(batch.iter().map(|(_, j)| j.len() + 1).sum::<usize>() + 2);
        items.push('[');
        for (i, (_, j)) in batch.iter().enumerate() {
            if i > 0 {
                items.push(',');
            }
            items.push_str(j);
        }
        items.push(']');
        let key = Value::from(self.key.as_str()).to_string();
        let (url, body) = match kind {
            Kind::Metric => (
                self.clientlib("batch/logger/experiment/metric"),
                format!("{{\"experimentKey\":{key},\"values\":{items}}}"),
            ),
            Kind::Parameter => (
                self.clientlib("batch/logger/experiment/parameter"),
                format!("{{\"experimentKey\":{key},\"values\":{items}}}"),
            ),
            _ => (
                self.clientlib("rest/v2/write/experiment/output"),
                format!("{{\"experimentKey\":{key},\"runContext\":null,\"outputLines\":{items}}}"),
            ),
        };
        self.request(url, body, true)
    }

    /// One status report (alive or ended), without retries: a missed one is replaced
    /// by the next. Returns the answer's JSON on success.
    async fn status_report(&self, alive: bool) -> Option<Value> {
        let body = json!({
            "apiKey": self.api_key, "experimentKey": self.key, "is_alive": alive,
            "local_timestamp": crate::now_ms(), "offline": false
        })
        .to_string();
        let req = self.request(self.clientlib("status-report/update"), body, false);
        match http::send(&req).await {
            Ok(r) if (200..300).contains(&r.status) => {
                Some(serde_json::from_slice(&r.body).unwrap_or(Value::Null))
            }
            _ => None,
        }
    }
}

impl Sink for Sender {
    fn deliver<'a>(
        &'a self,
        kind: Kind,
        items: &'a [(u64, String)],
        deadline: Instant,
    ) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            let (req, what, file) = if kind == Kind::File {
                let first = items.first().map(|(_, j)| j.as_str()).unwrap_or("");
                let f = FileUpload::from_staged(first);
                let what = format!("the file {} (asset '{}')", f.original, f.name());
                // Named like a batch, so an upload resent after a lost answer is kept once.
                let mut req = self.file_request(&f);
                req.headers.push((
                    BATCH_ID_HEADER.into(),
                    Self::batch_id(&self.run, kind, items),
                ));
                (req, what, Some(f))
            } else {
                (self.batch_request(kind, items), "data".to_string(), None)
            };
            // Every attempt reads a file again: check before each that it is still the
            // one logged (hashing a large file blocks: off the runtime's few threads).
            let check = || {
                let f = file.clone();
                async move {
                    let Some(f) = f else { return Ok(()) };
                    match tokio::task::spawn_blocking(move || f.verify()).await {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(p)) => Err(sink::file_problem(p)),
                        Err(e) => Err(Delivery::Later(format!("cannot check the file: {e}"))),
                    }
                }
            };
            let result = match retry::send_until_checked(&req, deadline, check).await {
                Ok(result) => result,
                Err(d) => return d,
            };
            match &result {
                Ok(r) if (200..300).contains(&r.status) => Delivery::Delivered,
                Ok(r) => {
                    let msg = String::from_utf8_lossy(&r.body);
                    let why = format!(
                        "HTTP {} from {}: {}",
                        r.status,
                        req.url.split('?').next().unwrap_or(""),
                        msg.chars().take(300).collect::<String>()
                    );
                    if Outcome::of(&result).is_transient() {
                        Delivery::Later(format!(
                            "could not send {what} for experiment {} yet (will retry): {why}",
                            self.key
                        ))
                    } else {
                        Delivery::Refused(format!(
                            "Comet refused {what} for experiment {}: {why}",
                            self.key
                        ))
                    }
                }
                // A file that cannot be read now will not be readable on a retry either.
                Err(e @ Failure::Input(_)) => {
                    Delivery::Refused(format!("cannot send {what}: {}", e.message()))
                }
                Err(e) => Delivery::Later(format!(
                    "could not send {what} for experiment {} yet (will retry): {}",
                    self.key,
                    e.message()
                )),
            }
        })
    }

    fn beat(&self) -> BoxFuture<'_, Option<Duration>> {
        Box::pin(async move {
            let wait = match self.status_report(true).await {
                Some(v) => v
                    .get("is_alive_beat_duration_millis")
                    .and_then(|x| x.as_u64())
                    .map(|ms| Duration::from_millis(ms.clamp(500, 600_000)))
                    .unwrap_or(Duration::from_secs(10)),
                // A missed beat is not fatal: try again a little later.
                None => Duration::from_secs(10),
            };
            Some(wait)
        })
    }

    fn end(&self, timeout: Duration) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            matches!(
                tokio::time::timeout(timeout, self.status_report(false)).await,
                Ok(Some(_))
            )
        })
    }
}
