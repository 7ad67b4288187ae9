# Offline experiments: with COMET_OFFLINE set, create_experiment() records the run into
# Comet's own offline archive (wire protocol §4) instead of calling the server, and
# upload_offline() sends such archives later, through the endpoints `comet upload` uses.

offline_mode <- function() {
  v <- config_value("COMET_OFFLINE")
  length(v) == 1L && !is.na(v) && toupper(as.character(v)) %in% c("TRUE", "T", "1", "YES")
}

# The folder archives are written to: COMET_OFFLINE_DIRECTORY, or .cometml-runs in the
# working directory, as an absolute path (the working directory may change later).
offline_dir <- function() {
  dir <- path.expand(config_value("COMET_OFFLINE_DIRECTORY") %||% ".cometml-runs")
  if (!grepl("^(/|[A-Za-z]:|\\\\)", dir)) dir <- file.path(getwd(), dir)
  dir
}

# How long create_experiment() waits for the service before it goes offline, in seconds.
first_contact_seconds <- 5

# Whether create_experiment() records the run offline when Comet cannot be reached:
# option `cometr.offline_fallback`, else COMET_OFFLINE_FALLBACK, else TRUE.
offline_fallback <- function() {
  v <- getOption("cometr.offline_fallback") %||% config_value("COMET_OFFLINE_FALLBACK", quiet = TRUE)
  if (is.null(v) || length(v) != 1L || is.na(v)) return(TRUE)
  !(toupper(as.character(v)) %in% c("FALSE", "F", "0", "NO", "OFF"))
}

# How many points of each metric upload_offline() sends, as Comet's offline uploads
# sample them (comet_ml's `comet.offline_sampling_size`): option
# `cometr.offline_sampling_size`, else COMET_OFFLINE_SAMPLING_SIZE, else 15000. At least
# 4, since the first, last, smallest and largest points are always kept.
offline_sampling_size <- function() {
  v <- getOption("cometr.offline_sampling_size") %||%
    config_value("COMET_OFFLINE_SAMPLING_SIZE", quiet = TRUE) %||% 15000
  n <- suppressWarnings(as.numeric(v))
  if (length(n) != 1L || is.na(n) || n < 4 || n != trunc(n) || n > 2^31) {
    cometr_abort(sprintf(
      "The offline sampling size (option cometr.offline_sampling_size or COMET_OFFLINE_SAMPLING_SIZE) must be a whole number of at least 4, not %s.",
      show_value(v)), "cometr_config_error", key = "COMET_OFFLINE_SAMPLING_SIZE")
  }
  n
}

offline_abort <- function(message, ...) {
  cometr_abort(message, "cometr_offline_error", ...)
}

create_offline_experiment <- function(experiment_name, project_name, workspace_name,
                                      keep_active, log_output, log_error, log_code,
                                      log_system_details, log_git_info) {
  project_name <- resolve(project_name, "COMET_PROJECT_NAME", required = FALSE)
  workspace_name <- resolve(workspace_name, "COMET_WORKSPACE", required = FALSE)
  current <- session$current
  if (!is.null(current)) {
    inform_replacing(current)
    current$stop()
  }
  dir <- offline_dir()
  res <- rust_result(rust_offline_open(dir, "", project_name, workspace_name))
  key <- res$key
  cometr_inform(c(i = "Experiment {key} is recorded offline in {.path {dir}}; upload it later with {.fn upload_offline}."))
  remember_experiment_name(res$key, experiment_name)
  exp <- new_experiment(res$key, NULL, "", keep_active, log_output, log_error, dynamic = TRUE,
                        workspace_name = workspace_name, project_name = project_name,
                        auto = auto_log_choice(log_code, log_system_details, log_git_info),
                        offline = res)
  if (!is.null(experiment_name)) exp$log_other("Name", experiment_name)
  exp$log_other("offline_experiment", TRUE)
  exp
}

# The error of every read (and server-side action) on an offline experiment.
offline_read_error <- function(key, run_dir) {
  offline_abort(sprintf(paste0(
    "Experiment %s is offline: it is recorded in %s and can be read only once it is uploaded. ",
    "Stop it with `$stop()`, upload the archive with `upload_offline()`, then use ",
    "`get_experiment(\"%s\")`."), key, dirname(run_dir), key), experiment_key = key)
}

artifacts_file <- "cometr-artifacts.json"

