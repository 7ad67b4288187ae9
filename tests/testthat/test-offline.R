# Offline experiments: COMET_OFFLINE records the run into Comet's own archive format,
# upload_offline() (or Comet's `comet upload`) sends it later.

# Record a run with one of everything into an offline folder; returns the folder,
# the key and the local files logged.
record_offline_run <- function(dir) {
  withr::local_envvar(COMET_OFFLINE = "TRUE", COMET_OFFLINE_DIRECTORY = dir)
  asset <- withr::local_tempfile(fileext = ".txt")
  writeLines("asset content", asset)
  data <- withr::local_tempfile(fileext = ".csv")
  writeLines("a,b\n1,2", data)
  exp <- create_experiment(experiment_name = "offline-run", project_name = "offproj",
                           log_code = FALSE, log_system_details = TRUE,
                           log_output = TRUE, keep_active = TRUE)
  for (i in 1:3) exp$log_metric("loss", 1 / i, step = i, epoch = 1)
  exp$log_metric("acc", NaN)
  exp$log_metric("lr-sched", 0.5, context = "train")
  exp$log_parameter("lr", 0.01)
  exp$log_parameter("layers", c(1, 2, 3))
  exp$log_parameter("optimizer", "adam", step = 2)
  exp$log_other("note", "hello")
  exp$add_tags(c("offline", "demo"))
  exp$log_html("<b>one</b>")
  exp$log_html("<i>two</i>")
  exp$log_graph('{"layers": 3}')
  exp$log_code("x <- 1\nprint(x)")
  exp$log_git_metadata(branch = "main", origin = "git@example.com:r.git", parent = "abc")
  exp$set_start_end_time(start = 1700000000000)
  cat("hello from the offline run\n")
  exp$upload_asset(asset, step = 2, metadata = list(k = "v"))
  exp$log_remote_asset("s3://bucket/data.bin", metadata = list(r = 1))
  art <- Artifact$new("offline-data", "dataset", aliases = "first", metadata = list(rows = 1))
  art$add(data, logical_path = "data.csv")
  art$add_remote("s3://bucket/big.parquet")
  expect_message(exp$log_artifact(art), "recorded offline")
  key <- exp$get_key()
  expect_message(exp$stop(), paste0(key, ".zip"), fixed = TRUE)
  list(key = key, exp = exp, archive = file.path(dir, paste0(key, ".zip")))
}

readLines_safe <- function(p) {
  if (!file.exists(p)) return(character())
  tryCatch(readLines(p, warn = FALSE), error = function(e) character())
}

real_cache <- function() Sys.getenv("XDG_CACHE_HOME", file.path(Sys.getenv("HOME"), ".cache"))

test_that("an offline run writes one archive in Comet's format, private to the user", {
  srv <- local_test_server()
  dir <- file.path(tempfile(), "runs")
  run <- record_offline_run(dir)
  expect_match(run$key, "^[0-9a-f]{32}$")
  expect_identical(list.files(dir, all.files = TRUE, no.. = TRUE), basename(run$archive))
  expect_identical(format(file.info(dir)$mode), "700")
  files <- utils::unzip(run$archive, list = TRUE)$Name
  expect_true(all(c("experiment.json", "messages.json", "cometr-artifacts.json") %in% files))
  unpacked <- withr::local_tempdir()
  utils::unzip(run$archive, "experiment.json", exdir = unpacked)
  meta <- jsonlite::read_json(file.path(unpacked, "experiment.json"))
  expect_identical(meta$offline_id, run$key)
  expect_identical(meta$project_name, "offproj")
  expect_setequal(unlist(meta$tags), c("offline", "demo"))
  expect_identical(meta$start_time, 1700000000000)
  # Nothing reached the server.
  expect_error(get_experiment(run$key), class = "cometr_http_error")
})

test_that("the archive validates against the JSON Schemas shipped in comet_ml", {
  cache <- real_cache()
  srv <- local_test_server()
  run <- record_offline_run(file.path(tempfile(), "runs"))
  res <- python_sdk("validate-offline.py", run$archive, cache)
  expect_identical(res$status, 0L, label = paste(res$out, collapse = "\n"))
  expect_true(any(grepl("^VALID [0-9]+$", res$out)))
})

