#' Create a new experiment
#'
#' Creates a new experiment on Comet's server (or the embedded [local_server()])
#' and returns an [Experiment] to log to. Only one experiment created this way is
#' current at a time: creating another stops the previous one.
#'
#' Logging calls (`log_metric()`, `log_parameter()`, `log_other()`, `add_tags()`,
#' ...) return at once; the data is sent in batches in the background, and every
#' `get_*()` method first sends what is queued, so reads see your writes. The
#' experiment is flushed and ended by `$stop()`, or when it is garbage collected
#' or R exits. A script (Rscript, `R -f`) that ends in an error leaves it recorded
#' as crashed, with the error's message, as Comet's Python SDK does for an uncaught
#' exception (R's `error` option, which cometr sets for this, still runs a handler
#' of your own first).
#'
#' If Comet cannot be reached when the experiment is created (connection refused,
#' or no answer within 5 s, or within the `cometr.retry_timeout` option if that is
#' shorter), the run is not lost: it says so and records the experiment offline,
#' exactly as with `COMET_OFFLINE=TRUE` (in `COMET_OFFLINE_DIRECTORY`, default
#' `.cometml-runs`), to be sent later with [upload_offline()]. Set
#' `COMET_OFFLINE_FALLBACK=false` or `options(cometr.offline_fallback = FALSE)` to
#' get a `cometr_connection_error` instead.
#'
#' Every wait gives way to Ctrl-C (R's interrupt condition), and a wait longer
#' than about 2 s says what it waits for.
#'
#' @param experiment_name Experiment name.
#' @param project_name Project name (defaults to the `COMET_PROJECT_NAME`
#'   configuration). Created on first use.
#' @param workspace_name Workspace name (defaults to the `COMET_WORKSPACE`
#'   configuration).
#' @param api_key Comet API key (defaults to the `COMET_API_KEY` configuration).
#' @param keep_active If `TRUE`, send heartbeats so the experiment shows as
#'   running until it is stopped (no extra process is started).
#' @param log_output If `TRUE`, send everything printed to standard output to the
#'   experiment. The console still shows it, in the same order. Prompts and echoed
#'   input of an interactive session are not sent; under knitr, each expression's
#'   printed output is.
#' @param log_error If `TRUE`, send everything printed to standard error
#'   (messages, warnings, errors) to the experiment, flagged as such. The console
#'   still shows it.
#' @param log_code If `TRUE`, log the code of the script being run (with
#'   `Rscript file.R` or `source("file.R")`).
#' @param log_system_details If `TRUE`, log details of the system: operating
#'   system, R version, installed packages, process id, host and user names.
#' @param log_git_info If `TRUE`, log the git branch, origin, commit, user and
#'   repository root, and a patch of staged and unstaged changes (needs the `git`
#'   command).
#' @return An [Experiment], invisibly.
#' @examples
#' srv <- local_server()
#' exp <- create_experiment(experiment_name = "demo", log_code = FALSE)
#' exp$log_metric("loss", 0.25, step = 1)
#' exp$log_parameter("lr", 0.01)
#' exp$get_metric("loss")$metrics[[1]]$metricValue
#' exp$stop()
#' srv$stop()
#' @export
create_experiment <- function(experiment_name = NULL, project_name = NULL, workspace_name = NULL,
                              api_key = NULL, keep_active = TRUE, log_output = TRUE,
                              log_error = FALSE, log_code = TRUE, log_system_details = TRUE,
                              log_git_info = FALSE) {
  check_experiment_flags(keep_active, log_output, log_error, log_code, log_system_details,
                         log_git_info)
  check_string(experiment_name, "experiment_name")
  check_string(project_name, "project_name")
  check_string(workspace_name, "workspace_name")
  if (offline_mode()) {
    return(invisible(create_offline_experiment(
      experiment_name, project_name, workspace_name, keep_active, log_output, log_error,
      log_code, log_system_details, log_git_info
    )))
  }
  settings <- resolve_all(
    list(api_key = api_key, project_name = project_name, workspace_name = workspace_name),
    c("COMET_API_KEY", "COMET_PROJECT_NAME", "COMET_WORKSPACE")
  )
  api_key <- settings$api_key
  project_name <- settings$project_name
  workspace_name <- settings$workspace_name

  current <- session$current
  if (!is.null(current)) {
    inform_replacing(current)
    current$stop()
  }
  # The first contact is short (5 s at most): an unreachable service is noticed in
  # seconds, and the run goes on offline unless that fallback is turned off.
  first <- min(retry_budget(), first_contact_seconds)
  res <- tryCatch(
    comet_post("/write/experiment/create", list(
      experimentName = experiment_name, projectName = project_name,
      workspaceName = workspace_name
    ), api_key = api_key, retry = first, limit = first_contact_seconds),
    cometr_connection_error = function(e) {
      if (!offline_fallback()) {
        cometr_abort(sprintf(paste0(
          "Comet cannot be reached at %s: %s. The offline fallback is off ",
          "(COMET_OFFLINE_FALLBACK / option `cometr.offline_fallback`)."),
          url_root(), conditionMessage(e)), "cometr_connection_error",
          endpoint = "/write/experiment/create")
      }
      e
    }
  )
  if (inherits(res, "cometr_connection_error")) {
    url <- url_root()
    why <- conditionMessage(res)
    dir <- offline_dir()
    cometr_inform(c("!" = paste0(
      "Comet cannot be reached at {url} ({why}); this run is recorded offline in {.path {dir}} instead. ",
      "Send it later with {.fn upload_offline}. Set COMET_OFFLINE_FALLBACK=false or ",
      "{.code options(cometr.offline_fallback = FALSE)} to get an error instead.")),
      "cometr_offline_fallback_message")
    return(invisible(create_offline_experiment(
      experiment_name, project_name, workspace_name, keep_active, log_output, log_error,
      log_code, log_system_details, log_git_info
    )))
  }
  if (is.null(res$experimentKey) || is.null(res$link)) {
    cometr_abort("Create experiment in Comet failed.", "cometr_http_error",
                 status = 200L, sdk_error_code = NULL, endpoint = "/write/experiment/create")
  }
  check_answered_key(res$experimentKey, "/write/experiment/create")
  link <- res$link
  cometr_inform("Experiment created: {link}", "cometr_created_message")
  remember_experiment_name(res$experimentKey, experiment_name)
  exp <- new_experiment(res$experimentKey, res$link, api_key, keep_active, log_output,
                        log_error, dynamic = TRUE,
                        workspace_name = res$workspaceName %||% workspace_name,
                        project_name = res$projectName %||% project_name,
                        auto = auto_log_choice(log_code, log_system_details, log_git_info))
  invisible(exp)
}

