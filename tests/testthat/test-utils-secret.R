# The API key never appears in printed objects, conditions, the log file at any level,
# spool or temporary files, or a URL.

key <- "SuperSecretKey0123456789abcdefXYZ"

has_key <- function(text) any(grepl(key, text, fixed = TRUE))

file_has_key <- function(path) {
  size <- file.size(path)
  if (is.na(size) || size == 0) return(FALSE)
  length(grepRaw(key, readBin(path, "raw", size), fixed = TRUE)) > 0
}

shown <- function(x) {
  c(capture.output(print(x)), tryCatch(format(x), error = function(e) ""),
    capture.output(str(x)),
    if (is.environment(x)) capture.output(str(as.list(x))) else capture.output(str(unclass(x))))
}

test_that("the API key appears nowhere", {
  srv <- local_test_server(api_key = key)
  home <- Sys.getenv("HOME")
  withr::local_envvar(COMET_API_KEY = key)
  log <- file.path(home, "cometr.log")
  withr::local_envvar(COMET_LOGGING_FILE = log, COMET_LOGGING_FILE_LEVEL = "DEBUG")
  cometr:::reset_logging()
  withr::defer(cometr:::reset_logging())
  texts <- character()
  keep <- function(cnd) {
    texts <<- c(texts, conditionMessage(cnd), capture.output(print(cnd)))
    if (inherits(cnd, "warning")) invokeRestart("muffleWarning")
    if (inherits(cnd, "message")) invokeRestart("muffleMessage")
  }
  withCallingHandlers({
    exp <- create_experiment(log_output = TRUE, log_git_info = TRUE)
    exp$log_metric("m", 1)$log_parameter("p", 2)$log_other("o", "x")$add_tags("t")
    f <- file.path(home, "asset.txt")
    writeLines("content", f)
    exp$upload_asset(f)
    exp$log_remote_asset("s3://bucket/x.dat")
    art <- create_artifact("data", "dataset")
    art$add(f)
    logged <- exp$log_artifact(art)
    asset <- logged$get_assets()[[1]]
    # A spool file while the experiment runs.
    spools <- list.files(home, pattern = "\\.spool$", recursive = TRUE, full.names = TRUE,
                         all.files = TRUE)
    expect_gte(length(spools), 1)
    for (s in spools) expect_false(file_has_key(s), label = s)
    # Every kind of object, printed, formatted and str()ed.
    resp <- call_api("/workspaces", parse_response = FALSE)
    for (obj in list(exp, srv, art, logged, asset, resp)) texts <- c(texts, shown(obj))
    # Errors and warnings.
    try(call_api("/no/such/endpoint"), silent = TRUE)
    err <- tryCatch(get_workspaces(api_key = paste0(key, "-wrong")), error = identity)
    texts <- c(texts, conditionMessage(err), capture.output(print(err)), shown(err))
    srv$inject_fault("batch/logger/experiment/metric", 400L,
                     body = '{"msg":"rejected","code":400}')
    exp$log_metric("m", 2)
    exp$get_metric("m")
    exp$stop()
  }, error = keep, warning = keep, message = keep)
  expect_false(has_key(texts))
  expect_true(any(grepl("rejected", texts)))
  # The log file, written at DEBUG.
  expect_true(file.exists(log))
  expect_gt(length(readLines(log)), 10)
  expect_false(file_has_key(log))
  # Every file written in the session's temporary folder and the test home.
  files <- c(list.files(tempdir(), recursive = TRUE, full.names = TRUE, all.files = TRUE),
             list.files(home, recursive = TRUE, full.names = TRUE, all.files = TRUE))
  for (f in files) expect_false(file_has_key(f), label = f)
  # No URL the server saw.
  reqs <- srv$requests()
  expect_gt(length(reqs), 10)
  expect_false(has_key(reqs))
})

test_that("a secret shows as <secret> however it is printed", {
  s <- cometr:::secret("a-key-to-hide")
  expect_identical(cometr:::reveal(s), "a-key-to-hide")
  expect_identical(cometr:::reveal(NULL), NULL)
  expect_snapshot({
    print(s)
    format(s)
  })
  expect_false(any(grepl("a-key-to-hide", capture.output(str(s)), fixed = TRUE)))
})

test_that("saveRDS(), serialize() and save() of an object store no key; read back it still works", {
  srv <- local_test_server(api_key = key)
  withr::local_envvar(COMET_API_KEY = key)
  exp <- new_test_experiment(api_key = key)
  f <- file.path(tempdir(), "asset-secret.txt")
  writeLines("content", f)
  art <- create_artifact("data-secret", "dataset")
  art$add(f)
  logged <- exp$log_artifact(art)
  asset <- logged$get_assets()[[1]]
  raw_has_key <- function(r) length(grepRaw(key, r, fixed = TRUE)) > 0
  for (obj in list(exp, srv, logged, asset)) {
    expect_false(raw_has_key(serialize(obj, NULL)), label = class(obj)[1])
    expect_false(raw_has_key(serialize(obj, NULL, ascii = TRUE)), label = class(obj)[1])
    rds <- tempfile(fileext = ".rds")
    saveRDS(obj, rds, compress = FALSE)
    expect_false(file_has_key(rds), label = class(obj)[1])
    rda <- tempfile(fileext = ".rda")
    save(obj, file = rda, compress = FALSE)
    expect_false(file_has_key(rda), label = class(obj)[1])
  }
  # Read back in this session the object works as before; in another session the key
  # comes from the configuration.
  back <- unserialize(serialize(exp, NULL))
  back$log_metric("after", 1)
  expect_identical(back$get_metric("after")$metrics[[1]]$metricValue, "1")
})
