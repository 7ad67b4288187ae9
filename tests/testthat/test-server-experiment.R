# The local server's experiment endpoints, over real HTTP: what is written through an
# endpoint reads back equal, in Comet's shapes.

new_key <- function(name = NULL) {
  call_api("/write/experiment/create", "POST",
           list(projectName = "proj", workspaceName = "local", experimentName = name))$experimentKey
}

# A clientlib endpoint (what the streaming SDKs use), with a gzip JSON body.
clientlib <- function(endpoint, body, gzip = TRUE, batch_id = NULL) {
  json <- if (is.character(body)) body else
    as.character(jsonlite::toJSON(body, auto_unbox = TRUE, null = "null", digits = NA))
  res <- cometr:::comet_http(endpoint, "POST", url = cometr:::clientlib_url(endpoint),
                             body = json, gzip = gzip,
                             headers = c("X-Comet-Batch-Id" = batch_id))
  jsonlite::parse_json(rawToChar(res$body), simplifyVector = FALSE)
}

api_error <- function(expr) {
  tryCatch({ expr; NULL }, cometr_http_error = function(e) e)
}

metadata <- function(key) call_api("/experiment/metadata", params = list(experimentKey = key))

test_that("an unknown experiment is Comet's 400 with sdk_error_code 90210", {
  local_test_server()
  for (ep in c("/experiment/metrics/get-metric", "/experiment/tags", "/experiment/asset/list",
               "/write/experiment/archive")) {
    e <- api_error(call_api(ep, params = list(experimentKey = "nope", metricName = "x")))
    expect_s3_class(e, "cometr_http_400")
    expect_identical(e$sdk_error_code, 90210L)
  }
  e <- api_error(call_api("/write/experiment/metric", "POST",
                          list(experimentKey = "nope", metricName = "a", metricValue = 1)))
  expect_identical(e$sdk_error_code, 90210L)
})

test_that("metrics round-trip, with NaN and Infinity kept, and summarise as Comet does", {
  local_test_server()
  k <- new_key()
  log <- function(...) call_api("/write/experiment/metric", "POST", list(experimentKey = k, ...))
  log(metricName = "loss", metricValue = 0.5, step = 1, epoch = 1, timestamp = 1000)
  log(metricName = "loss", metricValue = 0.25, step = 2, epoch = 1, context = "train",
      timestamp = 2000)
  log(metricName = "loss", metricValue = "NaN", step = 3, timestamp = 3000)
  log(metricName = "acc", metricValue = "Infinity", step = 1, timestamp = 1500)
  m <- call_api("/experiment/metrics/get-metric",
                params = list(experimentKey = k, metricName = "loss"))$metrics
  expect_length(m, 3)
  expect_identical(vapply(m, `[[`, "", "metricValue"), c("0.5", "0.25", "NaN"))
  expect_identical(m[[2]]$step, 2L)
  expect_identical(m[[2]]$epoch, 1L)
  expect_identical(m[[2]]$runContext, "train")
  expect_null(m[[1]]$runContext)
  expect_equal(m[[3]]$timestamp, 3000)
  expect_true(all(c("metricName", "metricValue", "timestamp", "step", "epoch", "offset") %in%
                    names(m[[1]])))
  all <- call_api("/experiment/metrics/get-all", params = list(experimentKey = k))$metrics
  expect_length(all, 4)
  expect_identical(all[[4]]$metricValue, "Infinity")

  s <- call_api("/experiment/metrics/summary", params = list(experimentKey = k))$values
  expect_identical(vapply(s, `[[`, "", "name"), c("loss", "acc"))
  loss <- s[[1]]
  expect_identical(loss$valueMax, "0.5")
  expect_identical(loss$valueMin, "0.25")
  expect_identical(loss$valueCurrent, "NaN")
  expect_equal(loss$timestampMax, 3000)
  expect_equal(loss$timestampMin, 1000)
  expect_identical(loss$stepMax, 3L)
  expect_identical(loss$stepMin, 1L)
  expect_identical(loss$stepCurrent, 3L)
})

