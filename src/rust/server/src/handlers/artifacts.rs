//! Artifacts: versions with aliases and tags, their state (OPEN → CLOSED or ERROR),
//! and the files uploaded into a version through the experiment asset endpoint.
//!
//! An artifact belongs to a workspace and is named uniquely there. Its versions are
//! semantic-version strings; without one, an upsert creates the next major version.
//! A version can be read by name or alias only once it is CLOSED. The files of a
//! version are the experiment assets uploaded with its `artifactVersionId` (see
//! `assets.rs`).

use serde_json::{json, Value};

use super::Env;
use crate::error::{code, ApiError};
use crate::reply::{json, Handled};
use crate::request::{percent_decode, str_field, Request};
use crate::store::artifacts::{ArtifactRow, NewVersion, VersionRow};
use crate::store::assets::NewAsset;
use crate::util::{new_id, now_ms};

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
fn not_found(what: &str) -> ApiError {
    ApiError::bad_request_code(
        format!("Artifact not found: {what}"),
        code::ARTIFACT_NOT_FOUND,
    )
}

/// An artifact's versions in semantic-version order (then creation order).
fn versions_of(env: &Env, artifact_id: &str) -> Result<Vec<VersionRow>, ApiError> {
    let mut rows = env.store.versions(artifact_id)?;
    rows.sort_by(|a, b| {
        parse_semver(&a.version)
            .cmp(&parse_semver(&b.version))
            .then(a.created_ms.cmp(&b.created_ms))
    });
    Ok(rows)
}

/// The artifact a request names: by id, or by name in the given workspace (else the
/// workspace of the experiment making the request).
fn find_artifact(env: &Env, req: &Request) -> Result<ArtifactRow, ApiError> {
    let store = env.store;
    if let Some(id) = req.q("artifactId").or_else(|| req.q("artifact_id")) {
        return store.artifact_by_id(id)?.ok_or_else(|| not_found(id));
    }
    let name = req
        .q("artifactName")
        .ok_or_else(|| ApiError::bad_request("artifactName or artifactId is required"))?;
    let mut ws = req.q("workspace").map(str::to_string);
    if ws.is_none() {
        for k in ["consumerExperimentKey", "experimentKey"] {
            if let Some(key) = req.q(k) {
                if let Some((w, _)) = store.experiment_home(key)? {
                    ws = Some(w);
                    break;
                }
            }
        }
    }
    if let Some(a) = store.artifact_by_name(ws.as_deref(), name)? {
        return Ok(a);
    }
    // Some clients quote the name once more before encoding it as a query value.
    if name.contains('%') {
        let decoded = percent_decode(name);
        if let Some(a) = store.artifact_by_name(ws.as_deref(), &decoded)? {
            return Ok(a);
        }
    }
    let full = match &ws {
        Some(w) => format!("{w}/{name}"),
        None => name.to_string(),
    };
    Err(not_found(&full))
}

/// The version a request names; the latest one when it names none. The third value
/// says whether it was named by id (such a read may see a version still being written).
fn find_version(env: &Env, req: &Request) -> Result<(ArtifactRow, VersionRow, bool), ApiError> {
    if let Some(vid) = req.q("versionId").or_else(|| req.q("artifactVersionId")) {
        let v = env
            .store
            .version_by_id(vid)?
            .ok_or_else(|| not_found(vid))?;
        if let Some(aid) = req.q("artifactId") {
            if aid != v.artifact_id {
                return Err(not_found(vid));
            }
        }
        let a = env
            .store
            .artifact_by_id(&v.artifact_id)?
            .ok_or_else(|| not_found(vid))?;
        return Ok((a, v, true));
    }
    let a = find_artifact(env, req)?;
    let versions = versions_of(env, &a.id)?;
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
    let (found, what) = if let Some(v) = req.q("version") {
        (by_version(v), v)
    } else if let Some(al) = req.q("alias") {
        (by_alias(al), al)
    } else if let Some(voa) = req.q("versionOrAlias") {
        (by_version(voa).or_else(|| by_alias(voa)), voa)
    } else {
        (versions.last().cloned(), "latest")
    };
    let v = found.ok_or_else(|| not_found(&format!("{}/{}:{what}", a.workspace, a.name)))?;
    Ok((a, v, false))
}

