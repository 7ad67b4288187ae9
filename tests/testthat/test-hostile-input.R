# Hostile input, in two parts.
#
# A sweep: every exported function and every public method gets NULL, NA, NaN, +-Inf,
# zero-length and long vectors, lists, environments, functions, factors, dates, non-UTF-8
# strings, 10 MB strings, negative and huge numbers. Each call either works, or raises a
# cometr_input_error naming the argument (or, for a well-formed value the server does not
# know, a cometr_http_error). Nothing else: no other error, no crash, no Rust panic text.
#
# Tables (from "Every argument" on, with helper-outcome-tables.R): every argument gets a
# family of values, and each value has one expected outcome that is asserted: accepted
# and stored as a given value (read back from the server, or from the object for
# objects the package builds), sent and answered with a given server error, or refused
# with a cometr_input_error naming the argument. A value wrongly accepted fails here.

latin1_bytes <- rawToChar(as.raw(c(0x63, 0x61, 0x66, 0xe9, 0xff)))
big <- strrep("x", 10 * 1024^2)

hostile_values <- list(
  null = NULL, na = NA, na_chr = NA_character_, nan = NaN, inf = Inf, minus_inf = -Inf,
  empty_chr = character(), empty_num = numeric(), empty_list = list(),
  long_chr = rep("abc", 10000), long_num = as.numeric(seq_len(100000)),
  list = list(1, "a", TRUE), named_list = list(a = 1, b = list(c = "d")),
  env = new.env(), fun = function(x) x, factor = factor(c("a", "b")), date = Sys.Date(),
  time = Sys.time(), not_utf8 = latin1_bytes, big_string = big, negative = -7,
  huge = 1e300, fraction = 0.5, zero = 0L, empty_string = "", logical = TRUE,
  raw = as.raw(1:3), matrix = matrix(1:4, 2), complex = 1i
)

outcomes <- new.env()

# Call `f` with `args`, replacing `arg` by each hostile value, and check the outcome.
probe <- function(label, f, args, arg) {
  for (hv in names(hostile_values)) {
    a <- args
    a[arg] <- list(hostile_values[[hv]])
    what <- sprintf("%s(%s = <%s>)", label, arg, hv)
    if (nzchar(Sys.getenv("COMETR_PROBE_TRACE"))) cat(what, "\n", file = Sys.getenv("COMETR_PROBE_TRACE"), append = TRUE)
    kind <- tryCatch(
      withCallingHandlers(
        { suppressMessages(do.call(f, a)); "ok" },
        warning = function(w) {
          # Warnings must be the package's own, and never carry panic text.
          expect_false(grepl("panicked|RUST_BACKTRACE", conditionMessage(w)), label = what)
          invokeRestart("muffleWarning")
        }
      ),
      cometr_input_error = function(e) {
        expect_true(grepl(arg, conditionMessage(e), fixed = TRUE) || identical(e$argument, arg),
                    label = paste(what, "names the argument:", conditionMessage(e)))
        "input_error"
      },
      cometr_http_error = function(e) "http_error",
      cometr_error = function(e) {
        "other_cometr_error"
      },
      error = function(e) {
        paste("NOT A COMETR ERROR:", conditionMessage(e))
      }
    )
    outcomes[[what]] <- kind
    expect_true(kind %in% c("ok", "input_error", "http_error", "other_cometr_error"),
                label = paste(what, "->", cometr:::show_value(kind, 300)))
    expect_false(grepl("panicked|RUST_BACKTRACE", kind), label = what)
  }
}

# Probe every argument of `target` (a function whose formals name the arguments),
# calling it through `call` (which may clean up after a successful call).
probe_all <- function(label, target, args, call = target, skip = character()) {
  for (arg in setdiff(names(formals(target)), skip)) probe(label, call, args, arg)
}

stop_if_experiment <- function(res) {
  if (inherits(res, "Experiment")) res$stop()
  if (inherits(res, "cometr_local_server")) res$stop()
  invisible(res)
}

test_that("exported functions cope with hostile input", {
  srv <- local_test_server()
  withr::local_options(cometr.retry_timeout = 0, cometr.stop_timeout = 2)
  create_project("p", "d")
  key <- suppressMessages(create_experiment(log_code = FALSE, log_system_details = FALSE,
                                            log_output = FALSE, keep_active = FALSE))$get_key()
  valid <- list(
    call_api = list(endpoint = "/workspaces"),
    create_project = list(project_name = "hp", project_description = "d"),
    delete_project = list(project_name = "nope"),
    get_columns = list(project_name = "p"),
    get_experiments = list(project_name = "p"),
    get_multi_metric_chart = list(experiment_keys = key),
    get_projects = list(),
    get_workspaces = list(),
    get_experiment = list(experiment_key = key),
    create_experiment = list(log_code = FALSE, log_system_details = FALSE, log_output = FALSE,
                             keep_active = FALSE),
    create_artifact = list(artifact_name = "a", artifact_type = "dataset"),
    send_spool = list(path = withr::local_tempdir()),
    upload_offline = list(path = withr::local_tempdir()),
    local_server = list(activate = FALSE)
  )
  for (fn in names(valid)) {
    f <- getExportedValue("cometr", fn)
    # `block = TRUE` serves until interrupted, as documented.
    probe_all(fn, f, valid[[fn]], call = function(...) stop_if_experiment(f(...)),
              skip = if (fn == "local_server") "block")
  }
  for (fn in c("get_api_version", "disable_logging")) {
    expect_no_error(getExportedValue("cometr", fn)())
  }
  cometr:::reset_logging()
})

test_that("Experiment methods cope with hostile input", {
  srv <- local_test_server()
  withr::local_options(cometr.retry_timeout = 0, cometr.stop_timeout = 2)
  exp <- new_test_experiment()
  f <- withr::local_tempfile(lines = "asset")
  valid <- list(
    log_metric = list(name = "m", value = 1), log_parameter = list(name = "p", value = 1),
    log_other = list(key = "k", value = "v"), add_tags = list(tags = "t"),
    log_html = list(html = "<b>x</b>"), log_graph = list(graph = "{}"),
    log_code = list(code = "x <- 1"), log_git_metadata = list(), log_system_details = list(),
    set_start_end_time = list(start = 1700000000000),
    upload_asset = list(file = f), log_remote_asset = list(uri = "s3://b/x"),
    get_metric = list(name = "m"), get_asset_list = list(), get_asset = list(assetId = "nope"),
    create_symlink = list(project_name = "other"),
    log_artifact = list(artifact = create_artifact("a", "dataset")),
    get_artifact = list(artifact_name = "a")
  )
  for (m in names(valid)) {
    probe_all(paste0("Experiment$", m), exp[[m]], valid[[m]])
  }
  # Methods without arguments simply work.
  for (m in c("get_key", "get_workspace_name", "get_project_name", "get_dynamic", "get_url",
              "get_metadata", "get_metrics_summary", "get_graph", "get_parameters", "get_other",
              "get_tags", "get_html", "get_git_metadata", "get_code", "get_output",
              "get_system_details", "archive", "restore")) {
    expect_no_error(exp[[m]]())
  }
  expect_output(exp$print())
  # Experiment$new() is refused whatever it is given, as documented.
  for (hv in names(hostile_values)) {
    expect_error(Experiment$new(hostile_values[[hv]]), "Do not call this function directly",
                 class = "cometr_input_error")
  }
})