test_that("batched metric points are stored exactly once when a batch is resent under its identity", {
  local_test_server()
  k <- new_key()
  batch <- list(experimentKey = k, values = list(
    list(metricName = "m", metricValue = 1, step = 1, epoch = NULL, context = NULL,
         timestamp = 10),
    list(metricName = "m", metricValue = "NaN", step = 2, epoch = NULL, context = NULL,
         timestamp = 20),
    list(metricName = "m", metricValue = "-Infinity", step = 3, epoch = 0, context = "val",
         timestamp = 30)
  ))
  clientlib("batch/logger/experiment/metric", batch, batch_id = "run1-m1-3")
  clientlib("batch/logger/experiment/metric", batch, batch_id = "run1-m1-3")
  m <- call_api("/experiment/metrics/get-metric",
                params = list(experimentKey = k, metricName = "m"))$metrics
  expect_identical(vapply(m, `[[`, "", "metricValue"), c("1", "NaN", "-Infinity"))
  expect_identical(m[[3]]$runContext, "val")
  # The same value at another step is another point.
  batch$values <- list(list(metricName = "m", metricValue = 1, step = 4, timestamp = 10))
  clientlib("batch/logger/experiment/metric", batch)
  expect_length(call_api("/experiment/metrics/get-metric",
                         params = list(experimentKey = k, metricName = "m"))$metrics, 4)
  # Without an identity every point sent is kept, equal ones included, as Comet does.
  clientlib("batch/logger/experiment/metric", batch)
  expect_length(call_api("/experiment/metrics/get-metric",
                         params = list(experimentKey = k, metricName = "m"))$metrics, 5)
})

test_that("a batch of 1,000,000 metric points is stored in time linear in its size", {
  # Machines (and CI's load) differ by several times, so the time of a million-point batch
  # is compared with a 100,000-point batch stored by the same server in the same run:
  # linear work gives about 10x, anything quadratic 100x. The absolute cap only catches a hang.
  local_test_server()
  batch_body <- function(k, n) {
    i <- seq_len(n)
    values <- paste0('{"metricName":"big","metricValue":', i / 7, ',"step":', i,
                     ',"epoch":null,"context":null,"timestamp":', 1e12 + i, '}', collapse = ",")
    paste0('{"experimentKey":"', k, '","values":[', values, ']}')
  }
  store <- function(k, body) {
    system.time(clientlib("batch/logger/experiment/metric", body))[["elapsed"]]
  }
  small <- stats::median(vapply(1:3, function(j) {
    k <- new_key()
    store(k, batch_body(k, 1e5))
  }, 0))
  k <- new_key()
  big <- store(k, batch_body(k, 1e6))
  ratio <- big / max(small, 0.01)
  expect_lt(ratio, 30, label = sprintf("1e6 points %.2f s / 1e5 points %.2f s", big, small))
  expect_lt(big, 300)
  s <- call_api("/experiment/metrics/summary", params = list(experimentKey = k))$values[[1]]
  expect_identical(s$stepMax, 1000000L)
  expect_identical(s$stepMin, 1L)
})

test_that("parameters and others round-trip with Comet's summary fields", {
  local_test_server()
  k <- new_key("named")
  call_api("/write/experiment/parameter", "POST",
           list(experimentKey = k, parameterName = "lr", parameterValue = 0.1, timestamp = 1))
  call_api("/write/experiment/parameter", "POST",
           list(experimentKey = k, parameterName = "lr", parameterValue = 0.01, step = 5,
                timestamp = 2))
  clientlib("batch/logger/experiment/parameter", list(experimentKey = k, values = list(
    list(parameterName = "layers", parameterValue = list(1, 2, 3), step = NULL,
         source = "manual", context = NULL, timestamp = 3),
    list(parameterName = "opt", parameterValue = "adam", timestamp = 4)
  )))
  p <- call_api("/experiment/parameters", params = list(experimentKey = k))$values
  expect_identical(vapply(p, `[[`, "", "name"), c("lr", "layers", "opt"))
  expect_identical(p[[1]]$valueCurrent, "0.01")
  expect_identical(p[[1]]$valueMax, "0.1")
  expect_identical(p[[1]]$valueMin, "0.01")
  expect_equal(p[[1]]$timestampCurrent, 2)
  expect_identical(p[[2]]$valueCurrent, "[1,2,3]")
  expect_identical(p[[3]]$valueCurrent, "adam")
  for (f in c("valueMax", "valueMin", "valueCurrent", "timestampMax", "timestampMin",
              "timestampCurrent")) expect_true(f %in% names(p[[1]]))

  call_api("/write/experiment/log-other", "POST",
           list(experimentKey = k, key = "Created from", value = "cometr", timestamp = 5))
  call_api("/write/experiment/log-other", "POST", list(experimentKey = k, key = "n", value = 3))
  o <- call_api("/experiment/log-other", params = list(experimentKey = k))$values
  vals <- setNames(vapply(o, `[[`, "", "valueCurrent"), vapply(o, `[[`, "", "name"))
  expect_identical(vals[["Name"]], "named")
  expect_identical(vals[["Created from"]], "cometr")
  expect_identical(vals[["n"]], "3")
})

