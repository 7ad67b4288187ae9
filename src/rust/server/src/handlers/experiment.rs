//! One experiment's records: metrics, parameters, others, tags, HTML, graph, code, git
//! metadata, system details, output, times and status, over both REST v2 and the
//! clientlib endpoints the streaming SDKs use. Assets are in `assets.rs`.

use serde_json::{json, Map, Value};

use super::Env;
use crate::error::{code, ApiError};
use crate::reply::{json, Handled};
use crate::request::{int_of, text_of, truthy, truthy_json, Request};
use crate::store::records::{MetricPoint, OutputLine, ParameterValue, Point, Series, StoredMetric};
use crate::util::{new_id, now_ms};

/// Documents that mark a run's state rather than hold its records.
pub const PENDING_STOP: &str = "pending_stop";

fn done() -> Handled {
    json(json!({}))
}

// ---------------------------------------------------------------------------------
// Reading what clients send

fn values_of(body: &Value, field: &str) -> Vec<Value> {
    body.get(field)
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default()
}

/// A metric point from its JSON (none without a name).
pub fn metric_point(p: &Value) -> Option<MetricPoint> {
    Some(MetricPoint {
        name: text_of(p.get("metricName"))?,
        value: text_of(p.get("metricValue")),
        step: int_of(p.get("step")),
        epoch: int_of(p.get("epoch")),
        context: text_of(p.get("context")).or_else(|| text_of(p.get("runContext"))),
        ts: int_of(p.get("timestamp")),
    })
}

/// A parameter value from its JSON (none without a name).
pub fn parameter_value(p: &Value) -> Option<ParameterValue> {
    Some(ParameterValue {
        name: text_of(p.get("parameterName"))?,
        value: text_of(p.get("parameterValue")),
        step: int_of(p.get("step")),
        ts: int_of(p.get("timestamp")),
    })
}

pub fn output_line(l: &Value) -> OutputLine {
    OutputLine {
        offset: int_of(l.get("offset")),
        text: text_of(l.get("output")).unwrap_or_default(),
        stderr: l.get("stderr").and_then(|v| v.as_bool()).unwrap_or(false),
        ts: int_of(l.get("localTimestamp")),
    }
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(|x| text_of(Some(x))).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Code arrives as one string, or (from cometr 0.4.0) as an array of lines.
fn code_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| text_of(Some(x)))
            .collect::<Vec<_>>()
            .join("\n"),
        other => text_of(other).unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------
// Writes

pub fn mark_not_throttled(env: &Env, key: &str) -> Handled {
    env.with_experiment(key, |_| done())
}

pub fn log_metric(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        let points: Vec<MetricPoint> = metric_point(b).into_iter().collect();
        env.store.insert_metrics(k, &points)?;
        done()
    })
}

pub fn log_parameter(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        let values: Vec<ParameterValue> = parameter_value(b).into_iter().collect();
        env.store.insert_parameters(k, &values)?;
        done()
    })
}

pub fn batch_metrics(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        let points: Vec<MetricPoint> = values_of(b, "values")
            .iter()
            .filter_map(metric_point)
            .collect();
        let n = env.store.insert_metrics(k, &points)?;
        json(json!({ "msg": format!("{n} metrics stored") }))
    })
}

pub fn batch_parameters(env: &Env, req: &Request) -> Handled {
    let body = req.json()?;
    batch_parameters_of(env, req, &body)
}

/// A batch of parameters from a body already parsed (offline replay filters it).
pub fn batch_parameters_of(env: &Env, req: &Request, body: &Value) -> Handled {
    env.on_experiment_body(req, body, |k, b| {
        let values: Vec<ParameterValue> = values_of(b, "values")
            .iter()
            .filter_map(parameter_value)
            .collect();
        let n = env.store.insert_parameters(k, &values)?;
        json(json!({ "msg": format!("{n} parameters stored") }))
    })
}

pub fn log_other(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        let name = text_of(b.get("key")).ok_or_else(|| ApiError::bad_request("key is required"))?;
        let value = text_of(b.get("value")).unwrap_or_default();
        let ts = int_of(b.get("timestamp")).unwrap_or_else(now_ms);
        env.store.log_other(k, &name, &value, ts)?;
        done()
    })
}

pub fn add_tags(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        for t in string_list(b.get("addedTags")) {
            if !t.is_empty() {
                env.store.add_tag(k, &t)?;
            }
        }
        done()
    })
}