expect_run_uploaded <- function(key, with_artifact = TRUE, output_lines = 1L) {
  exp <- get_experiment(key)
  loss <- exp$get_metric("loss")$metrics
  # `comet upload` samples metrics, which changes their order.
  loss <- loss[order(vapply(loss, `[[`, 0L, "step"))]
  expect_equal(as.numeric(vapply(loss, `[[`, "", "metricValue")), 1 / (1:3))
  expect_identical(vapply(loss, `[[`, 0L, "step"), 1:3)
  expect_identical(exp$get_metric("acc")$metrics[[1]]$metricValue, "NaN")
  expect_identical(exp$get_metric("lr-sched")$metrics[[1]]$runContext %||%
                     exp$get_metric("lr-sched")$metrics[[1]]$context, "train")
  values <- function(v) setNames(vapply(v, `[[`, "", "valueCurrent"), vapply(v, `[[`, "", "name"))
  p <- values(exp$get_parameters()$values)
  expect_equal(as.numeric(p[["lr"]]), 0.01)
  expect_identical(p[["layers"]], "[1,2,3]")
  expect_identical(p[["optimizer"]], "adam")
  o <- values(exp$get_other()$values)
  expect_identical(o[["note"]], "hello")
  expect_identical(o[["Name"]], "offline-run")
  expect_setequal(unlist(exp$get_tags()$tags), c("offline", "demo"))
  expect_identical(exp$get_html()$html, "<b>one</b><i>two</i>")
  expect_identical(exp$get_graph()$graph, '{"layers": 3}')
  expect_identical(exp$get_code()$code, "x <- 1\nprint(x)")
  expect_identical(exp$get_git_metadata()$branch, "main")
  expect_identical(exp$get_system_details()$osType, Sys.info()[["sysname"]])
  out <- exp$get_output()$output
  expect_identical(lengths(regmatches(out, gregexpr("hello from the offline run", out))),
                   output_lines)
  assets <- exp$get_asset_list()$assets
  a <- Filter(function(x) grepl("\\.txt$", x$fileName), assets)
  expect_length(a, 1)
  expect_identical(jsonlite::parse_json(a[[1]]$metadata), list(k = "v"))
  expect_identical(exp$get_asset(a[[1]]$assetId), "asset content\n")
  r <- Filter(function(x) identical(x$fileName, "data.bin"), assets)
  expect_length(r, 1)
  expect_true(isTRUE(r[[1]]$remote))
  m <- exp$get_metadata()
  expect_identical(m$startTimeMillis, 1700000000000)
  expect_false(m$running)
  if (with_artifact) {
    logged <- exp$get_artifact("offline-data")
    expect_identical(logged$get_artifact_type(), "dataset")
    expect_identical(unlist(logged$get_aliases()), "first")
    expect_setequal(vapply(logged$get_assets(), function(x) x$get_logical_path(), ""),
                    c("data.csv", "big.parquet"))
  }
  list(exp = exp, metrics = length(exp$get_metric("loss")$metrics),
       assets = length(assets), output = out)
}

test_that("upload_offline() sends the archive and every value reads back", {
  srv <- local_test_server()
  dir <- file.path(tempfile(), "runs")
  run <- record_offline_run(dir)
  msgs <- capture_messages(out <- capture.output(urls <- upload_offline(dir)))
  expect_match(msgs, "Uploading offline experiment", all = FALSE)
  expect_match(msgs, "Experiment uploaded", all = FALSE)
  expect_identical(unname(urls), paste0(srv$url_root %||% sub("/clientlib/?$", "", srv$url),
                                        "/local/general/", run$key))
  expect_identical(out, unname(urls))
  expect_run_uploaded(run$key)
  # Reading an offline experiment says how to upload it.
  err <- expect_error(run$exp$get_metric("loss"), class = "cometr_offline_error")
  expect_s3_class(err, "cometr_error")
  expect_match(conditionMessage(err), "upload_offline()", fixed = TRUE)
})

