# Hostile input: every exported function and every public method gets NULL, NA, NaN,
# +-Inf, zero-length and long vectors, lists, environments, functions, factors, dates,
# non-UTF-8 strings, 10 MB strings, negative and huge numbers. Each call either works,
# or raises a cometr_input_error naming the argument (or, for a well-formed value the
# server does not know, a cometr_http_error). Nothing else: no other error, no crash,
# no Rust panic text.

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