pub fn delete_tags(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        for t in string_list(b.get("tags")) {
            env.store.delete_tag(k, &t)?;
        }
        done()
    })
}

/// `write/experiment/parameter/delete`: one parameter, all its values.
pub fn delete_parameter(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        let name = text_of(b.get("parameterName"))
            .ok_or_else(|| ApiError::bad_request("parameterName is required"))?;
        env.store.delete_parameter(k, &name)?;
        done()
    })
}

/// `write/experiments/parameters/delete`: a list of `{experimentKey, parameterName}`,
/// all applied or, when one names an unknown experiment, none.
pub fn delete_parameters(env: &Env, req: &Request) -> Handled {
    let body = req.json()?;
    let items = body
        .as_array()
        .ok_or_else(|| ApiError::bad_request("expected a list of parameters to delete"))?;
    let unit = env.store.unit()?;
    for item in items {
        let (Some(key), Some(name)) = (
            text_of(item.get("experimentKey")),
            text_of(item.get("parameterName")),
        ) else {
            return Err(ApiError::bad_request(
                "each entry needs experimentKey and parameterName",
            ));
        };
        env.with_experiment(&key, |k| {
            env.store.delete_parameter(k, &name)?;
            done()
        })?;
    }
    unit.commit()?;
    done()
}

pub fn log_html(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        let html = text_of(b.get("html")).unwrap_or_default();
        let replace = b
            .get("override")
            .map(|v| v.as_bool().unwrap_or_else(|| truthy(v.as_str())))
            .unwrap_or(false);
        let new = if replace {
            html
        } else {
            env.store.doc(k, "html")?.unwrap_or_default() + &html
        };
        env.store.set_doc(k, "html", &new)?;
        done()
    })
}

pub fn set_graph(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        let graph = text_of(b.get("graph")).unwrap_or_default();
        env.store.set_doc(k, "graph", &graph)?;
        done()
    })
}

pub fn set_code(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        env.store.set_doc(k, "code", &code_text(b.get("code")))?;
        done()
    })
}

/// A stored JSON document as an object (empty when absent or not an object).
fn json_doc(env: &Env, key: &str, kind: &str) -> Result<Map<String, Value>, ApiError> {
    Ok(env
        .store
        .doc(key, kind)?
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default())
}

/// Merge a partial JSON object into a stored one: Comet's clients send system details
/// in several pieces (installed packages, OS packages, the rest).
fn merge_doc(env: &Env, key: &str, kind: &str, body: &Value) -> Result<(), ApiError> {
    let mut doc = json_doc(env, key, kind)?;
    if let Some(fields) = body.as_object() {
        for (k, v) in fields {
            if k == "experimentKey" || k == "apiKey" {
                continue;
            }
            doc.insert(k.clone(), v.clone());
        }
    }
    env.store
        .set_doc(key, kind, &Value::Object(doc).to_string())?;
    Ok(())
}

pub fn set_git_metadata(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        merge_doc(env, k, "git_metadata", b)?;
        done()
    })
}

pub fn set_system_details(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        merge_doc(env, k, "system_details", b)?;
        done()
    })
}

pub fn set_start_end_time(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        env.store.set_times(
            k,
            int_of(b.get("startTimeMillis")),
            int_of(b.get("endTimeMillis")),
        )?;
        done()
    })
}

pub fn log_output(env: &Env, req: &Request) -> Handled {
    let body = req.json()?;
    log_output_of(env, req, &body)
}

/// Output lines from a body already parsed (offline replay filters it).
pub fn log_output_of(env: &Env, req: &Request, body: &Value) -> Handled {
    env.on_experiment_body(req, body, |k, b| {
        let context = text_of(b.get("runContext"));
        let lines: Vec<OutputLine> = values_of(b, "outputLines")
            .iter()
            .map(output_line)
            .collect();
        env.store.insert_output(k, context.as_deref(), &lines)?;
        done()
    })
}

pub fn set_file_path(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        let path = text_of(b.get("filePath")).unwrap_or_default();
        let name = path.rsplit(['/', '\\']).next().unwrap_or(path.as_str());
        env.store.set_file_path(k, &path, name)?;
        done()
    })
}

pub fn archive(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| {
        env.store.set_archived(k, true)?;
        json(json!({"msg": "Archived"}))
    })
}