test_that("uploading the same archive twice stores it once", {
  srv <- local_test_server()
  dir <- file.path(tempfile(), "runs")
  run <- record_offline_run(dir)
  suppressMessages(capture.output(upload_offline(run$archive)))
  first <- expect_run_uploaded(run$key)
  expect_message(capture.output(upload_offline(run$archive)), "already uploaded")
  again <- expect_run_uploaded(run$key)
  expect_identical(again$metrics, first$metrics)
  expect_identical(again$assets, first$assets)
})

test_that("an interrupted upload can be resumed without duplicates", {
  srv <- local_test_server()
  dir <- file.path(tempfile(), "runs")
  run <- record_offline_run(dir)
  # The upload fails at its very end, so the server never marks it complete.
  srv$inject_fault("status-report/offline-metadata", status = 400L, times = 1L)
  expect_error(suppressMessages(upload_offline(run$archive)), class = "cometr_http_error")
  suppressMessages(capture.output(upload_offline(run$archive)))
  got <- expect_run_uploaded(run$key)
  expect_length(get_experiment(run$key)$get_parameters()$values, 3)
  params <- call_api("/experiment/parameters", params = list(experimentKey = run$key))$values
  expect_length(params, 3)
})

test_that("every request of an upload is named, so resends and repeats are applied once", {
  srv <- local_test_server()
  dir <- file.path(tempfile(), "runs")
  run <- record_offline_run(dir)
  # Many answers to the replay's writes are lost after the server applied them, and
  # the upload fails at its very end: the second upload_offline() replays it all again.
  srv$set_faults(list(drop_after_rate = 0.4, paths = "write/experiment/"))
  srv$inject_fault("status-report/offline-metadata", status = 400L, times = 1L)
  withr::with_options(list(cometr.retry_timeout = 60), {
    expect_error(suppressWarnings(suppressMessages(upload_offline(run$archive))),
                 class = "cometr_http_error")
    suppressWarnings(suppressMessages(capture.output(upload_offline(run$archive))))
  })
  srv$set_faults(NULL)
  log <- srv$requests()
  # Everything the replay sends (metrics, parameters, output, writes, uploads) names its
  # batch after the archive's lines, the same in both uploads.
  replayed <- grep(paste0(
    "POST /clientlib/(batch/logger|rest/v2/write/experiment/output|asset/upload|git-patch/upload)",
    "|POST /api/rest/v2/write/experiment/(log-other|html|graph|file-path|git/metadata|system-details)"
  ), log, value = TRUE)
  expect_gt(length(replayed), 0)
  expect_true(all(grepl(" batch=", replayed, fixed = TRUE)), label = paste(replayed, collapse = "\n"))
  ids <- sub(".* batch=", "", replayed)
  expect_true(any(duplicated(ids)))
  for (kind in c("m", "p", "o", "w", "u")) {
    expect_true(any(grepl(paste0("-offline-", kind, "[0-9]"), ids)), label = kind)
  }
  # Each was applied once: every value reads back once.
  got <- expect_run_uploaded(run$key)
  expect_identical(got$metrics, 3L)
  names <- vapply(got$exp$get_asset_list()$assets, `[[`, "", "fileName")
  expect_length(names, 3)
  expect_false(anyDuplicated(names) > 0)
  params <- call_api("/experiment/parameters", params = list(experimentKey = run$key))$values
  expect_length(params, 3)
})

test_that("reads and server actions of an offline experiment raise cometr_offline_error", {
  local_isolated_config()
  withr::local_envvar(COMET_OFFLINE = "TRUE")
  # No server and no API key are needed offline.
  exp <- create_experiment(log_code = FALSE, log_system_details = FALSE, log_output = FALSE)
  expect_null(exp$get_url())
  for (f in list(function() exp$get_metric("x"), function() exp$get_parameters(),
                 function() exp$get_asset("id"), function() exp$get_git_patch(),
                 function() exp$get_artifact("a"), function() exp$archive(),
                 function() exp$create_symlink("p"), function() exp$get_metadata())) {
    expect_error(f(), class = "cometr_offline_error")
  }
  exp$log_metric("m", 1)
  expect_message(exp$stop(), ".cometml-runs", fixed = TRUE)
  expect_identical(format(file.info(".cometml-runs")$mode), "700")
  expect_length(list.files(".cometml-runs", pattern = "\\.zip$"), 1)
})

