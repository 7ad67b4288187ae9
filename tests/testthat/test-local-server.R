test_that("local_server() activates the session and stop() undoes it", {
  local_isolated_config()
  srv <- local_server()
  expect_match(srv$url, "^http://127\\.0\\.0\\.1:[0-9]+/clientlib/$")
  expect_identical(Sys.getenv("COMET_URL_OVERRIDE"), srv$url)
  expect_identical(Sys.getenv("COMET_WORKSPACE"), "local")
  expect_true(dir.exists(srv$dir))
  expect_output(print(srv), "cometr local server")
  srv$stop()
  expect_identical(Sys.getenv("COMET_URL_OVERRIDE"), "")
  expect_identical(Sys.getenv("COMET_WORKSPACE"), "")
  expect_output(print(srv), "stopped")
})

test_that("servers stopped in the order they started leave the session as it was", {
  local_isolated_config()
  Sys.setenv(COMET_URL_OVERRIDE = "http://example.invalid/clientlib/")
  a <- local_server()
  b <- local_server()
  expect_identical(Sys.getenv("COMET_URL_OVERRIDE"), b$url)
  a$stop()
  expect_identical(Sys.getenv("COMET_URL_OVERRIDE"), b$url)
  b$stop()
  expect_identical(Sys.getenv("COMET_URL_OVERRIDE"), "http://example.invalid/clientlib/")
  expect_identical(Sys.getenv("COMET_WORKSPACE"), "")
  # In the reverse order too.
  a <- local_server()
  b <- local_server()
  b$stop()
  expect_identical(Sys.getenv("COMET_URL_OVERRIDE"), a$url)
  a$stop()
  expect_identical(Sys.getenv("COMET_URL_OVERRIDE"), "http://example.invalid/clientlib/")
})

test_that("activation keeps a configured workspace", {
  local_isolated_config()
  withr::local_envvar(COMET_WORKSPACE = "mine")
  srv <- local_server()
  withr::defer(srv$stop())
  expect_identical(Sys.getenv("COMET_WORKSPACE"), "mine")
})

test_that("a given dir persists across restarts", {
  local_isolated_config()
  dir <- withr::local_tempdir()
  srv <- local_server(dir = dir)
  create_project("kept", "persists")
  srv$stop()
  srv2 <- local_server(dir = dir)
  withr::defer(srv2$stop())
  expect_identical(get_projects()$projects[[1]]$projectName, "kept")
  expect_true(file.exists(file.path(dir, "cometr.sqlite")))
})

test_that("bad arguments are classed input errors", {
  local_isolated_config()
  expect_error(local_server(port = -1), class = "cometr_input_error")
  expect_error(local_server(port = "x"), class = "cometr_input_error")
  expect_error(local_server(activate = NA), class = "cometr_input_error")
  expect_error(local_server(host = "no.such.host.invalid"), class = "cometr_error")
})

test_that("other Comet clients can reach it with any HTTP client", {
  srv <- local_test_server()
  con <- url(paste0(sub("/clientlib/$", "", srv$url), "/clientlib/isAlive/ver"))
  withr::defer(close(con))
  expect_match(readLines(con, warn = FALSE), "version")
})

test_that("block = TRUE serves as a service until interrupted, and the data persists", {
  skip_on_os("windows")
  local_isolated_config()
  dir <- withr::local_tempdir()
  port <- 20000L + sample.int(20000L, 1L)
  script <- tempfile(fileext = ".R")
  writeLines(sprintf("cometr::local_server(port = %dL, dir = '%s', block = TRUE)", port, dir),
             script)
  pidfile <- tempfile()
  libs <- paste(.libPaths(), collapse = .Platform$path.sep)
  system2("bash", c("-c", shQuote(sprintf("R_LIBS=%s %s %s >/dev/null 2>&1 & echo $! > %s",
                                         shQuote(libs),
                                         shQuote(file.path(R.home("bin"), "Rscript")),
                                         shQuote(script), shQuote(pidfile)))))
  pid <- as.integer(readLines(pidfile))
  withr::defer(tools::pskill(pid, tools::SIGKILL))
  url <- sprintf("http://127.0.0.1:%d/clientlib/", port)
  withr::local_envvar(COMET_URL_OVERRIDE = url, COMET_API_KEY = "k", COMET_WORKSPACE = "svc")
  withr::local_options(cometr.retry_timeout = 0)
  up <- FALSE
  for (i in 1:100) {
    up <- tryCatch({ get_workspaces(); TRUE }, error = function(e) FALSE)
    if (up) break
    Sys.sleep(0.1)
  }
  expect_true(up)
  create_project("from-a-client", "logged to the service")
  expect_true(tools::pskill(pid, tools::SIGINT))
  for (i in 1:50) if (!cometr:::pid_alive(pid)) break else Sys.sleep(0.1)
  expect_false(cometr:::pid_alive(pid))
  srv <- local_server(dir = dir)
  withr::defer(srv$stop())
  Sys.setenv(COMET_WORKSPACE = "svc")
  expect_identical(get_projects()$projects[[1]]$projectName, "from-a-client")
})

test_that("a local server prints its URL, dashboard, folder and state", {
  srv <- local_test_server()
  scrub <- function(x) {
    x <- gsub("127\\.0\\.0\\.1:[0-9]+", "127.0.0.1:<port>", x)
    sub("data: .*$", "data: <dir>", x)
  }
  expect_snapshot(print(srv), transform = scrub)
  srv$stop()
  expect_snapshot(print(srv), transform = scrub)
})
