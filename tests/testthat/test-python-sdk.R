# Interoperability: a run logged by Comet's official Python SDK (comet_ml) against the
# local server reads back through call_api() as logged. The SDK is installed once into
# a virtualenv under ${XDG_CACHE_HOME:-$HOME/.cache}/cometr-venv (fixtures/python/sdk.sh).

# Log the fixture run against `url`; returns the experiment key (fails when Python or
# the SDK cannot be had). `cache` is the real cache folder, read before HOME is isolated.
log_python_run <- function(url, cache) {
  need_python_sdk()
  asset <- tempfile(fileext = ".txt")
  writeLines("asset from python", asset)
  withr::local_envvar(COMET_URL_OVERRIDE = url, COMET_API_KEY = "python-key",
                      XDG_CACHE_HOME = cache)
  out <- suppressWarnings(system2(
    "sh", c(shQuote(fixture("python", "sdk.sh")), shQuote(fixture("python", "log-run.py")),
            shQuote(asset)),
    stdout = TRUE, stderr = TRUE
  ))
  status <- attr(out, "status") %||% 0L
  need_python_sdk(status, out)
  expect_identical(status, 0L, label = paste(out, collapse = "\n"))
  key <- sub("^KEY=", "", grep("^KEY=", out, value = TRUE))
  expect_length(key, 1)
  key
}

# What the fixture logged reads back through call_api() from the configured server.
expect_python_run <- function(key) {
  q <- function(...) list(experimentKey = key, ...)

  loss <- call_api("/experiment/metrics/get-metric", params = q(metricName = "loss"))$metrics
  expect_equal(as.numeric(vapply(loss, `[[`, "", "metricValue")), 1 / (1:3))
  expect_identical(vapply(loss, `[[`, 0L, "step"), 1:3)
  acc <- call_api("/experiment/metrics/get-metric", params = q(metricName = "acc"))$metrics
  expect_identical(acc[[1]]$metricValue, "NaN")

  values <- function(ep) {
    v <- call_api(ep, params = q())$values
    setNames(vapply(v, `[[`, "", "valueCurrent"), vapply(v, `[[`, "", "name"))
  }
  p <- values("/experiment/parameters")
  expect_equal(as.numeric(p[["lr"]]), 0.01)
  expect_identical(p[["layers"]], "3")
  expect_identical(values("/experiment/log-other")[["note"]], "hello")

  expect_setequal(unlist(call_api("/experiment/tags", params = q())$tags), c("py", "sdk"))

  assets <- call_api("/experiment/asset/list", params = q())$assets
  a <- Filter(function(x) identical(x$fileName, "data.txt"), assets)
  expect_length(a, 1)
  expect_identical(jsonlite::parse_json(a[[1]]$metadata), list(k = "v"))
  got <- call_api("/experiment/asset/get-asset", params = q(assetId = a[[1]]$assetId),
                  response_json = FALSE)
  expect_identical(got, "asset from python\n")

  expect_match(call_api("/experiment/output", params = q())$output, "hello from python",
               fixed = TRUE)
  m <- call_api("/experiment/metadata", params = q())
  expect_identical(m$projectName, "pyproj")
  expect_false(m$running)
}

test_that("a run logged by the Python SDK reads back through call_api()", {
  # The real cache folder, before the test server isolates HOME.
  cache <- Sys.getenv("XDG_CACHE_HOME", file.path(Sys.getenv("HOME"), ".cache"))
  srv <- local_test_server()
  key <- log_python_run(srv$url, cache)
  expect_python_run(key)
})

test_that("the cometr-server binary serves the Python SDK without R's server", {
  cache <- Sys.getenv("XDG_CACHE_HOME", file.path(Sys.getenv("HOME"), ".cache"))
  bin <- cometr_server_bin()
  local_isolated_config()
  dir <- withr::local_tempdir()
  proc <- processx::process$new(bin, c("--port", "0", "--dir", dir),
                                stdout = "|", stderr = "|")
  withr::defer(if (proc$is_alive()) proc$kill())
  url <- cometr_server_url(proc)
  key <- log_python_run(url, cache)
  withr::local_envvar(COMET_URL_OVERRIDE = url, COMET_API_KEY = "r-key")
  expect_python_run(key)
  # The records are the binary's: they are in its folder, and it ends on SIGTERM.
  expect_true(file.exists(file.path(dir, "cometr.sqlite")))
  proc$signal(tools::SIGTERM)
  # It lets requests in progress finish (up to 5 s); a loaded machine may need more.
  proc$wait(30000)
  expect_false(proc$is_alive())
  expect_identical(proc$get_exit_status(), 0L)
})

test_that("the SDK comparisons fail, never skip, without Python, and run pinned packages", {
  expect_error(need_python_sdk(91L, c("pip", "failed")), "requirements.txt")
  expect_error(need_python_sdk(90L), "python3")
  withr::with_envvar(c(PATH = ""), expect_error(need_python_sdk(), "python3"))
  req <- readLines(fixture("python", "requirements.txt"))
  req <- req[nzchar(req) & !startsWith(req, "#")]
  expect_true(all(grepl("^[A-Za-z0-9_.-]+==[0-9][A-Za-z0-9.+-]*$", req)), label = paste(req, collapse = " "))
  expect_true(any(startsWith(req, "comet_ml==")) && any(startsWith(req, "jsonschema==")))
  # The set-up script (in a source checkout; a package tarball has none) installs the venv.
  setup <- file.path(fixture_dir, "..", "..", "..", "tools", "setup.sh")
  if (file.exists(setup)) expect_true(any(grepl("python3-venv", readLines(setup), fixed = TRUE)))
})