# Comet's offline format has no artifact messages (the Python SDK refuses log_artifact
# offline). cometr copies the artifact's files into the run folder and describes the
# artifact in cometr-artifacts.json; upload_offline() logs it after the messages.
offline_record_artifact <- function(offline, artifact) {
  run <- offline$run_dir
  assets <- lapply(artifact$get_assets(), function(a) {
    entry <- list(logical_path = a$get_logical_path(), overwrite = isTRUE(a$has_overwrite()),
                  remote = isTRUE(a$is_remote()), size = a$get_size(), link = a$get_link(),
                  metadata = a$get_metadata(), asset_type = a$get_asset_type())
    if (!entry$remote) {
      src <- a$get_local_path()
      if (!is_single_string(src) || !file.exists(src)) {
        offline_abort(sprintf("Artifact asset file is missing: %s", paste(format(src), collapse = " ")))
      }
      dest <- tempfile("artifact-", tmpdir = run)
      if (!file.copy(src, dest)) offline_abort(sprintf("Cannot copy %s into %s", src, run))
      entry$file <- basename(dest)
    }
    drop_nulls(entry)
  })
  entry <- drop_nulls(list(
    name = artifact$get_artifact_name(), type = artifact$get_artifact_type(),
    version = artifact$get_artifact_version(), aliases = as.list(artifact$get_aliases()),
    version_tags = as.list(artifact$get_version_tags()), metadata = artifact$get_metadata(),
    assets = assets
  ))
  cat(to_json(entry), "\n", sep = "", file = file.path(run, artifacts_file), append = TRUE)
  name <- artifact$get_artifact_name()
  cometr_inform(c(i = "Artifact '{name}' is recorded offline; it is logged when the experiment is uploaded with {.fn upload_offline}."))
  invisible(artifact)
}

# What the close of an offline experiment's outbox (rust_experiment_close()) tells the user.
offline_closed <- function(offline, res) {
  if (nzchar(res$archive)) {
    key <- offline$key
    archive <- res$archive
    cometr_inform(c(v = "Offline experiment {key} is saved in {.path {archive}}; upload it with {.code upload_offline(\"{archive}\")}."))
  } else {
    cometr_warn(sprintf("The offline archive of experiment %s could not be written; its data is in %s. %s",
                        offline$key, offline$run_dir, paste(res$problems, collapse = " ")),
                "cometr_offline_warning")
    res$problems <- list()
  }
  res
}

#' Upload offline experiments
#'
#' With the configuration `COMET_OFFLINE=TRUE` (an environment variable or a
#' line in `.comet.yml`), [create_experiment()] records the experiment on disk
#' instead of sending it: in `COMET_OFFLINE_DIRECTORY` (default `.cometml-runs`
#' in the working directory), as `<experiment key>.zip` in the archive format of
#' Comet's own SDK, which Comet's `comet upload` command also accepts.
#' `upload_offline()` sends such archives to the configured server (as for any
#' experiment, `COMET_URL_OVERRIDE` and `COMET_API_KEY`), through the same
#' endpoints `comet upload` uses.
#'
#' A run whose R process was killed leaves its unzipped run folder (with every
#' value logged up to about 0.1 s before the kill); `upload_offline()` packs it
#' into an archive first. Uploading an archive again does not duplicate it: the
#' server's answer says the experiment was already uploaded, and the archive is
#' skipped.
#'
#' Artifacts logged offline are stored in the archive as well, and logged when
#' it is uploaded with `upload_offline()` (`comet upload` ignores them).
#'
#' As Comet's own offline uploads do, at most 15,000 points of each metric are
#' sent: the archive keeps every point, and a metric with more is sampled as it
#' is uploaded, always keeping its first, last, smallest and largest points and
#' a uniform sample of the others (the same points each time the same archive
#' is uploaded); the points are sent in step order. A message names each metric
#' sampled. `options(cometr.offline_sampling_size = n)` or the configuration
#' `COMET_OFFLINE_SAMPLING_SIZE` (Comet's SDK reads the same variable) changes
#' the number; it must be at least 4.
#'
#' @param path An archive (`.zip`), a run folder, or a folder holding archives
#'   and run folders. Defaults to the offline directory.
#' @param api_key Comet API key (defaults to the `COMET_API_KEY` configuration).
#' @return The URLs of the uploaded experiments (a character vector named by
#'   archive), invisibly. They are also printed.
#' @examples
#' srv <- local_server()
#' dir <- tempfile()
#' Sys.setenv(COMET_OFFLINE = "TRUE", COMET_OFFLINE_DIRECTORY = dir)
#' exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,
#'                          log_output = FALSE)
#' exp$log_metric("loss", 0.5, step = 1)
#' exp$stop()
#' Sys.unsetenv(c("COMET_OFFLINE", "COMET_OFFLINE_DIRECTORY"))
#' urls <- upload_offline(dir)
#' get_experiment(exp$get_key())$get_metric("loss")$metrics[[1]]$metricValue
#' srv$stop()
#' @export
upload_offline <- function(path = NULL, api_key = NULL) {
  check_string(path, "path")
  path <- path %||% offline_dir()
  if (!file.exists(path)) abort_input("path", sprintf("does not exist: %s", path))
  key <- api_key_value(api_key)
  archives <- offline_archives(path)
  if (length(archives) == 0L) {
    cometr_inform(c(i = "No offline experiments in {.path {path}}"))
    return(invisible(structure(character(), names = character())))
  }
  # Checked before anything is sent, so a bad setting leaves no half-made experiment.
  sampling <- offline_sampling_size()
  bar <- progress_start("Uploading offline experiments", length(archives), bytes = FALSE)
  on.exit(progress_end(bar), add = TRUE)
  urls <- character(length(archives))
  for (i in seq_along(archives)) {
    urls[[i]] <- upload_one_archive(archives[[i]], api_key = key, sampling = sampling)
    progress_set(bar, i)
  }
  names(urls) <- archives
  for (u in urls) cat(u, "\n", sep = "")
  invisible(urls)
}

