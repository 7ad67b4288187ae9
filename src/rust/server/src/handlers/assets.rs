//! An experiment's assets: uploads (files streamed to disk by the request parser,
//! remote links), git patches, listing, download by id or name, and deletion.

use serde_json::{json, Value};

use super::Env;
use crate::error::ApiError;
use crate::reply::{json, Handled, Reply};
use crate::request::{int_of, text_of, truthy, Request};
use crate::store::assets::{AssetRow, NewAsset};
use crate::util::{new_id, now_ms};

/// Asset ids name files on disk, so a client-chosen id must be a plain token.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The last part of a path or URI (`s3://b/dir/` gives `dir`).
pub fn base_name(s: &str) -> String {
    let s = s.split(['?', '#']).next().unwrap_or(s);
    s.trim_end_matches(['/', '\\'])
        .rsplit(['/', '\\'])
        .next()
        .filter(|b| !b.is_empty() && !b.ends_with(':'))
        .unwrap_or("remote")
        .to_string()
}

fn remote_error() -> ApiError {
    ApiError::bad_request("This asset is remote: download it from its link")
}

fn download_link(env: &Env, key: &str, id: &str) -> String {
    format!(
        "{}/api/rest/v2/experiment/asset/get-asset?experimentKey={key}&assetId={id}",
        env.base_url
    )
}

/// A stored asset's file, sent as a download.
fn file_reply(env: &Env, id: &str, name: &str, content_type: Option<&'static str>) -> Reply {
    Reply::File {
        path: env.store.asset_file(id),
        name: name.to_string(),
        content_type,
    }
}

pub fn upload_asset(env: &Env, req: &Request) -> Handled {
    upload(env, req, "asset")
}

pub fn upload_image(env: &Env, req: &Request) -> Handled {
    upload(env, req, "image")
}

pub fn upload_git_patch(env: &Env, req: &Request) -> Handled {
    upload(env, req, "git-patch")
}

/// Keep an upload (a file already on disk, or a remote link) as an asset of type
/// `default_type` unless the request names another.
fn upload(env: &Env, req: &Request, default_type: &str) -> Handled {
    let file = req.form.as_ref().and_then(|f| f.file.as_ref());
    let link = req.field("link").cloned();
    let remote = file.is_none() && (link.is_some() || truthy(req.q("isRemote")));
    if file.is_none() && link.is_none() {
        return Err(ApiError::bad_request(
            "The upload has neither a file nor a link",
        ));
    }
    let key = req
        .experiment_key(&json!({}))
        .or_else(|| req.field("experimentKey").cloned())
        .ok_or_else(|| ApiError::bad_request("experimentKey is required"))?;
    let q = |k: &str| req.q(k).map(String::from).or_else(|| req.field(k).cloned());
    let ty = q("type").unwrap_or_else(|| default_type.to_string());
    let file_name = q("fileName")
        .or_else(|| q("figName"))
        .or_else(|| q("imageName"))
        .or_else(|| file.and_then(|f| f.file_name.as_deref().map(base_name)))
        .or_else(|| link.as_deref().map(base_name))
        .unwrap_or_else(|| {
            if ty == "git-patch" {
                "git_diff.patch".into()
            } else {
                "asset".into()
            }
        });
    let metadata = match q("metadata") {
        Some(m) if serde_json::from_str::<Value>(&m).is_err() => {
            return Err(ApiError::bad_request("metadata must be a JSON object"))
        }
        Some(m) if m == "{}" => None,
        other => other,
    };
    let overwrite = truthy(q("overwrite").as_deref());
    let step = int_of(q("step").map(Value::String).as_ref());
    let context = q("context");
    let version = q("artifactVersionId");
    let asked_id = q("assetId").filter(|id| valid_id(id));
    // `log_model` files each of a model's assets under the model's name.
    let model = q("groupingName");
    env.with_experiment(&key, |k| {
        if let Some(vid) = version.as_deref() {
            super::artifacts::require_open(env, vid)?;
        }
        // A retried upload with the same id replaces its first attempt, but an id that
        // another experiment owns is that experiment's asset: this upload gets its own.
        let asset_id = match asked_id.clone() {
            Some(id) if matches!(env.store.asset_owner(&id)?, Some(o) if o != k) => new_id(),
            Some(id) => id,
            None => new_id(),
        };
        let mut old: Vec<String> = vec![asset_id.clone()];
        if overwrite || ty == "git-patch" {
            old.extend(
                env.store
                    .replaced_assets(k, &file_name, version.as_deref(), overwrite)?,
            );
        }
        for id in &old {
            env.store.delete_asset(k, id)?;
        }
        let (size, sha1) = match file {
            Some(f) => {
                env.store
                    .keep_upload(&f.path, &asset_id)
                    .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))?;
                (f.size as i64, Some(f.sha1.as_str()))
            }
            None => (0, None),
        };
        let remote_link = if remote { link.as_deref() } else { None };
        env.store.insert_asset(&NewAsset {
            id: &asset_id,
            experiment_key: k,
            file_name: &file_name,
            size,
            kind: &ty,
            metadata: metadata.as_deref(),
            link: remote_link,
            step,
            context: context.as_deref(),
            artifact_version_id: version.as_deref(),
            sha1,
            created_ms: now_ms(),
        })?;
        if let Some(m) = &model {
            env.store.set_asset_model(&asset_id, m)?;
        }
        let link = match remote_link {
            Some(l) => l.to_string(),
            None if remote => String::new(),
            None => download_link(env, k, &asset_id),
        };
        json(json!({
            "assetId": asset_id, "fileName": file_name, "fileSize": size,
            "remote": remote, "link": link, "web": link, "api": link,
            "experimentKey": k,
        }))
    })
}