test_that("tags are added (REST and clientlib), listed once each, and deleted", {
  local_test_server()
  k <- new_key()
  call_api("/write/experiment/tags", "POST", list(experimentKey = k, addedTags = list("a", "b")))
  clientlib("tags/add-tags-to-experiment", list(experimentKey = k, addedTags = list("b", "c")),
            gzip = FALSE)
  expect_identical(call_api("/experiment/tags", params = list(experimentKey = k))$tags,
                   list("a", "b", "c"))
  call_api("/write/experiment/tags/delete", "POST", list(experimentKey = k, tags = list("b")))
  expect_identical(call_api("/experiment/tags", params = list(experimentKey = k))$tags,
                   list("a", "c"))
})

test_that("html appends or overrides; graph, code and git metadata round-trip", {
  local_test_server()
  k <- new_key()
  get <- function(ep) call_api(ep, params = list(experimentKey = k))
  expect_null(get("/experiment/html")$html)
  call_api("/write/experiment/html", "POST", list(experimentKey = k, html = "<b>1</b>",
                                                  override = FALSE))
  call_api("/write/experiment/html", "POST", list(experimentKey = k, html = "<i>2</i>",
                                                  override = FALSE))
  expect_identical(get("/experiment/html")$html, "<b>1</b><i>2</i>")
  call_api("/write/experiment/html", "POST", list(experimentKey = k, html = "<p>3</p>",
                                                  override = TRUE))
  expect_identical(get("/experiment/html")$html, "<p>3</p>")

  call_api("/write/experiment/graph", "POST", list(experimentKey = k, graph = "digraph {a->b}"))
  expect_identical(get("/experiment/graph")$graph, "digraph {a->b}")

  call_api("/write/experiment/code", "POST", list(experimentKey = k, code = "x <- 1\ny <- 2"))
  expect_identical(get("/experiment/code")$code, "x <- 1\ny <- 2")
  call_api("/write/experiment/code", "POST", list(experimentKey = k, code = c("a", "b")))
  expect_identical(get("/experiment/code")$code, "a\nb")

  git <- list(user = "me", root = "/src", branch = "main", parent = "abc123",
              origin = "git@x:y.git")
  call_api("/write/experiment/git/metadata", "POST", c(list(experimentKey = k), git))
  got <- get("/experiment/git/metadata")
  expect_setequal(names(got), names(git))
  expect_identical(got[names(git)], git)
})

test_that("system details are merged across partial writes; pid is a number", {
  local_test_server()
  k <- new_key()
  call_api("/write/experiment/system-details", "POST",
           list(experimentKey = k, installedPackages = list("R6 2.5.1", "jsonlite 1.8.4")))
  call_api("/write/experiment/system-details", "POST",
           list(experimentKey = k, pid = "4242", hostname = "box", os = "Linux",
                pythonVersion = "4.2.2", command = list("Rscript", "a.R"),
                logAdditionalSystemInfoList = list(list(key = "a", value = "b"))))
  d <- call_api("/experiment/system-details", params = list(experimentKey = k))
  expect_identical(d$pid, 4242L)
  expect_identical(d$hostname, "box")
  expect_identical(d$pythonVersion, "4.2.2")
  expect_identical(d$installedPackages, list("R6 2.5.1", "jsonlite 1.8.4"))
  expect_identical(d$command, list("Rscript", "a.R"))
  expect_identical(d$logAdditionalSystemInfoList, list(list(key = "a", value = "b")))
  expect_identical(d$experimentKey, k)
})