test_that("artifact classes cope with hostile input", {
  srv <- local_test_server()
  withr::local_options(cometr.retry_timeout = 0, cometr.stop_timeout = 2)
  exp <- new_test_experiment()
  f <- withr::local_tempfile(lines = "asset")
  probe_all("Artifact$new", Artifact$public_methods$initialize,
            list(artifact_name = "a", artifact_type = "t"), call = Artifact$new)
  # A fresh artifact for each call, so that a valid call never clashes with the last.
  on_new <- function(m) function(...) create_artifact("a", "dataset")[[m]](...)
  art <- create_artifact("a", "dataset")
  probe_all("Artifact$add", art$add, list(local_path = f), call = on_new("add"))
  probe_all("Artifact$add_remote", art$add_remote, list(uri = "s3://b/y"),
            call = on_new("add_remote"))
  probe_all("Artifact$add_asset", art$add_asset,
            list(asset = ArtifactAsset$new("z", local_path = f)), call = on_new("add_asset"))
  probe_all("ArtifactAsset$new", ArtifactAsset$public_methods$initialize,
            list(logical_path = "x"), call = ArtifactAsset$new)
  logged <- suppressMessages(exp$log_artifact({
    a <- create_artifact("b", "dataset")
    a$add(f)
  }))
  dest <- withr::local_tempdir()
  probe_all("LoggedArtifact$download", logged$download, list(path = dest))
  probe_all("LoggedArtifact$size", logged$size, list())
  probe_all("LoggedArtifact$update_aliases", logged$update_aliases, list(aliases = "x"))
  probe_all("LoggedArtifact$update_version_tags", logged$update_version_tags,
            list(version_tags = "x"))
  probe_all("LoggedArtifact$update_artifact_tags", logged$update_artifact_tags,
            list(artifact_tags = "x"))
  asset <- logged$get_assets()[[1]]
  probe_all("LoggedArtifact$new", LoggedArtifact$public_methods$initialize, list(
    artifact_name = "a", artifact_type = "t", artifact_id = "i", artifact_version_id = "v",
    workspace = "w", experiment_key = "k", artifact_version = "1.0.0", aliases = list(),
    artifact_tags = list(), version_tags = list(), size = 0
  ), call = LoggedArtifact$new)
  probe_all("LoggedArtifactAsset$new", LoggedArtifactAsset$public_methods$initialize, list(
    logical_path = "x", remote = FALSE, size = 1, metadata = NULL, asset_type = "asset",
    id = "i", artifact_version_id = "v", artifact_id = "a", experiment_key = "k"
  ), call = LoggedArtifactAsset$new)
  probe_all("LoggedArtifactAsset$download", asset$download, list(local_path = dest))
  for (m in c("get_aliases", "get_artifact_id", "get_artifact_name", "get_artifact_tags",
              "get_artifact_type", "get_artifact_version", "get_artifact_version_id",
              "get_assets", "get_experiment_key", "get_metadata", "get_remote_assets",
              "get_source_experiment_key", "get_version_tags", "get_workspace")) {
    expect_no_error(logged[[m]]())
  }
})

test_that("the local server object copes with hostile input", {
  srv <- local_test_server()
  probe_all("local_server$set_faults", srv$set_faults, list())
  probe_all("local_server$inject_fault", srv$inject_fault, list(path = "zzz"))
  probe_all("local_server$set_heartbeat_interval", srv$set_heartbeat_interval,
            list(seconds = 10))
})

# Expected outcomes, argument by argument: each value is either stored as given in
# `stored` (what the server answers for that field) or refused with a
# cometr_input_error naming the argument. Fractions are never rounded.
metric_cases <- list(
  list(arg = "step", value = 3, stored = "3"),
  list(arg = "step", value = 3L, stored = "3"),
  list(arg = "step", value = 0, stored = "0"),
  list(arg = "step", value = 2^53, stored = "9007199254740992"),
  list(arg = "step", value = 0.5, refused = "must be a whole number"),
  list(arg = "step", value = 2.9999, refused = "must be a whole number"),
  list(arg = "step", value = -0.1, refused = "must be a whole number"),
  list(arg = "step", value = NA, refused = "must be a single finite number"),
  list(arg = "step", value = NA_integer_, refused = "must be a single finite number"),
  list(arg = "step", value = Inf, refused = "must be a single finite number"),
  list(arg = "step", value = 2^54, refused = "must be a single finite number"),
  list(arg = "step", value = "1", refused = "must be a single finite number"),
  list(arg = "step", value = c(1, 2), refused = "must be a single finite number"),
  list(arg = "epoch", value = 2, stored = "2"),
  list(arg = "epoch", value = 0.7, refused = "must be a whole number"),
  list(arg = "epoch", value = NaN, refused = "must be a single finite number"),
  list(arg = "value", value = 1.5, stored = "1.5"),
  list(arg = "value", value = 2L, stored = "2"),
  list(arg = "value", value = "text", stored = "text"),
  list(arg = "value", value = TRUE, stored = "true"),
  list(arg = "value", value = NaN, stored = "NaN"),
  list(arg = "value", value = Inf, stored = "Infinity"),
  # NA, of any type, is Comet's missing number, online as offline.
  list(arg = "value", value = NA, stored = "NaN"),
  list(arg = "value", value = NA_real_, stored = "NaN"),
  list(arg = "value", value = NA_character_, stored = "NaN"),
  list(arg = "value", value = NULL, refused = "must be a number, string or logical vector"),
  list(arg = "value", value = numeric(0), refused = "must be a number, string or logical vector"),
  list(arg = "value", value = list(1), refused = "must be a number, string or logical vector"),
  list(arg = "value", value = factor("a"), refused = "must be a number, string or logical vector")
)

test_that("log_metric() stores each step, epoch and value as expected or refuses it", {
  srv <- local_test_server()
  exp <- new_test_experiment()
  field <- c(step = "step", epoch = "epoch", value = "metricValue")
  for (i in seq_along(metric_cases)) {
    case <- metric_cases[[i]]
    args <- list(name = paste0("case", i), value = 1)
    args[case$arg] <- list(case$value)
    label <- sprintf("log_metric(%s = %s)", case$arg, deparse(case$value))
    if (!is.null(case$refused)) {
      err <- expect_error(do.call(exp$log_metric, args), class = "cometr_input_error",
                          label = label)
      expect_identical(err$argument, case$arg, label = label)
      expect_match(conditionMessage(err), case$refused, fixed = TRUE, label = label)
      next
    }
    expect_no_error(do.call(exp$log_metric, args), message = label)
    m <- exp$get_metric(args$name)$metrics
    expect_length(m, 1)
    stored <- m[[1]][[field[[case$arg]]]]
    got <- if (is.logical(stored)) tolower(as.character(stored)) else format(stored, scientific = FALSE)
    expect_identical(got, case$stored, label = label)
  }
})

test_that("upload_asset() and log_parameter() take whole steps only", {
  srv <- local_test_server()
  exp <- new_test_experiment()
  f <- withr::local_tempfile(lines = "asset")
  for (step in list(0.5, 2.9999, NA, Inf)) {
    err <- expect_error(exp$upload_asset(f, step = step), class = "cometr_input_error")
    expect_identical(err$argument, "step")
    err <- expect_error(exp$log_parameter("p", 1, step = step), class = "cometr_input_error")
    expect_identical(err$argument, "step")
  }
  expect_no_error(exp$upload_asset(f, step = 7, name = "stepped.txt"))
  assets <- exp$get_asset_list()$assets
  stepped <- Filter(function(a) identical(a$fileName, "stepped.txt"), assets)
  expect_length(stepped, 1)
  expect_identical(as.numeric(stepped[[1]]$step), 7)
})

