test_that("create_experiment() creates a current experiment and says where", {
  srv <- local_test_server()
  expect_message(exp <- create_experiment(experiment_name = "first", log_code = FALSE,
                                          log_system_details = FALSE, log_output = FALSE,
                                          keep_active = FALSE),
                 "^Experiment created: http://127\\.0\\.0\\.1:[0-9]+/local/general/[0-9a-f]{32}")
  withr::defer(exp$stop())
  expect_s3_class(exp, "Experiment")
  expect_match(exp$get_key(), "^[0-9a-f]{32}$")
  expect_identical(exp$get_workspace_name(), "local")
  expect_identical(exp$get_project_name(), "general")
  expect_true(exp$get_dynamic())
  expect_match(exp$get_url(), paste0("/local/general/", exp$get_key(), "$"))
  expect_output(print(exp), paste0("^Comet experiment ", exp$get_url()))
  meta <- exp$get_metadata()
  expect_identical(meta$experimentName, "first")
  expect_identical(meta$experimentKey, exp$get_key())
  expect_true("Created from" %in% values_of(exp$get_other()$values, "name"))
  expect_message(exp2 <- create_experiment(log_code = FALSE, log_system_details = FALSE,
                                           log_output = FALSE, keep_active = FALSE),
                 paste("Existing experiment", exp$get_key(), "will be stopped"))
  on.exit(exp2$stop(), add = TRUE)
  expect_error(exp$log_metric("x", 1), "already ended", class = "cometr_experiment_ended_error")
})

test_that("Experiment$new() cannot be called directly and flags are validated", {
  local_test_server()
  expect_error(Experiment$new("abc"), "Do not call this function directly",
               class = "cometr_input_error")
  for (flag in c("keep_active", "log_output", "log_error", "log_code", "log_system_details",
                 "log_git_info")) {
    args <- structure(list("yes"), names = flag)
    expect_error(do.call(create_experiment, args), paste(flag, "must be either TRUE or FALSE."),
                 class = "cometr_input_error")
    expect_error(do.call(get_experiment, c(list("k"), structure(list(NA), names = flag))),
                 paste(flag, "must be either TRUE or FALSE."), class = "cometr_input_error")
  }
})

test_that("metrics round-trip, with step, epoch, context and special values", {
  local_test_server()
  exp <- new_test_experiment()
  expect_identical(exp$log_metric("loss", 0.5, step = 1, epoch = 1, context = "train"), exp)
  exp$log_metric("loss", 0.25, step = 100000)
  exp$log_metric("loss", NaN, step = 3)
  exp$log_metric("loss", Inf, step = 4)
  exp$log_metric("loss", -Inf, step = 5)
  exp$log_metric("acc", 1L)
  m <- exp$get_metric("loss")$metrics
  expect_length(m, 5)
  expect_identical(values_of(m, "metricValue"), c("0.5", "0.25", "NaN", "Infinity", "-Infinity"))
  expect_identical(vapply(m, function(x) as.numeric(x$step), 0), c(1, 100000, 3, 4, 5))
  expect_identical(m[[1]]$epoch, 1L)
  expect_identical(m[[1]]$runContext, "train")
  s <- exp$get_metrics_summary()$values
  expect_setequal(values_of(s, "name"), c("loss", "acc"))
  expect_error(exp$log_metric(NA, 1), class = "cometr_input_error")
  expect_error(exp$log_metric("x", 1, step = "a"), class = "cometr_input_error")
  expect_error(exp$log_metric("x", list(1)), class = "cometr_input_error")
  expect_error(exp$log_metric("x", 1, context = 3), class = "cometr_input_error")
})

test_that("parameters, others, tags, html, graph and code round-trip", {
  local_test_server()
  exp <- new_test_experiment()
  exp$log_parameter("lr", 0.01)$log_parameter("opt", "adam")$log_parameter("layers", c(1, 2, 3))
  p <- exp$get_parameters()$values
  expect_identical(values_of(p, "valueCurrent")[match(c("lr", "opt"), values_of(p, "name"))],
                   c("0.01", "adam"))
  exp$log_other("note", "hello")$log_other("n", 3)
  o <- exp$get_other()$values
  expect_identical(values_of(o, "valueCurrent")[values_of(o, "name") == "note"], "hello")
  exp$add_tags(c("a", "b"))$add_tags(list("c"))
  expect_setequal(unlist(exp$get_tags()$tags), c("a", "b", "c"))
  expect_error(exp$add_tags(character()), class = "cometr_input_error")
  exp$log_html("<b>one</b>")$log_html("<i>two</i>")
  expect_identical(exp$get_html()$html, "<b>one</b><i>two</i>")
  exp$log_html("<p>new</p>", override = TRUE)
  expect_identical(exp$get_html()$html, "<p>new</p>")
  exp$log_graph('{"layers": 3}')
  expect_identical(exp$get_graph()$graph, '{"layers": 3}')
  exp$log_code(c("x <- 1", "y <- 2"))
  expect_identical(exp$get_code()$code, "x <- 1\ny <- 2")
})