/// The folder Comet files an asset type under.
fn asset_dir(ty: &str) -> &'static str {
    match ty {
        "image" => "images",
        "audio" => "audio",
        "video" => "videos",
        "histogram_combined_3d" => "histograms",
        "source_code" | "git-patch" => "code",
        "model-element" => "models",
        _ => "assets",
    }
}

fn asset_json(env: &Env, key: &str, a: &AssetRow) -> Value {
    let ty = a.kind.as_str();
    let link = if a.remote {
        a.link.clone().unwrap_or_default()
    } else {
        download_link(env, key, &a.id)
    };
    let curl = if a.remote {
        Value::Null
    } else {
        json!(format!(
            "curl \"{link}\" -H \"Authorization: <Your Api Key>\" -o \"{}\"",
            a.file_name
        ))
    };
    json!({
        "fileName": a.file_name,
        "fileSize": a.size,
        "runContext": a.context,
        "step": a.step,
        "remote": a.remote,
        "link": link,
        "compressedAssetLink": link,
        "s3Link": link,
        "createdAt": a.created_ms,
        "dir": asset_dir(ty),
        "canView": ty == "image",
        "audio": ty == "audio",
        "video": ty == "video",
        "histogram": ty == "histogram_combined_3d",
        "image": ty == "image",
        "type": ty,
        "metadata": a.metadata,
        "assetId": a.id,
        "tags": [],
        "curlDownload": curl,
        "experimentKey": key,
    })
}

pub fn list(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| {
        let ty = req.q("type").filter(|t| *t != "all");
        let assets = env.store.assets(k, ty)?;
        let list: Vec<Value> = assets.iter().map(|a| asset_json(env, k, a)).collect();
        json(json!({ "assets": list }))
    })
}

/// The experiment's models (`experiment/model`), as comet_ml's `get_model_names` reads
/// them: those its `log_model` uploaded.
pub fn models(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| {
        let list: Vec<Value> = env
            .store
            .models(k)?
            .into_iter()
            .map(|(name, id)| {
                json!({"experimentModelId": id, "experimentKey": k, "modelName": name})
            })
            .collect();
        json(json!({ "models": list }))
    })
}

/// `experiment/model/download`: a model's files in one zip (comet_ml's `download_model`).
pub fn model_download(env: &Env, req: &Request) -> Handled {
    let name = req
        .q("modelName")
        .ok_or_else(|| ApiError::bad_request("modelName is required"))?;
    env.on_experiment(req, |k, _| match env.store.model_zip(k, name) {
        Ok(Some(path)) => Ok(Reply::File {
            path,
            name: format!("{name}.zip"),
            content_type: Some("application/octet-stream"),
        }),
        Ok(None) => Err(ApiError::bad_request(format!(
            "Model {name} has no stored files"
        ))),
        Err(e) => Err(ApiError::internal(format!("cannot zip model {name}: {e}"))),
    })
}