test_that("offline, upload_asset() is queued as online: what was logged is archived", {
  local_isolated_config()
  withr::local_envvar(COMET_OFFLINE = "TRUE")
  exp <- create_experiment(log_code = FALSE, log_system_details = FALSE, log_output = FALSE)
  small <- withr::local_tempfile(lines = "as logged", fileext = ".txt")
  exp$upload_asset(small, name = "small.txt")
  # A small file is copied when logged: a later change is not what goes into the archive.
  writeLines("changed", small)
  big <- withr::local_tempfile(fileext = ".bin")
  writeBin(as.raw(rep(1L, 10 * 2^20 + 1)), big)
  exp$upload_asset(big, name = "big.bin")
  writeBin(as.raw(rep(2L, 10 * 2^20 + 1)), big)
  # The archive writer may have copied it before the change, or reports the change (at
  # the next call or at stop()): never changed bytes in silence.
  changed <- list()
  withCallingHandlers({
    Sys.sleep(0.5)
    exp$log_metric("m", 1)
    suppressMessages(exp$stop())
  }, cometr_file_changed_warning = function(w) {
    changed[[length(changed) + 1L]] <<- conditionMessage(w)
    invokeRestart("muffleWarning")
  })
  unpacked <- withr::local_tempdir()
  utils::unzip(file.path(".cometml-runs", paste0(exp$get_key(), ".zip")), exdir = unpacked)
  msgs <- lapply(readLines(file.path(unpacked, "messages.json")), jsonlite::parse_json)
  uploads <- Filter(function(m) identical(m$type, "file_upload"), msgs)
  names(uploads) <- vapply(uploads, function(m) m$payload$additional_params$fileName, "")
  expect_identical(readLines(file.path(unpacked, uploads$small.txt$payload$file_path)),
                   "as logged")
  if (length(changed) == 0L) {
    archived <- file.path(unpacked, uploads$big.bin$payload$file_path)
    expect_identical(readBin(archived, "raw", file.size(archived)),
                     as.raw(rep(1L, 10 * 2^20 + 1)))
  } else {
    expect_match(changed[[1]], "big.bin", fixed = TRUE)
    expect_identical(names(uploads), "small.txt")
  }
})

test_that("COMET_OFFLINE can come from .comet.yml", {
  local_isolated_config()
  writeLines(c("COMET_OFFLINE: TRUE", "COMET_OFFLINE_DIRECTORY: offline-here"), ".comet.yml")
  exp <- create_experiment(log_code = FALSE, log_system_details = FALSE, log_output = FALSE)
  suppressMessages(exp$stop())
  expect_true(file.exists(file.path("offline-here", paste0(exp$get_key(), ".zip"))))
})

test_that("`comet upload` accepts an archive written by cometr", {
  cache <- real_cache()
  srv <- local_test_server()
  run <- record_offline_run(file.path(tempfile(), "runs"))
  res <- python_sdk("comet-upload.py", run$archive, cache,
                    env = c(COMET_URL_OVERRIDE = srv$url, COMET_API_KEY = "local-api-key"))
  expect_identical(res$status, 0L, label = paste(res$out, collapse = "\n"))
  # Comet's format has no artifacts: `comet upload` leaves them out.
  expect_run_uploaded(run$key, with_artifact = FALSE)
})

