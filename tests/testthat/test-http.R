# Failures of every kind reach the user as classed conditions with a clear message
# that names the endpoint and status, and never the API key.

key <- "sEcReT-KeY-0123456789"

expect_no_key <- function(cond) {
  expect_false(grepl(key, conditionMessage(cond), fixed = TRUE))
  expect_false(any(grepl(key, capture.output(print(cond)), fixed = TRUE)))
  expect_false(any(grepl(key, unlist(lapply(cond, function(x) tryCatch(format(x), error = function(e) ""))),
                         fixed = TRUE)))
}

test_that("a wrong API key gives a 401 cometr_http_error without the key", {
  srv <- local_test_server(api_key = "the-right-key-123")
  withr::local_envvar(COMET_API_KEY = key)
  err <- expect_error(get_workspaces(), class = "cometr_http_error")
  expect_s3_class(err, "cometr_http_401")
  expect_identical(err$status, 401L)
  expect_identical(err$sdk_error_code, 90212L)
  expect_identical(err$endpoint, "/workspaces")
  expect_match(conditionMessage(err), "401")
  expect_match(conditionMessage(err), "/workspaces", fixed = TRUE)
  expect_no_key(err)
  withr::local_envvar(COMET_API_KEY = "the-right-key-123")
  expect_silent(get_workspaces())
})

test_that("403, 404 and 500 answers are classed errors naming endpoint and status", {
  srv <- local_test_server()
  withr::local_envvar(COMET_API_KEY = key)
  withr::local_options(cometr.retry_timeout = 0)
  for (status in c(403L, 500L)) {
    srv$inject_fault("workspaces", status = status)
    err <- expect_error(get_workspaces(), class = "cometr_http_error")
    expect_s3_class(err, paste0("cometr_http_", status))
    expect_identical(err$status, status)
    expect_match(conditionMessage(err), paste0("HTTP ", status, " from GET /workspaces"))
    expect_no_key(err)
  }
  err <- expect_error(call_api("/no/such/endpoint"), class = "cometr_http_404")
  expect_match(conditionMessage(err), "/no/such/endpoint", fixed = TRUE)
  expect_no_key(err)
  srv$inject_fault("workspaces", status = 400L,
                   body = '{"msg":"Artifact missing","sdk_error_code":624523,"code":400}')
  err <- expect_error(get_workspaces(), "Artifact not found", class = "cometr_http_400")
  expect_identical(err$sdk_error_code, 624523L)
})

test_that("a malformed JSON body is a classed parse error", {
  srv <- local_test_server()
  srv$inject_fault("workspaces", status = 200L, body = '{"workspaceNames": [')
  err <- expect_error(get_workspaces(), class = "cometr_parse_error")
  expect_s3_class(err, "cometr_error")
  expect_match(conditionMessage(err), "/workspaces", fixed = TRUE)
  srv$inject_fault("workspaces", status = 200L, body = "<html></html>", content_type = "text/html")
  expect_error(get_workspaces(), "did not return json \\(text/html\\)", class = "cometr_parse_error")
})

test_that("an unreachable host is a classed connection error", {
  srv <- local_test_server()
  withr::local_options(cometr.retry_timeout = 0.5)
  withr::local_envvar(COMET_API_KEY = key)
  url <- srv$url
  srv$stop()
  withr::local_envvar(COMET_URL_OVERRIDE = url)
  err <- expect_error(get_workspaces(), class = "cometr_connection_error")
  expect_s3_class(err, "cometr_error")
  expect_match(conditionMessage(err), "Error calling Comet API")
  expect_no_key(err)
})

test_that("numbers in query strings are never in scientific notation", {
  expect_identical(cometr:::query_value(100000, "step"), "100000")
  expect_identical(cometr:::query_value(1e15, "step"), "1000000000000000")
  expect_identical(cometr:::query_value(0.1, "x"), "0.1")
  expect_identical(cometr:::query_value(TRUE, "x"), "true")
  expect_error(cometr:::query_value(c(1, 2), "x"), class = "cometr_input_error")
})