is_run_folder <- function(p) dir.exists(p) && file.exists(file.path(p, "experiment.json"))

# The archives under `path`; run folders whose process has ended are packed first.
offline_archives <- function(path) {
  if (!dir.exists(path)) return(normalizePath(path))
  if (is_run_folder(path)) return(offline_pack(path))
  zips <- list.files(path, pattern = "\\.zip$", full.names = TRUE)
  runs <- Filter(is_run_folder, list.dirs(path, recursive = FALSE))
  runs <- Filter(function(r) !run_in_progress(r), runs)
  normalizePath(c(zips, vapply(runs, offline_pack, character(1))))
}

run_in_progress <- function(run) {
  lock <- file.path(run, ".cometr-lock")
  if (!file.exists(lock)) return(FALSE)
  pid <- suppressWarnings(as.integer(readLines(lock, n = 1L, warn = FALSE)))
  length(pid) == 1L && !is.na(pid) && (pid == Sys.getpid() || isTRUE(tools::pskill(pid, 0L)))
}

offline_pack <- function(run) {
  if (run_in_progress(run)) {
    offline_abort(sprintf("Run folder %s is still being recorded by process %s.", run,
                          readLines(file.path(run, ".cometr-lock"), n = 1L, warn = FALSE)))
  }
  archive <- rust_result(rust_offline_pack(run))
  cometr_inform(c(i = "Packed the run folder {.path {run}} into {.path {archive}}"))
  archive
}

read_json_file <- function(p) {
  jsonlite::parse_json(paste(readLines(p, warn = FALSE, encoding = "UTF-8"), collapse = "\n"),
                       simplifyVector = FALSE)
}