test_that("git metadata, system details and start/end times round-trip", {
  local_test_server()
  exp <- new_test_experiment()
  exp$log_git_metadata(branch = "main", origin = "git@h:r.git", parent = "abc123",
                       user = "Ann <a@b>", root = "/repo")
  g <- exp$get_git_metadata()
  expect_identical(g[c("branch", "origin", "parent", "user", "root")],
                   list(branch = "main", origin = "git@h:r.git", parent = "abc123",
                        user = "Ann <a@b>", root = "/repo"))
  exp$log_system_details(pid = 42L, hostname = "box", installed_packages = c("a@1", "a@1", "b@2"),
                         r_version = "4.2.2", os_type = "Linux")
  sd <- exp$get_system_details()
  expect_identical(sd$pid, 42L)
  expect_identical(sd$hostname, "box")
  expect_identical(unlist(sd$installedPackages), c("a@1", "b@2"))
  expect_identical(sd$pythonVersion, "4.2.2")
  exp$set_start_end_time(start = 1700000000000, end = 1700000360000)
  meta <- exp$get_metadata()
  expect_equal(meta$startTimeMillis, 1700000000000)
  expect_equal(meta$endTimeMillis, 1700000360000)
  expect_error(exp$set_start_end_time(), "Either start or end must be provided.",
               class = "cometr_input_error")
})

test_that("assets upload, list and download; remote assets are listed", {
  local_test_server()
  exp <- new_test_experiment()
  f <- tempfile(fileext = ".txt")
  writeLines(c("line 1", "line 2"), f)
  bin <- tempfile(fileext = ".bin")
  writeBin(as.raw(0:255), bin)
  exp$upload_asset(f, step = 100000, metadata = list(foo = "bar"))
  exp$upload_asset(bin, name = "data.bin", type = "model-element")
  exp$log_remote_asset("s3://bucket/path/dataset.dat", metadata = list(a = 1))
  assets <- exp$get_asset_list()$assets
  expect_length(assets, 3)
  names <- values_of(assets, "fileName")
  expect_setequal(names, c(basename(f), "data.bin", "dataset.dat"))
  txt <- assets[[match(basename(f), names)]]
  expect_identical(jsonlite::fromJSON(txt$metadata), list(foo = "bar"))
  expect_equal(txt$step, 100000)
  expect_identical(exp$get_asset(txt$assetId), "line 1\nline 2\n")
  raw <- assets[[match("data.bin", names)]]
  expect_identical(exp$get_asset(raw$assetId), as.raw(0:255))
  remote <- assets[[match("dataset.dat", names)]]
  expect_true(remote$remote)
  expect_identical(remote$link, "s3://bucket/path/dataset.dat")
  expect_length(exp$get_asset_list(type = "model-element")$assets, 1)
  expect_error(exp$upload_asset(tempfile()), class = "cometr_input_error")
})

test_that("archive, restore, symlink and delete", {
  local_test_server()
  exp <- new_test_experiment()
  expect_identical(exp$archive(), exp)
  expect_true(exp$get_metadata()$archived)
  exp$restore()
  expect_false(exp$get_metadata()$archived)
  link <- exp$create_symlink("other")
  expect_match(link$link, exp$get_key())
  key <- exp$get_key()
  exp$delete()
  expect_false(key %in% values_of(get_experiments()$experiments, "experimentKey"))
})

test_that("get_experiment() can read and continue a run, with a well-formed URL", {
  srv <- local_test_server()
  exp <- new_test_experiment()
  exp$log_metric("loss", 1, step = 1)
  exp$stop()
  expect_message(again <- get_experiment(exp$get_key()), "Experiment retrieved: ")
  withr::defer(again$stop())
  expect_false(again$get_dynamic())
  expect_identical(again$get_url(), paste0(sub("/clientlib/$", "", srv$url), "/local/general/",
                                           exp$get_key()))
  again$log_metric("loss", 0.5, step = 2)$add_tags("resumed")
  expect_length(again$get_metric("loss")$metrics, 2)
  expect_identical(unlist(again$get_tags()$tags), "resumed")
})