test_that("output lines are joined in offset order", {
  local_test_server()
  k <- new_key()
  expect_identical(call_api("/experiment/output", params = list(experimentKey = k))$output, "")
  call_api("/write/experiment/output", "POST", list(experimentKey = k, outputLines = list(
    list(offset = 2, output = "second\n"), list(offset = 1, output = "first\n"))))
  call_api("/write/experiment/output", "POST", list(experimentKey = k, outputLines = list(
    list(offset = 3, output = "oops\n", stderr = TRUE, localTimestamp = 5))))
  expect_identical(call_api("/experiment/output", params = list(experimentKey = k))$output,
                   "first\nsecond\noops\n")
  # cometr sends whole lines without their newline; Python sends "\n" on its own.
  k2 <- new_key()
  call_api("/write/experiment/output", "POST", list(experimentKey = k2, outputLines = list(
    list(offset = 1, output = "line 1"), list(offset = 2, output = "line 2"))))
  call_api("/write/experiment/output", "POST", list(experimentKey = k2, outputLines = list(
    list(offset = 3, output = "py"), list(offset = 4, output = "\n"))))
  expect_identical(call_api("/experiment/output", params = list(experimentKey = k2))$output,
                   "line 1\nline 2\npy\n")
})

test_that("times, file path, archive, status and delete show in the metadata", {
  local_test_server()
  k <- new_key()
  call_api("/write/experiment/set-start-end-time", "POST",
           list(experimentKey = k, startTimeMillis = 1000, endTimeMillis = 5000))
  m <- metadata(k)
  expect_equal(m$startTimeMillis, 1000)
  expect_equal(m$endTimeMillis, 5000)
  expect_equal(m$durationMillis, 4000)
  expect_false(m$running)

  call_api("/write/experiment/file-path", "POST", list(experimentKey = k, filePath = "/a/b/run.R"))
  m <- metadata(k)
  expect_identical(m$filePath, "/a/b/run.R")
  expect_identical(m$fileName, "run.R")

  res <- call_api("/write/experiment/set-status", params = list(experimentKey = k))
  expect_identical(res$isAliveBeatDurationMillis, 10000L)
  expect_true(metadata(k)$running)
  call_api("/write/experiment/update-status", "POST", list(experimentKey = k, isAlive = FALSE))
  expect_false(metadata(k)$running)

  call_api("/write/experiment/archive", params = list(experimentKey = k))
  expect_true(metadata(k)$archived)
  expect_length(get_experiments(project_name = "proj", workspace_name = "local",
                                archived = TRUE)$experiments, 1)
  call_api("/write/experiment/restore", params = list(experimentKey = k))
  expect_false(metadata(k)$archived)

  call_api("/write/experiment/stop", params = list(experimentKey = k))
  expect_false(metadata(k)$running)

  call_api("/write/experiment/delete", params = list(experimentKey = k))
  expect_identical(api_error(metadata(k))$sdk_error_code, 90210L)
})

test_that("a symlink creates the project on first use and answers the link", {
  local_test_server()
  k <- new_key()
  res <- call_api("/write/project/symlink", params = list(experimentKey = k,
                                                          projectName = "other"))
  expect_match(res$link, paste0("/local/other/", k, "$"))
  expect_true("other" %in% vapply(get_projects("local")$projects, `[[`, "", "projectName"))
})