fn require_closed(a: &ArtifactRow, v: &VersionRow) -> Result<(), ApiError> {
    if v.state == "CLOSED" {
        return Ok(());
    }
    Err(ApiError::bad_request_code(
        format!(
            "Artifact version {}/{}:{} is in state {} and cannot be accessed",
            a.workspace, a.name, v.version, v.state
        ),
        code::ARTIFACT_NOT_FINAL,
    ))
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

fn version_json(env: &Env, a: &ArtifactRow, v: &VersionRow) -> Result<Value, ApiError> {
    Ok(json!({
        "artifact": artifact_json(a),
        "artifactVersionId": v.id,
        "artifactVersion": v.version,
        "alias": v.aliases,
        "tags": v.tags,
        "sizeInBytes": env.store.version_size(&v.id)?,
        "metadata": v.metadata,
        "experimentKey": v.experiment_key,
        "state": v.state,
        "createdAt": v.created_ms,
    }))
}

/// Give `aliases` to version `vid`, taking them from the artifact's other versions: an
/// alias names one version at a time.
fn set_aliases(
    env: &Env,
    artifact_id: &str,
    vid: &str,
    aliases: &[String],
) -> Result<(), ApiError> {
    for other in env.store.versions(artifact_id)? {
        if other.id == vid {
            continue;
        }
        let kept: Vec<&String> = other
            .aliases
            .iter()
            .filter(|x| !aliases.contains(x))
            .collect();
        if kept.len() != other.aliases.len() {
            env.store.set_version_aliases(&other.id, &kept)?;
        }
    }
    env.store.set_version_aliases(vid, aliases)?;
    Ok(())
}

// ---------------------------------------------------------------------------------
// Handlers

pub fn upsert(env: &Env, req: &Request) -> Handled {
    let b = req.json()?;
    let name = str_field(&b, "artifactName")
        .ok_or_else(|| ApiError::bad_request("artifactName is required"))?;
    let kind = str_field(&b, "artifactType").unwrap_or("data");
    let key = str_field(&b, "experimentKey")
        .ok_or_else(|| ApiError::bad_request("experimentKey is required"))?;
    let version = str_field(&b, "version");
    if let Some(v) = version {
        if parse_semver(v).is_none() {
            return Err(ApiError::bad_request_code(
                format!("Invalid version string '{v}': expected a semantic version such as 1.2.0"),
                code::BAD_VERSION,
            ));
        }
    }
    let aliases = body_list(b.get("alias")).unwrap_or_default();
    let tags = body_list(b.get("versionTags")).unwrap_or_default();
    let metadata = body_metadata(b.get("versionMetadata"));
    let (ws, project) = env
        .store
        .experiment_home(key)?
        .ok_or_else(|| ApiError::unknown_experiment(key))?;
    let art = match env.store.artifact_by_name(Some(&ws), name)? {
        Some(a) => a,
        None => {
            let id = new_id();
            env.store
                .insert_artifact(&id, &ws, name, kind, &project, now_ms())?;
            env.store
                .artifact_by_id(&id)?
                .ok_or_else(|| not_found(&id))?
        }
    };
    let versions = versions_of(env, &art.id)?;
    let previous = versions.last().map(|v| v.version.clone());
    let current = match version {
        Some(v) => {
            let want = parse_semver(v);
            if versions.iter().any(|x| parse_semver(&x.version) == want) {
                return Err(ApiError::bad_request_code(
                    format!("Artifact version {ws}/{name}:{v} already exists"),
                    code::VERSION_EXISTS,
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
    env.store.insert_version(&NewVersion {
        id: &vid,
        artifact_id: &art.id,
        version: &current,
        tags: &tags,
        metadata: metadata.as_deref(),
        experiment_key: key,
        created_ms: now_ms(),
    })?;
    set_aliases(env, &art.id, &vid, &aliases)?;
    json(json!({
        "artifactId": art.id,
        "artifactVersionId": vid,
        "currentVersion": current,
        "previousVersion": previous,
    }))
}

pub fn version(env: &Env, req: &Request) -> Handled {
    let (a, v, by_id) = find_version(env, req)?;
    if !by_id {
        require_closed(&a, &v)?;
    }
    if let Some(consumer) = req.q("consumerExperimentKey") {
        env.store.add_consumer(&v.id, consumer, now_ms())?;
    }
    json(version_json(env, &a, &v)?)
}

pub fn files(env: &Env, req: &Request) -> Handled {
    let (a, v, by_id) = find_version(env, req)?;
    if !by_id {
        require_closed(&a, &v)?;
    }
    let list: Vec<Value> = env
        .store
        .version_files(&v.id)?
        .into_iter()
        .map(|f| {
            json!({
                "assetId": f.asset_id,
                "fileName": f.file_name,
                "fileSize": f.size,
                "link": f.link,
                "metadata": f.metadata,
                "type": f.kind,
                "remote": f.remote,
                "checksum": f.sha1,
                "experimentKey": f.experiment_key,
                "artifactVersionId": v.id,
                "artifactId": a.id,
            })
        })
        .collect();
    json(json!({ "files": list }))
}

pub fn set_state(env: &Env, req: &Request) -> Handled {
    let b = req.json()?;
    let vid = str_field(&b, "artifactVersionId")
        .ok_or_else(|| ApiError::bad_request("artifactVersionId is required"))?;
    let new_state = str_field(&b, "state").unwrap_or("").to_ascii_uppercase();
    if !matches!(new_state.as_str(), "OPEN" | "CLOSED" | "ERROR") {
        return Err(ApiError::bad_request(format!(
            "Unknown artifact version state '{new_state}'"
        )));
    }
    env.store
        .version_by_id(vid)?
        .ok_or_else(|| not_found(vid))?;
    env.store.set_version_state(vid, &new_state)?;
    json(json!({}))
}

pub fn labels(env: &Env, req: &Request) -> Handled {
    let b = req.json()?;
    let vid = str_field(&b, "artifactVersionId")
        .ok_or_else(|| ApiError::bad_request("artifactVersionId is required"))?;
    let v = env
        .store
        .version_by_id(vid)?
        .ok_or_else(|| not_found(vid))?;
    if let Some(aliases) = body_list(b.get("alias")) {
        set_aliases(env, &v.artifact_id, vid, &aliases)?;
    }
    if let Some(tags) = body_list(b.get("versionTags")) {
        env.store.set_version_tags(vid, &tags)?;
    }
    if let Some(m) = body_metadata(b.get("versionMetadata")) {
        env.store.set_version_metadata(vid, &m)?;
    }
    json(json!({}))
}

pub fn details(env: &Env, req: &Request) -> Handled {
    let b = req.json()?;
    let aid = str_field(&b, "artifactId")
        .ok_or_else(|| ApiError::bad_request("artifactId is required"))?;
    let a = env
        .store
        .artifact_by_id(aid)?
        .ok_or_else(|| not_found(aid))?;
    if let Some(tags) = body_list(b.get("tags")) {
        env.store.set_artifact_tags(&a.id, &tags)?;
    }
    if let Some(t) = str_field(&b, "artifactType") {
        env.store.set_artifact_type(&a.id, t)?;
    }
    if let (Some(m), Some(ver)) = (
        body_metadata(b.get("versionMetadata")),
        str_field(&b, "version"),
    ) {
        env.store.set_named_version_metadata(&a.id, ver, &m)?;
    }
    json(json!({}))
}

fn artifact_summary(env: &Env, a: &ArtifactRow, with_versions: bool) -> Result<Value, ApiError> {
    let versions = versions_of(env, &a.id)?;
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
                "sizeInBytes": env.store.version_size(&x.id)?,
                "metadata": x.metadata,
                "experimentKey": x.experiment_key,
                "createdAt": x.created_ms,
            }));
        }
        v["versions"] = json!(list);
    }
    Ok(v)
}

pub fn get_all(env: &Env, req: &Request) -> Handled {
    let mut out = Vec::new();
    for a in &env.store.artifacts(req.q("workspace"), req.q("type"))? {
        out.push(artifact_summary(env, a, false)?);
    }
    json(json!({ "artifacts": out }))
}

pub fn get_one(env: &Env, req: &Request) -> Handled {
    let a = find_artifact(env, req)?;
    json(artifact_summary(env, &a, true)?)
}

// ---------------------------------------------------------------------------------
// Files of a version, and lineage

/// Files are added to a version only while it is OPEN: once CLOSED its content is final
/// (readers may have downloaded it), and an ERROR version is abandoned. Comet refuses
/// such uploads with a 400, so the client reports the asset as failed.
pub fn require_open(env: &Env, vid: &str) -> Result<(), ApiError> {
    let v = env
        .store
        .version_by_id(vid)?
        .ok_or_else(|| not_found(vid))?;
    if v.state == "OPEN" {
        return Ok(());
    }
    let a = env
        .store
        .artifact_by_id(&v.artifact_id)?
        .ok_or_else(|| not_found(vid))?;
    Err(ApiError::bad_request(format!(
        "Artifact version {}/{}:{} is {}: no assets can be added to it",
        a.workspace, a.name, v.version, v.state
    )))
}

/// `write/artifact/assets/remote/batch?experimentKey=`: the remote files of artifact
/// versions, many at once (comet_ml sends them so when the backend is 3.12.26 or newer):
/// `{"remoteArtifactAssetRequests": [{"link", "type", "metadata", "assetId", "fileName",
/// "overwrite", "step", "context", "artifactVersionId", ...}]}`. All are kept or none.
pub fn remote_batch(env: &Env, req: &Request) -> Handled {
    let b = req.json()?;
    let key = req
        .experiment_key(&b)
        .ok_or_else(|| ApiError::bad_request("experimentKey is required"))?;
    let items = match b.get("remoteArtifactAssetRequests") {
        Some(Value::Array(a)) => a.clone(),
        _ => {
            return Err(ApiError::bad_request(
                "remoteArtifactAssetRequests must be a list",
            ))
        }
    };
    env.with_experiment(&key, |k| {
        let unit = env.store.unit()?;
        for item in &items {
            let link = str_field(item, "link")
                .filter(|l| !l.is_empty())
                .ok_or_else(|| ApiError::bad_request("each remote asset needs a link"))?;
            let vid = str_field(item, "artifactVersionId").ok_or_else(|| {
                ApiError::bad_request("each remote asset needs an artifactVersionId")
            })?;
            require_open(env, vid)?;
            let file_name = str_field(item, "fileName")
                .map(str::to_string)
                .unwrap_or_else(|| super::assets::base_name(link));
            let metadata = body_metadata(item.get("metadata")).filter(|m| m != "{}");
            if let Some(m) = &metadata {
                if serde_json::from_str::<Value>(m).is_err() {
                    return Err(ApiError::bad_request("metadata must be a JSON object"));
                }
            }
            // A resent item keeps its id: it replaces its first copy.
            let id = str_field(item, "assetId")
                .filter(|id| super::assets::valid_id(id))
                .filter(|id| !matches!(env.store.asset_owner(id), Ok(Some(o)) if o != k))
                .map(str::to_string)
                .unwrap_or_else(new_id);
            env.store.delete_asset(k, &id)?;
            env.store.insert_asset(&NewAsset {
                id: &id,
                experiment_key: k,
                file_name: &file_name,
                size: 0,
                kind: str_field(item, "type").unwrap_or("asset"),
                metadata: metadata.as_deref(),
                link: Some(link),
                step: crate::request::int_of(item.get("step")),
                context: str_field(item, "context"),
                artifact_version_id: Some(vid),
                sha1: None,
                created_ms: now_ms(),
            })?;
        }
        unit.commit()?;
        json(json!({ "msg": format!("{} remote assets stored", items.len()) }))
    })
}

/// `get/artifacts?experimentKey=&filter=all|input|output`: the artifact versions an
/// experiment made (output) and read (input: fetched with its key as
/// `consumerExperimentKey`), oldest first.
pub fn lineage(env: &Env, req: &Request) -> Handled {
    let key = req
        .q("experimentKey")
        .ok_or_else(|| ApiError::bad_request("experimentKey is required"))?;
    let filter = req.q("filter").unwrap_or("all").to_ascii_lowercase();
    if !matches!(filter.as_str(), "all" | "input" | "output") {
        return Err(ApiError::bad_request(format!(
            "filter must be all, input or output, not '{filter}'"
        )));
    }
    env.with_experiment(key, |k| {
        let mut rows: Vec<(&str, VersionRow)> = Vec::new();
        if filter != "input" {
            rows.extend(
                env.store
                    .versions_made_by(k)?
                    .into_iter()
                    .map(|v| ("output", v)),
            );
        }
        if filter != "output" {
            rows.extend(
                env.store
                    .versions_read_by(k)?
                    .into_iter()
                    .map(|v| ("input", v)),
            );
        }
        let mut list = Vec::new();
        for (direction, v) in &rows {
            let Some(a) = env.store.artifact_by_id(&v.artifact_id)? else {
                continue;
            };
            let mut item = version_json(env, &a, v)?;
            item["direction"] = json!(direction);
            item["artifactName"] = json!(a.name);
            item["artifactId"] = json!(a.id);
            item["workspaceName"] = json!(a.workspace);
            list.push(item);
        }
        json(json!({ "experimentKey": k, "filter": filter, "artifacts": list }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Api;
    use crate::testing::{get, json_of, post, Fixture};

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
        let f = Fixture::new();
        let env = f.env();
        let key = f.experiment();
        let up = |v: Value| {
            upsert(
                &env,
                &post(Api::Rest, "write/artifacts/upsert").with_json(&v),
            )
        };
        let body = json!({"artifactName": "ds", "artifactType": "dataset", "experimentKey": key,
                          "alias": ["prod"]});
        let first = json_of(up(body.clone()));
        assert_eq!(first["currentVersion"], "1.0.0");
        assert_eq!(json_of(up(body.clone()))["previousVersion"], "1.0.0");
        let dup = json!({"artifactName": "ds", "artifactType": "dataset", "experimentKey": key,
                         "version": "2.0.0"});
        assert_eq!(
            up(dup).unwrap_err().sdk_error_code,
            Some(code::VERSION_EXISTS)
        );
        let a = f
            .store
            .artifact_by_name(Some("local"), "ds")
            .unwrap()
            .unwrap();
        let vs = versions_of(&env, &a.id).unwrap();
        let names: Vec<&str> = vs.iter().map(|v| v.version.as_str()).collect();
        assert_eq!(names, vec!["1.0.0", "2.0.0"]);
        // The alias moved to the newer version.
        assert!(vs[0].aliases.is_empty());
        assert_eq!(vs[1].aliases, vec!["prod".to_string()]);
        let read = get(Api::Rest, "artifacts/version")
            .with_query("workspace", "local")
            .with_query("artifactName", "ds");
        // Still OPEN, so not readable by name.
        let e = version(&env, &read).unwrap_err();
        assert_eq!(e.sdk_error_code, Some(code::ARTIFACT_NOT_FINAL));
        let vid = vs[1].id.as_str();
        let closed = post(Api::Rest, "write/artifacts/state")
            .with_json(&json!({"artifactVersionId": vid, "state": "closed"}));
        assert!(set_state(&env, &closed).is_ok());
        let v = json_of(version(&env, &read));
        assert_eq!(v["artifactVersion"], "2.0.0");
        assert_eq!(v["alias"], json!(["prod"]));
        assert_eq!(v["sizeInBytes"], 0);
    }

    /// A version of artifact `name` made by experiment `key`, in `state`.
    fn version_in(env: &Env, key: &str, name: &str, state: &str) -> String {
        let made = json_of(upsert(
            env,
            &post(Api::Rest, "write/artifacts/upsert")
                .with_json(&json!({"artifactName": name, "experimentKey": key})),
        ));
        let vid = made["artifactVersionId"].as_str().unwrap().to_string();
        if state != "OPEN" {
            let body = json!({"artifactVersionId": vid, "state": state});
            json_of(set_state(
                env,
                &post(Api::Rest, "write/artifacts/state").with_json(&body),
            ));
        }
        vid
    }

    #[test]
    fn remote_assets_arrive_in_batches_into_open_versions_only() {
        let f = Fixture::new();
        let env = f.env();
        let key = f.experiment();
        let vid = version_in(&env, &key, "ds", "OPEN");
        let batch = |items: Value| {
            remote_batch(
                &env,
                &post(Api::Rest, "write/artifact/assets/remote/batch")
                    .with_query("experimentKey", &key)
                    .with_json(&json!({ "remoteArtifactAssetRequests": items })),
            )
        };
        let items = json!([
            {"link": "s3://b/a.csv", "type": "asset", "metadata": "{\"k\":1}",
             "assetId": "a1", "fileName": "a.csv", "isRemote": true, "overwrite": false,
             "step": 0, "artifactVersionId": vid},
            {"link": "https://x.org/data/b.bin", "artifactVersionId": vid},
        ]);
        assert_eq!(
            json_of(batch(items.clone()))["msg"],
            "2 remote assets stored"
        );
        // Sent again (a retry), the item with an id replaces its first copy.
        json_of(batch(json!([items[0].clone()])));
        let files = f.store.version_files(&vid).unwrap();
        let names: Vec<(&str, bool)> = files
            .iter()
            .map(|x| (x.file_name.as_str(), x.remote))
            .collect();
        assert_eq!(names, vec![("b.bin", true), ("a.csv", true)]);
        assert_eq!(files[1].link.as_deref(), Some("s3://b/a.csv"));
        assert_eq!(files[1].metadata.as_deref(), Some("{\"k\":1}"));
        // Nothing is kept of a batch with an item that cannot be: no link, no version,
        // or a version no longer OPEN.
        let e = batch(json!([{"link": "s3://b/c", "artifactVersionId": vid}, {"type": "asset"}]))
            .unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(f.store.version_files(&vid).unwrap().len(), 2);
        let closed = version_in(&env, &key, "other", "CLOSED");
        let e = batch(json!([{"link": "s3://b/d", "artifactVersionId": closed}])).unwrap_err();
        assert_eq!(
            e.message,
            "Artifact version local/other:1.0.0 is CLOSED: no assets can be added to it"
        );
        assert!(batch(json!({"not": "a list"})).is_err());
        let e = batch(json!([{"link": "s3://b/d", "artifactVersionId": "nope"}])).unwrap_err();
        assert_eq!(e.sdk_error_code, Some(code::ARTIFACT_NOT_FOUND));
    }

    #[test]
    fn lineage_lists_what_an_experiment_made_and_read() {
        let f = Fixture::new();
        let env = f.env();
        let maker = f.experiment();
        let reader = f.experiment();
        version_in(&env, &maker, "made", "CLOSED");
        let lineage = |key: &str, filter: &str| {
            let got = json_of(lineage(
                &env,
                &get(Api::Rest, "get/artifacts")
                    .with_query("experimentKey", key)
                    .with_query("filter", filter),
            ));
            got["artifacts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| format!("{} {}", a["artifactName"].as_str().unwrap(), a["direction"]))
                .collect::<Vec<_>>()
        };
        assert!(lineage(&reader, "all").is_empty());
        let read = get(Api::Rest, "artifacts/version")
            .with_query("workspace", "local")
            .with_query("artifactName", "made")
            .with_query("experimentKey", &reader)
            .with_query("consumerExperimentKey", &reader);
        json_of(version(&env, &read));
        json_of(version(&env, &read));
        assert_eq!(lineage(&reader, "all"), vec!["made \"input\""]);
        assert!(lineage(&reader, "output").is_empty());
        assert_eq!(lineage(&maker, "output"), vec!["made \"output\""]);
        assert!(lineage(&maker, "input").is_empty());
        let bad = get(Api::Rest, "get/artifacts")
            .with_query("experimentKey", &maker)
            .with_query("filter", "sideways");
        assert_eq!(lineage_err(&env, &bad), 400);
        let unknown = get(Api::Rest, "get/artifacts").with_query("experimentKey", "nope");
        assert_eq!(lineage_err(&env, &unknown), 400);
    }

    fn lineage_err(env: &Env, req: &Request) -> u16 {
        lineage(env, req).unwrap_err().status
    }

    #[test]
    fn files_are_uploaded_into_open_versions_only() {
        let f = Fixture::new();
        let env = f.env();
        let key = f.experiment();
        let upload = |vid: &str, name: &str| {
            let mut req = post(Api::Rest, "write/experiment/upload-asset")
                .with_query("experimentKey", &key)
                .with_query("artifactVersionId", vid)
                .with_query("fileName", name);
            let mut form = crate::request::Form::default();
            form.fields.insert("link".into(), format!("s3://b/{name}"));
            req.form = Some(form);
            crate::router::route(&env, &req)
        };
        let open = version_in(&env, &key, "open", "OPEN");
        assert!(upload(&open, "a").is_ok());
        let closed = version_in(&env, &key, "closed", "CLOSED");
        let e = upload(&closed, "b").unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(
            e.message,
            "Artifact version local/closed:1.0.0 is CLOSED: no assets can be added to it"
        );
        assert!(f.store.version_files(&closed).unwrap().is_empty());
        let failed = version_in(&env, &key, "failed", "ERROR");
        assert_eq!(upload(&failed, "c").unwrap_err().status, 400);
        let e = upload("no-such-version", "d").unwrap_err();
        assert_eq!(e.sdk_error_code, Some(code::ARTIFACT_NOT_FOUND));
    }
}
