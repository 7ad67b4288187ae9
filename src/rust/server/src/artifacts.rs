//! Artifacts: versions with aliases and tags, their state (OPEN → CLOSED or ERROR),
//! and the files uploaded into a version through the experiment asset endpoint.
//!
//! An artifact belongs to a workspace and is named uniquely there. Its versions are
//! semantic-version strings; without one, an upsert creates the next major version.
//! A version can be read by name or alias only once it is CLOSED. The files of a
//! version are the experiment assets uploaded with its `artifactVersionId` (see
//! `assets.rs`); they are read here from the `assets` table.

// Helpers fail with the ready HTTP answer; these are rare, so boxing buys nothing.
#![allow(clippy::result_large_err)]

use axum::http::{Method, StatusCode};
use axum::response::Response;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::general::poisoned;
use super::store::{new_id, now_ms, Store};
use super::{db_error, error, ok, Ctx, State};

/// Comet's `sdk_error_code`s for artifacts.
const NOT_FOUND: i64 = 624523;
const NOT_FINAL: i64 = 90403;
const VERSION_EXISTS: i64 = 90399;
const BAD_VERSION: i64 = 42001;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS artifacts(
  artifact_id TEXT PRIMARY KEY, workspace TEXT NOT NULL, name TEXT NOT NULL,
  type TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '[]', project_id TEXT,
  created_ms INTEGER NOT NULL, UNIQUE(workspace, name));
CREATE TABLE IF NOT EXISTS artifact_versions(
  version_id TEXT PRIMARY KEY, artifact_id TEXT NOT NULL, version TEXT NOT NULL,
  aliases TEXT NOT NULL DEFAULT '[]', tags TEXT NOT NULL DEFAULT '[]', metadata TEXT,
  experiment_key TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'OPEN',
  created_ms INTEGER NOT NULL, UNIQUE(artifact_id, version));
CREATE INDEX IF NOT EXISTS artifact_versions_by_artifact ON artifact_versions(artifact_id);
CREATE TABLE IF NOT EXISTS artifact_consumers(
  version_id TEXT NOT NULL, experiment_key TEXT NOT NULL, created_ms INTEGER NOT NULL,
  UNIQUE(version_id, experiment_key));
CREATE INDEX IF NOT EXISTS assets_by_artifact_version ON assets(artifact_version_id);
";

/// Create the artifact tables (called from `Store::open`, after the `assets` table).
pub fn init_schema(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)
}

type Answer = Result<Response, Response>;

pub fn route(state: &State, family: &str, ctx: &Ctx) -> Option<Response> {
    if family != "rest" {
        return None;
    }
    let r = match (&ctx.method, ctx.path.as_str()) {
        (&Method::POST, "write/artifacts/upsert") => upsert(state, ctx),
        (&Method::GET, "artifacts/version") => version(state, ctx),
        (&Method::GET, "artifacts/version/files") => files(state, ctx),
        (&Method::POST, "write/artifacts/state") => set_state(state, ctx),
        (&Method::POST, "write/artifacts/version/labels") => labels(state, ctx),
        (&Method::POST, "write/artifacts/details") => details(state, ctx),
        (&Method::GET, "artifacts/get-all") => get_all(state, ctx),
        (&Method::GET, "artifacts/get") => get_one(state, ctx),
        _ => return None,
    };
    Some(r.unwrap_or_else(|e| e))
}

fn bad(msg: &str, code: Option<i64>) -> Response {
    error(StatusCode::BAD_REQUEST, msg, code)
}

fn with_store<T>(
    state: &State,
    f: impl FnOnce(&Store) -> Result<T, Response>,
) -> Result<T, Response> {
    let store = state.store.lock().map_err(|_| poisoned())?;
    f(&store)
}

// ---------------------------------------------------------------------------------
// Versions

/// A semantic version: `MAJOR[.MINOR[.PATCH]][-PRE][+BUILD]`, ordered as semver orders
/// them (a pre-release sorts before its release; build metadata is ignored).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Semver {
    major: u64,
    minor: u64,
    patch: u64,
    release: bool,
    pre: Vec<PreId>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum PreId {
    Num(u64),
    Text(String),
}

