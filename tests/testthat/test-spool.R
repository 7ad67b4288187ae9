# Spool files: what could not be delivered stays on disk, and send_spool() sends it
# later, once, in order.

test_that("stop() with the server down returns by its deadline, keeps the data and says where", {
  srv <- local_test_server()
  withr::local_options(cometr.stop_timeout = 1)
  exp <- new_test_experiment()
  for (i in 1:100) exp$log_metric("m", i, step = i)
  exp$log_other("note", "kept")
  srv$set_faults(list(down_for = 600))
  warnings <- list()
  t <- system.time(withCallingHandlers(exp$stop(), cometr_delivery_warning = function(w) {
    warnings[[length(warnings) + 1L]] <<- w
    invokeRestart("muffleWarning")
  }))[["elapsed"]]
  w <- Filter(function(w) !is.null(w$pending), warnings)[[1]]
  expect_match(conditionMessage(w), "could not be delivered")
  expect_lt(t, 10)
  expect_gte(w$pending, 101)
  expect_true(file.exists(w$spool))
  expect_match(conditionMessage(w), w$spool, fixed = TRUE)
  expect_false(any(grepl("local-api-key", readLines(w$spool), fixed = TRUE)))
  # Later, with the server back, send_spool() delivers it, once.
  srv$set_faults(NULL)
  res <- suppressMessages(send_spool(w$spool))
  expect_true(res$delivered)
  expect_false(file.exists(w$spool))
  again <- suppressMessages(get_experiment(exp$get_key()))
  withr::defer(again$stop())
  expect_length(again$get_metric("m")$metrics, 100)
  expect_identical(values_of(again$get_other()$values, "valueCurrent")[
    values_of(again$get_other()$values, "name") == "note"], "kept")
  expect_message(send_spool(dirname(w$spool)), "No undelivered data")
})

test_that("send_spool() with no path sends what a stopped experiment of this session left, not what an open one writes", {
  srv <- local_test_server()
  withr::local_options(cometr.stop_timeout = 1, cometr.spool_dir = withr::local_tempdir())
  open_exp <- new_test_experiment()
  withr::defer(suppressWarnings(open_exp$stop()))
  open_exp$log_metric("still-open", 1, step = 1)
  exp <- new_test_experiment()
  for (i in 1:20) exp$log_metric("m", i, step = i)
  srv$set_faults(list(down_for = 600))
  w <- NULL
  withCallingHandlers(exp$stop(), cometr_delivery_warning = function(c) {
    if (!is.null(c$pending)) w <<- c
    invokeRestart("muffleWarning")
  })
  expect_true(file.exists(w$spool))
  srv$set_faults(NULL)
  res <- suppressMessages(send_spool())
  # Only the stopped experiment's file: the open one's outbox is still delivering it.
  expect_identical(basename(res$file), basename(w$spool))
  expect_true(res$delivered)
  again <- suppressMessages(get_experiment(exp$get_key()))
  withr::defer(again$stop())
  expect_identical(vapply(again$get_metric("m")$metrics, function(p) p$step, numeric(1)),
                   as.numeric(1:20))
})

test_that("after a SIGKILL the spool holds what was logged and send_spool() delivers it", {
  skip_on_os("windows")
  srv <- local_test_server()
  srv$set_faults(list(down_for = 600, paths = "batch/"))
  cache <- withr::local_tempdir()
  ready <- tempfile()
  script <- tempfile(fileext = ".R")
  writeLines(c(
    "library(cometr)",
    "exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,",
    "                         log_output = FALSE, keep_active = FALSE)",
    "for (i in 1:5000) exp$log_metric('m', i, step = i)",
    "Sys.sleep(0.5)",
    sprintf("writeLines(exp$get_key(), '%s')", ready),
    "Sys.sleep(600)"
  ), script)
  env <- c(paste0("R_LIBS=", paste(.libPaths(), collapse = .Platform$path.sep)),
           paste0("R_USER_CACHE_DIR=", cache), paste0("COMET_URL_OVERRIDE=", srv$url),
           "COMET_API_KEY=killed-run-key-42", "COMET_WORKSPACE=local",
           "COMET_PROJECT_NAME=general")
  pid <- start_rscript(script, env)
  for (i in 1:200) if (file.exists(ready) && length(readLines(ready)) == 1) break else Sys.sleep(0.1)
  key <- readLines(ready)
  expect_true(tools::pskill(pid, tools::SIGKILL))
  Sys.sleep(0.3)
  spool <- file.path(cache, "R", "cometr", "spool")
  files <- list.files(spool, pattern = "\\.spool$", full.names = TRUE)
  expect_length(files, 1)
  expect_false(any(grepl("killed-run-key-42", readLines(files), fixed = TRUE)))
  # Loading the package says so.
  res <- run_rscript("suppressWarnings(library(cometr))", env = paste0("R_USER_CACHE_DIR=", cache))
  expect_true(any(grepl("send_spool", res$stderr)))
  srv$set_faults(NULL)
  out <- suppressMessages(send_spool(spool))
  expect_true(out$delivered)
  exp <- suppressMessages(get_experiment(key))
  withr::defer(exp$stop())
  expect_identical(vapply(exp$get_metric("m")$metrics, function(x) as.numeric(x$step), 0),
                   as.numeric(1:5000))
})

