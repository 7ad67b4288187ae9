# The local server's defences, as a web page or hostile client meets them: raw HTTP over
# a socket, so that nothing in the package's own client shapes the request.

# Send a raw HTTP/1.1 request to the server on `port`; the answer's status code.
raw_status <- function(port, head, body = "") {
  con <- socketConnection("127.0.0.1", port, blocking = TRUE, open = "r+b", timeout = 10)
  on.exit(close(con))
  msg <- paste0(head, "\r\nConnection: close\r\n",
                if (nzchar(body)) sprintf("Content-Length: %d\r\n", nchar(body, "bytes")),
                "\r\n", body)
  writeBin(charToRaw(msg), con)
  status <- readLines(con, n = 1L, warn = FALSE)
  as.integer(strsplit(status, " ", fixed = TRUE)[[1]][2])
}

test_that("the local server answers only for its own host and origin", {
  srv <- local_test_server()
  get <- function(host, extra = NULL) {
    raw_status(srv$port, paste(c("GET /api/rest/v2/workspaces HTTP/1.1",
                                 paste("Host:", host), "Authorization: k", extra),
                               collapse = "\r\n"))
  }
  own <- paste0("127.0.0.1:", srv$port)
  expect_identical(get(own), 200L)
  expect_identical(get(paste0("localhost:", srv$port)), 200L)
  expect_identical(get(paste0("evil.example:", srv$port)), 421L)
  expect_identical(get(own, "Origin: https://evil.example"), 403L)
  expect_identical(get(own, "Sec-Fetch-Site: cross-site"), 403L)
})

test_that("the local server takes writes only by POST with JSON", {
  srv <- local_test_server()
  exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,
                           log_output = FALSE, keep_active = FALSE)
  on.exit(exp$stop())
  host <- paste0("Host: 127.0.0.1:", srv$port)
  key <- exp$get_key()
  status <- raw_status(srv$port, paste0(
    "GET /api/rest/v2/write/experiment/log-other?experimentKey=", key,
    "&key=a&value=1 HTTP/1.1\r\n", host, "\r\nAuthorization: k"))
  expect_identical(status, 405L)
  body <- sprintf('{"experimentKey":"%s","key":"a","value":"1"}', key)
  status <- raw_status(srv$port, paste0(
    "POST /api/rest/v2/write/experiment/log-other HTTP/1.1\r\n", host,
    "\r\nAuthorization: k\r\nContent-Type: text/plain"), body)
  expect_identical(status, 415L)
  status <- raw_status(srv$port, paste0(
    "POST /api/rest/v2/write/experiment/log-other HTTP/1.1\r\n", host,
    "\r\nAuthorization: k\r\nContent-Type: application/json"), body)
  expect_identical(status, 200L)
})

test_that("the request log never keeps an apiKey from the query", {
  srv <- local_test_server()
  status <- raw_status(srv$port, paste0(
    "GET /api/rest/v2/workspaces?apiKey=very-secret-value HTTP/1.1\r\nHost: 127.0.0.1:",
    srv$port))
  expect_identical(status, 200L)
  log <- srv$requests()
  expect_true(any(grepl("apiKey=REDACTED", log, fixed = TRUE)))
  expect_false(any(grepl("very-secret-value", log, fixed = TRUE)))
})