/// `asset/log-remote-model` (clientlib): a model whose files stay where they are, kept
/// as remote assets of the model.
pub fn log_remote_model(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        let model = text_of(b.get("modelName"))
            .ok_or_else(|| ApiError::bad_request("modelName is required"))?;
        let items = b
            .get("remoteEntities")
            .and_then(|v| v.as_array())
            .cloned()
            .ok_or_else(|| ApiError::bad_request("remoteEntities must be a list"))?;
        let unit = env.store.unit()?;
        for item in &items {
            let link = text_of(item.get("remoteUrl"))
                .ok_or_else(|| ApiError::bad_request("each remote asset needs remoteUrl"))?;
            let id = text_of(item.get("assetId"))
                .filter(|id| valid_id(id) && matches!(env.store.asset_owner(id), Ok(None)))
                .unwrap_or_else(new_id);
            let name = text_of(item.get("fileName")).unwrap_or_else(|| base_name(&link));
            let metadata = text_of(item.get("metadata"));
            env.store.insert_asset(&NewAsset {
                id: &id,
                experiment_key: k,
                file_name: &name,
                size: 0,
                kind: "model-element",
                metadata: metadata.as_deref(),
                link: Some(&link),
                step: None,
                context: None,
                artifact_version_id: None,
                sha1: None,
                created_ms: now_ms(),
            })?;
            env.store.set_asset_model(&id, &model)?;
        }
        unit.commit()?;
        json(json!({"msg": format!("{} remote assets logged", items.len()), "modelName": model}))
    })
}

/// One model's assets (`experiment/model/asset/list`), listed as the experiment's are.
pub fn model_assets(env: &Env, req: &Request) -> Handled {
    let name = req
        .q("modelName")
        .ok_or_else(|| ApiError::bad_request("modelName is required"))?;
    env.on_experiment(req, |k, _| {
        let list: Vec<Value> = env
            .store
            .model_assets(k, name)?
            .iter()
            .map(|a| asset_json(env, k, a))
            .collect();
        json(json!({ "assets": list }))
    })
}

pub fn git_patch(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| match env.store.latest_git_patch(k)? {
        Some(id) => Ok(file_reply(
            env,
            &id,
            "git_diff.patch",
            Some("application/octet-stream"),
        )),
        None => Err(ApiError::bad_request("No patch for this experiment")),
    })
}

/// Download by id. The experiment named may be the consumer of an artifact rather than
/// the asset's owner, so the id alone finds the asset.
pub fn get_asset(env: &Env, req: &Request) -> Handled {
    let id = req
        .q("assetId")
        .ok_or_else(|| ApiError::bad_request("assetId is required"))?;
    match env.store.asset_by_id(id)? {
        Some((_, true)) => Err(remote_error()),
        Some((name, false)) => Ok(file_reply(env, id, &name, None)),
        None => Err(ApiError::bad_request(format!("Asset {id} not found"))),
    }
}

pub fn get_by_name(env: &Env, req: &Request) -> Handled {
    // comet_ml (`get_assets_by_name`) names the asset `assetName` and reads the list of
    // the experiment's assets of that name (of one type, if it names one).
    if let Some(name) = req.q("assetName").filter(|_| req.q("fileName").is_none()) {
        return env.on_experiment(req, |k, _| {
            let ty = req.q("type").filter(|t| *t != "all");
            let list: Vec<Value> = env
                .store
                .assets(k, ty)?
                .iter()
                .filter(|a| a.file_name == name)
                .map(|a| asset_json(env, k, a))
                .collect();
            json(json!({ "assets": list }))
        });
    }
    env.on_experiment(req, |k, b| {
        let name = req
            .q("fileName")
            .map(String::from)
            .or_else(|| text_of(b.get("fileName")))
            .ok_or_else(|| ApiError::bad_request("fileName is required"))?;
        match env.store.asset_by_name(k, &name)? {
            None => Err(ApiError::bad_request(format!("Asset {name} not found"))),
            Some((_, true)) => Err(remote_error()),
            Some((id, false)) => Ok(file_reply(env, &id, &name, None)),
        }
    })
}

