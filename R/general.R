#' Call a Comet REST API endpoint
#'
#' A low-level way to reach any endpoint of Comet's REST API v2.
#'
#' @param endpoint The REST API endpoint, starting with `/`, such as `"/workspaces"`.
#' @param method The HTTP method, `"GET"` or `"POST"`.
#' @param params A named list of parameters: the query string of a GET, the JSON
#'   body of a POST.
#' @param parse_response If `TRUE`, parse the answer; if `FALSE`, return the
#'   whole response (status, headers, raw content) as a `cometr_response` list.
#' @param response_json If `TRUE`, the answer must be JSON and is parsed into a
#'   list; if `FALSE`, it is parsed by its content type (JSON to a list, text to a
#'   string, anything else to a raw vector).
#' @param local_file_path A file to write the answer to (by GET), such as an
#'   asset from `/experiment/asset/get-asset`. The file must not exist yet; its
#'   folder must. The answer is streamed to disk, never held in memory whole, and
#'   the file appears only once complete. The response is then returned with
#'   `content` holding the file's path.
#' @param api_key Comet API key (defaults to the `COMET_API_KEY` configuration).
#' @return The parsed answer (see `parse_response` and `response_json`); with
#'   `local_file_path`, the response as with `parse_response = FALSE`, its
#'   `content` the path of the written file.
#' @examples
#' srv <- local_server()
#' call_api("/workspaces")
#' srv$stop()
#' @export
call_api <- function(endpoint, method = c("GET", "POST"), params = list(),
                     parse_response = TRUE, response_json = TRUE,
                     local_file_path = NULL, api_key = NULL) {
  method <- tryCatch(match.arg(method), error = function(e) {
    abort_input("method", conditionMessage(e))
  })
  check_string(endpoint, "endpoint", null_ok = FALSE)
  if (!startsWith(endpoint, "/")) abort_input("endpoint", "must start with '/'")
  # NULL is no parameters, as 0.4.0 took it.
  params <- params %||% list()
  if (!is.list(params) || is.object(params)) abort_input("params", "must be a list")
  check_flag(parse_response, "parse_response")
  check_flag(response_json, "response_json")
  file <- NULL
  form <- list()
  if (endpoint %in% multipart_endpoints) {
    # Uploads are multipart whatever the method says: the file and the link and
    # metadata travel in the form, everything else in the query string.
    method <- "POST"
    # `[[` and not `$`: `params$file` would partially match `fileName`.
    file <- params[["file"]]
    form <- list(link = params[["link"]],
                 metadata = if (!is.null(params[["metadata"]])) encode_metadata(params[["metadata"]]))
    params$file <- params$link <- params$metadata <- NULL
  }
  if (!is.null(local_file_path)) {
    check_string(local_file_path, "local_file_path", null_ok = FALSE)
    if (file.exists(local_file_path)) {
      cometr_abort(sprintf("Path exists and overwrite is not TRUE: %s", local_file_path),
                   "cometr_input_error", argument = "local_file_path")
    }
    if (!nzchar(local_file_path) || !dir.exists(dirname(local_file_path)) ||
        basename(local_file_path) %in% c("", ".", "..")) {
      cometr_abort(sprintf("Cannot write to %s", show_value(local_file_path)),
                   "cometr_input_error", argument = "local_file_path")
    }
    if (!is.null(file)) abort_input("local_file_path", "cannot be used with an upload")
    return(download_to_file(endpoint, method, params, api_key, local_file_path))
  }
  if (method == "POST" && length(params) > 0L && !(endpoint %in% multipart_endpoints) &&
      (is.null(names(params)) || any(!nzchar(names(params))))) {
    abort_input("params", "must be a named list")
  }
  # Any call can read what this process logged: send that first.
  res <- comet_http(endpoint, method, params, api_key, file = file, form = form, arg = "params",
                    read = TRUE)
  if (!parse_response) return(as_comet_response(res, endpoint))
  if (response_json) parse_json_body(res, endpoint) else parse_by_type(res, endpoint)
}