test_that("an upload queued when R is killed stays in the spool and send_spool() sends it once", {
  skip_on_os("windows")
  srv <- local_test_server()
  srv$set_faults(list(down_for = 600, paths = "upload-asset"))
  spool <- withr::local_tempdir()
  asset <- withr::local_tempfile(fileext = ".bin")
  bytes <- as.raw(sample.int(256L, 300000, replace = TRUE) - 1L)
  writeBin(bytes, asset)
  ready <- tempfile()
  script <- tempfile(fileext = ".R")
  writeLines(c(
    "library(cometr)",
    sprintf("options(cometr.spool_dir = '%s', cometr.batch_interval = 0.1)", spool),
    "exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,",
    "                         log_output = FALSE, keep_active = FALSE)",
    sprintf("exp$upload_asset('%s', name = 'killed.bin')", asset),
    "Sys.sleep(0.5)",
    sprintf("writeLines(exp$get_key(), '%s')", ready),
    "Sys.sleep(600)"
  ), script)
  env <- c(paste0("R_LIBS=", paste(.libPaths(), collapse = .Platform$path.sep)),
           paste0("COMET_URL_OVERRIDE=", srv$url), "COMET_API_KEY=killed-upload-key",
           "COMET_WORKSPACE=local", "COMET_PROJECT_NAME=general")
  pid <- start_rscript(script, env)
  for (i in 1:300) if (file.exists(ready) && length(readLines(ready)) == 1) break else Sys.sleep(0.1)
  key <- readLines(ready)
  expect_true(tools::pskill(pid, tools::SIGKILL))
  Sys.sleep(0.3)
  # The spool refers to the copy made at upload_asset(): the original may go.
  files <- list.files(spool, pattern = "\\.spool$", full.names = TRUE)
  expect_length(files, 1)
  expect_true(any(startsWith(readLines(files), "f\t")))
  expect_length(list.files(file.path(spool, "files"), recursive = TRUE), 1)
  unlink(asset)
  srv$set_faults(NULL)
  out <- suppressMessages(send_spool(spool))
  expect_true(out$delivered)
  expect_message(send_spool(spool), "No undelivered data")
  exp <- suppressMessages(get_experiment(key))
  withr::defer(exp$stop())
  assets <- exp$get_asset_list()$assets
  expect_identical(values_of(assets, "fileName"), "killed.bin")
  expect_identical(exp$get_asset(assets[[1]]$assetId), bytes)
  expect_length(list.files(file.path(spool, "files"), recursive = TRUE), 0)
})

# The steps of metric "m" the server holds for experiment `key`.
stored_steps <- function(key) {
  exp <- suppressMessages(get_experiment(key))
  on.exit(exp$stop())
  vapply(exp$get_metric("m")$metrics, function(x) as.numeric(x$step), 0)
}

test_that("stop() while the server process is killed keeps the batch in flight, and send_spool() delivers all once", {
  skip_on_os("windows")
  local_isolated_config()
  dir <- withr::local_tempdir()
  srv <- server_process(dir)
  withr::local_envvar(COMET_URL_OVERRIDE = srv$url, COMET_API_KEY = "kill-test-key",
                      COMET_WORKSPACE = "local", COMET_PROJECT_NAME = "general")
  withr::local_options(cometr.stop_timeout = 1, cometr.retry_timeout = 1)
  exp <- new_test_experiment()
  key <- exp$get_key()
  for (i in 1:100) exp$log_metric("m", i, step = i)
  Sys.sleep(2.5)
  srv$proc$kill()
  for (i in 101:200) exp$log_metric("m", i, step = i)
  # The sender has taken the second hundred out of the queue and is retrying them.
  Sys.sleep(2.5)
  warnings <- list()
  withCallingHandlers(exp$stop(), cometr_delivery_warning = function(w) {
    warnings[[length(warnings) + 1L]] <<- w
    invokeRestart("muffleWarning")
  })
  w <- Filter(function(w) !is.null(w$pending), warnings)
  expect_length(w, 1)
  w <- w[[1]]
  expect_identical(as.numeric(w$pending), 100)
  expect_match(conditionMessage(w), "^100 logged item")
  expect_true(file.exists(w$spool))
  expect_match(conditionMessage(w), w$spool, fixed = TRUE)
  srv <- server_process(dir, srv$port)
  out <- suppressMessages(send_spool(w$spool))
  expect_true(out$delivered)
  expect_identical(out$items, 100)
  expect_identical(sort(stored_steps(key)), as.numeric(1:200))
})