#' Get an existing experiment
#'
#' Returns an [Experiment] for an experiment that already exists, to read it or
#' to continue logging to it (for example, to resume training).
#'
#' @param experiment_key Experiment key.
#' @inheritParams create_experiment
#' @return An [Experiment], invisibly.
#' @examples
#' srv <- local_server()
#' exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,
#'                          log_output = FALSE, keep_active = FALSE)
#' exp$log_metric("loss", 0.5)
#' exp$stop()
#' again <- get_experiment(exp$get_key())
#' again$log_metric("loss", 0.4)
#' length(again$get_metric("loss")$metrics)
#' again$stop()
#' srv$stop()
#' @export
get_experiment <- function(experiment_key, api_key = NULL, keep_active = FALSE,
                           log_output = FALSE, log_error = FALSE, log_code = FALSE,
                           log_system_details = FALSE, log_git_info = FALSE) {
  check_experiment_flags(keep_active, log_output, log_error, log_code, log_system_details,
                         log_git_info)
  check_experiment_key(experiment_key, "experiment_key")
  api_key <- api_key_value(api_key)
  meta <- comet_get("/experiment/metadata", list(experimentKey = experiment_key),
                    api_key = api_key)
  url <- experiment_url(meta$workspaceName, meta$projectName, experiment_key,
                        isTRUE(meta$archived))
  cometr_inform("Experiment retrieved: {url}", "cometr_retrieved_message")
  remember_experiment_name(experiment_key, meta$experimentName)
  exp <- new_experiment(experiment_key, url, api_key, keep_active, log_output, log_error,
                        dynamic = FALSE, workspace_name = meta$workspaceName,
                        project_name = meta$projectName,
                        auto = auto_log_choice(log_code, log_system_details, log_git_info))
  invisible(exp)
}

experiment_url <- function(workspace, project, key, archived = FALSE) {
  paste0(url_root(), "/", workspace, "/", project, "/", if (archived) "archived/", key)
}

# Session state: the current experiment, and the one-shot gate that lets only
# create_experiment() and get_experiment() construct an Experiment. What
# Experiment$new() cannot take as arguments (its formals are those of cometr 0.4.0)
# is handed over here: what to log automatically, and an open offline recording.
session <- new.env(parent = emptyenv())
session$gate <- FALSE

new_experiment <- function(..., auto = NULL, offline = NULL) {
  session$gate <- TRUE
  session$auto <- auto
  session$offline <- offline
  on.exit(session$gate <- session$auto <- session$offline <- NULL)
  watch_for_crash()
  Experiment$new(...)
}

auto_log_choice <- function(code, system, git) list(code = code, system = system, git = git)