test_that("an explicit api_key is honoured everywhere", {
  srv <- local_test_server(api_key = "right-key-123")
  withr::local_envvar(COMET_API_KEY = "wrong-key-456")
  expect_error(get_workspaces(), class = "cometr_http_401")
  exp <- suppressMessages(create_experiment(api_key = "right-key-123", log_code = FALSE,
                                            log_system_details = FALSE, log_output = FALSE,
                                            keep_active = FALSE))
  withr::defer(exp$stop())
  exp$log_metric("m", 1)
  expect_length(exp$get_metric("m")$metrics, 1)
  again <- suppressMessages(get_experiment(exp$get_key(), api_key = "right-key-123"))
  on.exit(again$stop(), add = TRUE)
  expect_length(again$get_metric("m")$metrics, 1)
})

test_that("100,000 metric points all arrive, exactly once", {
  local_test_server()
  exp <- new_test_experiment()
  for (i in seq_len(100000)) exp$log_metric("m", i / 7, step = i)
  exp$stop()
  again <- suppressMessages(get_experiment(exp$get_key()))
  withr::defer(again$stop())
  m <- again$get_metric("m")$metrics
  expect_length(m, 100000)
  expect_identical(vapply(m, function(x) as.numeric(x$step), 0), as.numeric(seq_len(100000)))
})

test_that("reads see the writes queued before them", {
  local_test_server()
  exp <- new_test_experiment()
  for (i in 1:2000) exp$log_metric("fast", i)
  expect_length(exp$get_metric("fast")$metrics, 2000)
})

test_that("equal points logged again and again are all kept", {
  local_test_server()
  exp <- new_test_experiment()
  for (i in 1:10) exp$log_metric("same", 1)
  m <- exp$get_metric("same")$metrics
  expect_length(m, 10)
  expect_identical(unique(vapply(m, function(x) as.character(x$metricValue), "")), "1")
})

test_that("every read sees what this process logged: call_api(), the chart and another handle", {
  local_test_server()
  # No background sends: only the reads themselves can deliver the points.
  withr::local_options(cometr.batch_interval = 600)
  exp <- new_test_experiment()
  key <- exp$get_key()
  exp$log_metric("m", 1, step = 1)
  res <- call_api("/experiment/metrics/get-metric",
                  params = list(experimentKey = key, metricName = "m"))
  expect_length(res$metrics, 1)
  exp$log_metric("m", 2, step = 2)
  chart <- get_multi_metric_chart(key, metrics = list("m"))
  expect_false(chart$empty)
  expect_length(chart$experiments[[key]]$metrics, 1)
  exp$add_tags("first")
  again <- suppressMessages(get_experiment(key))
  withr::defer(again$stop())
  expect_identical(unlist(again$get_tags()$tags), "first")
  exp$log_metric("m", 3, step = 3)
  expect_length(again$get_metric("m")$metrics, 3)
  # A REST write queued behind the points is read back as well.
  exp$log_other("seen", "yes")
  res <- call_api("/experiment/log-other", params = list(experimentKey = key))
  expect_true("seen" %in% values_of(res$values, "name"))
})

test_that("a read while the data cannot be sent waits at most the retry budget, warns, and answers what the server has", {
  srv <- local_test_server()
  withr::local_options(cometr.retry_timeout = 2)
  exp <- new_test_experiment()
  exp$log_metric("m", 1, step = 1)
  expect_length(exp$get_metric("m")$metrics, 1)
  srv$set_faults(list(down_for = 600, paths = "batch/"))
  withr::defer(srv$set_faults(NULL), priority = "first")
  exp$log_metric("m", 2, step = 2)
  reads <- list(
    method = function() exp$get_metric("m"),
    call_api = function() call_api("/experiment/metrics/get-metric",
                                   params = list(experimentKey = exp$get_key(), metricName = "m"))
  )
  for (r in names(reads)) {
    pending <- list()
    t <- system.time(res <- withCallingHandlers(reads[[r]](), cometr_pending_warning = function(w) {
      pending[[length(pending) + 1L]] <<- w
      invokeRestart("muffleWarning")
    }, cometr_delivery_warning = function(w) invokeRestart("muffleWarning")))[["elapsed"]]
    expect_lt(t, 8, label = r)
    expect_length(pending, 1)
    expect_identical(as.numeric(pending[[1]]$pending), 1, label = r)
    expect_match(conditionMessage(pending[[1]]), "could not be sent within 2 seconds")
    expect_length(res$metrics, 1)
  }
  # Once the server takes data again, stop() delivers the point (the retries of the
  # outage are reported on the way).
  srv$set_faults(NULL)
  suppressWarnings(exp$stop())
  again <- suppressMessages(get_experiment(exp$get_key()))
  withr::defer(again$stop())
  expect_length(again$get_metric("m")$metrics, 2)
})