upload_one_archive <- function(archive, api_key, sampling = offline_sampling_size()) {
  dir <- tempfile("cometr-offline-")
  on.exit(unlink(dir, recursive = TRUE), add = TRUE)
  rust_result(rust_offline_extract(archive, dir))
  meta_path <- file.path(dir, "experiment.json")
  if (!file.exists(meta_path)) offline_abort(sprintf("%s has no experiment.json: it is not an offline archive.", archive))
  meta <- read_json_file(meta_path)
  key <- meta$offline_id %||% sub("-.*$", "", sub("\\.zip$", "", basename(archive)))
  project <- config_value("COMET_PROJECT_NAME") %||% meta$project_name
  workspace <- config_value("COMET_WORKSPACE") %||% meta$workspace
  if (!is_experiment_key(key)) {
    offline_abort(sprintf("%s names an experiment key that is not one (%s).", archive,
                          show_value(key)))
  }
  cometr_inform(c(i = "Uploading offline experiment {key} from {.path {archive}}"))

  run <- comet_post_clientlib("logger/add/run", list(
    apiKey = api_key, local_timestamp = meta$start_time %||% now_ms(), experimentKey = key,
    offline = TRUE, projectName = project, teamName = workspace,
    libVersion = as.character(utils::packageVersion("cometr")), getOrCreateEnabled = TRUE
  ), api_key)
  url <- paste0(run$focusUrl %||% paste0(url_root(), "/"), key)
  if (isTRUE(run$offlineUploaded)) {
    cometr_inform(c(i = "Experiment {key} was already uploaded; skipped: {url}"))
    return(url)
  }
  status <- function(alive) {
    comet_post_clientlib("status-report/update", list(
      apiKey = api_key, runId = run$runId, experimentKey = key, projectId = run$project_id,
      is_alive = alive, local_timestamp = now_ms(), offline = TRUE
    ), api_key)
  }
  tags <- unlist(meta$tags)
  if (length(tags) > 0L) {
    comet_post_clientlib("tags/add-tags-to-experiment",
                         list(apiKey = api_key, experimentKey = key, addedTags = as.list(tags)),
                         api_key)
  }
  status(TRUE)
  sent <- rust_result(rust_offline_replay(dir, url_root(), api_key, key, run$runId %||% "",
                                          sampling))
  summary <- sprintf(
    "Sent %s: %s, %s, %s, %s, %s",
    n_of(sent$messages, "message"), n_of(sent$metrics, "metric value"),
    n_of(sent$parameters, "parameter"), n_of(sent$output, "output line"),
    n_of(sent$writes, "other write"), n_of(sent$uploads, "file"))
  cometr_inform(c(i = "{summary}"))
  for (i in seq_along(sent$sampled_names)) {
    name <- sent$sampled_names[[i]]
    seen <- n_of(sent$sampled_seen[[i]], "point")
    kept <- n_of(sent$sampled_kept[[i]], "was", "were")
    cometr_inform(c(i = "Metric '{name}' has {seen} in the archive; {kept} sent (offline sampling size)."),
                  "cometr_sampled_message")
  }
  for (p in sent$problems) cometr_warn(p, "cometr_delivery_warning")
  artifacts <- file.path(dir, artifacts_file)
  if (file.exists(artifacts)) upload_offline_artifacts(artifacts, dir, key, api_key)
  # A run that ended in an error is reported so, as the online run would have been.
  if (isTRUE(meta$customer_error_reported)) {
    comet_post("/write/experiment/update-status", list(
      experimentKey = key, isAlive = FALSE, error = meta$customer_error_message,
      hasCrashed = TRUE
    ), api_key = api_key)
  }
  status(FALSE)
  comet_post_clientlib("status-report/offline-metadata", list(
    apiKey = api_key, runId = run$runId, experimentKey = key,
    startTimestamp = meta$start_time, endTimestamp = meta$stop_time
  ), api_key)
  cometr_inform(c(v = "Experiment uploaded: {url}"))
  url
}

comet_post_clientlib <- function(endpoint, body, api_key) {
  res <- comet_http(endpoint, "POST", api_key = api_key, url = clientlib_url(endpoint),
                    body = to_json(drop_nulls(body)))
  parse_json_body(res, endpoint)
}

upload_offline_artifacts <- function(file, dir, key, api_key) {
  for (line in readLines(file, warn = FALSE, encoding = "UTF-8")) {
    if (!nzchar(trimws(line))) next
    a <- jsonlite::parse_json(line, simplifyVector = FALSE)
    # `[[` and not `$`: `a$version` would partially match `version_tags`.
    art <- Artifact$new(a[["name"]], a[["type"]], artifact_version = a[["version"]],
                        aliases = unlist(a[["aliases"]]), metadata = a[["metadata"]],
                        version_tags = unlist(a[["version_tags"]]))
    for (x in a[["assets"]]) {
      art$add_asset(ArtifactAsset$new(
        logical_path = x[["logical_path"]], overwrite = isTRUE(x[["overwrite"]]),
        remote = isTRUE(x[["remote"]]), size = x[["size"]] %||% 0, link = x[["link"]],
        local_path = if (!is.null(x[["file"]])) archive_file(dir, x[["file"]]),
        metadata = x[["metadata"]], asset_type = x[["asset_type"]] %||% "asset"
      ))
    }
    artifact_log(key, art, api_key)
  }
}

# The file `rel` (a path read from an archive) inside the unpacked folder `dir`: a
# relative path without `.` or `..` that reaches a regular file through no symbolic
# link. A crafted archive can then make nothing but its own files be uploaded.
archive_file <- function(dir, rel) {
  parts <- if (is_single_string(rel)) strsplit(rel, "[/\\\\]")[[1]] else character()
  base <- normalizePath(dir, winslash = "/", mustWork = TRUE)
  real <- if (length(parts) > 0L) normalizePath(file.path(dir, rel), winslash = "/", mustWork = FALSE)
  if (length(parts) == 0L || grepl("^([/\\\\~]|[A-Za-z]:)", rel) ||
      any(parts %in% c("", ".", "..")) ||
      !identical(real, paste(c(base, parts), collapse = "/")) || !utils::file_test("-f", real)) {
    offline_abort(sprintf("The archive's path %s is not a file inside the archive.", show_value(rel)))
  }
  real
}