pub fn restore(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| {
        env.store.set_archived(k, false)?;
        json(json!({"msg": "Restored"}))
    })
}

pub fn delete(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| {
        env.store.delete_experiment(k)?;
        json(json!({"msg": "Experiment deleted", "experimentKey": k}))
    })
}

pub fn set_status(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| {
        env.store.beat(k, true)?;
        json(json!({ "isAliveBeatDurationMillis": env.heartbeat_ms }))
    })
}

/// Stopping a run asks its SDK to stop (through a pending RPC) and marks it ended.
pub fn stop(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| {
        env.store.set_doc(k, PENDING_STOP, &now_ms().to_string())?;
        env.store.beat(k, false)?;
        json(json!({"msg": "Experiment stopped", "experimentKey": k}))
    })
}

pub fn update_status(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        let alive = b.get("isAlive").and_then(|v| v.as_bool()).unwrap_or(true);
        env.store.beat(k, alive)?;
        let status = json!({
            "isAlive": alive,
            "error": b.get("error").cloned().unwrap_or(Value::Null),
            "hasCrashed": b.get("hasCrashed").cloned().unwrap_or(json!(false)),
        });
        env.store.set_doc(k, "status", &status.to_string())?;
        done()
    })
}

/// Show the experiment in another project of its workspace too.
pub fn symlink(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| {
        let project = req.q("projectName").ok_or_else(|| {
            ApiError::bad_request_code("projectName is required", code::NO_PROJECT_NAME)
        })?;
        let (ws, _) = env
            .store
            .experiment_home(k)?
            .ok_or_else(|| ApiError::unknown_experiment(k))?;
        let pid = env.store.ensure_project(&ws, project)?;
        env.store.add_symlink(k, &pid)?;
        json(json!({
            "link": format!("{}/{}/{}/{}", env.base_url, ws, project, k),
            "projectId": pid, "projectName": project, "workspaceName": ws,
        }))
    })
}

/// System metrics sent through the REST API (`write/experiment/cpu-metrics`,
/// `gpu-metrics`, `ram-metrics`, `load-metrics`): kept as metrics named as comet_ml
/// names the system metrics it samples itself (`sys.cpu.percent.01`, `sys.ram.used`...).
pub fn system_metrics(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        let num = |v: &Value| text_of(Some(v)).filter(|t| t.parse::<f64>().is_ok());
        let mut named: Vec<(String, String)> = Vec::new();
        match req.path.as_str() {
            "write/experiment/cpu-metrics" => {
                for (i, v) in values_of(b, "cpuPercentUtilization").iter().enumerate() {
                    named.extend(num(v).map(|x| (format!("sys.cpu.percent.{:02}", i + 1), x)));
                }
            }
            "write/experiment/ram-metrics" => {
                for (field, name) in [("totalRam", "sys.ram.total"), ("usedRam", "sys.ram.used")] {
                    named.extend(b.get(field).and_then(num).map(|x| (name.to_string(), x)));
                }
            }
            "write/experiment/load-metrics" => {
                named.extend(
                    b.get("loadAverage")
                        .and_then(num)
                        .map(|x| ("sys.load.avg".into(), x)),
                );
            }
            _ => {
                for (i, gpu) in values_of(b, "gpus").iter().enumerate() {
                    let id = int_of(gpu.get("gpuId")).unwrap_or(i as i64);
                    for (field, v) in gpu.as_object().into_iter().flatten() {
                        if field != "gpuId" {
                            named.extend(num(v).map(|x| (format!("sys.gpu.{id}.{field}"), x)));
                        }
                    }
                }
            }
        }
        let points: Vec<MetricPoint> = named
            .into_iter()
            .map(|(name, value)| MetricPoint {
                name,
                value: Some(value),
                step: int_of(b.get("step")),
                epoch: int_of(b.get("epoch")),
                context: text_of(b.get("context")),
                ts: int_of(b.get("timestamp")),
            })
            .collect();
        env.store.insert_metrics(k, &points)?;
        done()
    })
}

/// `write/experiment/cloud-details`: the cloud the run ran in, kept as sent.
pub fn set_cloud_details(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        let doc = json!({"provider": b.get("provider"), "metadata": b.get("metadata")});
        env.store.set_doc(k, "cloud_details", &doc.to_string())?;
        done()
    })
}