#' A Comet experiment
#'
#' @description
#' An experiment logs metrics, parameters, other values, tags, HTML, a model
#' graph, assets, artifacts, code, output, git and system details to Comet, and
#' reads them back. Create one with [create_experiment()] or fetch an existing one
#' with [get_experiment()]; do not call `Experiment$new()` directly.
#'
#' Write methods queue the data and return at once (invisibly, the experiment
#' itself, so calls can be chained); a background task sends it in batches. Every
#' `get_*()` method first sends what this experiment has queued.
#'
#' @examples
#' srv <- local_server()
#' exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,
#'                          log_output = FALSE, keep_active = FALSE)
#' for (epoch in 1:3) exp$log_metric("loss", 1 / epoch, step = epoch)
#' exp$log_parameter("optimizer", "adam")$add_tags(c("baseline", "demo"))
#' exp$get_metrics_summary()$values[[1]]$valueMin
#' exp$get_tags()
#' exp$stop()
#' srv$stop()
#' @export
Experiment <- R6::R6Class("Experiment",
  cloneable = FALSE,
  public = list(
    #' @description Do not call this function directly. Use [create_experiment()]
    #'   or [get_experiment()] instead.
    #' @param experiment_key Experiment key.
    #' @param experiment_url Experiment URL.
    #' @param api_key Comet API key.
    #' @param keep_active Send heartbeats while the experiment runs.
    #' @param log_output Capture standard output.
    #' @param log_error Capture standard error.
    #' @param dynamic `TRUE` for a new experiment, `FALSE` for a retrieved one.
    #' @param workspace_name Workspace name.
    #' @param project_name Project name.
    initialize = function(experiment_key, experiment_url = NULL, api_key = NULL,
                          keep_active = FALSE, log_output = FALSE, log_error = FALSE,
                          dynamic = TRUE, workspace_name = NULL, project_name = NULL) {
      if (!isTRUE(session$gate)) {
        cometr_abort("Do not call this function directly. Use `create_experiment()` instead.",
                     "cometr_input_error")
      }
      session$gate <- FALSE
      auto <- session$auto
      private$key <- experiment_key
      private$url <- experiment_url
      private$api_key <- secret(api_key_value(api_key))
      private$dynamic <- dynamic
      private$workspace <- workspace_name
      private$project <- project_name
      # An offline experiment (see offline.R) comes with its outbox already open.
      private$offline <- session$offline
      private$stream <- if (!is.null(private$offline)) private$offline$id else rust_result(rust_experiment_open(
        experiment_key, reveal(private$api_key), url_root(),
        getOption("cometr.batch_interval", 2) * 1000,
        as.integer(getOption("cometr.batch_size", 1000L)),
        getOption("cometr.max_memory_items", 200000), spool_dir()
      ))
      if (dynamic) session$current <- self
      if (keep_active) rust_result(rust_experiment_heartbeat(private$stream))
      # Capture that cannot start warns (`cometr_capture_warning`); logging goes on.
      if (log_output || log_error) {
        rust_result(rust_experiment_capture(private$stream, log_output, log_error), warn = TRUE)
        capture_knitr()
      }
      if (dynamic) self$log_other("Created from", "cometr")
      if (!is.null(auto)) private$auto_log(auto)
    },

    #' @description The experiment key.
    get_key = function() private$key,

    #' @description The experiment's workspace name.
    get_workspace_name = function() private$workspace,

    #' @description The experiment's project name.
    get_project_name = function() private$project,

    #' @description `TRUE` for an experiment made by [create_experiment()],
    #'   `FALSE` for one from [get_experiment()].
    get_dynamic = function() private$dynamic,

    #' @description The experiment's URL.
    get_url = function() private$url,

    #' @description The experiment's metadata (names, times, archived state).
    get_metadata = function() private$read("/experiment/metadata"),

    #' @description Archive the experiment.
    archive = function() private$server_action("/write/experiment/archive"),

    #' @description Restore an archived experiment.
    restore = function() private$server_action("/write/experiment/restore"),

    #' @description Stop the experiment, then delete it and all its data.
    #' @return The server's answer.
    delete = function() {
      private$check_online()
      private$finish()
      res <- comet_http("/write/experiment/delete", "GET", list(experimentKey = private$key),
                        reveal(private$api_key))
      parse_by_type(res, "/write/experiment/delete")
    },

    #' @description Stop the experiment: send everything queued (waiting at most
    #'   `getOption("cometr.stop_timeout", 30)` seconds, and no more than 3 s once
    #'   Comet has refused or dropped every connection for 3 s: what is left stays in
    #'   the spool for [send_spool()]), stop output capture and heartbeats, and mark it
    #'   ended. Calling it again does nothing.
    stop = function() {
      private$finish()
      invisible(self)
    },

    #' @description Log a metric value.
    #' @param name Metric name.
    #' @param value Metric value: a number (`NaN` and `Inf` are kept), a string,
    #'   or a vector. `NA` (of any type) is sent as `"NaN"`, Comet's missing number,
    #'   online and offline alike. `NULL` and empty vectors are refused.
    #' @param step Step (a whole number; a fraction is refused, not rounded), or `NULL`.
    #' @param epoch Epoch (a whole number; a fraction is refused, not rounded), or `NULL`.
    #' @param context Context string, or `NULL`.
    log_metric = function(name, value, step = NULL, epoch = NULL, context = NULL) {
      # The hot path of a training loop: one call checks the arguments and queues the
      # point (src/rust/src/experiment/log_metric.rs); R acts only on a code other
      # than 0, which `if` reads as TRUE. Every call here costs: see bench/experiment.R.
      if (rc <- .External(log_metric_routine, private$stream, name, value, step, epoch,
                          context)) {
        if (rc < -1L) metric_refusal(rc)
        private$after_push(rc, "value")
      }
      invisible(self)
    },

    #' @description Get all values of a metric.
    #' @param name Metric name.
    get_metric = function(name) {
      check_string(name, "name", null_ok = FALSE)
      private$read("/experiment/metrics/get-metric", list(metricName = name))
    },

    #' @description Get the minimum, maximum and latest value of every metric.
    get_metrics_summary = function() private$read("/experiment/metrics/summary"),

    #' @description Log the model graph.
    #' @param graph The graph, as a string (e.g. JSON).
    log_graph = function(graph) {
      check_string(graph, "graph", null_ok = FALSE, max_chars = Inf)
      private$rest("write/experiment/graph", list(graph = graph))
    },

    #' @description Get the model graph.
    get_graph = function() private$read("/experiment/graph"),

    #' @description Log a parameter (hyperparameter).
    #' @param name Parameter name.
    #' @param value Parameter value: a number, string or logical, or a vector.
    #' @param step Step (a whole number), or `NULL`.
    log_parameter = function(name, value, step = NULL) {
      check_name(name, "name")
      check_count(step, "step")
      check_value(value)
      private$check_active()
      private$after_queue(rust_experiment_parameter(private$stream, name, value, step))
    },

    #' @description Get the parameters.
    get_parameters = function() private$read("/experiment/parameters"),

    #' @description Log any other key and value.
    #' @param key Name.
    #' @param value Value: a single number, string or logical.
    log_other = function(key, value) {
      check_name(key, "key")
      check_scalar(value, "value")
      private$rest("write/experiment/log-other",
                   list(key = key, value = value, timestamp = now_ms()))
    },

    #' @description Get the other values.
    get_other = function() private$read("/experiment/log-other"),

    #' @description Add tags.
    #' @param tags A character vector or list of tags.
    add_tags = function(tags) {
      if (is.list(tags) && !is.object(tags)) tags <- unlist(tags)
      if (!is.character(tags) || is.object(tags) || length(tags) == 0L || anyNA(tags) ||
          any(!nzchar(tags))) {
        abort_input("tags", "must be a character vector of non-empty tags")
      }
      check_text(tags, "tags", 10000)
      private$rest("write/experiment/tags", list(addedTags = as.list(tags)))
    },

    #' @description Get the tags.
    get_tags = function() private$read("/experiment/tags"),

    #' @description Log HTML.
    #' @param html HTML text.
    #' @param override If `TRUE`, replace the experiment's HTML; if `FALSE`,
    #'   append to it.
    log_html = function(html, override = FALSE) {
      check_string(html, "html", null_ok = FALSE, max_chars = Inf)
      check_flag(override, "override")
      private$rest("write/experiment/html",
                   list(html = html, override = override, timestamp = now_ms()))
    },

    #' @description Get the HTML.
    get_html = function() private$read("/experiment/html"),

    #' @description Upload a file as an asset. Like the other logging methods,
    #'   it returns at once: the file is sent in the background (streamed, so its
    #'   size is not limited by memory). A file of up to 10 MiB is copied aside
    #'   first, so it may be changed or deleted at once; a larger one is read once
    #'   now for its SHA-256 and again when it is sent, and a change made to it in
    #'   between is reported with a `cometr_file_changed_warning` instead of sent.
    #'   What the server refuses is reported as a `cometr_delivery_warning` at a
    #'   later call or at `$stop()`. A file that cannot be delivered stays in the
    #'   spool, for [send_spool()].
    #' @param file Path of the file.
    #' @param step Step, or `NULL`.
    #' @param overwrite If `TRUE`, replace an asset of the same name.
    #' @param context Context string, or `NULL`.
    #' @param type Asset type (e.g. `"asset"`, `"image"`, `"audio"`), or `NULL`.
    #' @param name Asset name; the file's base name when `NULL`.
    #' @param metadata A named list of metadata, or `NULL`.
    upload_asset = function(file, step = NULL, overwrite = NULL, context = NULL, type = NULL,
                            name = NULL, metadata = NULL) {
      check_string(file, "file", null_ok = FALSE)
      if (!file.exists(file) || dir.exists(file)) {
        abort_input("file", sprintf("is not an existing file: %s", show_value(file)))
      }
      check_count(step, "step")
      check_optional_flag(overwrite, "overwrite")
      check_string(context, "context")
      check_string(type, "type")
      check_name(name, "name", null_ok = TRUE)
      check_metadata(metadata, json_ok = TRUE)
      private$upload(list(step = step, overwrite = overwrite, context = context, type = type,
                          fileName = name %||% basename(file)),
                     file = normalizePath(file), metadata = metadata)
    },

    #' @description Log a remote asset: a link to data stored elsewhere. It is
    #'   queued, and sent in the background, like `upload_asset()`.
    #' @param uri The asset's URI.
    #' @param remote_file_name Asset name; derived from the URI when `NULL`.
    #' @param step Step, or `NULL`.
    #' @param overwrite If `TRUE`, replace an asset of the same name.
    #' @param type Asset type.
    #' @param metadata A named list of metadata, or `NULL`.
    log_remote_asset = function(uri, remote_file_name = NULL, step = NULL, overwrite = FALSE,
                                type = "asset", metadata = NULL) {
      check_name(uri, "uri")
      check_name(remote_file_name, "remote_file_name", null_ok = TRUE)
      check_count(step, "step")
      check_optional_flag(overwrite, "overwrite")
      check_string(type, "type")
      check_metadata(metadata, json_ok = TRUE)
      private$upload(list(step = step, overwrite = overwrite, type = type,
                          fileName = remote_file_name %||% remote_name(uri), isRemote = TRUE),
                     link = uri, metadata = metadata)
    },

    #' @description List the experiment's assets.
    #' @param type Asset type to list; all types when `NULL`.
    get_asset_list = function(type = NULL) {
      check_string(type, "type")
      private$read("/experiment/asset/list", list(type = type %||% "all"))
    },

    #' @description Get the content of an asset: a raw vector, a string for
    #'   text assets, or a list for JSON assets.
    #' @param assetId The asset's id (from `get_asset_list()`).
    get_asset = function(assetId) {
      check_string(assetId, "assetId", null_ok = FALSE)
      private$check_online()
      private$flush()
      res <- comet_http("/experiment/asset/get-asset", "GET",
                        list(experimentKey = private$key, assetId = assetId), reveal(private$api_key),
                        read = FALSE, limit = 0, max_answer = 0)
      parse_by_type(res, "/experiment/asset/get-asset")
    },

    #' @description Also show the experiment in another project.
    #' @param project_name Project name.
    #' @return The server's answer, with the `link` of the new entry.
    create_symlink = function(project_name) {
      check_string(project_name, "project_name", null_ok = FALSE)
      private$check_online()
      private$check_active()
      private$flush()
      res <- comet_http("/write/project/symlink", "GET",
                        list(experimentKey = private$key, projectName = project_name),
                        reveal(private$api_key))
      parse_by_type(res, "/write/project/symlink")
    },

    #' @description Log git metadata.
    #' @param branch Branch name.
    #' @param origin Origin URL.
    #' @param parent Commit SHA.
    #' @param user User.
    #' @param root Repository root.
    log_git_metadata = function(branch = NULL, origin = NULL, parent = NULL, user = NULL,
                                root = NULL) {
      for (a in c("branch", "origin", "parent", "user", "root")) check_string(get(a), a)
      private$rest("write/experiment/git/metadata",
                   list(branch = branch, origin = origin, parent = parent, user = user, root = root))
    },

    #' @description Get the git metadata.
    get_git_metadata = function() private$read("/experiment/git/metadata"),

    #' @description Get the git patch, as a string.
    get_git_patch = function() {
      private$check_online()
      private$flush()
      res <- comet_http("/experiment/git/patch", "GET", list(experimentKey = private$key),
                        reveal(private$api_key), read = FALSE)
      out <- parse_by_type(res, "/experiment/git/patch")
      if (is.raw(out)) out <- answer_string(out, "/experiment/git/patch")
      out
    },

    #' @description Get the captured output, as one string.
    get_output = function() private$read("/experiment/output"),

    #' @description Log source code.
    #' @param code The code, as a string or a character vector of lines.
    log_code = function(code) {
      if (!is.character(code) || is.object(code) || length(code) == 0L || anyNA(code)) {
        abort_input("code", "must be a character vector")
      }
      check_text(code, "code")
      private$rest("write/experiment/code", list(code = paste(code, collapse = "\n")))
    },

    #' @description Get the logged source code.
    get_code = function() private$read("/experiment/code"),

    #' @description Log system details. Every argument is optional.
    #' @param command Command-line arguments (a character vector).
    #' @param executable The R executable.
    #' @param hostname Host name.
    #' @param installed_packages Installed packages (a character vector).
    #' @param gpu_static_info A list of GPU descriptions, each a list with
    #'   `gpuIndex`, `name`, `powerLimit`, `totalMemory` and `uuid`.
    #' @param ip IP address.
    #' @param network_interface_ips IP addresses of the network interfaces.
    #' @param additional_system_info A list of lists with `key` and `value`.
    #' @param os Operating system description.
    #' @param os_packages Operating system packages (a character vector).
    #' @param os_type Operating system type (e.g. `"Linux"`).
    #' @param pid Process id.
    #' @param user User name.
    #' @param r_version R version.
    #' @param r_version_verbose R version string.
    log_system_details = function(command = NULL, executable = NULL, hostname = NULL,
                                  installed_packages = NULL, gpu_static_info = NULL, ip = NULL,
                                  network_interface_ips = NULL, additional_system_info = NULL,
                                  os = NULL, os_packages = NULL, os_type = NULL, pid = NULL,
                                  user = NULL, r_version = NULL, r_version_verbose = NULL) {
      for (a in c("command", "installed_packages", "network_interface_ips", "os_packages")) {
        check_strings(get(a), a)
      }
      for (a in c("executable", "hostname", "ip", "os", "os_type", "user", "r_version",
                  "r_version_verbose")) {
        check_string(get(a), a)
      }
      check_count(pid, "pid")
      check_records(gpu_static_info, "gpu_static_info")
      check_records(additional_system_info, "additional_system_info")
      as_array <- function(x) if (is.null(x)) NULL else as.list(unique(unlist(x)))
      private$rest("write/experiment/system-details", list(
        command = as_array(command), executable = executable, hostname = hostname,
        installedPackages = as_array(installed_packages), gpuStaticInfoList = gpu_static_info,
        ip = ip, networkInterfaceIps = as_array(network_interface_ips),
        logAdditionalSystemInfoList = additional_system_info, os = os,
        osPackages = as_array(os_packages), osType = os_type, pid = pid, user = user,
        pythonVersion = r_version, pythonVersionVerbose = r_version_verbose
      ))
    },

    #' @description Get the system details.
    get_system_details = function() private$read("/experiment/system-details"),

    # ---- Logging beyond cometr 0.4.0, as Comet's Python SDK logs (experiment-log.R) ----

    #' @description Log many metrics at once. A named list logs one value per metric
    #'   (nested lists are flattened to names such as `"train/loss"`, as comet_ml
    #'   does). A data frame logs a whole history in one call: one row per step, one
    #'   column per metric, with optional `step` and `epoch` columns (rows are steps 1,
    #'   2, ... without a `step` column); an `NA` cell is a metric not measured at that
    #'   step and is skipped. The points are queued and sent like `log_metric()`'s.
    #' @param metrics A named list of single numbers, strings or logicals, or a data
    #'   frame.
    #' @param step Step (a whole number), or `NULL`; for a data frame, one per row.
    #' @param epoch Epoch (a whole number), or `NULL`; for a data frame, one per row.
    #' @param context Context string, or `NULL`.
    #' @examples
    #' srv <- local_server()
    #' exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,
    #'                          log_output = FALSE, keep_active = FALSE)
    #' exp$log_metrics(list(loss = 0.5, acc = 0.8), step = 1)
    #' history <- data.frame(step = 1:100, loss = 1 / (1:100))
    #' exp$log_metrics(history)
    #' nrow(as.data.frame(exp))
    #' exp$stop()
    #' srv$stop()
    log_metrics = function(metrics, step = NULL, epoch = NULL, context = NULL) {
      exp_log_metrics(self, private, metrics, step, epoch, context)
    },

    #' @description Log many parameters at once, from a named list. Nested lists are
    #'   flattened to names such as `"optimizer|lr"`, as comet_ml does (and the other
    #'   value `hasNestedParams` is logged).
    #' @param parameters A named list of numbers, strings or logicals (or nested lists).
    #' @param step Step (a whole number), or `NULL`.
    #' @examples
    #' srv <- local_server()
    #' exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,
    #'                          log_output = FALSE, keep_active = FALSE)
    #' exp$log_parameters(list(epochs = 10, optimizer = list(name = "adam", lr = 0.01)))
    #' as.data.frame(exp, what = "parameters")
    #' exp$stop()
    #' srv$stop()
    log_parameters = function(parameters, step = NULL) {
      exp_log_parameters(self, private, parameters, step)
    },

    #' @description Log an image: a file (PNG, JPEG, ...), or a numeric matrix or
    #'   array (rows x columns x 1 to 4 channels: grey, grey and alpha, RGB, RGBA),
    #'   or a raster, written as PNG. Values in \[0, 1\] are intensities, in
    #'   \[0, 255\] bytes; others are scaled from their minimum to their maximum.
    #'   Comet shows it among the experiment's images.
    #' @param image A file path, a numeric matrix or array, or a raster.
    #' @param name Image name; the file's name, or `"image.png"`, when `NULL`.
    #' @param overwrite If `TRUE`, replace an image of the same name.
    #' @param step Step (a whole number), or `NULL`.
    #' @param metadata A named list of metadata, or `NULL`.
    #' @examples
    #' srv <- local_server()
    #' exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,
    #'                          log_output = FALSE, keep_active = FALSE)
    #' exp$log_image(outer(1:64, 1:64) / 4096, name = "gradient.png", step = 1)
    #' exp$get_asset_list(type = "image")$assets[[1]]$fileName
    #' exp$stop()
    #' srv$stop()
    log_image = function(image, name = NULL, overwrite = FALSE, step = NULL, metadata = NULL) {
      exp_log_image(self, private, image, name, overwrite, step, metadata)
    },

    #' @description Log a figure: a plot rendered to PNG (or SVG), logged as an image
    #'   as comet_ml logs a figure.
    #' @param plot A ggplot, a plot recorded with [grDevices::recordPlot()], a grid
    #'   grob, or a function that draws; `NULL` for the last plot (the current
    #'   device's, else ggplot2's `last_plot()`).
    #' @param name Figure name; `"figure.png"` (or `.svg`) when `NULL`.
    #' @param overwrite If `TRUE`, replace a figure of the same name.
    #' @param step Step (a whole number), or `NULL`.
    #' @param metadata A named list of metadata, or `NULL`.
    #' @param format `"png"` or `"svg"` (SVG needs R built with cairo).
    #' @param width,height Size in inches (PNG at 96 pixels per inch).
    #' @examples
    #' srv <- local_server()
    #' exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,
    #'                          log_output = FALSE, keep_active = FALSE)
    #' exp$log_figure(function() plot(pressure, type = "l"), name = "pressure.png")
    #' exp$stop()
    #' srv$stop()
    log_figure = function(plot = NULL, name = NULL, overwrite = FALSE, step = NULL,
                          metadata = NULL, format = "png", width = 7, height = 5) {
      exp_log_figure(self, private, plot, name, overwrite, step, metadata, format, width, height)
    },

    #' @description Log a table: a data frame or matrix, written as CSV (or TSV when
    #'   `name` ends in `.tsv`) and logged as Comet's `dataframe` asset, or a file,
    #'   logged as it is.
    #' @param table A data frame, a matrix, or a file path.
    #' @param name Table name ending in `.csv` or `.tsv`; `"table.csv"` (or the file's
    #'   name) when `NULL`.
    #' @param overwrite If `TRUE`, replace a table of the same name.
    #' @param metadata A named list of metadata, or `NULL`.
    #' @examples
    #' srv <- local_server()
    #' exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,
    #'                          log_output = FALSE, keep_active = FALSE)
    #' exp$log_table(head(iris), name = "iris.csv")
    #' exp$stop()
    #' srv$stop()
    log_table = function(table, name = NULL, overwrite = FALSE, metadata = NULL) {
      exp_log_table(self, private, table, name, overwrite, metadata)
    },

    #' @description Log a curve (x and y values), shown by Comet as a line chart.
    #' @param name Curve name.
    #' @param x,y Numeric vectors of the same length.
    #' @param overwrite If `TRUE`, replace a curve of the same name.
    #' @param step Step (a whole number), or `NULL`.
    #' @param metadata A named list of metadata, or `NULL`.
    #' @examples
    #' srv <- local_server()
    #' exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,
    #'                          log_output = FALSE, keep_active = FALSE)
    #' exp$log_curve("roc", x = c(0, 0.1, 0.5, 1), y = c(0, 0.6, 0.9, 1))
    #' exp$stop()
    #' srv$stop()
    log_curve = function(name, x, y, overwrite = FALSE, step = NULL, metadata = NULL) {
      exp_log_curve(self, private, name, x, y, overwrite, step, metadata)
    },

    #' @description Log a confusion matrix, from actual and predicted categories or
    #'   from a matrix of counts, in the JSON Comet's UI reads (rows are actual
    #'   categories, columns predicted ones).
    #' @param actual,predicted Vectors (factors, strings or numbers) of the actual and
    #'   predicted category of each example.
    #' @param labels The categories, in order; the factor's levels, or the sorted
    #'   values, when `NULL`.
    #' @param matrix A square matrix of counts, instead of `actual` and `predicted`.
    #' @param title,row_label,column_label Title and axis labels.
    #' @param file_name Asset name.
    #' @param overwrite If `TRUE`, replace a confusion matrix of the same name.
    #' @param step,epoch Step and epoch (whole numbers), or `NULL`.
    #' @param metadata A named list of metadata, or `NULL`.
    #' @examples
    #' srv <- local_server()
    #' exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,
    #'                          log_output = FALSE, keep_active = FALSE)
    #' exp$log_confusion_matrix(actual = c("cat", "dog", "dog"),
    #'                          predicted = c("cat", "cat", "dog"))
    #' exp$stop()
    #' srv$stop()
    log_confusion_matrix = function(actual = NULL, predicted = NULL, labels = NULL,
                                    matrix = NULL, title = "Confusion Matrix",
                                    row_label = "Actual Category",
                                    column_label = "Predicted Category",
                                    file_name = "confusion-matrix.json", overwrite = FALSE,
                                    step = NULL, epoch = NULL, metadata = NULL) {
      exp_log_confusion_matrix(self, private, actual, predicted, labels, matrix, title,
                               row_label, column_label, file_name, overwrite, step, epoch,
                               metadata)
    },

    #' @description Log a text sample, shown on Comet's Text tab.
    #' @param text The text, a single string.
    #' @param step Step (a whole number), or `NULL`.
    #' @param metadata A named list of metadata, or `NULL`.
    #' @examples
    #' srv <- local_server()
    #' exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,
    #'                          log_output = FALSE, keep_active = FALSE)
    #' exp$log_text("The model predicts: cat", step = 1)
    #' exp$stop()
    #' srv$stop()
    log_text = function(text, step = NULL, metadata = NULL) {
      exp_log_text(self, private, text, step, metadata)
    },

    #' @description Log a hash of a data set, as the parameter `dataset_hash` (12
    #'   hexadecimal digits of an MD5 hash of the object's serialized form), to tell
    #'   which runs trained on the same data.
    #' @param data Any R object, such as a data frame.
    #' @examples
    #' srv <- local_server()
    #' exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,
    #'                          log_output = FALSE, keep_active = FALSE)
    #' exp$log_dataset_hash(iris)
    #' exp$stop()
    #' srv$stop()
    log_dataset_hash = function(data) {
      exp_log_dataset_hash(self, private, data)
    },

    #' @description Log an [Artifact]: create a new version of it and upload its
    #'   assets.
    #' @param artifact An [Artifact].
    #' @return A [LoggedArtifact].
    log_artifact = function(artifact) {
      if (!inherits(artifact, "Artifact")) {
        cometr_abort("Object is not an Artifact and cannot be logged", "cometr_input_error",
                     argument = "artifact")
      }
      private$check_active()
      # Not queued like the other writes: a new artifact version needs the server's
      # answer (its version number and id, returned as the LoggedArtifact) before the
      # assets can be uploaded to it. Offline, the artifact is recorded beside the
      # archive and logged by upload_offline().
      if (!is.null(private$offline)) return(offline_record_artifact(private$offline, artifact))
      private$flush()
      artifact_log(private$key, artifact, reveal(private$api_key))
    },

    #' @description Get a logged artifact, recording this experiment as a consumer.
    #' @param artifact_name Artifact name, optionally as `workspace/name` or
    #'   `workspace/name:version_or_alias`.
    #' @param workspace Workspace; overrides one given in `artifact_name`.
    #' @param version_or_alias Version or alias; overrides one given in
    #'   `artifact_name`.
    #' @return A [LoggedArtifact].
    get_artifact = function(artifact_name, workspace = NULL, version_or_alias = NULL) {
      private$check_online()
      private$check_active()
      private$flush()
      artifact_get(private$key, reveal(private$api_key), artifact_name, workspace, version_or_alias)
    },

    #' @description Set the start and/or end time of the experiment.
    #' @param start Start time: milliseconds since the epoch, or a `POSIXct`.
    #' @param end End time: milliseconds since the epoch, or a `POSIXct`.
    set_start_end_time = function(start = NULL, end = NULL) {
      if (is.null(start) && is.null(end)) {
        cometr_abort("Either start or end must be provided.", "cometr_input_error",
                     argument = "start")
      }
      private$rest("write/experiment/set-start-end-time", list(
        startTimeMillis = as_millis(start, "start"), endTimeMillis = as_millis(end, "end")
      ))
    },

    #' @description Print the experiment: its URL (as cometr 0.4.0 did), then its name,
    #'   key, project, state and how many logged items are still queued.
    print = function() {
      exp_print(self, private)
    }
  ),
  private = list(
    key = NULL, url = NULL, api_key = NULL, dynamic = NULL, workspace = NULL, project = NULL,
    stream = NULL, ended = FALSE, offline = NULL,

    # Automatic logging never fails the creation: what cannot be gathered is skipped.
    auto_log = function(auto) {
      if (isTRUE(auto$code)) {
        script <- script_path()
        if (!is.null(script)) {
          code <- tryCatch(paste(readLines(script, warn = FALSE), collapse = "\n"),
                           error = function(e) NULL)
          if (!is.null(code)) self$log_code(code)
        }
      }
      if (isTRUE(auto$system)) {
        details <- tryCatch(system_details(), error = function(e) NULL)
        if (!is.null(details)) do.call(self$log_system_details, details)
      }
      if (isTRUE(auto$git)) {
        git <- tryCatch(git_info(), error = function(e) NULL)
        if (length(git$metadata) > 0L) do.call(self$log_git_metadata, git$metadata)
        if (length(git$patch) > 0L && nzchar(git$patch)) private$upload_patch(git$patch)
      }
    },

    check_online = function() {
      if (!is.null(private$offline)) offline_read_error(private$key, private$offline$run_dir)
    },

    # A GET that changes the experiment on the server (archive, restore), after what is
    # queued has been sent.
    server_action = function(endpoint) {
      private$check_online()
      private$check_active()
      private$flush()
      comet_http(endpoint, "GET", list(experimentKey = private$key), reveal(private$api_key))
      invisible(self)
    },

    check_active = function() {
      if (private$ended) {
        cometr_abort("This experiment already ended and cannot be modified.",
                     "cometr_experiment_ended_error")
      }
    },

    # Act on what the metric hot path returned, a bare code (cheaper than a result
    # list): 0 = queued, 1 = queued and the sender has something to report, -1 = the
    # experiment has ended, -2 = a value of the wrong type.
    after_push = function(rc, arg) {
      if (rc != 0L) {
        if (rc == -2L) abort_input(arg, "must be a number, string or logical vector")
        if (rc == -1L) private$check_active()
        private$report(rust_result(rust_experiment_problems(private$stream)))
      }
      invisible(self)
    },

    # Act on what any other queue call returned: whether the sender has something to
    # report.
    after_queue = function(res) {
      if (rust_result(res)) private$report(rust_result(rust_experiment_problems(private$stream)))
      invisible(self)
    },

    rest = function(endpoint, body) {
      private$check_active()
      body$experimentKey <- private$key
      private$after_queue(rust_experiment_rest(private$stream, endpoint, encode_body(body)))
    },

    # Before a read (or a direct request that must follow what was logged): send what
    # is queued for this experiment, by any handle (send_queued() waits at most the
    # retry budget and warns about what stays pending), then report this outbox's
    # problems.
    flush = function() {
      send_queued(private$key)
      if (!private$ended) private$report(rust_result(rust_experiment_problems(private$stream)))
      invisible()
    },

    report = function(res) {
      warn_problems(res)
      invisible(res)
    },

    read = function(endpoint, params = list()) {
      private$check_online()
      private$flush()
      params$experimentKey <- private$key
      comet_get(endpoint, params[c("experimentKey", setdiff(names(params), "experimentKey"))],
                reveal(private$api_key), read = FALSE)
    },

    # upload_asset(), log_remote_asset() and the git patch: queued like every other
    # write, to the sink chosen when the experiment was opened (sent by the sender, or
    # recorded in the offline archive). `copy`: always copy the file aside, as for a
    # temporary file deleted right after.
    upload = function(params, file = NULL, link = NULL, metadata = NULL, copy = FALSE) {
      private$check_active()
      meta <- if (is.null(metadata)) "" else encode_metadata(metadata)
      private$after_queue(rust_experiment_file(
        private$stream, file %||% link, params$type %||% "asset", to_json(drop_nulls(params)),
        meta, is.null(file), copy
      ))
    },

    upload_patch = function(patch) {
      path <- tempfile(fileext = ".patch")
      on.exit(unlink(path))
      writeLines(patch, path, useBytes = TRUE)
      private$upload(list(type = "git-patch"), file = path, copy = TRUE)
    },

    finish = function() {
      if (private$ended) return(invisible())
      # A session ending in an error ends its runs as crashed (R/experiment-crash.R).
      report_crash(private$stream, private$key)
      private$ended <- TRUE
      if (identical(session$current, self)) session$current <- NULL
      timeout <- getOption("cometr.stop_timeout", 30)
      res <- rust_result(rust_experiment_close(private$stream, timeout, private$dynamic))
      # A sink that leaves an archive (offline): say where it is, or why it is not.
      if (!is.null(res$archive)) res <- offline_closed(private$offline, res)
      private$report(res)
      if (res$pending > 0) {
        where <- if (nzchar(res$spool)) {
          sprintf(" They are kept in %s; send them later with send_spool().", res$spool)
        } else {
          " They could not be kept on disk and are lost."
        }
        files <- if (length(res$files) > 0L) {
          paste0(" Files not delivered: ", paste(res$files, collapse = "; "), ".")
        } else {
          ""
        }
        # The end does not wait the whole timeout for a server that is down.
        why <- if (isTRUE(res$down)) {
          sprintf(": Comet at %s cannot be reached", url_root())
        } else {
          sprintf(" within %s seconds", format(timeout))
        }
        cometr_warn(sprintf(
          "%s of experiment %s could not be delivered%s.%s%s",
          n_of(res$pending, "logged item"), private$key, why, files, where
        ), "cometr_delivery_warning", pending = res$pending, spool = res$spool,
        files = as.character(res$files))
      }
      invisible()
    },

    finalize = function() {
      try(private$finish(), silent = TRUE)
    }
  )
)

