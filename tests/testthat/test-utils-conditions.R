# Every error the package raises is a classed cometr_error that shows the call the user
# made, not the internal function that noticed the problem. The snapshots pin each
# class's printed message; ports, keys and temporary paths are scrubbed.

scrub <- function(x) {
  for (dir in unique(c(tempdir(), normalizePath(tempdir())))) x <- gsub(dir, "<tmp>", x, fixed = TRUE)
  x <- gsub("127\\.0\\.0\\.1:[0-9]+", "127.0.0.1:<port>", x)
  gsub("[0-9a-f]{32}", "<key>", x)
}

test_that("rust_result() returns the value, or raises the failure as its kind's class", {
  expect_identical(cometr:::rust_result(list(ok = 1)), 1)
  expect_null(cometr:::rust_result(list(ok = NULL)))
  err <- expect_error(
    cometr:::rust_result(list(err = list(kind = "transfer", message = "cut short", endpoint = "/x"))),
    "cut short", class = "cometr_transfer_error"
  )
  expect_s3_class(err, "cometr_error")
  expect_identical(err$endpoint, "/x")
  err <- expect_error(cometr:::rust_result(list(err = list(kind = "connection", message = "no route"))),
                      class = "cometr_connection_error")
  expect_s3_class(err, "cometr_transfer_error")
  expect_warning(
    expect_null(cometr:::rust_result(list(err = list(kind = "spool", message = "unreadable")),
                                     warn = TRUE)),
    "unreadable", class = "cometr_spool_warning"
  )
  body <- charToRaw('{"msg":"gone","sdk_error_code":624523,"code":400}')
  err <- expect_error(cometr:::rust_result(list(err = list(
    kind = "http", message = "", status = 400L, method = "GET", endpoint = "/artifacts/version",
    content_type = "application/json", body = body
  ))), "Artifact not found", class = "cometr_http_400")
  expect_s3_class(err, "cometr_http_error")
  expect_identical(err$sdk_error_code, 624523L)
  expect_identical(err$status, 400L)
  expect_identical(err$response$msg, "gone")
})

test_that("input errors show the user's call: a function, a method, a constructor", {
  local_isolated_config()
  expect_snapshot(create_experiment(keep_active = "yes"), error = TRUE)
  expect_snapshot(Artifact$new(NULL, "dataset"), error = TRUE)
  artifact <- create_artifact("data", "dataset")
  expect_snapshot(artifact$add_remote("s3://b/x", logical_path = "../up"), error = TRUE)
  expect_snapshot(artifact$add(NULL), error = TRUE)
})

test_that("configuration errors show the user's call", {
  local_isolated_config()
  expect_snapshot(get_workspaces(), error = TRUE)
  withr::local_envvar(COMET_API_KEY = "k")
  expect_snapshot(get_projects(), error = TRUE)
})

test_that("HTTP, parse and ended-experiment errors show the user's call", {
  srv <- local_test_server(api_key = "the-right-key")
  withr::local_options(cometr.retry_timeout = 0)
  withr::local_envvar(COMET_API_KEY = "a-wrong-key")
  expect_snapshot(get_workspaces(), error = TRUE)
  withr::local_envvar(COMET_API_KEY = "the-right-key")
  expect_snapshot(call_api("/no/such/endpoint"), error = TRUE)
  srv$inject_fault("workspaces", status = 503L)
  expect_snapshot(get_workspaces(), error = TRUE)
  srv$inject_fault("workspaces", status = 200L, body = "<html></html>", content_type = "text/html")
  expect_snapshot(get_workspaces(), error = TRUE)
  exp <- new_test_experiment()
  expect_snapshot(exp$get_asset("no-such-asset"), error = TRUE, transform = scrub)
  exp$stop()
  expect_snapshot(exp$log_other("after", "stop"), error = TRUE)
})

test_that("connection errors show the user's call", {
  srv <- local_test_server()
  withr::local_options(cometr.retry_timeout = 0)
  url <- srv$url
  srv$stop()
  withr::local_envvar(COMET_URL_OVERRIDE = url, COMET_API_KEY = "k")
  err <- expect_error(get_workspaces(), class = "cometr_connection_error")
  # The transport's own wording (the HTTP library's) follows the first line.
  expect_snapshot(cat(sub(":[^:]*$", ": <transport error>", format(err, backtrace = FALSE)),
                      sep = "\n"), transform = scrub)
})

test_that("transfer errors show the user's call", {
  srv <- local_test_server()
  withr::local_options(cometr.retry_timeout = 0)
  key <- call_api("/write/experiment/create", "POST",
                  list(projectName = "p", workspaceName = "local"))$experimentKey
  f <- withr::local_tempfile()
  writeBin(as.raw(rep(1L, 100)), f)
  artifact <- create_artifact("bytes", "dataset")
  artifact$add(f, logical_path = "data.bin")
  logged <- suppressMessages(cometr:::artifact_log(key, artifact, NULL))
  asset <- logged$get_assets()[[1]]
  srv$inject_fault("experiment/asset/get-asset", 200L, "short",
                   content_type = "application/octet-stream")
  out <- withr::local_tempdir()
  expect_snapshot(suppressMessages(asset$download(out)), error = TRUE, transform = scrub)
})

test_that("warnings show the user's call too", {
  srv <- local_test_server()
  exp <- new_test_experiment()
  srv$inject_fault("batch/logger/experiment/metric", 400L,
                   body = '{"msg":"metric refused","code":400}')
  exp$log_metric("m", 1)
  w <- expect_warning(exp$get_metric("m"), class = "cometr_delivery_warning")
  expect_identical(deparse(conditionCall(w)), 'exp$get_metric("m")')
})

test_that("offline and local server errors show the user's call", {
  srv <- local_test_server()
  dir <- withr::local_tempdir()
  withr::local_envvar(COMET_OFFLINE = "TRUE", COMET_OFFLINE_DIRECTORY = dir)
  exp <- new_test_experiment()
  expect_snapshot(exp$get_metric("loss"), error = TRUE, transform = function(x) {
    for (d in unique(c(dir, normalizePath(dir)))) x <- gsub(d, "<dir>", x, fixed = TRUE)
    scrub(x)
  })
  # The resolver's own wording follows the first colon.
  err <- expect_error(local_server(host = "no.such.host.invalid", activate = FALSE),
                      class = "cometr_server_error")
  expect_snapshot(cat(sub("server: .*$", "server: <reason>", format(err, backtrace = FALSE)),
                      sep = "\n"))
})