pub fn delete(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        let id = req
            .q("assetId")
            .map(String::from)
            .or_else(|| text_of(b.get("assetId")))
            .ok_or_else(|| ApiError::bad_request("assetId is required"))?;
        if !env.store.delete_asset(k, &id)? {
            return Err(ApiError::bad_request(format!("Asset {id} not found")));
        }
        json(json!({"msg": "Asset deleted", "assetId": id}))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Api, Form, UploadedFile};
    use crate::testing::{get, json_of, post, Fixture};

    #[test]
    fn names_from_paths_and_uris() {
        assert_eq!(base_name("s3://bucket/dataset.dat"), "dataset.dat");
        assert_eq!(base_name("https://comet.com/dataset"), "dataset");
        assert_eq!(base_name("s3://b/path/"), "path");
        assert_eq!(base_name("file.dat"), "file.dat");
        assert_eq!(base_name("C:\\x\\y.txt"), "y.txt");
        assert_eq!(base_name("s3://"), "remote");
        assert_eq!(base_name("https://x.org/a.csv?v=1"), "a.csv");
    }

    #[test]
    fn checks_client_ids() {
        assert!(valid_id("0123abcd"));
        assert!(!valid_id("../etc"));
        assert!(!valid_id(""));
    }

    /// An upload request whose file part is already on disk, as the parser leaves it.
    fn upload_request(f: &Fixture, key: &str, text: &str) -> Request {
        let path = f
            .store
            .assets_dir()
            .join(format!("upload-{}.part", new_id()));
        std::fs::write(&path, text).unwrap();
        let mut req = post(Api::Clientlib, "asset/upload").with_query("experimentKey", key);
        let mut form = Form::default();
        form.fields
            .insert("metadata".into(), "{\"k\":\"v\"}".into());
        form.file = Some(UploadedFile {
            path,
            size: text.len() as u64,
            sha1: "x".into(),
            file_name: Some("dir/data.txt".into()),
        });
        req.form = Some(form);
        req
    }

    #[test]
    fn uploads_lists_and_downloads() {
        let f = Fixture::new();
        let env = f.env();
        let key = f.experiment();
        let up = json_of(upload_asset(&env, &upload_request(&f, &key, "hello")));
        assert_eq!(up["fileName"], "data.txt");
        assert_eq!(up["fileSize"], 5);
        let id = up["assetId"].as_str().unwrap().to_string();
        let listed = json_of(list(
            &env,
            &get(Api::Rest, "experiment/asset/list").with_query("experimentKey", &key),
        ));
        assert_eq!(listed["assets"][0]["assetId"], id.as_str());
        assert_eq!(listed["assets"][0]["metadata"], "{\"k\":\"v\"}");
        let got = get_asset(
            &env,
            &get(Api::Rest, "experiment/asset/get-asset").with_query("assetId", &id),
        );
        let Ok(Reply::File { path, name, .. }) = got else {
            panic!("expected a file, got {got:?}");
        };
        assert_eq!(name, "data.txt");
        assert_eq!(std::fs::read_to_string(path).unwrap(), "hello");
        let gone = delete(
            &env,
            &post(Api::Rest, "write/experiment/asset/delete")
                .with_query("experimentKey", &key)
                .with_query("assetId", &id),
        );
        assert!(gone.is_ok());
        let again = get_asset(
            &env,
            &get(Api::Rest, "experiment/asset/get-asset").with_query("assetId", &id),
        );
        assert_eq!(again.unwrap_err().status, 400);
    }

    #[test]
    fn an_upload_needs_a_file_or_a_link_and_an_experiment() {
        let f = Fixture::new();
        let env = f.env();
        let req = post(Api::Clientlib, "asset/upload").with_query("experimentKey", "k");
        assert!(upload_asset(&env, &req).is_err());
        let e = upload_asset(&env, &upload_request(&f, "nope", "x")).unwrap_err();
        assert_eq!(e.sdk_error_code, Some(crate::error::code::NO_EXPERIMENT));
    }

    #[test]
    fn an_asset_id_is_scoped_to_its_experiment() {
        let f = Fixture::new();
        let env = f.env();
        let (mine, theirs) = (f.experiment(), f.experiment());
        let first = upload_request(&f, &theirs, "theirs").with_query("assetId", "shared01");
        json_of(upload_asset(&env, &first));
        // Another experiment naming the same id leaves the first one's asset alone.
        let second = upload_request(&f, &mine, "mine").with_query("assetId", "shared01");
        let up = json_of(upload_asset(&env, &second));
        assert_ne!(up["assetId"], "shared01");
        let listed = |key: &str| {
            json_of(list(
                &env,
                &get(Api::Rest, "experiment/asset/list").with_query("experimentKey", key),
            ))["assets"]
                .as_array()
                .unwrap()
                .len()
        };
        assert_eq!((listed(&theirs), listed(&mine)), (1, 1));
        let got = get_asset(
            &env,
            &get(Api::Rest, "experiment/asset/get-asset").with_query("assetId", "shared01"),
        );
        let Ok(Reply::File { path, .. }) = got else {
            panic!("expected a file, got {got:?}");
        };
        assert_eq!(std::fs::read_to_string(path).unwrap(), "theirs");
        // A retry within the same experiment still replaces its first attempt.
        let retry = upload_request(&f, &theirs, "again").with_query("assetId", "shared01");
        assert_eq!(json_of(upload_asset(&env, &retry))["assetId"], "shared01");
        assert_eq!(listed(&theirs), 1);
    }
}