test_that("assets upload, list, download, overwrite and delete", {
  local_test_server()
  k <- new_key()
  txt <- tempfile(fileext = ".txt")
  writeLines(c("hello", "asset"), txt)
  bin <- tempfile(fileext = ".bin")
  bytes <- as.raw(c(0:255, 0:255))
  writeBin(bytes, bin)
  up <- function(...) call_api("/write/experiment/upload-asset",
                               params = list(experimentKey = k, ...))
  up(file = txt, fileName = "a.txt", metadata = list(foo = "bar"), step = 3, context = "train")
  up(file = bin, fileName = "m.bin", type = "model-element")
  up(link = "s3://bucket/data/set.csv", fileName = "set.csv", isRemote = TRUE,
     metadata = list(n = 1))

  list_assets <- function(type = NULL) {
    call_api("/experiment/asset/list", params = list(experimentKey = k, type = type))$assets
  }
  a <- list_assets()
  expect_identical(vapply(a, `[[`, "", "fileName"), c("a.txt", "m.bin", "set.csv"))
  expect_identical(a[[1]]$metadata, '{"foo":"bar"}')
  expect_identical(a[[1]]$step, 3L)
  expect_identical(a[[1]]$runContext, "train")
  expect_identical(a[[1]]$fileSize, as.integer(file.size(txt)))
  expect_false(a[[1]]$remote)
  expect_identical(a[[1]]$type, "asset")
  expect_null(a[[2]]$metadata)
  expect_identical(a[[2]]$fileSize, 512L)
  expect_true(a[[3]]$remote)
  expect_identical(a[[3]]$link, "s3://bucket/data/set.csv")
  for (f in c("fileName", "fileSize", "runContext", "step", "remote", "link",
              "compressedAssetLink", "s3Link", "createdAt", "dir", "canView", "audio", "video",
              "histogram", "image", "type", "metadata", "assetId", "tags", "curlDownload",
              "experimentKey")) {
    expect_true(f %in% names(a[[1]]), label = f)
  }
  expect_identical(vapply(list_assets("model-element"), `[[`, "", "fileName"), "m.bin")

  get_asset <- function(id) {
    call_api("/experiment/asset/get-asset", params = list(experimentKey = k, assetId = id),
             response_json = FALSE)
  }
  expect_identical(get_asset(a[[1]]$assetId), "hello\nasset\n")
  expect_identical(get_asset(a[[2]]$assetId), bytes)
  dest <- tempfile()
  call_api("/experiment/asset/get-asset", params = list(experimentKey = k,
                                                        assetId = a[[2]]$assetId),
           local_file_path = dest)
  expect_identical(readBin(dest, "raw", 1000), bytes)
  expect_s3_class(api_error(get_asset(a[[3]]$assetId)), "cometr_http_400")
  by_name <- call_api("/experiment/asset/get-by-name",
                      params = list(experimentKey = k, fileName = "a.txt"), response_json = FALSE)
  expect_identical(by_name, "hello\nasset\n")

  # The same name again: kept beside the first, unless overwrite is asked for.
  writeLines("second", txt)
  up(file = txt, fileName = "a.txt")
  expect_length(list_assets(), 4)
  writeLines("third", txt)
  up(file = txt, fileName = "a.txt", overwrite = TRUE)
  a <- list_assets()
  expect_identical(vapply(a, `[[`, "", "fileName"), c("m.bin", "set.csv", "a.txt"))
  expect_identical(get_asset(a[[3]]$assetId), "third\n")
  # Python's booleans arrive as True/False.
  up(file = txt, fileName = "a.txt", overwrite = "True")
  expect_length(list_assets(), 3)

  call_api("/write/experiment/asset/delete", "POST",
           list(experimentKey = k, assetId = a[[1]]$assetId))
  expect_identical(vapply(list_assets(), `[[`, "", "fileName"), c("set.csv", "a.txt"))
})

test_that("a git patch is uploaded and read back; none is a 400", {
  local_test_server()
  k <- new_key()
  e <- api_error(call_api("/experiment/git/patch", params = list(experimentKey = k),
                          response_json = FALSE))
  expect_s3_class(e, "cometr_http_400")
  patch <- tempfile(fileext = ".patch")
  writeLines(c("diff --git a/x b/x", "+new line"), patch)
  call_api("/write/experiment/git/patch", params = list(experimentKey = k, file = patch))
  got <- call_api("/experiment/git/patch", params = list(experimentKey = k),
                  response_json = FALSE)
  expect_identical(rawToChar(got), "diff --git a/x b/x\n+new line\n")
})