test_that("R exiting while the server process is killed keeps the batch in flight, and send_spool() delivers all once", {
  skip_on_os("windows")
  local_isolated_config()
  dir <- withr::local_tempdir()
  srv <- server_process(dir)
  cache <- withr::local_tempdir()
  keyfile <- tempfile()
  res <- run_rscript(c(
    "library(cometr)",
    "options(cometr.stop_timeout = 1)",
    "exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,",
    "                         log_output = FALSE, keep_active = FALSE)",
    sprintf("writeLines(exp$get_key(), '%s')", keyfile),
    "for (i in 1:100) exp$log_metric('m', i, step = i)",
    "Sys.sleep(2.5)",
    sprintf("tools::pskill(%d, tools::SIGKILL)", srv$proc$get_pid()),
    "for (i in 101:200) exp$log_metric('m', i, step = i)",
    "Sys.sleep(2.5)"
  ), env = c(paste0("R_USER_CACHE_DIR=", cache), paste0("COMET_URL_OVERRIDE=", srv$url),
             "COMET_API_KEY=exit-test-key", "COMET_WORKSPACE=local",
             "COMET_PROJECT_NAME=general"))
  expect_identical(res$status, 0L)
  key <- readLines(keyfile)
  spool <- file.path(cache, "R", "cometr", "spool")
  files <- list.files(spool, pattern = "\\.spool$", full.names = TRUE)
  expect_length(files, 1)
  # The warning at exit says how much is kept, and where.
  said <- paste(res$stderr, collapse = "\n")
  expect_match(said, "100 logged item", fixed = TRUE)
  expect_match(said, basename(files), fixed = TRUE)
  srv$proc$wait(5000)
  srv <- server_process(dir, srv$port)
  withr::local_envvar(COMET_URL_OVERRIDE = srv$url, COMET_API_KEY = "exit-test-key")
  out <- suppressMessages(send_spool(spool))
  expect_true(out$delivered)
  expect_identical(sort(stored_steps(key)), as.numeric(1:200))
})

test_that("send_spool() checks its arguments, and an unreadable file warns and is skipped", {
  local_isolated_config()
  expect_error(send_spool(timeout = -1), "timeout", class = "cometr_input_error")
  dir <- withr::local_tempdir()
  expect_message(out <- send_spool(dir), "No undelivered data")
  expect_identical(nrow(out), 0L)
  bad <- file.path(dir, "abc-1-0f.spool")
  writeLines("not a spool file", bad)
  withr::local_envvar(COMET_API_KEY = "k")
  expect_warning(out <- send_spool(bad), "Cannot read spool file", class = "cometr_spool_warning")
  expect_identical(nrow(out), 0L)
})

test_that("an experiment key that is not one never names a file: from the server or an argument", {
  srv <- local_test_server()
  base <- withr::local_tempdir()
  spool <- file.path(base, "a", "b", "spool")
  withr::local_options(cometr.spool_dir = spool)
  before <- list.files(base, recursive = TRUE, all.files = TRUE, include.dirs = TRUE)
  # A hostile server answers the creation with a key that climbs out of the spool folder.
  for (bad in c("../../x", "..", "a/b", strrep("k", 65))) {
    srv$inject_fault("write/experiment/create", 200L,
                     body = as.character(jsonlite::toJSON(list(experimentKey = bad, link = "http://x/y"),
                                             auto_unbox = TRUE)))
    err <- expect_error(suppressMessages(create_experiment(log_code = FALSE,
                          log_system_details = FALSE)), class = "cometr_parse_error")
    expect_match(conditionMessage(err), "experiment key", fixed = TRUE)
  }
  expect_error(get_experiment("../../x"), class = "cometr_input_error")
  expect_identical(list.files(base, recursive = TRUE, all.files = TRUE, include.dirs = TRUE),
                   before)
  expect_false(file.exists(file.path(base, "a", "x")))
  # An artifact version whose source experiment key is not one is refused too.
  exp <- new_test_experiment()
  srv$inject_fault("artifacts/version", 200L,
                   body = '{"artifactVersionId":"v","experimentKey":"../../x","artifact":{}}')
  expect_error(exp$get_artifact("data"), class = "cometr_parse_error")
})