test_that("a run killed with SIGKILL leaves a folder that upload_offline() uploads", {
  skip_on_os("windows")
  srv <- local_test_server()
  dir <- file.path(tempfile(), "runs")
  ready <- tempfile()
  script <- tempfile(fileext = ".R")
  writeLines(c(
    "library(cometr)",
    sprintf("Sys.setenv(COMET_OFFLINE = 'TRUE', COMET_OFFLINE_DIRECTORY = '%s')", dir),
    "exp <- create_experiment(log_code = FALSE, log_system_details = FALSE)",
    "for (i in 1:5) exp$log_metric('loss', i / 10, step = i)",
    "exp$log_parameter('lr', 0.1)",
    "exp$log_other('phase', 'training')",
    "cat('before the kill\\n')",
    # Logged values are on disk within ~0.1 s.
    "Sys.sleep(0.5)",
    sprintf("writeLines(c(as.character(Sys.getpid()), exp$get_key()), '%s')", ready),
    "Sys.sleep(120)"
  ), script)
  system2(file.path(R.home("bin"), "Rscript"), shQuote(script), wait = FALSE,
          stdout = FALSE, stderr = FALSE,
          env = paste0("R_LIBS=", paste(.libPaths(), collapse = .Platform$path.sep)))
  deadline <- Sys.time() + 60
  while (length(readLines_safe(ready)) < 2L && Sys.time() < deadline) Sys.sleep(0.1)
  info <- readLines_safe(ready)
  expect_length(info, 2)
  pid <- as.integer(info[[1]])
  key <- info[[2]]
  expect_true(tools::pskill(pid, tools::SIGKILL))
  while (isTRUE(tools::pskill(pid, 0L)) && Sys.time() < deadline) Sys.sleep(0.1)
  # No archive, but the run folder with what was logged.
  expect_false(file.exists(file.path(dir, paste0(key, ".zip"))))
  expect_true(file.exists(file.path(dir, key, "messages.json")))
  suppressMessages(capture.output(urls <- upload_offline(dir)))
  expect_length(urls, 1)
  expect_true(file.exists(file.path(dir, paste0(key, ".zip"))))
  exp <- get_experiment(key)
  loss <- exp$get_metric("loss")$metrics
  expect_equal(as.numeric(vapply(loss, `[[`, "", "metricValue")), (1:5) / 10)
  expect_identical(exp$get_parameters()$values[[1]]$valueCurrent, "0.1")
  o <- exp$get_other()$values
  expect_identical(Filter(function(v) v$name == "phase", o)[[1]]$valueCurrent, "training")
  expect_match(exp$get_output()$output, "before the kill", fixed = TRUE)
})

test_that("a crafted archive uploads none but its own files", {
  srv <- local_test_server()
  dir <- file.path(tempfile(), "runs")
  run <- record_offline_run(dir)
  secret <- normalizePath(withr::local_tempfile(fileext = ".txt"), mustWork = FALSE)
  writeLines("private content", secret)
  unpacked <- file.path(tempfile(), "run")
  dir.create(unpacked, recursive = TRUE)
  utils::unzip(run$archive, exdir = unpacked)
  unlink(run$archive)
  # An upload in messages.json names a file outside by its absolute path.
  msgs <- readLines(file.path(unpacked, "messages.json"))
  i <- grep('"file_upload"', msgs, fixed = TRUE)[1]
  msgs[i] <- sub('"file_path":"[^"]*"', sprintf('"file_path":"%s"', secret), msgs[i])
  writeLines(msgs, file.path(unpacked, "messages.json"))
  # An artifact file climbs out of the folder.
  arts <- readLines(file.path(unpacked, "cometr-artifacts.json"))
  arts <- sub('"file":"[^"]*"', sprintf('"file":"../../../../../../../..%s"', secret), arts)
  writeLines(arts, file.path(unpacked, "cometr-artifacts.json"))
  warned <- character()
  err <- expect_error(withCallingHandlers(
    suppressMessages(capture.output(upload_offline(unpacked))),
    cometr_delivery_warning = function(w) {
      warned <<- c(warned, conditionMessage(w))
      invokeRestart("muffleWarning")
    }), class = "cometr_offline_error")
  expect_match(conditionMessage(err), "not a file inside the archive")
  expect_true(any(grepl("an upload was not sent", warned, fixed = TRUE)))
  # The server stored no byte of the file outside.
  stored <- list.files(srv$dir, recursive = TRUE, full.names = TRUE)
  for (f in stored[file.size(stored) < 2^20]) {
    expect_false(any(grepl("private content", readLines(f, warn = FALSE), fixed = TRUE, useBytes = TRUE)), label = f)
  }
  # Paths that leave the folder, absolute or through `..`, are refused as such.
  unpacked <- withr::local_tempdir()
  writeLines("{}", file.path(unpacked, "messages.json"))
  for (rel in c("../x", secret, "", ".", "a/../../x", "~/x")) {
    expect_error(cometr:::archive_file(unpacked, rel), class = "cometr_offline_error")
  }
  file.symlink(secret, file.path(unpacked, "link.txt"))
  expect_error(cometr:::archive_file(unpacked, "link.txt"), class = "cometr_offline_error")
  expect_identical(cometr:::archive_file(unpacked, "messages.json"),
                   normalizePath(file.path(unpacked, "messages.json")))
})