/// `PUT write/experiment/dependencies`: packages the run depends on, by name (a name
/// sent again takes its new version).
pub fn log_dependencies(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        let mut deps = json_doc(env, k, "dependencies")?;
        for d in values_of(b, "logDependencies") {
            if let Some(name) = text_of(d.get("name")) {
                deps.insert(name, d.get("version").cloned().unwrap_or(Value::Null));
            }
        }
        env.store
            .set_doc(k, "dependencies", &Value::Object(deps).to_string())?;
        done()
    })
}

/// `write/experiment/move`: experiments into another project (created when new), or,
/// with `symlink`, shown there too.
pub fn move_experiments(env: &Env, req: &Request) -> Handled {
    let b = req.json()?;
    let (Some(ws), Some(project)) = (
        text_of(b.get("targetWorkspaceName")),
        text_of(b.get("targetProjectName")),
    ) else {
        return Err(ApiError::bad_request_code(
            "targetWorkspaceName and targetProjectName are required",
            code::NO_PROJECT_NAME,
        ));
    };
    let keys = string_list(b.get("experimentKeys"));
    for k in &keys {
        if !env.store.experiment_exists(k)? {
            return Err(ApiError::unknown_experiment(k));
        }
    }
    let unit = env.store.unit()?;
    let pid = env.store.ensure_project(&ws, &project)?;
    for k in &keys {
        if truthy_json(&b, "symlink") {
            env.store.add_symlink(k, &pid)?;
        } else {
            env.store.move_experiment(k, &pid)?;
        }
    }
    unit.commit()?;
    json(json!({"msg": format!("{} experiments moved", keys.len()), "projectId": pid}))
}

// ---------------------------------------------------------------------------------
// Reads

fn metric_json(m: &StoredMetric) -> Value {
    json!({
        "metricName": m.point.name,
        "metricValue": m.point.value,
        "timestamp": m.point.ts,
        "step": m.point.step,
        "epoch": m.point.epoch,
        "runContext": m.point.context,
        "offset": m.offset,
    })
}

pub fn get_metric(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| {
        let name = req
            .q("metricName")
            .ok_or_else(|| ApiError::bad_request("metricName is required"))?;
        let points = env.store.metric_points(k, Some(name))?;
        json(json!({ "metrics": points.iter().map(metric_json).collect::<Vec<_>>() }))
    })
}

pub fn get_all_metrics(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| {
        let points = env.store.metric_points(k, None)?;
        json(json!({ "metrics": points.iter().map(metric_json).collect::<Vec<_>>() }))
    })
}

/// Comet's summary of one name's values: extremes (numeric when the values are numbers),
/// the current (latest logged) value, and the timestamp and step ranges. Values are
/// strings, as Comet answers them.
pub fn summarize(name: &str, points: &[Point], with_steps: bool) -> Value {
    let numeric: Vec<(f64, &str)> = points
        .iter()
        .filter_map(|p| {
            let s = p.value.as_deref()?;
            let x = s.trim().parse::<f64>().ok().filter(|x| x.is_finite())?;
            Some((x, s))
        })
        .collect();
    let (vmax, vmin) = if !numeric.is_empty() {
        let max = numeric
            .iter()
            .fold(numeric[0], |a, b| if b.0 > a.0 { *b } else { a });
        let min = numeric
            .iter()
            .fold(numeric[0], |a, b| if b.0 < a.0 { *b } else { a });
        (Some(max.1.to_string()), Some(min.1.to_string()))
    } else {
        let texts = points.iter().filter_map(|p| p.value.clone());
        (texts.clone().max(), texts.min())
    };
    // The current value is the one with the latest timestamp; ties go to the later log.
    let current = points
        .iter()
        .enumerate()
        .max_by_key(|(i, p)| (p.ts.unwrap_or(i64::MIN), *i))
        .map(|(_, p)| p);
    let ts: Vec<i64> = points.iter().filter_map(|p| p.ts).collect();
    let mut out = json!({
        "name": name,
        "valueMax": vmax,
        "valueMin": vmin,
        "valueCurrent": current.and_then(|p| p.value.clone()),
        "timestampMax": ts.iter().max(),
        "timestampMin": ts.iter().min(),
        "timestampCurrent": current.and_then(|p| p.ts),
    });
    if with_steps {
        let steps: Vec<i64> = points.iter().filter_map(|p| p.step).collect();
        out["stepMax"] = json!(steps.iter().max());
        out["stepMin"] = json!(steps.iter().min());
        out["stepCurrent"] = json!(current.and_then(|p| p.step));
    }
    out
}