test_that("keep_active sends heartbeats at the server's interval, and stop() ends the run", {
  srv <- local_test_server()
  srv$set_heartbeat_interval(0.3)
  exp <- suppressMessages(create_experiment(log_code = FALSE, log_system_details = FALSE,
                                            log_output = FALSE, keep_active = TRUE))
  Sys.sleep(1.6)
  beats <- grep("status-report/update", srv$requests(), value = TRUE)
  # One at once, then one every 0.3 s.
  expect_gte(length(beats), 4)
  expect_lte(length(beats), 8)
  meta <- exp$get_metadata()
  expect_true(meta$running)
  exp$stop()
  n <- length(grep("status-report/update", srv$requests()))
  Sys.sleep(0.7)
  expect_identical(length(grep("status-report/update", srv$requests())), n)
  again <- suppressMessages(get_experiment(exp$get_key()))
  withr::defer(again$stop())
  meta <- again$get_metadata()
  expect_false(meta$running)
  expect_false(is.null(meta$endTimeMillis))
})

test_that("garbage collection flushes an experiment that was never stopped", {
  srv <- local_test_server()
  exp <- new_test_experiment()
  key <- exp$get_key()
  exp$stop()
  again <- suppressMessages(get_experiment(key))
  again$log_metric("collected", 1)$add_tags("gc")
  rm(again)
  invisible(gc())
  check <- suppressMessages(get_experiment(key))
  withr::defer(check$stop())
  expect_length(check$get_metric("collected")$metrics, 1)
  expect_identical(unlist(check$get_tags()$tags), "gc")
})

test_that("a server refusing data gives a classed warning, not silence", {
  srv <- local_test_server()
  exp <- new_test_experiment()
  srv$inject_fault("batch/logger/experiment/metric", 400L,
                   body = '{"msg":"metric refused","code":400}')
  exp$log_metric("m", 1)
  expect_warning(exp$get_metric("m"), "metric refused", class = "cometr_delivery_warning")
})

test_that("log_metric() costs at most 3.5 times an empty R6 method call", {
  srv <- local_test_server()
  exp <- new_test_experiment()
  Empty <- R6::R6Class("Empty", public = list(
    log_metric = function(name, value, step = NULL, epoch = NULL, context = NULL) {}
  ))
  empty <- Empty$new()
  # The R thread's own CPU time where Linux reports it: the local server and the sender
  # run in this process too, and on a busy machine the wall clock would also count the
  # time the R thread waits for a core. Batches alternate; medians absorb the outliers.
  stat <- sprintf("/proc/self/task/%d/schedstat", Sys.getpid())
  clock <- if (file.exists(stat)) {
    function() as.numeric(strsplit(readLines(stat), " ", fixed = TRUE)[[1]][1]) / 1e9
  } else {
    function() proc.time()[["elapsed"]]
  }
  n <- 5000
  times <- replicate(11, {
    t0 <- clock()
    for (i in seq_len(n)) empty$log_metric("loss", i / n, step = i)
    t1 <- clock()
    for (i in seq_len(n)) exp$log_metric("loss", i / n, step = i)
    c(empty = t1 - t0, log_metric = clock() - t1)
  })
  ratio <- median(times["log_metric", ]) / median(times["empty", ])
  expect_lte(ratio, 3.5)
})

# Nothing lost: logged data survives failures of the network.

