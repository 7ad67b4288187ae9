# Interoperability: a run logged by Comet's official Python SDK (comet_ml) against the
# local server reads back through call_api() as logged. The SDK is installed once into
# a virtualenv under ${XDG_CACHE_HOME:-$HOME/.cache}/cometr-venv (fixtures/python/sdk.sh).

test_that("a run logged by the Python SDK reads back through call_api()", {
  skip_if(!nzchar(Sys.which("python3")), "python3 is not installed")
  skip_if(!nzchar(Sys.which("sh")), "no POSIX shell to run fixtures/python/sdk.sh")
  # The real cache folder, before the test server isolates HOME.
  cache <- Sys.getenv("XDG_CACHE_HOME", file.path(Sys.getenv("HOME"), ".cache"))
  srv <- local_test_server()
  asset <- tempfile(fileext = ".txt")
  writeLines("asset from python", asset)
  withr::local_envvar(COMET_URL_OVERRIDE = srv$url, COMET_API_KEY = "python-key",
                      XDG_CACHE_HOME = cache)
  out <- suppressWarnings(system2(
    "sh", c(shQuote(fixture("python", "sdk.sh")), shQuote(fixture("python", "log-run.py")),
            shQuote(asset)),
    stdout = TRUE, stderr = TRUE
  ))
  status <- attr(out, "status") %||% 0L
  skip_if(status == 90L, "python3 is not installed")
  skip_if(status == 91L, paste("cannot create the virtualenv or `pip install comet_ml`:",
                               paste(tail(out, 3), collapse = " ")))
  expect_identical(status, 0L, label = paste(out, collapse = "\n"))
  key <- sub("^KEY=", "", grep("^KEY=", out, value = TRUE))
  expect_length(key, 1)
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
})