/// Summaries of every name in a series, in the order the names were first logged.
fn summaries(env: &Env, series: Series, key: &str) -> Result<Vec<Value>, ApiError> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: std::collections::HashMap<String, Vec<Point>> = Default::default();
    for (name, p) in env.store.series_points(series, key)? {
        groups
            .entry(name.clone())
            .or_insert_with(|| {
                order.push(name);
                Vec::new()
            })
            .push(p);
    }
    Ok(order
        .iter()
        .map(|n| summarize(n, &groups[n], series == Series::Metrics))
        .collect())
}

pub fn metrics_summary(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| {
        json(json!({ "values": summaries(env, Series::Metrics, k)? }))
    })
}

pub fn parameters(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| {
        json(json!({ "values": summaries(env, Series::Parameters, k)? }))
    })
}

pub fn others(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| {
        json(json!({ "values": summaries(env, Series::Others, k)? }))
    })
}

pub fn tags(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| json(json!({ "tags": env.store.tags(k)? })))
}

pub fn html(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| {
        json(json!({ "html": env.store.doc(k, "html")? }))
    })
}

pub fn graph(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| {
        json(json!({ "graph": env.store.doc(k, "graph")? }))
    })
}

pub fn code(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| {
        json(json!({ "code": env.store.doc(k, "code")? }))
    })
}

/// The output as one text. The Python SDK sends each write (its text, then a separate
/// "\n"), cometr sends whole lines without their newline: entries are concatenated, with
/// a newline added between two where neither side has one.
pub fn join_output(lines: &[String]) -> String {
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        if i > 0 && !out.ends_with('\n') && !l.starts_with('\n') {
            out.push('\n');
        }
        out.push_str(l);
    }
    out
}

pub fn output(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| {
        json(json!({ "output": join_output(&env.store.output(k)?) }))
    })
}

pub fn system_details(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| {
        let mut doc = json_doc(env, k, "system_details")?;
        for f in [
            "user",
            "pythonVersion",
            "pythonVersionVerbose",
            "pid",
            "osType",
            "os",
            "osRelease",
            "ip",
            "hostname",
            "command",
            "executable",
            "gpuStaticInfoList",
            "logAdditionalSystemInfoList",
            "networkInterfaceIps",
            "osPackages",
            "installedPackages",
        ] {
            doc.entry(f).or_insert(Value::Null);
        }
        let deps = json_doc(env, k, "dependencies")?;
        if !deps.is_empty() {
            let mut packages: Vec<Value> = match doc.get("installedPackages") {
                Some(Value::Array(a)) => a.clone(),
                _ => Vec::new(),
            };
            for (name, version) in &deps {
                let line = json!(format!("{name}=={}", version.as_str().unwrap_or_default()));
                if !packages.contains(&line) {
                    packages.push(line);
                }
            }
            doc.insert("installedPackages".into(), Value::Array(packages));
        }
        if let Some(cloud) = env.store.doc(k, "cloud_details")? {
            let v: Value = serde_json::from_str(&cloud).unwrap_or(Value::Null);
            doc.insert("cloudDetails".into(), v);
        }
        // Comet answers the process id as a number, whatever the client sent.
        if let Some(pid) = int_of(doc.get("pid")) {
            doc.insert("pid".into(), json!(pid));
        }
        doc.insert("experimentKey".into(), json!(k));
        json(Value::Object(doc))
    })
}

pub fn git_metadata(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| {
        let doc = json_doc(env, k, "git_metadata")?;
        let mut out = Map::new();
        for f in ["user", "root", "branch", "parent", "origin"] {
            out.insert(f.into(), doc.get(f).cloned().unwrap_or(Value::Null));
        }
        json(Value::Object(out))
    })
}

// ---------------------------------------------------------------------------------
// Clientlib: the streaming SDKs' run lifecycle

pub fn status_report(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        let alive = b.get("is_alive").and_then(|v| v.as_bool()).unwrap_or(true);
        env.store.beat(k, alive)?;
        json(json!({
            "is_alive_beat_duration_millis": env.heartbeat_ms,
            "gpu_monitor_interval_millis": 60_000,
            "cpu_monitor_interval_millis": 68_000,
            "pending_rpcs": env.store.doc(k, PENDING_STOP)?.is_some(),
        }))
    })
}