# ---- Every argument: a table of outcomes (see helper-outcome-tables.R) --------------

# An asset's content as text, whether the server's answer made it a string or bytes.
as_text <- function(x) if (is.raw(x)) rawToChar(x) else x

# The value named `name` in a list of records such as get_other()$values.
record_value <- function(records, name, field = "valueCurrent", key = "name") {
  for (r in records) if (identical(r[[key]], name)) return(r[[field]])
  NULL
}

test_that("every argument of the logging methods: each value stored as given, or refused", {
  srv <- local_test_server()
  exp <- new_test_experiment()
  # A fresh experiment for one call, when what is read back accumulates (tags, HTML).
  here <- environment()
  fresh <- function() new_test_experiment(env = here)
  m <- "Experiment$log_metric"
  log_metric <- function(a) do.call(exp$log_metric, a)
  outcome_table(m, log_metric, function(v) list(value = 1), "name", "string",
                accept = list(utf8 = as_given, plain = as_given),
                read = function(res, a) exp$get_metric(a$name)$metrics[[1]]$metricName)
  outcome_table(m, log_metric, function(v) list(name = paste0("ctx-", v), value = 1), "context",
                "string", accept = list(null = NULL, empty = "", utf8 = as_given, plain = as_given),
                read = function(res, a) exp$get_metric(a$name)$metrics[[1]]$runContext)

  m <- "Experiment$log_parameter"
  log_parameter <- function(a) do.call(exp$log_parameter, a)
  params <- function(a) exp$get_parameters()$values
  outcome_table(m, log_parameter, list(value = 1), "name", "string",
                accept = list(utf8 = as_given, plain = as_given),
                read = function(res, a) record_value(params(), a$name, "name"))
  # NA is a missing value: Comet's parameter holds null.
  outcome_table(m, log_parameter, function(v) list(name = paste0("value-", v)), "value",
                "string", accept = list(na = NULL, na_chr = NULL, empty = "", number = "1",
                                        logical = "true", two = '["a","b"]',
                                        too_long = as_given, utf8 = as_given, plain = as_given),
                read = function(res, a) record_value(params(), a$name))
  # Comet's parameter listing shows no step: what is read back is the value logged.
  outcome_table(m, log_parameter, function(v) list(name = paste0("step-", v), value = 1),
                "step", "count",
                accept = list(zero = "1", whole = "1", integer = "1", negative = "1", null = "1"),
                read = function(res, a) record_value(params(), a$name))

  m <- "Experiment$log_other"
  log_other <- function(a) do.call(exp$log_other, a)
  others <- function() exp$get_other()$values
  outcome_table(m, log_other, list(value = "v"), "key", "string",
                accept = list(utf8 = as_given, plain = as_given),
                read = function(res, a) record_value(others(), a$key, "name"))
  # NA is a missing value: the other is kept, empty.
  outcome_table(m, log_other, function(v) list(key = paste0("other-", v)), "value", "string",
                accept = list(na = "", na_chr = "", empty = "", number = "1", logical = "true",
                              too_long = as_given, utf8 = as_given, plain = as_given),
                read = function(res, a) record_value(others(), a$key))

  outcome_table("Experiment$add_tags", function(a) { e <- fresh(); e$add_tags(a$tags); e },
                list(), "tags", "labels",
                accept = list(two = c("a", "b"), list = c("a", "b"), duplicated = "a",
                              nested = "a"),
                read = function(e, a) sort(unlist(e$get_tags()$tags)))

  m <- "Experiment$log_html"
  log_html <- function(a) { e <- fresh(); do.call(e$log_html, a); e }
  outcome_table(m, log_html, list(override = FALSE), "html", "string",
                accept = list(empty = "", too_long = as_given, utf8 = as_given, plain = as_given),
                read = function(e, a) e$get_html()$html)
  outcome_table(m, log_html, list(html = "<b>x</b>"), "override", "flag",
                accept = list(true = "<b>x</b>", false = "<b>x</b>"),
                read = function(e, a) e$get_html()$html)

  outcome_table("Experiment$log_graph", function(a) { e <- fresh(); do.call(e$log_graph, a); e },
                list(), "graph", "string",
                accept = list(empty = "", too_long = as_given, utf8 = as_given, plain = as_given),
                read = function(e, a) e$get_graph()$graph)
  outcome_table("Experiment$log_code", function(a) { e <- fresh(); do.call(e$log_code, a); e },
                list(), "code", "string",
                accept = list(empty = "", two = "a\nb", too_long = as_given, utf8 = as_given,
                              plain = as_given),
                read = function(e, a) e$get_code()$code)

  log_git <- function(a) { e <- fresh(); do.call(e$log_git_metadata, a); e }
  for (arg in c("branch", "origin", "parent", "user", "root")) {
    outcome_table("Experiment$log_git_metadata", log_git, list(), arg, "string",
                  accept = list(null = NULL, empty = "", utf8 = as_given, plain = as_given),
                  read = function(e, a) e$get_git_metadata()[[names(a)[1]]])
  }

  log_details <- function(a) { e <- fresh(); do.call(e$log_system_details, a); e }
  details <- function(field) function(e, a) e$get_system_details()[[field]]
  strings <- c(executable = "executable", hostname = "hostname", ip = "ip", os = "os",
               os_type = "osType", user = "user", r_version = "pythonVersion",
               r_version_verbose = "pythonVersionVerbose")
  for (arg in names(strings)) {
    outcome_table("Experiment$log_system_details", log_details, list(), arg, "string",
                  accept = list(null = NULL, empty = "", utf8 = as_given, plain = as_given),
                  read = details(strings[[arg]]))
  }
  vectors <- c(command = "command", installed_packages = "installedPackages",
               network_interface_ips = "networkInterfaceIps", os_packages = "osPackages")
  for (arg in names(vectors)) {
    outcome_table("Experiment$log_system_details", log_details, list(), arg, "labels",
                  accept = list(null = NULL, two = list("a", "b"), list = list("a", "b"),
                                duplicated = list("a"), empty_vector = NULL),
                  read = details(vectors[[arg]]))
  }
  outcome_table("Experiment$log_system_details", log_details, list(), "pid", "count",
                accept = list(zero = 0L, whole = 3L, integer = 3L, negative = -1L, null = NULL),
                read = details("pid"))
  for (arg in c("gpu_static_info", "additional_system_info")) {
    outcome_table("Experiment$log_system_details", log_details, list(), arg, "metadata",
                  accept = list(null = NULL, records = as_given),
                  extra = list(records = list(list(key = "k", value = "v"))),
                  read = details(if (arg == "gpu_static_info") "gpuStaticInfoList"
                                 else "logAdditionalSystemInfoList"))
  }

  start_end <- function(a) { e <- fresh(); do.call(e$set_start_end_time, a); e }
  for (arg in c("start", "end")) {
    outcome_table("Experiment$set_start_end_time", start_end, list(), arg, "count",
                  accept = list(zero = 0L, whole = 3L, integer = 3L, negative = -1L),
                  read = function(e, a) e$get_metadata()[[paste0(names(a)[1], "TimeMillis")]])
  }
})