test_that("the clientlib run lifecycle answers as Comet does", {
  local_test_server()
  key <- paste(rep("ab12", 8), collapse = "")
  run <- clientlib("logger/add/run", list(
    apiKey = "x", local_timestamp = 1, experimentKey = key, offline = FALSE,
    projectName = "streamed", teamName = "local", libVersion = "3.58.8",
    getOrCreateEnabled = FALSE), gzip = FALSE)
  expect_type(run$runId, "character")
  expect_type(run$project_id, "character")
  expect_identical(run$lastOffset, 0L)
  expect_false(run$githubEnabled)
  expect_false(run$s3DirectAccessEnabled)
  expect_identical(run$featureToggles, list())
  expect_match(paste0(run$focusUrl, key), paste0("/local/streamed/", key, "$"))
  expect_identical(metadata(key)$projectName, "streamed")
  # A second creation with the same key is refused, unless get-or-create is asked for.
  e <- api_error(clientlib("logger/add/run", list(experimentKey = key, projectName = "streamed"),
                           gzip = FALSE))
  expect_identical(e$sdk_error_code, 90999L)
  again <- clientlib("logger/add/run", list(experimentKey = key, getOrCreateEnabled = TRUE),
                     gzip = FALSE)
  expect_identical(again$project_id, run$project_id)

  beat <- clientlib("status-report/update", list(experimentKey = key, is_alive = TRUE),
                    gzip = FALSE)
  expect_identical(beat$is_alive_beat_duration_millis, 10000L)
  expect_identical(beat$gpu_monitor_interval_millis, 60000L)
  expect_identical(beat$cpu_monitor_interval_millis, 68000L)
  expect_false(beat$pending_rpcs)
  expect_true(metadata(key)$running)

  rpcs <- cometr:::comet_http("rpc", "GET", list(experimentKey = key),
                              url = cometr:::clientlib_url("rpc/get-pending-rpcs"))
  expect_identical(jsonlite::parse_json(rawToChar(rpcs$body))$remoteProcedureCalls, list())
  expect_type(clientlib("asset/3d-limits", list(experimentKey = key), gzip = FALSE), "list")
  clientlib("notification/experiment", list(experiment_key = key, status = "finished"),
            gzip = FALSE)
  cometr:::comet_http("mark", "POST", url = cometr:::rest_url(
    paste0("write/experiment/", key, "/mark-not-throttled")), body = "{}")

  clientlib("status-report/update", list(experimentKey = key, is_alive = FALSE), gzip = FALSE)
  m <- metadata(key)
  expect_false(m$running)
  expect_false(is.null(m$endTimeMillis))

  clientlib("status-report/offline-metadata",
            list(experimentKey = key, startTimestamp = 100, endTimestamp = 900), gzip = FALSE)
  m <- metadata(key)
  expect_equal(c(m$startTimeMillis, m$endTimeMillis), c(100, 900))

  got <- clientlib("logger/get/run", list(previousExperiment = key), gzip = FALSE)
  expect_identical(got$project_id, run$project_id)
  expect_true(metadata(key)$running)
  e <- api_error(clientlib("logger/get/run", list(previousExperiment = "nope"), gzip = FALSE))
  expect_identical(e$sdk_error_code, 90210L)
})

test_that("a stop request reaches a streaming SDK as a pending stop RPC", {
  local_test_server()
  k <- new_key()
  call_api("/write/experiment/stop", params = list(experimentKey = k))
  beat <- clientlib("status-report/update", list(experimentKey = k, is_alive = TRUE),
                    gzip = FALSE)
  expect_true(beat$pending_rpcs)
  rpcs <- cometr:::comet_http("rpc", "GET", list(experimentKey = k),
                              url = cometr:::clientlib_url("rpc/get-pending-rpcs"))
  calls <- jsonlite::parse_json(rawToChar(rpcs$body))$remoteProcedureCalls
  expect_identical(calls[[1]]$functionName, "stop")
  expect_true(calls[[1]]$cometDefined)
})