# call_api(local_file_path = ): the answer is streamed to a temporary file beside the
# target and renamed into place once complete, as cometr 0.4.0 streamed it to disk, so
# an asset of any size never sits in memory (and has no size bound or deadline). An
# error answer writes nothing. Like 0.4.0's, the download is a GET whatever `method`
# says. Returns the response, with `content` the file's path.
download_to_file <- function(endpoint, method, params, api_key, path) {
  key <- api_key_value(api_key)
  send_queued(read_key(params))
  q <- encode_query(params, "params")
  apply_tls_setting()
  log_message("DEBUG", "Download from API endpoint ", endpoint)
  res <- rust_result(rust_download(rest_url(endpoint), endpoint, key, q$names, q$values,
                                   normalizePath(dirname(path), mustWork = TRUE), basename(path),
                                   -1, NULL, retry_budget()))
  res$body <- res$path
  as_comet_response(res, endpoint)
}

encode_metadata <- function(metadata) {
  if (is.character(metadata) && length(metadata) == 1L) return(metadata)
  if (!is.list(metadata)) abort_input("metadata", "must be a named list")
  to_json(metadata)
}

#' Get the version of the Comet REST API this package speaks
#'
#' @return The string `"v2"`.
#' @examples
#' get_api_version()
#' @export
get_api_version <- function() {
  "v2"
}

#' Get a user's workspaces
#'
#' @param api_key Comet API key (defaults to the `COMET_API_KEY` configuration).
#' @return A list with `workspaceNames`, the names of the workspaces you can use.
#' @examples
#' srv <- local_server()
#' get_workspaces()
#' srv$stop()
#' @export
get_workspaces <- function(api_key = NULL) {
  comet_get("/workspaces", api_key = api_key)
}

#' Get a workspace's projects
#'
#' @param workspace_name Workspace name (defaults to the `COMET_WORKSPACE`
#'   configuration).
#' @inheritParams get_workspaces
#' @return A list with `projects`, one list per project (`projectId`,
#'   `projectName`, `ownerUserName`, `projectDescription`, `workspaceName`,
#'   `numberOfExperiments`, `lastUpdated`, `public`).
#' @examples
#' srv <- local_server()
#' create_project("demo", "a demo project")
#' get_projects()
#' srv$stop()
#' @export
get_projects <- function(workspace_name = NULL, api_key = NULL) {
  workspace_name <- resolve(workspace_name, "COMET_WORKSPACE")
  comet_get("/projects", list(workspaceName = workspace_name), api_key = api_key)
}

# Projects are named by id, or by workspace and name (both from the configuration when
# not given). With an id, name and workspace are ignored, as in cometr 0.4.0.
project_query <- function(project_id, project_name, workspace_name, archived) {
  check_flag(archived, "archived")
  if (!is.null(project_id)) {
    check_string(project_id, "project_id")
    return(list(projectId = project_id, archived = archived))
  }
  list(
    projectName = resolve(project_name, "COMET_PROJECT_NAME"),
    workspaceName = resolve(workspace_name, "COMET_WORKSPACE"),
    archived = archived
  )
}

#' Get a project's experiments
#'
#' @param project_id Project ID. When given, `project_name` and `workspace_name`
#'   are ignored.
#' @param project_name Project name (defaults to the `COMET_PROJECT_NAME`
#'   configuration).
#' @param archived If `TRUE`, list archived experiments instead of active ones.
#' @inheritParams get_projects
#' @return A list with `experiments`, one list per experiment (`experimentKey`,
#'   `experimentName`, `projectId`, `projectName`, `workspaceName`,
#'   `durationMillis`, `startTimeMillis`, `endTimeMillis`, `archived`, ...).
#' @examples
#' srv <- local_server()
#' exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,
#'                          log_output = FALSE, keep_active = FALSE)
#' exp$stop()
#' get_experiments()
#' srv$stop()
#' @export
get_experiments <- function(project_id = NULL, project_name = NULL, workspace_name = NULL,
                            api_key = NULL, archived = FALSE) {
  comet_get("/experiments",
            project_query(project_id, project_name, workspace_name, archived),
            api_key = api_key)
}