test_that("upload_offline() samples each metric to 15,000 points, as Comet's offline uploads do", {
  cache <- real_cache()
  srv <- local_test_server()
  dir <- file.path(tempfile(), "runs")
  withr::with_envvar(c(COMET_OFFLINE = "TRUE", COMET_OFFLINE_DIRECTORY = dir), {
    exp <- suppressMessages(create_experiment(log_code = FALSE, log_system_details = FALSE,
                                              log_output = FALSE, keep_active = FALSE))
    for (i in 1:20000) {
      # The smallest and largest values sit mid-run, where only the sampler's rule keeps them.
      exp$log_metric("loss", if (i == 7000) -1 else if (i == 9000) 1e6 else i %% 100, step = i)
    }
    exp$log_metric("acc", 0.5, step = 1)
    suppressMessages(exp$stop())
  })
  key <- exp$get_key()
  archive <- file.path(dir, paste0(key, ".zip"))
  # The archive keeps every point, as comet_ml's offline archives do: sampling is the upload's.
  con <- unz(archive, "messages.json")
  lines <- readLines(con)
  close(con)
  expect_identical(sum(grepl('"type":"metric_msg"', lines, fixed = TRUE)), 20001L)

  msgs <- capture_messages(capture.output(upload_offline(archive)))
  expect_match(msgs, "Metric 'loss' has 20000 points in the archive; 15000 were sent", all = FALSE)
  expect_false(any(grepl("Metric 'acc'", msgs)))
  points <- get_experiment(key)$get_metric("loss")$metrics
  steps <- vapply(points, function(p) as.numeric(p$step), 0)
  values <- vapply(points, function(p) as.numeric(p$metricValue), 0)
  expect_length(points, 15000)
  expect_false(anyDuplicated(steps) > 0)
  # First, last, smallest and largest are always kept.
  expect_true(all(c(1, 20000, 7000, 9000) %in% steps))
  expect_identical(range(values), c(-1, 1e6))
  expect_length(get_experiment(key)$get_metric("acc")$metrics, 1)

  # Comet's own `comet upload` of the same archive sends the same number of points.
  srv2 <- local_server(activate = FALSE)
  on.exit(srv2$stop(), add = TRUE)
  res <- python_sdk("comet-upload.py", archive, cache,
                    env = c(COMET_URL_OVERRIDE = srv2$url, COMET_API_KEY = "local-api-key"))
  expect_identical(res$status, 0L, label = paste(res$out, collapse = "\n"))
  withr::with_envvar(c(COMET_URL_OVERRIDE = srv2$url), {
    theirs <- get_experiment(key)$get_metric("loss")$metrics
  })
  expect_length(theirs, 15000)
  expect_true(all(c(1, 20000, 7000, 9000) %in% vapply(theirs, function(p) as.numeric(p$step), 0)))
})

test_that("the offline sampling size is an option, at least 4", {
  srv <- local_test_server()
  dir <- file.path(tempfile(), "runs")
  withr::with_envvar(c(COMET_OFFLINE = "TRUE", COMET_OFFLINE_DIRECTORY = dir), {
    exp <- suppressMessages(create_experiment(log_code = FALSE, log_system_details = FALSE,
                                              log_output = FALSE, keep_active = FALSE))
    for (i in 1:50) exp$log_metric("m", i, step = i)
    suppressMessages(exp$stop())
  })
  archive <- file.path(dir, paste0(exp$get_key(), ".zip"))
  withr::local_options(cometr.offline_sampling_size = 3)
  expect_error(upload_offline(archive), "at least 4", class = "cometr_config_error")
  withr::local_options(cometr.offline_sampling_size = NULL)
  withr::local_envvar(COMET_OFFLINE_SAMPLING_SIZE = "10")
  expect_message(capture.output(upload_offline(archive)), "50 points in the archive; 10 were sent")
  steps <- vapply(get_experiment(exp$get_key())$get_metric("m")$metrics,
                  function(p) as.numeric(p$step), 0)
  expect_length(steps, 10)
  expect_identical(steps[c(1, 10)], c(1, 50))
  expect_false(is.unsorted(steps))
})