test_that("every argument of the asset methods and reads: each value stored as given, or refused", {
  srv <- local_test_server()
  exp <- new_test_experiment()
  f <- withr::local_tempfile(lines = "asset")
  folder <- withr::local_tempdir()
  # The asset named `name`, as the server lists it.
  asset <- function(name) {
    for (x in exp$get_asset_list()$assets) if (identical(x$fileName, name)) return(x)
    NULL
  }
  m <- "Experiment$upload_asset"
  upload <- function(a) do.call(exp$upload_asset, a)
  named <- function(prefix) function(v) list(file = f, name = paste0(prefix, "-", v))
  outcome_table(m, upload, list(name = "file-case"), "file", "path",
                accept = list(file = "file-case"), extra = list(file = f, folder = folder),
                read = function(res, a) asset(a$name)$fileName)
  outcome_table(m, upload, named("step"), "step", "count",
                accept = list(zero = 0L, whole = 3L, integer = 3L, negative = -1L, null = NULL),
                read = function(res, a) asset(a$name)$step)
  outcome_table(m, upload, named("overwrite"), "overwrite", "flag",
                accept = list(true = TRUE, false = TRUE, null = TRUE),
                read = function(res, a) identical(as_text(exp$get_asset(asset(a$name)$assetId)),
                                                  "asset\n"))
  outcome_table(m, upload, named("context"), "context", "string",
                accept = list(null = NULL, empty = NULL, utf8 = as_given, plain = as_given),
                read = function(res, a) asset(a$name)$runContext)
  outcome_table(m, upload, named("type"), "type", "string",
                accept = list(null = "asset", empty = "asset", utf8 = as_given, plain = as_given),
                read = function(res, a) asset(a$name)$type)
  outcome_table(m, upload, list(file = f), "name", "string",
                accept = list(null = basename(f), utf8 = as_given, plain = as_given),
                read = function(res, a) asset(a$name %||% basename(f))$fileName)
  outcome_table(m, upload, named("metadata"), "metadata", "metadata",
                accept = list(null = NULL, named = '{"a":1}', nested = '{"a":{"b":"c"}}',
                              json = '{"a":1}'),
                read = function(res, a) asset(a$name)$metadata)

  m <- "Experiment$log_remote_asset"
  remote <- function(a) do.call(exp$log_remote_asset, a)
  rnamed <- function(prefix) function(v) list(uri = "s3://b/x", remote_file_name = paste0(prefix, "-r-", v))
  outcome_table(m, remote, function(v) list(remote_file_name = paste0("uri-", v)), "uri", "string",
                accept = list(utf8 = as_given, plain = as_given),
                read = function(res, a) asset(a$remote_file_name)$link)
  outcome_table(m, remote, list(uri = "s3://b/derived.bin"), "remote_file_name", "string",
                accept = list(null = "derived.bin", utf8 = as_given, plain = as_given),
                read = function(res, a) asset(a$remote_file_name %||% "derived.bin")$fileName)
  outcome_table(m, remote, rnamed("step"), "step", "count",
                accept = list(zero = 0L, whole = 3L, integer = 3L, negative = -1L, null = NULL),
                read = function(res, a) asset(a$remote_file_name)$step)
  outcome_table(m, remote, rnamed("overwrite"), "overwrite", "flag",
                accept = list(true = TRUE, false = TRUE, null = TRUE),
                read = function(res, a) isTRUE(asset(a$remote_file_name)$remote))
  outcome_table(m, remote, rnamed("type"), "type", "string",
                accept = list(null = "asset", empty = "asset", utf8 = as_given, plain = as_given),
                read = function(res, a) asset(a$remote_file_name)$type)
  outcome_table(m, remote, rnamed("metadata"), "metadata", "metadata",
                accept = list(null = NULL, named = '{"a":1}', nested = '{"a":{"b":"c"}}',
                              json = '{"a":1}'),
                read = function(res, a) asset(a$remote_file_name)$metadata)

  # Reads: an accepted value is sent as the query, and the answer is the server's.
  exp$log_metric("plain_1", 1)
  outcome_table("Experiment$get_metric", function(a) do.call(exp$get_metric, a), list(),
                "name", "string",
                accept = list(empty = answered("cometr_http_400"), utf8 = 0L, plain = 1L),
                read = function(res, a) length(res$metrics))
  outcome_table("Experiment$get_asset_list", function(a) do.call(exp$get_asset_list, a), list(),
                "type", "string",
                accept = list(null = TRUE, empty = TRUE, utf8 = TRUE, plain = TRUE),
                read = function(res, a) length(res$assets) > 0)
  id <- asset("file-case")$assetId
  outcome_table("Experiment$get_asset", function(a) do.call(exp$get_asset, a), list(),
                "assetId", "string",
                accept = list(empty = answered("cometr_http_400"),
                              utf8 = answered("cometr_http_400"), plain = TRUE),
                extra = list(plain = id), read = function(res, a) identical(as_text(res), "asset\n"))
  outcome_table("Experiment$create_symlink", function(a) do.call(exp$create_symlink, a), list(),
                "project_name", "string",
                accept = list(empty = answered("cometr_http_400"), utf8 = TRUE, plain = TRUE),
                read = function(res, a) is.character(res$link))
})