pub fn offline_metadata(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, b| {
        env.store.set_times(
            k,
            int_of(b.get("startTimestamp")),
            int_of(b.get("endTimestamp")),
        )?;
        done()
    })
}

pub fn pending_rpcs(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |k, _| {
        let Some(at) = env.store.doc(k, PENDING_STOP)? else {
            return json(json!({"remoteProcedureCalls": []}));
        };
        env.store.clear_doc(k, PENDING_STOP)?;
        let project = env.store.experiment_project(k)?;
        json(json!({"remoteProcedureCalls": [{
            "callId": new_id(), "userName": "local", "functionName": "stop",
            "cometDefined": true, "arguments": [],
            "createdAt": at.parse::<i64>().unwrap_or_else(|_| now_ms()),
            "experimentKey": k, "projectId": project,
        }]}))
    })
}

/// RPC registration and results: acknowledged, nothing kept.
pub fn rpc_ack(env: &Env, req: &Request) -> Handled {
    env.on_experiment(req, |_, _| done())
}

pub fn limits_3d(_: &Env, _: &Request) -> Handled {
    json(json!({"maxPoints": 1_000_000, "maxBoxes": 250_000}))
}

/// Notifications: acknowledged, nothing kept.
pub fn notify(_: &Env, _: &Request) -> Handled {
    done()
}

/// The handshake that starts a run (`logger/add/run`): creates the experiment, or
/// answers for an existing one when the client asks to get or create.
pub fn add_run(env: &Env, req: &Request) -> Handled {
    let body = req.json()?;
    let key = text_of(body.get("experimentKey"))
        .filter(|k| !k.is_empty())
        .unwrap_or_else(new_id);
    if key.len() > 64 || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::bad_request("Invalid experiment key"));
    }
    let ws = text_of(body.get("teamName"))
        .or_else(|| text_of(body.get("workspaceName")))
        .unwrap_or_else(|| "local".into());
    let project = text_of(body.get("projectName")).unwrap_or_else(|| "general".into());
    if env.store.experiment_exists(&key)? {
        if body.get("getOrCreateEnabled").and_then(|v| v.as_bool()) == Some(true) {
            return run_answer(env, &key);
        }
        return Err(ApiError::bad_request_code(
            format!("Experiment {key} already exists"),
            code::EXPERIMENT_EXISTS,
        ));
    }
    let name = text_of(body.get("experimentName"));
    let pid = env.store.ensure_project(&ws, &project)?;
    env.store.create_experiment(&key, &pid, name.as_deref())?;
    if let Some(ts) = int_of(body.get("local_timestamp")).filter(|_| truthy_json(&body, "offline"))
    {
        let _ = env.store.set_times(&key, Some(ts), None);
    }
    run_answer(env, &key)
}

/// The handshake that resumes a run (`logger/get/run`).
pub fn get_run(env: &Env, req: &Request) -> Handled {
    let body = req.json()?;
    let key = text_of(body.get("previousExperiment"))
        .or_else(|| text_of(body.get("experimentKey")))
        .ok_or_else(|| ApiError::bad_request("previousExperiment is required"))?;
    env.with_experiment(&key, |k| {
        env.store.resume(k)?;
        run_answer(env, k)
    })
}