# Warn about each problem an outbox reported (`rust_experiment_problems()`,
# `_close()`, `rust_spool_replay()`), with its class: data not delivered
# (`cometr_delivery_warning`), or a logged file that changed before it could be sent
# (`cometr_file_changed_warning`, also a delivery warning).
warn_problems <- function(res) {
  classes <- res$problem_classes %||% rep("delivery", length(res$problems))
  for (i in seq_along(res$problems)) {
    class <- if (identical(classes[[i]], "file_changed")) {
      c("cometr_file_changed_warning", "cometr_delivery_warning")
    } else {
      "cometr_delivery_warning"
    }
    cometr_warn(res$problems[[i]], class)
  }
}

# The address of `log_metric()`'s routine (src/rust/src/experiment/log_metric.rs), set
# by .onLoad: .External reaches it faster through its address than through its
# registration object.
log_metric_routine <- NULL

# The error for a code from `log_metric()`'s routine: -(10 * argument + problem), both
# numbered as in src/rust/src/experiment/log_metric.rs; -9 is a failure inside it.
metric_refusal <- function(rc) {
  if (rc == -9L) cometr_abort("The metric could not be logged (internal error).")
  arg <- c("name", "step", "epoch", "context", "value")[(-rc) %/% 10L]
  abort_input(arg, c("must be a single string", "must be valid UTF-8 text",
                     "is too long (more than 10000 characters)", "must be a single finite number",
                     "must be a number, string or logical vector",
                     "must be a whole number", "must not be empty")[(-rc) %% 10L])
}

now_ms <- function() round(as.numeric(Sys.time()) * 1000)

as_millis <- function(x, name) {
  if (is.null(x)) return(NULL)
  if (inherits(x, "POSIXt")) return(round(as.numeric(as.POSIXct(x)) * 1000))
  if (!is_count(x)) abort_input(name, "must be milliseconds since the epoch or a POSIXct time")
  x
}

# The asset name of a remote URI: its last path segment, or "remote".
remote_name <- function(uri) {
  if (is.null(uri) || length(uri) != 1L || is.na(uri)) return("remote")
  name <- basename(sub("/+$", "", sub("^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*", "", uri)))
  if (!nzchar(name) || name %in% c(".", "/")) {
    name <- basename(sub("/+$", "", uri))
  }
  if (!nzchar(name) || grepl("^[a-zA-Z][a-zA-Z0-9+.-]*:$", name)) "remote" else name
}