test_that("every argument of the exported functions: each value used as given, or refused", {
  srv <- local_test_server()
  withr::local_options(cometr.retry_timeout = 0)
  create_project("p", "d")
  exp <- new_test_experiment(project_name = "p")
  exp$log_metric("loss", 1)
  key <- exp$get_key()
  ws <- exp$get_workspace_name()
  here <- environment()
  stop_it <- function(e) {
    force(e)
    withr::defer(e$stop(), envir = here)
    e
  }
  # An API key is sent in a header: visible ASCII only. The server has no key of its
  # own, so it takes any, but none ("").
  keys <- list(null = TRUE, empty = answered("cometr_http_401"), plain = TRUE)

  api <- function(a) do.call(call_api, a)
  outcome_table("call_api", api, list(), "endpoint", "string",
                accept = list(ok = TRUE), extra = list(ok = "/workspaces"),
                read = function(res, a) "workspaceNames" %in% names(res))
  outcome_table("call_api", api, list(endpoint = "/workspaces"), "method", "string",
                accept = list(null = TRUE, get = TRUE, default = TRUE),
                extra = list(get = "GET", default = c("GET", "POST")),
                read = function(res, a) "workspaceNames" %in% names(res))
  # NULL is no parameters, as in 0.4.0.
  outcome_table("call_api", api, list(endpoint = "/projects"), "params", "metadata",
                accept = list(null = answered("cometr_http_400"),
                              named = answered("cometr_http_400"), ok = "p"),
                extra = list(ok = list(workspaceName = ws)),
                read = function(res, a) vapply(res$projects, `[[`, "", "projectName"))
  for (arg in c("parse_response", "response_json")) {
    outcome_table("call_api", api, list(endpoint = "/workspaces"), arg, "flag",
                  accept = list(true = TRUE, false = TRUE),
                  read = function(res, a) !is.null(res))
  }
  saved <- file.path(withr::local_tempdir(), "answer.json")
  outcome_table("call_api", api, list(endpoint = "/workspaces"), "local_file_path", "path",
                accept = list(null = TRUE, new = TRUE), extra = list(new = saved),
                read = function(res, a) is.null(a$local_file_path) || file.exists(saved))
  outcome_table("call_api", api, list(endpoint = "/workspaces"), "api_key", "string",
                accept = keys, read = function(res, a) "workspaceNames" %in% names(res))

  outcome_table("get_workspaces", function(a) do.call(get_workspaces, a), list(), "api_key",
                "string", accept = keys, read = function(res, a) ws %in% unlist(res$workspaceNames))
  projects <- function(a) do.call(get_projects, a)
  outcome_table("get_projects", projects, list(), "workspace_name", "string",
                accept = list(null = TRUE, empty = answered("cometr_http_400"), utf8 = FALSE,
                              plain = FALSE),
                read = function(res, a) "p" %in% vapply(res$projects, `[[`, "", "projectName"))
  outcome_table("get_projects", projects, list(), "api_key", "string", accept = keys,
                read = function(res, a) "p" %in% vapply(res$projects, `[[`, "", "projectName"))

  # get_experiments() and get_columns() take the same arguments.
  pid <- get_projects()$projects[[1]]$projectId
  for (fn in c("get_experiments", "get_columns")) {
    f <- getExportedValue("cometr", fn)
    listed <- function(res, a) length(res$experiments %||% res$columns) > 0
    call <- function(a) do.call(f, a)
    # A name or id the server does not know is its 400, as from Comet; so is none
    # (the configured project, "general", does not exist here).
    unknown <- answered("cometr_http_400")
    outcome_table(fn, call, list(), "project_id", "string",
                  accept = list(null = unknown, empty = unknown, ok = TRUE, utf8 = unknown,
                                plain = unknown),
                  extra = list(ok = pid), read = listed)
    outcome_table(fn, call, list(), "project_name", "string",
                  accept = list(null = unknown, empty = unknown, ok = TRUE, utf8 = unknown,
                                plain = unknown),
                  extra = list(ok = "p"), read = listed)
    outcome_table(fn, call, list(project_name = "p"), "workspace_name", "string",
                  accept = list(null = TRUE, empty = unknown, utf8 = unknown, plain = unknown),
                  read = listed)
    outcome_table(fn, call, list(project_name = "p"), "api_key", "string", accept = keys,
                  read = listed)
    # Archived experiments only: there are none (get_columns() lists columns either way).
    outcome_table(fn, call, list(project_name = "p"), "archived", "flag",
                  accept = list(true = fn == "get_columns", false = TRUE), read = listed)
  }

  proj <- function(a) do.call(create_project, a)
  names_of_projects <- function() vapply(get_projects()$projects, `[[`, "", "projectName")
  outcome_table("create_project", proj, list(project_description = "d"), "project_name",
                "string",
                accept = list(empty = answered("cometr_http_400"), utf8 = TRUE, plain = TRUE),
                read = function(res, a) a$project_name %in% names_of_projects())
  outcome_table("create_project", proj, function(v) list(project_name = paste0("desc-", v)),
                "project_description", "string",
                accept = list(empty = "", utf8 = as_given, plain = as_given),
                read = function(res, a) {
                  for (p in get_projects()$projects) {
                    if (identical(p$projectName, a$project_name)) return(p$projectDescription)
                  }
                })
  outcome_table("create_project", proj, function(v) list(project_name = paste0("pub-", v), project_description = "d"),
                "public", "flag", accept = list(true = TRUE, false = FALSE),
                read = function(res, a) {
                  for (p in get_projects()$projects) {
                    if (identical(p$projectName, a$project_name)) return(isTRUE(p$public))
                  }
                })
  outcome_table("create_project", proj, function(v) list(project_name = paste0("ws-", v), project_description = "d"),
                "workspace_name", "string",
                accept = list(null = TRUE, empty = answered("cometr_http_400"), utf8 = FALSE,
                              plain = FALSE),
                read = function(res, a) a$project_name %in% names_of_projects())
  outcome_table("create_project", proj, function(v) list(project_name = paste0("key-", v), project_description = "d"),
                "api_key", "string", accept = keys,
                read = function(res, a) a$project_name %in% names_of_projects())

  del <- function(a) do.call(delete_project, a)
  gone <- function(res, a) !(a$project_name %in% names_of_projects())
  outcome_table("delete_project", del, list(), "project_name", "string",
                accept = list(empty = answered("cometr_http_400"), utf8 = TRUE, plain = TRUE),
                read = gone)
  for (arg in c("delete_experiments", "workspace_name", "api_key")) {
    base <- function(v) {
      name <- paste0("del-", arg, "-", v)
      create_project(name, "d")
      list(project_name = name)
    }
    outcome_table("delete_project", del, base, arg,
                  if (arg == "delete_experiments") "flag" else "string",
                  accept = switch(arg, delete_experiments = list(true = TRUE, false = TRUE),
                                  workspace_name = list(null = TRUE,
                                                        empty = answered("cometr_http_400"),
                                                        utf8 = answered("cometr_http_400"),
                                                        plain = answered("cometr_http_400")),
                                  api_key = keys),
                  read = gone)
  }

  getx <- function(a) stop_it(do.call(get_experiment, a))
  outcome_table("get_experiment", getx, list(), "experiment_key", "key",
                accept = list(valid = answered("cometr_http_400"), ok = TRUE),
                extra = list(ok = key), read = function(e, a) identical(e$get_key(), key))
  outcome_table("get_experiment", getx, list(experiment_key = key), "api_key", "string",
                accept = keys, read = function(e, a) identical(e$get_key(), key))
  for (arg in c("keep_active", "log_output", "log_error", "log_code", "log_system_details",
                "log_git_info")) {
    outcome_table("get_experiment", getx, list(experiment_key = key), arg, "flag",
                  accept = list(true = TRUE, false = TRUE),
                  read = function(e, a) identical(e$get_key(), key))
  }

  quiet <- list(log_code = FALSE, log_system_details = FALSE, log_output = FALSE,
                keep_active = FALSE)
  create <- function(a) stop_it(do.call(create_experiment, a))
  metadata <- function(e) e$get_metadata()
  outcome_table("create_experiment", create, quiet, "experiment_name", "string",
                accept = list(null = NULL, empty = NULL, utf8 = as_given, plain = as_given),
                read = function(e, a) record_value(e$get_other()$values, "Name"))
  outcome_table("create_experiment", create, quiet, "project_name", "string",
                accept = list(null = "general", empty = answered("cometr_http_400"),
                              utf8 = as_given, plain = as_given),
                read = function(e, a) metadata(e)$projectName)
  outcome_table("create_experiment", create, quiet, "workspace_name", "string",
                accept = list(null = ws, empty = answered("cometr_http_400"), utf8 = as_given,
                              plain = as_given),
                read = function(e, a) metadata(e)$workspaceName)
  outcome_table("create_experiment", create, quiet, "api_key", "string", accept = keys,
                read = function(e, a) nzchar(e$get_key()))
  for (arg in c("keep_active", "log_output", "log_error", "log_code", "log_system_details",
                "log_git_info")) {
    outcome_table("create_experiment", create, quiet, arg, "flag",
                  accept = list(true = TRUE, false = TRUE),
                  read = function(e, a) nzchar(e$get_key()))
  }

  chart <- function(a) do.call(get_multi_metric_chart, a)
  charted <- function(res, a) !isTRUE(res$empty)
  outcome_table("get_multi_metric_chart", chart, list(metrics = list("loss")),
                "experiment_keys", "key", accept = list(valid = FALSE, ok = TRUE, list = TRUE),
                extra = list(ok = key, list = list(key)), read = charted)
  outcome_table("get_multi_metric_chart", chart, list(experiment_keys = key), "metrics",
                "labels", accept = list(null = FALSE, two = FALSE, list = FALSE,
                                        duplicated = FALSE, empty_vector = FALSE, ok = TRUE),
                extra = list(ok = list("loss")), read = charted)
  outcome_table("get_multi_metric_chart", chart, list(experiment_keys = key,
                                                      metrics = list("loss")), "params",
                "labels", accept = list(null = TRUE, two = TRUE, list = TRUE, duplicated = TRUE,
                                        empty_vector = TRUE),
                read = charted)
  for (arg in c("full", "independent")) {
    outcome_table("get_multi_metric_chart", chart, list(experiment_keys = key,
                                                        metrics = list("loss")), arg, "flag",
                  accept = list(true = TRUE, false = TRUE), read = charted)
  }
  outcome_table("get_multi_metric_chart", chart, list(experiment_keys = key,
                                                      metrics = list("loss")), "api_key",
                "string", accept = keys, read = charted)

  # Nothing to send: the answer says so, for the folder asked about.
  spool <- function(a) do.call(send_spool, a)
  empty_dir <- withr::local_tempdir()
  none <- function(res, a) nrow(res) == 0L
  outcome_table("send_spool", spool, list(), "path", "path",
                accept = list(null = TRUE, folder = TRUE),
                extra = list(folder = empty_dir), read = none)
  outcome_table("send_spool", spool, list(path = empty_dir), "api_key", "string",
                accept = list(null = TRUE, empty = TRUE, plain = TRUE), read = none)
  outcome_table("send_spool", spool, list(path = empty_dir), "url", "string",
                accept = list(null = TRUE, ok = TRUE), extra = list(ok = "https://comet.example"),
                read = none)
  outcome_table("send_spool", spool, list(path = empty_dir), "timeout", "count",
                accept = list(zero = TRUE, whole = TRUE, integer = TRUE, fraction = TRUE,
                              huge = TRUE, inf = TRUE), read = none)
  offline <- function(a) do.call(upload_offline, a)
  # NULL is the configured offline folder, which does not exist here.
  outcome_table("upload_offline", offline, list(), "path", "path",
                accept = list(folder = 0L), extra = list(folder = empty_dir),
                read = function(res, a) length(res))
  outcome_table("upload_offline", offline, list(path = empty_dir), "api_key", "string",
                accept = list(null = 0L, empty = 0L, plain = 0L),
                read = function(res, a) length(res))

  serve <- function(a) { s <- do.call(local_server, c(a, list(activate = FALSE))); s$stop(); s }
  outcome_table("local_server", serve, list(), "dir", "path",
                accept = list(null = TRUE, missing = TRUE, new = TRUE),
                extra = list(new = file.path(withr::local_tempdir(), "runs")),
                read = function(s, a) dir.exists(s$dir))
  outcome_table("local_server", serve, list(), "port", "count",
                accept = list(zero = TRUE), omit = c("whole", "integer"),
                read = function(s, a) s$port > 0)
  # A host that does not resolve is the server's error, at start.
  outcome_table("local_server", serve, list(), "host", "string",
                accept = list(ok = TRUE, utf8 = answered("cometr_server_error"),
                              plain = answered("cometr_server_error")),
                extra = list(ok = "127.0.0.1"),
                read = function(s, a) grepl("127.0.0.1", s$url, fixed = TRUE))
  outcome_table("local_server", serve, list(), "api_key", "string",
                accept = list(null = TRUE, empty = TRUE, plain = TRUE),
                read = function(s, a) grepl("127.0.0.1", s$url, fixed = TRUE))
  outcome_table("local_server", function(a) { s <- do.call(local_server, a); s$stop(); s },
                list(), "activate", "flag", accept = list(true = TRUE, false = TRUE),
                read = function(s, a) grepl("127.0.0.1", s$url, fixed = TRUE))
  # `block = TRUE` serves until interrupted, as documented.
  outcome_table("local_server", serve, list(), "block", "flag", accept = list(false = TRUE),
                omit = "true", read = function(s, a) grepl("127.0.0.1", s$url, fixed = TRUE))
  outcome_table("local_server", serve, list(), "faults", "metadata",
                accept = list(null = TRUE, ok = TRUE), extra = list(ok = list(latency_ms = 1)),
                read = function(s, a) grepl("127.0.0.1", s$url, fixed = TRUE))
})