#' Get a project's columns
#'
#' The columns (metadata, logged others, metrics and parameters) that the
#' experiments of a project can be compared on.
#'
#' @inheritParams get_experiments
#' @return A list with `columns`, one list per column (`name`, `id`, `type`,
#'   `source`).
#' @examples
#' srv <- local_server()
#' create_project("demo", "a demo project")
#' get_columns(project_name = "demo")
#' srv$stop()
#' @export
get_columns <- function(project_id = NULL, project_name = NULL, workspace_name = NULL,
                        api_key = NULL, archived = FALSE) {
  comet_get("/project/column-names",
            project_query(project_id, project_name, workspace_name, archived),
            api_key = api_key)
}

#' Get metrics and parameters of several experiments for a chart
#'
#' @param experiment_keys Experiment keys.
#' @param metrics Metric names.
#' @param params Parameter names.
#' @param full If `TRUE`, fetch every data point, not a sample.
#' @param independent If `TRUE`, each metric has its own x axis.
#' @inheritParams get_workspaces
#' @return A list with `experiments` (one entry per experiment key that has any of
#'   the metrics or parameters) and `empty`.
#' @examples
#' srv <- local_server()
#' exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,
#'                          log_output = FALSE, keep_active = FALSE)
#' exp$log_metric("loss", 0.5, step = 1)
#' exp$stop()
#' get_multi_metric_chart(exp$get_key(), metrics = "loss")
#' srv$stop()
#' @export
get_multi_metric_chart <- function(experiment_keys, metrics = list(), params = list(),
                                   full = TRUE, independent = TRUE, api_key = NULL) {
  check_flag(full, "full")
  check_flag(independent, "independent")
  check_experiment_keys(experiment_keys, "experiment_keys")
  check_strings(if (length(metrics)) metrics, "metrics")
  check_strings(if (length(params)) params, "params")
  comet_post("/experiments/multi-metric-chart", list(
    targetedExperiments = as.list(unlist(experiment_keys)),
    metrics = as.list(unlist(metrics)),
    params = as.list(unlist(params)),
    fetchFull = full,
    independentMetrics = independent
  ), api_key = api_key, read = TRUE)
}

#' Create a project
#'
#' @param project_name Project name.
#' @param project_description Project description.
#' @param public If `TRUE`, the project is public.
#' @inheritParams get_projects
#' @return The parsed answer of the server.
#' @examples
#' srv <- local_server()
#' create_project("demo", "a demo project")
#' srv$stop()
#' @export
create_project <- function(project_name, project_description, public = FALSE,
                           workspace_name = NULL, api_key = NULL) {
  check_string(project_name, "project_name", null_ok = FALSE)
  check_string(project_description, "project_description", null_ok = FALSE)
  check_flag(public, "public")
  workspace_name <- resolve(workspace_name, "COMET_WORKSPACE")
  comet_post("/write/project/create", list(
    isPublic = public, projectName = project_name, workspaceName = workspace_name,
    projectDescription = project_description
  ), api_key = api_key)
}

#' Delete a project
#'
#' @param project_name Project name.
#' @param delete_experiments If `TRUE`, delete all the project's experiments too.
#' @inheritParams get_projects
#' @return The parsed answer of the server.
#' @examples
#' srv <- local_server()
#' create_project("demo", "a demo project")
#' delete_project("demo")
#' srv$stop()
#' @export
delete_project <- function(project_name, delete_experiments = TRUE, workspace_name = NULL,
                           api_key = NULL) {
  check_string(project_name, "project_name", null_ok = FALSE)
  check_flag(delete_experiments, "delete_experiments")
  workspace_name <- resolve(workspace_name, "COMET_WORKSPACE")
  comet_post("/write/project/delete", list(
    deleteAllExperiments = delete_experiments, projectName = project_name,
    workspaceName = workspace_name
  ), api_key = api_key)
}