fn ident_ok(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

pub fn parse_semver(s: &str) -> Option<Semver> {
    let (rest, build) = match s.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (s, None),
    };
    if build.is_some_and(|b| !ident_ok(b)) {
        return None;
    }
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    if pre.is_some_and(|p| !ident_ok(p)) {
        return None;
    }
    let nums: Vec<&str> = core.split('.').collect();
    if nums.is_empty() || nums.len() > 3 {
        return None;
    }
    let mut n = [0u64; 3];
    for (i, p) in nums.iter().enumerate() {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n[i] = p.parse().ok()?;
    }
    let pre: Vec<PreId> = pre
        .map(|p| {
            p.split('.')
                .map(|x| match x.parse::<u64>() {
                    Ok(v) if x.bytes().all(|b| b.is_ascii_digit()) => PreId::Num(v),
                    _ => PreId::Text(x.to_string()),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Semver {
        major: n[0],
        minor: n[1],
        patch: n[2],
        release: pre.is_empty(),
        pre,
    })
}

#[derive(Debug, Clone)]
struct ArtifactRow {
    id: String,
    workspace: String,
    name: String,
    kind: String,
    tags: Vec<String>,
}

#[derive(Debug, Clone)]
struct VersionRow {
    id: String,
    artifact_id: String,
    version: String,
    aliases: Vec<String>,
    tags: Vec<String>,
    metadata: Option<String>,
    experiment_key: String,
    state: String,
    created_ms: i64,
}

fn str_list(s: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(s).unwrap_or_default()
}

/// A JSON array of strings from a request body (a lone string counts as one).
fn body_list(v: Option<&Value>) -> Option<Vec<String>> {
    let v = v?;
    let items: Vec<String> = match v {
        Value::Null => return None,
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| match x {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            })
            .collect(),
        other => vec![other.to_string()],
    };
    let mut out: Vec<String> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    Some(out)
}

/// `versionMetadata` is a JSON string on the wire; an object is accepted too.
fn body_metadata(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn body_str<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(|x| x.as_str()).filter(|s| !s.is_empty())
}

fn artifact_from_row(r: &rusqlite::Row) -> rusqlite::Result<ArtifactRow> {
    Ok(ArtifactRow {
        id: r.get(0)?,
        workspace: r.get(1)?,
        name: r.get(2)?,
        kind: r.get(3)?,
        tags: str_list(&r.get::<_, String>(4)?),
    })
}

const ARTIFACT_COLS: &str = "artifact_id, workspace, name, type, tags";
const VERSION_COLS: &str =
    "version_id, artifact_id, version, aliases, tags, metadata, experiment_key, state, created_ms";

fn version_from_row(r: &rusqlite::Row) -> rusqlite::Result<VersionRow> {
    Ok(VersionRow {
        id: r.get(0)?,
        artifact_id: r.get(1)?,
        version: r.get(2)?,
        aliases: str_list(&r.get::<_, String>(3)?),
        tags: str_list(&r.get::<_, String>(4)?),
        metadata: r.get(5)?,
        experiment_key: r.get(6)?,
        state: r.get(7)?,
        created_ms: r.get(8)?,
    })
}

fn artifact_by_id(s: &Store, id: &str) -> Result<Option<ArtifactRow>, Response> {
    s.conn
        .query_row(
            &format!("SELECT {ARTIFACT_COLS} FROM artifacts WHERE artifact_id = ?1"),
            params![id],
            artifact_from_row,
        )
        .optional()
        .map_err(db_error)
}

fn artifact_by_name(
    s: &Store,
    ws: Option<&str>,
    name: &str,
) -> Result<Option<ArtifactRow>, Response> {
    let rows: Vec<ArtifactRow> = {
        let mut st = s
            .conn
            .prepare(&format!(
                "SELECT {ARTIFACT_COLS} FROM artifacts WHERE name = ?1 AND (?2 IS NULL OR workspace = ?2)
                 ORDER BY created_ms"
            ))
            .map_err(db_error)?;
        let it = st
            .query_map(params![name, ws], artifact_from_row)
            .map_err(db_error)?;
        it.collect::<rusqlite::Result<_>>().map_err(db_error)?
    };
    Ok(rows.into_iter().next())
}

/// The workspace and project of an experiment.
fn experiment_home(s: &Store, key: &str) -> Result<Option<(String, String)>, Response> {
    s.conn
        .query_row(
            "SELECT p.workspace, p.project_id FROM experiments e
             JOIN projects p ON p.project_id = e.project_id WHERE e.experiment_key = ?1",
            params![key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db_error)
}

fn versions_of(s: &Store, artifact_id: &str) -> Result<Vec<VersionRow>, Response> {
    let mut rows: Vec<VersionRow> = {
        let mut st = s
            .conn
            .prepare(&format!(
                "SELECT {VERSION_COLS} FROM artifact_versions WHERE artifact_id = ?1"
            ))
            .map_err(db_error)?;
        let it = st
            .query_map(params![artifact_id], version_from_row)
            .map_err(db_error)?;
        it.collect::<rusqlite::Result<_>>().map_err(db_error)?
    };
    rows.sort_by(|a, b| {
        parse_semver(&a.version)
            .cmp(&parse_semver(&b.version))
            .then(a.created_ms.cmp(&b.created_ms))
    });
    Ok(rows)
}

fn version_by_id(s: &Store, id: &str) -> Result<Option<VersionRow>, Response> {
    s.conn
        .query_row(
            &format!("SELECT {VERSION_COLS} FROM artifact_versions WHERE version_id = ?1"),
            params![id],
            version_from_row,
        )
        .optional()
        .map_err(db_error)
}

fn not_found(what: &str) -> Response {
    bad(&format!("Artifact not found: {what}"), Some(NOT_FOUND))
}

/// The artifact a request names: by id, or by name in the given workspace (else the
/// workspace of the experiment making the request).
fn find_artifact(s: &Store, ctx: &Ctx) -> Result<ArtifactRow, Response> {
    if let Some(id) = ctx.q("artifactId").or_else(|| ctx.q("artifact_id")) {
        return artifact_by_id(s, id)?.ok_or_else(|| not_found(id));
    }
    let Some(name) = ctx.q("artifactName") else {
        return Err(bad("artifactName or artifactId is required", None));
    };
    let mut ws = ctx.q("workspace").map(str::to_string);
    if ws.is_none() {
        for k in ["consumerExperimentKey", "experimentKey"] {
            if let Some(key) = ctx.q(k) {
                if let Some((w, _)) = experiment_home(s, key)? {
                    ws = Some(w);
                    break;
                }
            }
        }
    }
    if let Some(a) = artifact_by_name(s, ws.as_deref(), name)? {
        return Ok(a);
    }
    // Some clients quote the name once more before encoding it as a query value.
    if name.contains('%') {
        let decoded = super::percent_decode(name);
        if let Some(a) = artifact_by_name(s, ws.as_deref(), &decoded)? {
            return Ok(a);
        }
    }
    let full = match &ws {
        Some(w) => format!("{w}/{name}"),
        None => name.to_string(),
    };
    Err(not_found(&full))
}

/// The version a request names; the latest one when it names none. The second value
/// says whether it was named by id (such a read may see a version still being written).
fn find_version(s: &Store, ctx: &Ctx) -> Result<(ArtifactRow, VersionRow, bool), Response> {
    if let Some(vid) = ctx.q("versionId").or_else(|| ctx.q("artifactVersionId")) {
        let v = version_by_id(s, vid)?.ok_or_else(|| not_found(vid))?;
        if let Some(aid) = ctx.q("artifactId") {
            if aid != v.artifact_id {
                return Err(not_found(vid));
            }
        }
        let a = artifact_by_id(s, &v.artifact_id)?.ok_or_else(|| not_found(vid))?;
        return Ok((a, v, true));
    }
    let a = find_artifact(s, ctx)?;
    let versions = versions_of(s, &a.id)?;
    let by_version = |want: &str| versions.iter().find(|v| v.version == want).cloned();
    let by_alias = |want: &str| {
        if want == "latest" {
            return versions.last().cloned();
        }
        versions
            .iter()
            .rev()
            .find(|v| v.aliases.iter().any(|x| x == want))
            .cloned()
    };
    let (found, what) = if let Some(v) = ctx.q("version") {
        (by_version(v), v)
    } else if let Some(al) = ctx.q("alias") {
        (by_alias(al), al)
    } else if let Some(voa) = ctx.q("versionOrAlias") {
        (by_version(voa).or_else(|| by_alias(voa)), voa)
    } else {
        (versions.last().cloned(), "latest")
    };
    let v = found.ok_or_else(|| not_found(&format!("{}/{}:{what}", a.workspace, a.name)))?;
    Ok((a, v, false))
}

fn require_closed(a: &ArtifactRow, v: &VersionRow) -> Result<(), Response> {
    if v.state == "CLOSED" {
        return Ok(());
    }
    Err(bad(
        &format!(
            "Artifact version {}/{}:{} is in state {} and cannot be accessed",
            a.workspace, a.name, v.version, v.state
        ),
        Some(NOT_FINAL),
    ))
}

fn version_size(s: &Store, vid: &str) -> Result<i64, Response> {
    s.conn
        .query_row(
            "SELECT COALESCE(SUM(file_size), 0) FROM assets
             WHERE artifact_version_id = ?1 AND remote = 0",
            params![vid],
            |r| r.get(0),
        )
        .map_err(db_error)
}

fn artifact_json(a: &ArtifactRow) -> Value {
    json!({
        "artifactName": a.name,
        "artifactType": a.kind,
        "artifactId": a.id,
        "workspaceName": a.workspace,
        "tags": a.tags,
    })
}

fn version_json(s: &Store, a: &ArtifactRow, v: &VersionRow) -> Result<Value, Response> {
    Ok(json!({
        "artifact": artifact_json(a),
        "artifactVersionId": v.id,
        "artifactVersion": v.version,
        "alias": v.aliases,
        "tags": v.tags,
        "sizeInBytes": version_size(s, &v.id)?,
        "metadata": v.metadata,
        "experimentKey": v.experiment_key,
        "state": v.state,
        "createdAt": v.created_ms,
    }))
}

/// Give `aliases` to version `vid`, taking them from the artifact's other versions: an
/// alias names one version at a time.
fn set_aliases(
    s: &Store,
    artifact_id: &str,
    vid: &str,
    aliases: &[String],
) -> Result<(), Response> {
    for other in versions_of(s, artifact_id)? {
        if other.id == vid {
            continue;
        }
        let kept: Vec<&String> = other
            .aliases
            .iter()
            .filter(|x| !aliases.contains(x))
            .collect();
        if kept.len() != other.aliases.len() {
            s.conn
                .execute(
                    "UPDATE artifact_versions SET aliases = ?1 WHERE version_id = ?2",
                    params![json!(kept).to_string(), other.id],
                )
                .map_err(db_error)?;
        }
    }
    s.conn
        .execute(
            "UPDATE artifact_versions SET aliases = ?1 WHERE version_id = ?2",
            params![json!(aliases).to_string(), vid],
        )
        .map_err(db_error)?;
    Ok(())
}

// ---------------------------------------------------------------------------------
// Handlers

fn upsert(state: &State, ctx: &Ctx) -> Answer {
    let b = ctx.json()?;
    let name = body_str(&b, "artifactName").ok_or_else(|| bad("artifactName is required", None))?;
    let kind = body_str(&b, "artifactType").unwrap_or("data");
    let key =
        body_str(&b, "experimentKey").ok_or_else(|| bad("experimentKey is required", None))?;
    let version = body_str(&b, "version");
    if let Some(v) = version {
        if parse_semver(v).is_none() {
            return Err(bad(
                &format!("Invalid version string '{v}': expected a semantic version such as 1.2.0"),
                Some(BAD_VERSION),
            ));
        }
    }
    let aliases = body_list(b.get("alias")).unwrap_or_default();
    let tags = body_list(b.get("versionTags")).unwrap_or_default();
    let metadata = body_metadata(b.get("versionMetadata"));
    with_store(state, |s| {
        let (ws, project) = experiment_home(s, key)?
            .ok_or_else(|| bad(&format!("Experiment {key} not found"), Some(90210)))?;
        let art = match artifact_by_name(s, Some(&ws), name)? {
            Some(a) => a,
            None => {
                let id = new_id();
                s.conn
                    .execute(
                        "INSERT INTO artifacts(artifact_id, workspace, name, type, project_id, created_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![id, ws, name, kind, project, now_ms()],
                    )
                    .map_err(db_error)?;
                artifact_by_id(s, &id)?.ok_or_else(|| not_found(&id))?
            }
        };
        let versions = versions_of(s, &art.id)?;
        let previous = versions.last().map(|v| v.version.clone());
        let current = match version {
            Some(v) => {
                let want = parse_semver(v);
                if versions.iter().any(|x| parse_semver(&x.version) == want) {
                    return Err(bad(
                        &format!("Artifact version {ws}/{name}:{v} already exists"),
                        Some(VERSION_EXISTS),
                    ));
                }
                v.to_string()
            }
            None => {
                let major = versions
                    .iter()
                    .filter_map(|x| parse_semver(&x.version).map(|p| p.major))
                    .max();
                format!("{}.0.0", major.map_or(1, |m| m + 1))
            }
        };
        let vid = new_id();
        s.conn
            .execute(
                "INSERT INTO artifact_versions(version_id, artifact_id, version, tags, metadata,
                   experiment_key, state, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'OPEN', ?7)",
                params![
                    vid,
                    art.id,
                    current,
                    json!(tags).to_string(),
                    metadata,
                    key,
                    now_ms()
                ],
            )
            .map_err(db_error)?;
        set_aliases(s, &art.id, &vid, &aliases)?;
        Ok(ok(json!({
            "artifactId": art.id,
            "artifactVersionId": vid,
            "currentVersion": current,
            "previousVersion": previous,
        })))
    })
}

fn version(state: &State, ctx: &Ctx) -> Answer {
    with_store(state, |s| {
        let (a, v, by_id) = find_version(s, ctx)?;
        if !by_id {
            require_closed(&a, &v)?;
        }
        if let Some(consumer) = ctx.q("consumerExperimentKey") {
            s.conn
                .execute(
                    "INSERT OR IGNORE INTO artifact_consumers(version_id, experiment_key, created_ms)
                     VALUES (?1, ?2, ?3)",
                    params![v.id, consumer, now_ms()],
                )
                .map_err(db_error)?;
        }
        Ok(ok(version_json(s, &a, &v)?))
    })
}

fn files(state: &State, ctx: &Ctx) -> Answer {
    with_store(state, |s| {
        let (a, v, by_id) = find_version(s, ctx)?;
        if !by_id {
            require_closed(&a, &v)?;
        }
        let mut st = s
            .conn
            .prepare(
                "SELECT asset_id, file_name, file_size, link, metadata, type, remote, sha1,
                        experiment_key
                 FROM assets WHERE artifact_version_id = ?1 ORDER BY created_ms, rowid",
            )
            .map_err(db_error)?;
        let rows = st
            .query_map(params![v.id], |r| {
                Ok(json!({
                    "assetId": r.get::<_, String>(0)?,
                    "fileName": r.get::<_, String>(1)?,
                    "fileSize": r.get::<_, i64>(2)?,
                    "link": r.get::<_, Option<String>>(3)?,
                    "metadata": r.get::<_, Option<String>>(4)?,
                    "type": r.get::<_, String>(5)?,
                    "remote": r.get::<_, i64>(6)? != 0,
                    "checksum": r.get::<_, Option<String>>(7)?,
                    "experimentKey": r.get::<_, String>(8)?,
                    "artifactVersionId": v.id,
                    "artifactId": a.id,
                }))
            })
            .map_err(db_error)?;
        let list: Vec<Value> = rows.collect::<rusqlite::Result<_>>().map_err(db_error)?;
        Ok(ok(json!({ "files": list })))
    })
}

fn set_state(state: &State, ctx: &Ctx) -> Answer {
    let b = ctx.json()?;
    let vid = body_str(&b, "artifactVersionId")
        .ok_or_else(|| bad("artifactVersionId is required", None))?;
    let new_state = body_str(&b, "state").unwrap_or("").to_ascii_uppercase();
    if !matches!(new_state.as_str(), "OPEN" | "CLOSED" | "ERROR") {
        return Err(bad(
            &format!("Unknown artifact version state '{new_state}'"),
            None,
        ));
    }
    with_store(state, |s| {
        version_by_id(s, vid)?.ok_or_else(|| not_found(vid))?;
        s.conn
            .execute(
                "UPDATE artifact_versions SET state = ?1 WHERE version_id = ?2",
                params![new_state, vid],
            )
            .map_err(db_error)?;
        Ok(ok(json!({})))
    })
}

fn labels(state: &State, ctx: &Ctx) -> Answer {
    let b = ctx.json()?;
    let vid = body_str(&b, "artifactVersionId")
        .ok_or_else(|| bad("artifactVersionId is required", None))?;
    with_store(state, |s| {
        let v = version_by_id(s, vid)?.ok_or_else(|| not_found(vid))?;
        if let Some(aliases) = body_list(b.get("alias")) {
            set_aliases(s, &v.artifact_id, vid, &aliases)?;
        }
        if let Some(tags) = body_list(b.get("versionTags")) {
            s.conn
                .execute(
                    "UPDATE artifact_versions SET tags = ?1 WHERE version_id = ?2",
                    params![json!(tags).to_string(), vid],
                )
                .map_err(db_error)?;
        }
        if let Some(m) = body_metadata(b.get("versionMetadata")) {
            s.conn
                .execute(
                    "UPDATE artifact_versions SET metadata = ?1 WHERE version_id = ?2",
                    params![m, vid],
                )
                .map_err(db_error)?;
        }
        Ok(ok(json!({})))
    })
}

fn details(state: &State, ctx: &Ctx) -> Answer {
    let b = ctx.json()?;
    let aid = body_str(&b, "artifactId").ok_or_else(|| bad("artifactId is required", None))?;
    with_store(state, |s| {
        let a = artifact_by_id(s, aid)?.ok_or_else(|| not_found(aid))?;
        if let Some(tags) = body_list(b.get("tags")) {
            s.conn
                .execute(
                    "UPDATE artifacts SET tags = ?1 WHERE artifact_id = ?2",
                    params![json!(tags).to_string(), a.id],
                )
                .map_err(db_error)?;
        }
        if let Some(t) = body_str(&b, "artifactType") {
            s.conn
                .execute(
                    "UPDATE artifacts SET type = ?1 WHERE artifact_id = ?2",
                    params![t, a.id],
                )
                .map_err(db_error)?;
        }
        if let (Some(m), Some(ver)) = (
            body_metadata(b.get("versionMetadata")),
            body_str(&b, "version"),
        ) {
            s.conn
                .execute(
                    "UPDATE artifact_versions SET metadata = ?1 WHERE artifact_id = ?2 AND version = ?3",
                    params![m, a.id, ver],
                )
                .map_err(db_error)?;
        }
        Ok(ok(json!({})))
    })
}

fn artifact_summary(s: &Store, a: &ArtifactRow, with_versions: bool) -> Result<Value, Response> {
    let versions = versions_of(s, &a.id)?;
    let mut v = artifact_json(a);
    v["latestVersion"] = json!(versions.last().map(|x| x.version.clone()));
    v["versionsCount"] = json!(versions.len());
    if with_versions {
        let mut list = Vec::new();
        for x in &versions {
            list.push(json!({
                "artifactVersionId": x.id,
                "version": x.version,
                "alias": x.aliases,
                "tags": x.tags,
                "state": x.state,
                "sizeInBytes": version_size(s, &x.id)?,
                "metadata": x.metadata,
                "experimentKey": x.experiment_key,
                "createdAt": x.created_ms,
            }));
        }
        v["versions"] = json!(list);
    }
    Ok(v)
}

fn get_all(state: &State, ctx: &Ctx) -> Answer {
    with_store(state, |s| {
        let all: Vec<ArtifactRow> = {
            let mut st = s
                .conn
                .prepare(&format!(
                    "SELECT {ARTIFACT_COLS} FROM artifacts
                     WHERE (?1 IS NULL OR workspace = ?1) AND (?2 IS NULL OR type = ?2)
                     ORDER BY workspace, name"
                ))
                .map_err(db_error)?;
            let it = st
                .query_map(
                    params![ctx.q("workspace"), ctx.q("type")],
                    artifact_from_row,
                )
                .map_err(db_error)?;
            it.collect::<rusqlite::Result<_>>().map_err(db_error)?
        };
        let mut out = Vec::new();
        for a in &all {
            out.push(artifact_summary(s, a, false)?);
        }
        Ok(ok(json!({ "artifacts": out })))
    })
}

fn get_one(state: &State, ctx: &Ctx) -> Answer {
    with_store(state, |s| {
        let a = find_artifact(s, ctx)?;
        Ok(ok(artifact_summary(s, &a, true)?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_parsing_and_order() {
        assert!(parse_semver("1.2.0").is_some());
        assert!(parse_semver("1.2.0-beta").is_some());
        assert!(parse_semver("1.2.0-beta.1+build.5").is_some());
        assert!(parse_semver("2").is_some());
        for bad in ["", "a", "1.2.3.4", "1..2", "1.2.0-", "1.2.0+", "-1", "1.x"] {
            assert!(parse_semver(bad).is_none(), "{bad}");
        }
        let mut v = vec![
            "2.0.0",
            "1.10.0",
            "1.2.0",
            "1.2.0-beta",
            "1.2.0-alpha.2",
            "1.2.0-alpha.10",
        ];
        v.sort_by_key(|x| parse_semver(x));
        assert_eq!(
            v,
            vec![
                "1.2.0-alpha.2",
                "1.2.0-alpha.10",
                "1.2.0-beta",
                "1.2.0",
                "1.10.0",
                "2.0.0"
            ]
        );
        assert_eq!(parse_semver("1.0"), parse_semver("1.0.0"));
    }

    #[test]
    fn body_lists() {
        assert_eq!(
            body_list(Some(&json!(["a", "b", "a"]))),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(body_list(Some(&json!("x"))), Some(vec!["x".into()]));
        assert_eq!(body_list(Some(&Value::Null)), None);
        assert_eq!(body_list(None), None);
        assert_eq!(
            body_metadata(Some(&json!({"a": 1}))),
            Some("{\"a\":1}".into())
        );
        assert_eq!(
            body_metadata(Some(&json!("{\"a\":1}"))),
            Some("{\"a\":1}".into())
        );
    }

    #[test]
    fn upsert_and_read_through_the_store() {
        let dir = std::env::temp_dir().join(format!("cometr-art-{}", new_id()));
        let store = Store::open(&dir).unwrap();
        let pid = store.ensure_project("local", "p").unwrap();
        store.create_experiment("exp1", &pid, None).unwrap();
        let state = State::new(store, None, "http://x".into());
        let ctx = |method: Method, path: &str, q: &[(&str, &str)], body: Value| Ctx {
            method,
            path: path.into(),
            query: q
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            headers: Default::default(),
            body: axum::body::Bytes::from(body.to_string()),
            form: None,
        };
        let up = |v: Value| {
            route(
                &state,
                "rest",
                &ctx(Method::POST, "write/artifacts/upsert", &[], v),
            )
            .unwrap()
        };
        let body = json!({"artifactName": "ds", "artifactType": "dataset", "experimentKey": "exp1",
                          "alias": ["prod"]});
        assert_eq!(up(body.clone()).status(), StatusCode::OK);
        assert_eq!(up(body.clone()).status(), StatusCode::OK);
        let dup = json!({"artifactName": "ds", "artifactType": "dataset", "experimentKey": "exp1",
                         "version": "2.0.0"});
        assert_eq!(up(dup).status(), StatusCode::BAD_REQUEST);
        let s = state.store.lock().unwrap();
        let a = artifact_by_name(&s, Some("local"), "ds").unwrap().unwrap();
        let vs = versions_of(&s, &a.id).unwrap();
        let names: Vec<&str> = vs.iter().map(|v| v.version.as_str()).collect();
        assert_eq!(names, vec!["1.0.0", "2.0.0"]);
        // The alias moved to the newer version.
        assert!(vs[0].aliases.is_empty());
        assert_eq!(vs[1].aliases, vec!["prod".to_string()]);
        drop(s);
        let r = route(
            &state,
            "rest",
            &ctx(
                Method::GET,
                "artifacts/version",
                &[("workspace", "local"), ("artifactName", "ds")],
                Value::Null,
            ),
        )
        .unwrap();
        // Still OPEN, so not readable by name.
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
