# The rest of Comet's protocol, as clients see it (src/rust/server/ENDPOINTS.md): what
# comet_ml's API reads (models, projects, a run's state), runs that end by their
# silence, and downloads every client gets as bytes.

# Run fixtures/python/api-reads.py with `args` against `url`; its output lines.
api_reads <- function(url, cache, ...) {
  need_python_sdk()
  withr::local_envvar(COMET_URL_OVERRIDE = url, COMET_API_KEY = "python-key",
                      XDG_CACHE_HOME = cache)
  out <- suppressWarnings(system2(
    "sh", c(shQuote(fixture("python", "sdk.sh")), shQuote(fixture("python", "api-reads.py")),
            vapply(c(...), shQuote, "")),
    stdout = TRUE, stderr = TRUE
  ))
  status <- attr(out, "status") %||% 0L
  need_python_sdk(status, out)
  expect_identical(status, 0L, label = paste(out, collapse = "\n"))
  out
}

# The value of the line `NAME=value` in a script's output.
out_value <- function(out, name) {
  v <- sub(paste0("^", name, "="), "", grep(paste0("^", name, "="), out, value = TRUE))
  expect_length(v, 1)
  v
}

test_that("comet_ml reads models, projects and a run's state, with no SDK complaint", {
  cache <- Sys.getenv("XDG_CACHE_HOME", file.path(Sys.getenv("HOME"), ".cache"))
  srv <- local_test_server()
  csv <- tempfile(fileext = ".csv")
  writeBin(charToRaw("a,b\n1,2\n"), csv)
  key <- out_value(api_reads(srv$url, cache, "log", csv), "KEY")
  out <- api_reads(srv$url, cache, "read", key)
  expect_identical(out_value(out, "CHECKED"), "20")
  expect_false(any(startsWith(out, "COMPLAINTS=")))
  # cometr reads the same run's model the same way.
  models <- call_api("/experiment/model", params = list(experimentKey = key))$models
  expect_setequal(vapply(models, `[[`, "", "modelName"), c("net", "remote-net"))
  expect_identical(call_api("/project", params = list(workspaceName = "local",
                                                      projectName = "apiproj"))$projectName,
                   "apiproj")
})

test_that("a run whose process vanished ends a few heartbeats later, at its last beat", {
  cache <- Sys.getenv("XDG_CACHE_HOME", file.path(Sys.getenv("HOME"), ".cache"))
  srv <- local_test_server()
  srv$set_heartbeat_interval(0.3)
  key <- out_value(api_reads(srv$url, cache, "vanish"), "KEY")
  meta <- call_api("/experiment/metadata", params = list(experimentKey = key))
  # Three missed beats, and never less than two seconds.
  Sys.sleep(2.5)
  meta <- call_api("/experiment/metadata", params = list(experimentKey = key))
  expect_false(meta$running)
  expect_false(is.null(meta$endTimeMillis))
  expect_gte(meta$endTimeMillis, meta$startTimeMillis)
  expect_identical(out_value(api_reads(srv$url, cache, "state", key), "STATE"), "finished")
})

test_that("a run as cometr 0.4.0 makes it (no heartbeat, nothing at stop) ends by its silence", {
  srv <- local_test_server()
  srv$set_heartbeat_interval(0.3)
  key <- call_api("/write/experiment/create", "POST",
                  list(projectName = "old", workspaceName = "local"))$experimentKey
  expect_true(call_api("/experiment/metadata", params = list(experimentKey = key))$running)
  Sys.sleep(2.5)
  meta <- call_api("/experiment/metadata", params = list(experimentKey = key))
  expect_false(meta$running)
  expect_false(is.null(meta$endTimeMillis))
  listed <- call_api("/experiments", params = list(workspaceName = "local",
                                                  projectName = "old"))$experiments
  expect_identical(listed[[1]]$endTimeMillis, meta$endTimeMillis)
})

test_that("a .csv asset downloads as bytes, as Comet serves it, not as text/csv", {
  srv <- local_test_server()
  exp <- suppressMessages(create_experiment(project_name = "p", log_code = FALSE,
                                            log_system_details = FALSE, log_output = FALSE,
                                            log_git_info = FALSE))
  withr::defer(exp$stop())
  csv <- tempfile(fileext = ".csv")
  writeBin(charToRaw("a,b\n1,2\n"), csv)
  exp$upload_asset(csv)
  a <- exp$get_asset_list()$assets
  res <- call_api("/experiment/asset/get-asset",
                  params = list(experimentKey = exp$get_key(), assetId = a[[1]]$assetId),
                  parse_response = FALSE)
  # cometr 0.4.0 parses by content type (httr): text/csv wanted the readr package.
  expect_identical(res$content_type, "application/octet-stream")
  expect_identical(exp$get_asset(a[[1]]$assetId), charToRaw("a,b\n1,2\n"))
})

test_that("ENDPOINTS.md has a row for every endpoint the pinned comet_ml calls", {
  # The script and the table are in the source tree (CI), not in an installed copy.
  top <- normalizePath(test_path("..", ".."), mustWork = FALSE)
  script <- file.path(top, "tools", "comet-endpoints.py")
  table <- file.path(top, "src", "rust", "server", "ENDPOINTS.md")
  if (!file.exists(script) || !file.exists(table)) skip_on_cran()
  cache <- Sys.getenv("XDG_CACHE_HOME", file.path(Sys.getenv("HOME"), ".cache"))
  need_python_sdk()
  withr::local_envvar(XDG_CACHE_HOME = cache)
  out <- suppressWarnings(system2(
    "sh", c(shQuote(fixture("python", "sdk.sh")), shQuote(script), "--check", shQuote(table)),
    stdout = TRUE, stderr = TRUE
  ))
  status <- attr(out, "status") %||% 0L
  need_python_sdk(status, out)
  expect_identical(status, 0L, label = paste(out, collapse = "\n"))
  expect_match(out[length(out)], "^[0-9]+ endpoints, [0-9]+ rows$")
})

test_that("what the local server refuses is a 501 that says why", {
  srv <- local_test_server()
  # One attempt: a 501 will not change on a retry.
  expect_error(cometr:::comet_http("/registry-model", "GET", list(workspaceName = "local"),
                                   retry = 0),
               "registry-model is not implemented: the local server has no model registry",
               class = "cometr_http_501")
  expect_error(cometr:::comet_http("optimizer", "GET", retry = 0,
                                   url = sub("clientlib/$", "optimizer/spec", srv$url)),
               "no optimizer service", class = "cometr_http_501")
})