/// The handshake answer of `logger/add/run` and `logger/get/run`.
fn run_answer(env: &Env, key: &str) -> Handled {
    let (pid, ws, project, name) = env.store.experiment_names(key)?;
    let offset = env.store.next_output_offset(key)?;
    let base = env.base_url;
    json(json!({
        "runId": new_id(),
        "project_id": pid,
        "projectName": project,
        "workspaceName": ws,
        "experimentKey": key,
        "focusUrl": format!("{base}/{ws}/{project}/"),
        "lastOffset": offset,
        "name": name,
        "githubEnabled": false,
        "s3DirectAccessEnabled": false,
        "upload_file_size_limit_in_mb": 200,
        "uploadVideoMaxSizeMB": 200,
        "asset_upload_file_size_limit_in_mb": 102_400,
        "artifactNameMaxLength": 100,
        "assetNameMaxLength": 1000,
        "imageNameMaxLength": 1000,
        "featureToggles": [],
        "cometWebAssetUrl": format!("{base}/api/asset/download?"),
        "cometWebImageUrl": format!("{base}/api/image/download?"),
        "cometRestApiAssetUrl": format!("{base}/api/rest/v2/experiment/asset/get-asset?"),
        "cometRestApiImageUrl": format!("{base}/api/rest/v2/experiment/asset/get-asset?"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &str, ts: i64, step: i64) -> Point {
        Point {
            value: Some(v.into()),
            ts: Some(ts),
            step: Some(step),
        }
    }

    #[test]
    fn summarizes_numbers_as_strings() {
        let s = summarize(
            "loss",
            &[
                p("0.5", 10, 1),
                p("2", 30, 3),
                p("NaN", 20, 2),
                p("-1.5", 25, 4),
            ],
            true,
        );
        assert_eq!(s["valueMax"], "2");
        assert_eq!(s["valueMin"], "-1.5");
        assert_eq!(s["valueCurrent"], "2");
        assert_eq!(s["timestampMax"], 30);
        assert_eq!(s["timestampMin"], 10);
        assert_eq!(s["timestampCurrent"], 30);
        assert_eq!(s["stepMax"], 4);
        assert_eq!(s["stepMin"], 1);
        assert_eq!(s["stepCurrent"], 3);
    }

    #[test]
    fn summarizes_text_and_ties() {
        let s = summarize("opt", &[p("adam", 5, 0), p("sgd", 5, 0)], false);
        assert_eq!(s["valueCurrent"], "sgd");
        assert_eq!(s["valueMax"], "sgd");
        assert_eq!(s["valueMin"], "adam");
        assert!(s.get("stepMax").is_none());
        let none = summarize(
            "x",
            &[Point {
                value: None,
                ts: None,
                step: None,
            }],
            true,
        );
        assert_eq!(none["valueCurrent"], Value::Null);
        assert_eq!(none["stepMax"], Value::Null);
    }

    #[test]
    fn joins_output_lines() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(join_output(&v(&["hello", "\n", "b", "\n"])), "hello\nb\n");
        assert_eq!(join_output(&v(&["l1", "l2", "partial"])), "l1\nl2\npartial");
        assert_eq!(join_output(&v(&["a\n", "b\n"])), "a\nb\n");
        assert_eq!(join_output(&[]), "");
    }

    #[test]
    fn reads_code_as_text_or_lines() {
        assert_eq!(code_text(Some(&json!(["a", "b"]))), "a\nb");
        assert_eq!(code_text(Some(&json!("x <- 1"))), "x <- 1");
        assert_eq!(code_text(None), "");
    }

    #[test]
    fn dependencies_and_cloud_details_read_back_with_the_system_details() {
        use crate::request::Api;
        use crate::testing::{get, json_of, post, Fixture};
        let f = Fixture::new();
        let env = f.env();
        let key = f.experiment();
        let write = |path: &str, body: Value| {
            let mut b = body;
            b["experimentKey"] = json!(key);
            json_of(match path {
                "dependencies" => log_dependencies(
                    &env,
                    &post(Api::Rest, "write/experiment/dependencies").with_json(&b),
                ),
                "cloud" => set_cloud_details(
                    &env,
                    &post(Api::Rest, "write/experiment/cloud-details").with_json(&b),
                ),
                _ => set_system_details(
                    &env,
                    &post(Api::Rest, "write/experiment/system-details").with_json(&b),
                ),
            });
        };
        write(
            "system",
            json!({"installedPackages": ["a==1", "numpy==2.0"]}),
        );
        write(
            "dependencies",
            json!({"timestamp": 1,
            "logDependencies": [{"name": "numpy", "version": "2.0"}, {"name": "b", "version": "3"}]}),
        );
        write(
            "cloud",
            json!({"provider": "AWS", "metadata": {"region": "r1"}}),
        );
        let got = json_of(system_details(
            &env,
            &get(Api::Rest, "experiment/system-details").with_query("experimentKey", &key),
        ));
        assert_eq!(
            got["installedPackages"],
            json!(["a==1", "numpy==2.0", "b==3"])
        );
        assert_eq!(
            got["cloudDetails"],
            json!({"provider": "AWS", "metadata": {"region": "r1"}})
        );
    }
}