test_that("every argument of the artifact classes: each value kept as given, or refused", {
  srv <- local_test_server()
  exp <- new_test_experiment()
  f <- withr::local_tempfile(lines = "asset")
  folder <- withr::local_tempdir()
  writeLines("in folder", file.path(folder, "inside.txt"))

  # create_artifact() and Artifact$new() take the same arguments, read back by getters.
  getters <- c(artifact_name = "get_artifact_name", artifact_type = "get_artifact_type",
               artifact_version = "get_artifact_version", aliases = "get_aliases",
               metadata = "get_metadata", version_tags = "get_version_tags")
  base <- list(artifact_name = "a", artifact_type = "dataset")
  for (fn in c("create_artifact", "Artifact$new")) {
    make <- if (fn == "create_artifact") create_artifact else Artifact$new
    call <- function(a) do.call(make, a)
    for (arg in c("artifact_name", "artifact_type")) {
      outcome_table(fn, call, base, arg, "string",
                    accept = list(utf8 = as_given, plain = as_given),
                    read = local({
                      getter <- getters[[arg]]
                      function(art, a) art[[getter]]()
                    }))
    }
    outcome_table(fn, call, base, "artifact_version", "string",
                  accept = list(null = NULL, number = "1", ok = as_given, pre = as_given),
                  extra = list(ok = "1.2.0", pre = "2.0.0-beta.1+build"),
                  read = function(art, a) art$get_artifact_version())
    for (arg in c("aliases", "version_tags")) {
      outcome_table(fn, call, base, arg, "labels",
                    accept = list(null = NULL, two = list("a", "b"), list = list("a", "b"),
                                  duplicated = list("a"), empty_vector = list()),
                    read = local({
                      getter <- getters[[arg]]
                      function(art, a) art[[getter]]()
                    }))
    }
    outcome_table(fn, call, base, "metadata", "metadata",
                  accept = list(null = NULL, named = list(a = 1),
                                nested = list(a = list(b = "c"))),
                  read = function(art, a) art$get_metadata())
  }

  art <- function() create_artifact("a", "dataset")
  added <- function(m) function(a) { x <- art(); do.call(x[[m]], a); x$get_assets()[[1]] }
  outcome_table("Artifact$add", added("add"), list(), "local_path", "path",
                accept = list(file = basename(f), folder = paste0(basename(folder), "/inside.txt")),
                extra = list(file = f, folder = folder),
                read = function(x, a) x$get_logical_path())
  outcome_table("Artifact$add", added("add"), list(local_path = f), "overwrite", "flag",
                accept = list(true = TRUE, false = FALSE), read = function(x, a) x$has_overwrite())
  outcome_table("Artifact$add", added("add"), list(local_path = f), "logical_path", "string",
                accept = list(null = basename(f), utf8 = as_given, plain = as_given,
                              nested = as_given),
                extra = list(nested = "dir/file.txt", dotdot = "../up", absolute = "/etc/x"),
                read = function(x, a) x$get_logical_path())
  outcome_table("Artifact$add", added("add"), list(local_path = f), "metadata", "metadata",
                accept = list(null = NULL, named = list(a = 1), nested = list(a = list(b = "c"))),
                read = function(x, a) x$get_metadata())
  outcome_table("Artifact$add_remote", added("add_remote"), list(), "uri", "string",
                accept = list(utf8 = as_given, plain = as_given),
                read = function(x, a) x$get_link())
  outcome_table("Artifact$add_remote", added("add_remote"), list(uri = "s3://b/y"),
                "logical_path", "string",
                accept = list(null = "y", utf8 = as_given, plain = as_given),
                read = function(x, a) x$get_logical_path())
  outcome_table("Artifact$add_remote", added("add_remote"), list(uri = "s3://b/y"),
                "overwrite", "flag", accept = list(true = TRUE, false = FALSE),
                read = function(x, a) x$has_overwrite())
  outcome_table("Artifact$add_remote", added("add_remote"), list(uri = "s3://b/y"),
                "metadata", "metadata",
                accept = list(null = NULL, named = list(a = 1), nested = list(a = list(b = "c"))),
                read = function(x, a) x$get_metadata())
  outcome_table("Artifact$add_asset", added("add_asset"), list(), "asset", "string",
                accept = list(ok = "z"),
                extra = list(ok = ArtifactAsset$new("z", local_path = f),
                             bad_path = ArtifactAsset$new(NA), unsafe = ArtifactAsset$new("../z")),
                read = function(x, a) x$get_logical_path())

  # ArtifactAsset$new(), like 0.4.0's, keeps what it is given (an Artifact checks the
  # logical path when the asset is added, above); only a size must be a byte count.
  new_asset <- function(a) do.call(ArtifactAsset$new, a)
  every <- function(family) {
    n <- names(value_families[[family]])
    structure(rep(list(as_given), length(n)), names = n)
  }
  getter <- c(logical_path = "get_logical_path", link = "get_link",
              local_path = "get_local_path", asset_type = "get_asset_type",
              overwrite = "has_overwrite", remote = "is_remote", metadata = "get_metadata")
  for (arg in names(getter)) {
    family <- switch(arg, overwrite = , remote = "flag", metadata = "metadata", "string")
    accept <- every(family)
    if (arg == "asset_type") accept$null <- "asset"
    outcome_table("ArtifactAsset$new", new_asset, list(logical_path = "x"), arg, family,
                  accept = accept,
                  read = local({
                    g <- getter[[arg]]
                    function(x, a) x[[g]]()
                  }))
  }
  outcome_table("ArtifactAsset$new", new_asset, list(logical_path = "x"), "size", "count",
                accept = list(zero = 0, whole = 3, integer = 3, null = 0),
                read = function(x, a) x$get_size())

  # A logged artifact: its labels are updated on the server and read back from it.
  logged <- suppressMessages(exp$log_artifact({
    a <- create_artifact("logged", "dataset")
    a$add(f)
  }))
  refetch <- function() exp$get_artifact("logged")
  label_rows <- list(two = list("a", "b"), list = list("a", "b"), duplicated = list("a"),
                     empty_vector = list(), null = list())
  outcome_table("LoggedArtifact$update_aliases", function(a) do.call(logged$update_aliases, a),
                list(), "aliases", "labels", accept = label_rows,
                read = function(res, a) refetch()$get_aliases())
  outcome_table("LoggedArtifact$update_version_tags",
                function(a) do.call(logged$update_version_tags, a), list(), "version_tags",
                "labels", accept = label_rows,
                read = function(res, a) refetch()$get_version_tags())
  outcome_table("LoggedArtifact$update_artifact_tags",
                function(a) do.call(logged$update_artifact_tags, a), list(), "artifact_tags",
                "labels", accept = label_rows,
                read = function(res, a) refetch()$get_artifact_tags())
  outcome_table("LoggedArtifact$size", function(a) do.call(logged$size, a), list(), "size",
                "count", accept = list(zero = 0, whole = 3, integer = 3, null = 3),
                read = function(res, a) res)
  dest <- function(v) list(path = file.path(withr::local_tempdir(.local_envir = here), v))
  here <- environment()
  outcome_table("LoggedArtifact$download", function(a) do.call(logged$download, a), list(),
                "path", "path", accept = list(missing = TRUE, null = TRUE, new = TRUE),
                extra = list(new = file.path(withr::local_tempdir(), "out")),
                read = function(res, a) file.exists(res$get_assets()[[1]]$get_local_path()))
  outcome_table("LoggedArtifact$download", function(a) do.call(logged$download, a), dest,
                "overwrite_strategy", "flag",
                accept = list(true = TRUE, false = TRUE, fail = TRUE, preserve = TRUE,
                              overwrite = TRUE),
                extra = list(fail = "FAIL", preserve = "preserve", overwrite = "OVERWRITE"),
                read = function(res, a) file.exists(file.path(a$path, basename(f))))
  asset <- logged$get_assets()[[1]]
  outcome_table("LoggedArtifactAsset$download", function(a) do.call(asset$download, a),
                list(), "local_path", "path", accept = list(missing = TRUE, null = TRUE, new = TRUE),
                extra = list(new = file.path(withr::local_tempdir(), "one")),
                read = function(res, a) file.exists(res$get_local_path()))
  outcome_table("LoggedArtifactAsset$download", function(a) do.call(asset$download, a),
                function(v) list(local_path = file.path(withr::local_tempdir(.local_envir = here), v)),
                "logical_path", "string",
                accept = list(null = TRUE, plain = TRUE, utf8 = TRUE),
                read = function(res, a) file.exists(file.path(a$local_path, a$logical_path %||% basename(f))))
  outcome_table("LoggedArtifactAsset$download", function(a) do.call(asset$download, a),
                function(v) list(local_path = dest(v)$path), "overwrite_strategy", "flag",
                accept = list(true = TRUE, false = TRUE, fail = TRUE),
                extra = list(fail = "FAIL"),
                read = function(res, a) file.exists(file.path(a$local_path, basename(f))))

  # LoggedArtifact$new() and LoggedArtifactAsset$new() describe what the server
  # answered; like 0.4.0's they keep what they are given, but for a version (a single
  # value, kept as a string) and a size (a single number).
  private_of <- function(x, field) x$.__enclos_env__$private[[field]]
  la_args <- list(artifact_name = "a", artifact_type = "t", artifact_id = "i",
                  artifact_version_id = "v", workspace = "w", experiment_key = "k",
                  artifact_version = "1.0.0", aliases = list(), artifact_tags = list(),
                  version_tags = list(), size = 0)
  new_la <- function(a) do.call(LoggedArtifact$new, a)
  kept <- every("string")
  for (arg in c("artifact_name", "artifact_type", "artifact_id", "artifact_version_id",
                "workspace", "experiment_key", "aliases", "artifact_tags", "version_tags",
                "metadata", "source_experiment_key")) {
    outcome_table("LoggedArtifact$new", new_la, la_args, arg, "string", accept = kept,
                  read = local({
                    field <- arg
                    function(x, a) private_of(x, field)
                  }))
  }
  outcome_table("LoggedArtifact$new", new_la, la_args, "artifact_version", "string",
                accept = list(null = NULL, na = NA_character_, na_chr = NA_character_,
                              empty = "", number = "1", logical = "TRUE", factor = "a",
                              not_utf8 = invalid_utf8, too_long = as_given, utf8 = as_given,
                              plain = as_given),
                read = function(x, a) x$get_artifact_version())
  outcome_table("LoggedArtifact$new", new_la, la_args, "size", "count",
                accept = list(zero = 0, whole = 3, integer = 3, fraction = 0.5, negative = -1,
                              nan = NaN, inf = Inf, huge = 1e20, null = 0),
                read = function(x, a) private_of(x, "size_bytes"))
  laa_args <- list(logical_path = "x", remote = FALSE, size = 1, metadata = NULL,
                   asset_type = "asset", id = "i", artifact_version_id = "v",
                   artifact_id = "a", experiment_key = "k")
  new_laa <- function(a) do.call(LoggedArtifactAsset$new, a)
  for (arg in c("logical_path", "remote", "metadata", "id", "artifact_version_id",
                "artifact_id", "experiment_key", "link")) {
    outcome_table("LoggedArtifactAsset$new", new_laa, laa_args, arg, "string",
                  accept = kept,
                  read = local({
                    field <- arg
                    function(x, a) private_of(x, field)
                  }))
  }
  outcome_table("LoggedArtifactAsset$new", new_laa, laa_args, "asset_type", "string",
                accept = modifyList(kept, list(null = "asset")),
                read = function(x, a) x$get_asset_type())
  outcome_table("LoggedArtifactAsset$new", new_laa, laa_args, "size", "count",
                accept = list(zero = 0, whole = 3, integer = 3, null = 0),
                read = function(x, a) x$get_size())

  outcome_table("Experiment$log_artifact", function(a) do.call(exp$log_artifact, a), list(),
                "artifact", "string", accept = list(ok = "logged"),
                extra = list(ok = create_artifact("logged", "dataset")),
                read = function(res, a) res$get_artifact_name())
  get_art <- function(a) do.call(exp$get_artifact, a)
  nothing <- answered("cometr_http_400")
  outcome_table("Experiment$get_artifact", get_art, list(), "artifact_name", "string",
                accept = list(ok = "logged", full = "logged", utf8 = nothing, plain = nothing),
                extra = list(ok = "logged", full = paste0(exp$get_workspace_name(), "/logged:1.0.0")),
                read = function(res, a) res$get_artifact_name())
  outcome_table("Experiment$get_artifact", get_art, list(artifact_name = "logged"), "workspace",
                "string",
                accept = list(null = "logged", empty = "logged", ok = "logged", utf8 = nothing,
                              plain = nothing),
                extra = list(ok = exp$get_workspace_name()),
                read = function(res, a) res$get_artifact_name())
  outcome_table("Experiment$get_artifact", get_art, list(artifact_name = "logged"),
                "version_or_alias", "string",
                accept = list(null = "logged", empty = "logged", ok = "logged", utf8 = nothing,
                              plain = nothing),
                extra = list(ok = "1.0.0"), read = function(res, a) res$get_artifact_name())
})