test_that("transient failures are retried: 500, 503, 429 with Retry-After-Custom, drops", {
  srv <- local_test_server()
  srv$inject_fault("workspaces", status = 500L)
  srv$inject_fault("workspaces", status = 503L)
  expect_true("local" %in% unlist(get_workspaces()$workspaceNames))
  srv$inject_fault("projects", status = 429L, times = 1L)
  expect_silent(get_projects())
  # A 400, 401, 403 or 404 is not retried.
  srv$inject_fault("workspaces", status = 400L, times = 1L)
  expect_error(get_workspaces(), class = "cometr_http_400")
  expect_silent(get_workspaces())
  # Dropped connections are retried too.
  srv$set_faults(list(drop_before_rate = 0.5, paths = "workspaces"))
  for (i in 1:10) expect_true("local" %in% unlist(get_workspaces()$workspaceNames))
  srv$set_faults(NULL)
  # The budget bounds the time spent.
  srv$inject_fault("workspaces", status = 503L, times = 1000L)
  withr::local_options(cometr.retry_timeout = 1)
  t <- system.time(expect_error(get_workspaces(), class = "cometr_http_503"))[["elapsed"]]
  expect_lt(t, 5)
})

test_that("fault settings are validated", {
  srv <- local_test_server()
  expect_error(srv$set_faults(list(error_rate = 2)), class = "cometr_input_error")
  expect_error(srv$set_faults(list(no_such = 1)), "unknown fault setting", class = "cometr_input_error")
  expect_error(srv$set_faults(list(0.1)), class = "cometr_input_error")
  expect_error(local_server(faults = list(error_rate = -1), activate = FALSE),
               class = "cometr_input_error")
})



test_that("TLS certificate checks are on unless turned off, with a warning", {
  srv <- local_test_server()
  expect_silent(get_workspaces())
  withr::local_options(cometr.tls_verify = FALSE)
  state <- cometr:::log_state
  state$tls_warned <- NULL
  withr::defer({
    state$tls_warned <- NULL
    cometr:::rust_set_tls_verify(TRUE)
  })
  expect_warning(get_workspaces(), "TLS certificate checks are turned off",
                 class = "cometr_tls_warning")
  expect_silent(get_workspaces())
})

test_that("an API answer has a size bound and a request a total deadline", {
  srv <- local_test_server()
  # An answer larger than the bound is a transfer error, not gigabytes in memory.
  big <- sprintf('{"x":"%s"}', strrep("a", 2e6))
  srv$inject_fault("workspaces", 200L, body = big)
  withr::with_options(list(cometr.max_answer_size = 1e6), {
    err <- expect_error(call_api("/workspaces"), class = "cometr_transfer_error")
    expect_match(conditionMessage(err), "larger than")
  })
  srv$inject_fault("workspaces", 200L, body = big)
  expect_identical(nchar(call_api("/workspaces")$x), 2e6L)
  # A server that takes its time is given up on at the deadline, whatever it sends.
  srv$set_faults(list(latency_ms = 8000))
  withr::local_options(cometr.request_timeout = 1, cometr.retry_timeout = 0)
  t <- system.time(expect_error(call_api("/workspaces"), class = "cometr_connection_error"))
  expect_lt(t[["elapsed"]], 6)
  srv$set_faults(NULL)
})

test_that("an answer holding a NUL byte is a parse error", {
  srv <- local_test_server()
  exp <- new_test_experiment()
  f <- file.path(withr::local_tempdir(), "nul.txt")
  writeBin(as.raw(c(0x61, 0x00, 0x62)), f)
  exp$upload_asset(f)
  id <- exp$get_asset_list()$assets[[1]]$assetId
  expect_error(exp$get_asset(id), class = "cometr_parse_error")
  # Saved to a file, the same answer is bytes, as they were.
  out <- tempfile()
  call_api("/experiment/asset/get-asset", params = list(experimentKey = exp$get_key(), assetId = id),
           local_file_path = out)
  expect_identical(readBin(out, "raw", 10), as.raw(c(0x61, 0x00, 0x62)))
  # A JSON answer with an escaped NUL is refused the same way, never a plain R error.
  srv$inject_fault("workspaces", 200L, body = '{"a":"x\\u0000y"}')
  res <- tryCatch(call_api("/workspaces"), error = identity)
  expect_true(!inherits(res, "error") || inherits(res, "cometr_parse_error"))
})