test_that("20,000 points cross errors, throttling, lost answers and an outage exactly once", {
  srv <- local_test_server()
  withr::local_options(cometr.batch_interval = 0.05)
  exp <- new_test_experiment()
  srv$set_faults(list(error_rate = 0.10, throttle_rate = 0.05, retry_after = 0.2,
                      drop_after_rate = 0.05, down_after = 1, down_for = 3))
  for (i in seq_len(20000)) {
    exp$log_metric("m", i * 2, step = i)
    if (i %% 50 == 0) Sys.sleep(0.01)
  }
  expect_no_warning(exp$stop())
  srv$set_faults(NULL)
  # What the server received: batches, each named, some arriving more than once (lost
  # answers, retried errors); what it kept: every point once, by the batch identity
  # (equal points are not merged: the points differ, and equal ones would be kept).
  sent <- grep("batch/logger/experiment/metric", srv$requests(), value = TRUE)
  expect_true(all(grepl(" batch=", sent, fixed = TRUE)))
  expect_true(any(duplicated(sub("^.* batch=", "", sent))))
  again <- suppressMessages(get_experiment(exp$get_key()))
  withr::defer(again$stop())
  m <- again$get_metric("m")$metrics
  steps <- vapply(m, function(x) as.numeric(x$step), 0)
  expect_length(m, 20000)
  expect_identical(sort(steps), as.numeric(seq_len(20000)))
  expect_identical(as.numeric(vapply(m, function(x) x$metricValue, "")), steps * 2)
})

test_that("every kind of write crosses lost answers exactly once: parameters, others, tags, HTML, files", {
  srv <- local_test_server()
  withr::local_options(cometr.batch_interval = 0.05, cometr.stop_timeout = 120)
  exp <- new_test_experiment()
  f <- withr::local_tempfile(lines = "once")
  # A third of the answers are lost after the server applied the request: the client
  # resends under the same identity, and the server applies each identity once.
  srv$set_faults(list(drop_after_rate = 0.3))
  for (i in 1:8) {
    exp$log_parameter(paste0("p", i), i)
    exp$log_other(paste0("o", i), i)
    exp$add_tags(paste0("t", i))
    exp$log_html(sprintf("<p>%d</p>", i))
  }
  exp$upload_asset(f, name = "once.txt")
  expect_no_warning(exp$stop())
  srv$set_faults(NULL)
  sent <- grep("POST .*(batch/logger/experiment/parameter|write/experiment/(log-other|tags|html|upload-asset))",
               srv$requests(), value = TRUE)
  expect_true(all(grepl(" batch=", sent, fixed = TRUE)))
  expect_true(any(duplicated(sub("^.* batch=", "", sent))))
  again <- suppressMessages(get_experiment(exp$get_key()))
  withr::defer(again$stop())
  expect_identical(again$get_html()$html, paste(sprintf("<p>%d</p>", 1:8), collapse = ""))
  expect_setequal(unlist(again$get_tags()$tags), paste0("t", 1:8))
  expect_length(again$get_parameters()$values, 8)
  expect_length(Filter(function(o) grepl("^o[0-9]+$", o$name), again$get_other()$values), 8)
  assets <- again$get_asset_list()$assets
  expect_identical(values_of(assets, "fileName"), "once.txt")
})

test_that("a memory bound spills to the spool and everything still arrives in order", {
  srv <- local_test_server()
  withr::local_options(cometr.max_memory_items = 500, cometr.batch_interval = 0.05)
  exp <- new_test_experiment()
  srv$set_faults(list(down_for = 1))
  for (i in 1:5000) exp$log_metric("m", i, step = i)
  Sys.sleep(1.2)
  m <- exp$get_metric("m")$metrics
  expect_identical(vapply(m, function(x) as.numeric(x$step), 0), as.numeric(1:5000))
})

# Uploads are queued like every other write: they never wait for the server.

# A binary file of `size` random bytes; returns its path and bytes.
random_file <- function(size, env = parent.frame()) {
  path <- withr::local_tempfile(fileext = ".bin", .local_envir = env)
  bytes <- as.raw(sample.int(256L, size, replace = TRUE) - 1L)
  writeBin(bytes, path)
  list(path = path, bytes = bytes)
}

asset_bytes <- function(exp, name) {
  assets <- exp$get_asset_list()$assets
  hit <- assets[values_of(assets, "fileName") == name]
  if (length(hit) != 1L) return(NULL)
  exp$get_asset(hit[[1]]$assetId)
}

test_that("upload_asset() returns at once while the server is down or stalled, and the bytes arrive", {
  srv <- local_test_server()
  withr::local_options(cometr.batch_interval = 0.1)
  exp <- new_test_experiment()
  down <- random_file(2 * 2^20)
  stalled <- random_file(1000)
  srv$set_faults(list(down_for = 3, paths = "upload-asset"))
  took <- system.time(exp$upload_asset(down$path, name = "down.bin"))[["elapsed"]]
  expect_lt(took, 1)
  expect_lt(system.time(exp$log_remote_asset("s3://bucket/later.dat"))[["elapsed"]], 1)
  # A small file is copied aside: what was logged is sent, whatever happens to it after.
  writeBin(as.raw(1:10), down$path)
  expect_identical(asset_bytes(exp, "down.bin"), down$bytes)
  expect_true(exp$get_asset_list()$assets[[match("later.dat",
    values_of(exp$get_asset_list()$assets, "fileName"))]]$remote)
  srv$set_faults(list(latency_ms = 3000, paths = "upload-asset"))
  took <- system.time(exp$upload_asset(stalled$path, name = "stalled.bin"))[["elapsed"]]
  expect_lt(took, 1)
  srv$set_faults(NULL)
  expect_identical(asset_bytes(exp, "stalled.bin"), stalled$bytes)
  expect_length(exp$get_asset_list()$assets, 3)
})