test_that("every argument of the batch and media logging methods: each value stored as given, or refused", {
  srv <- local_test_server()
  here <- environment()
  fresh <- function() new_test_experiment(env = here)
  summary_names <- function(e) sort(vapply(e$get_metrics_summary()$values, `[[`, "", "name"))

  m <- "Experiment$log_metrics"
  log_metrics <- function(a) { e <- fresh(); do.call(e$log_metrics, a); e }
  outcome_table(m, log_metrics, list(), "metrics", "metadata",
                accept = list(named = "a", nested = "a/b", frame = c("loss", "lr")),
                extra = list(frame = data.frame(step = 1:2, loss = c(0.5, 0.25), lr = 0.1)),
                read = function(e, a) summary_names(e))
  point <- function(field) function(e, a) e$get_metric("m")$metrics[[1]][[field]]
  for (arg in c("step", "epoch")) {
    outcome_table(m, log_metrics, list(metrics = list(m = 1)), arg, "count",
                  accept = list(zero = 0L, whole = 3L, integer = 3L, negative = -1L, null = NULL),
                  read = point(arg))
  }
  outcome_table(m, log_metrics, list(metrics = list(m = 1)), "context", "string",
                accept = list(null = NULL, empty = "", utf8 = as_given, plain = as_given),
                read = point("runContext"))

  m <- "Experiment$log_parameters"
  log_parameters <- function(a) { e <- fresh(); do.call(e$log_parameters, a); e }
  param_names <- function(e, a) {
    sort(setdiff(vapply(e$get_parameters()$values, `[[`, "", "name"), character()))
  }
  outcome_table(m, log_parameters, list(), "parameters", "metadata",
                accept = list(named = "a", nested = "a|b"), read = param_names)
  outcome_table(m, log_parameters, list(parameters = list(p = 1)), "step", "count",
                accept = list(zero = "p", whole = "p", integer = "p", negative = "p",
                              null = "p"),
                read = param_names)

  # Generated assets: what the server lists for the experiment.
  only_asset <- function(e, type) {
    x <- e$get_asset_list(type = type)$assets
    if (length(x) == 1L) x[[1]] else NULL
  }
  m <- "Experiment$log_text"
  log_text <- function(a) { e <- fresh(); do.call(e$log_text, a); e }
  text_of <- function(e, a) as_text(e$get_asset(only_asset(e, "text-sample")$assetId))
  outcome_table(m, log_text, list(), "text", "string",
                accept = list(empty = "", too_long = as_given, utf8 = as_given, plain = as_given),
                read = text_of)
  outcome_table(m, log_text, list(text = "t"), "step", "count",
                accept = list(zero = 0L, whole = 3L, integer = 3L, negative = -1L, null = NULL),
                read = function(e, a) only_asset(e, "text-sample")$step)
  outcome_table(m, log_text, list(text = "t"), "metadata", "metadata",
                accept = list(null = NULL, named = '{"a":1}', nested = '{"a":{"b":"c"}}',
                              json = '{"a":1}'),
                read = function(e, a) only_asset(e, "text-sample")$metadata)

  m <- "Experiment$log_curve"
  log_curve <- function(a) { e <- fresh(); do.call(e$log_curve, a); e }
  curve <- list(name = "c", x = c(1, 2), y = c(3, 4))
  outcome_table(m, log_curve, curve, "name", "string",
                accept = list(utf8 = as_given, plain = as_given),
                read = function(e, a) only_asset(e, "curve")$fileName)
  for (arg in c("x", "y")) {
    outcome_table(m, log_curve, curve, arg, "count",
                  accept = list(two = "c"), read = function(e, a) only_asset(e, "curve")$fileName)
  }
  outcome_table(m, log_curve, curve, "overwrite", "flag",
                accept = list(true = "c", false = "c"),
                read = function(e, a) only_asset(e, "curve")$fileName)
  outcome_table(m, log_curve, curve, "step", "count",
                accept = list(zero = 0L, whole = 3L, integer = 3L, negative = -1L, null = NULL),
                read = function(e, a) only_asset(e, "curve")$step)
  outcome_table(m, log_curve, curve, "metadata", "metadata",
                accept = list(null = NULL, named = '{"a":1}', nested = '{"a":{"b":"c"}}',
                              json = '{"a":1}'),
                read = function(e, a) only_asset(e, "curve")$metadata)

  outcome_table("Experiment$log_dataset_hash",
                function(a) { e <- fresh(); do.call(e$log_dataset_hash, a); e }, list(), "data",
                "metadata",
                accept = list(null = TRUE, named = TRUE, unnamed = TRUE, nested = TRUE,
                              string = TRUE, json = TRUE, number = TRUE, partly_named = TRUE),
                read = function(e, a) {
                  hash <- record_value(e$get_parameters()$values, "dataset_hash")
                  grepl("^[0-9a-f]{12}$", hash %||% "")
                })

  # compare_experiments() reads what experiments logged.
  e <- fresh()
  e$log_metric("loss", 1, step = 1)
  key <- e$get_key()
  compare <- function(a) do.call(compare_experiments, a)
  outcome_table("compare_experiments", compare, list(metrics = "loss"), "experiments", "key",
                accept = list(valid = answered("cometr_http_400"), ok = 1L, object = 1L),
                extra = list(ok = key, object = e), read = function(res, a) nrow(res))
  outcome_table("compare_experiments", compare, list(experiments = key), "metrics", "labels",
                accept = list(null = 1L, two = 0L, list = 0L, duplicated = 0L,
                              empty_vector = 0L, ok = 1L),
                extra = list(ok = "loss"), read = function(res, a) nrow(res))
  outcome_table("compare_experiments", compare, list(experiments = key, metrics = "loss"),
                "api_key", "string",
                accept = list(null = 1L, empty = answered("cometr_http_401"), plain = 1L),
                read = function(res, a) nrow(res))
})