test_that("a large file changed between upload_asset() and its sending is reported, not sent", {
  srv <- local_test_server()
  withr::local_options(cometr.batch_interval = 0.1)
  exp <- new_test_experiment()
  big <- random_file(10 * 2^20 + 1)
  srv$set_faults(list(down_for = 2, paths = "upload-asset"))
  exp$upload_asset(big$path, name = "big.bin")
  changed <- big$bytes
  changed[1] <- as.raw(255L - as.integer(changed[1]))
  writeBin(changed, big$path)
  expect_warning(assets <- exp$get_asset_list()$assets, basename(big$path), fixed = TRUE,
                 class = "cometr_file_changed_warning")
  expect_length(assets, 0)
  # Logged again, the new content goes.
  exp$upload_asset(big$path, name = "big.bin")
  expect_identical(asset_bytes(exp, "big.bin"), changed)
})

test_that("an upload the server refuses warns at a later call; input errors are raised at once", {
  srv <- local_test_server()
  exp <- new_test_experiment()
  f <- withr::local_tempfile(lines = "refused", fileext = ".txt")
  srv$inject_fault("write/experiment/upload-asset", 400L,
                   body = '{"msg":"asset refused","code":400}')
  expect_no_error(exp$upload_asset(f))
  expect_warning(exp$get_asset_list(), "asset refused", class = "cometr_delivery_warning")
  expect_error(exp$upload_asset(file.path(tempdir(), "no-such-file")), "file",
               class = "cometr_input_error")
  expect_error(exp$upload_asset(f, step = "x"), "step", class = "cometr_input_error")
  expect_error(exp$log_remote_asset(NA_character_), "uri", class = "cometr_input_error")
})

test_that("stop() says which uploads it could not deliver and where they wait", {
  srv <- local_test_server()
  spool <- withr::local_tempdir()
  withr::local_options(cometr.stop_timeout = 1, cometr.spool_dir = spool,
                       cometr.batch_interval = 0.1)
  exp <- new_test_experiment()
  f <- withr::local_tempfile(lines = "kept", fileext = ".txt")
  srv$set_faults(list(error_rate = 1, paths = "upload-asset"))
  exp$upload_asset(f, name = "kept.txt")
  seen <- list()
  withCallingHandlers(exp$stop(), cometr_delivery_warning = function(w) {
    seen[[length(seen) + 1L]] <<- w
    invokeRestart("muffleWarning")
  })
  # The retries' last failure, then what stop() left behind.
  expect_match(conditionMessage(seen[[1]]), "HTTP 503", fixed = TRUE)
  w <- seen[[length(seen)]]
  expect_match(conditionMessage(w), "could not be delivered", fixed = TRUE)
  expect_match(conditionMessage(w), f, fixed = TRUE)
  expect_match(conditionMessage(w), file.path(spool, "files"), fixed = TRUE)
  expect_match(conditionMessage(w), "send_spool()", fixed = TRUE)
  expect_identical(dirname(w$spool), normalizePath(spool))
  srv$set_faults(NULL)
  out <- suppressMessages(send_spool(w$spool))
  expect_true(out$delivered)
  again <- suppressMessages(get_experiment(exp$get_key()))
  withr::defer(again$stop())
  expect_identical(asset_bytes(again, "kept.txt"), "kept\n")
  expect_length(list.files(file.path(spool, "files"), recursive = TRUE), 0)
})

test_that("an experiment prints its URL", {
  srv <- local_test_server()
  exp <- new_test_experiment()
  expect_snapshot(print(exp), transform = function(x) {
    x <- gsub("127\\.0\\.0\\.1:[0-9]+", "127.0.0.1:<port>", x)
    # What is still queued depends on how far the sender got.
    x <- sub("queued: .*$", "queued: <n>", x)
    gsub("[0-9a-f]{32}", "<key>", x)
  })
})
