test_that("environment beats the working directory, which beats the home directory", {
  home <- local_isolated_config()
  writeLines("COMET_WORKSPACE: from_home\nCOMET_PROJECT_NAME: home_project", file.path(home, ".comet.yml"))
  expect_identical(cometr:::config_value("COMET_WORKSPACE"), "from_home")
  writeLines("COMET_WORKSPACE: \"from_wd\"", ".comet.yml")
  expect_identical(cometr:::config_value("COMET_WORKSPACE"), "from_wd")
  expect_identical(cometr:::config_value("COMET_PROJECT_NAME"), "home_project")
  withr::local_envvar(COMET_WORKSPACE = "from_env")
  expect_identical(cometr:::config_value("COMET_WORKSPACE"), "from_env")
  withr::local_envvar(COMET_WORKSPACE = "")
  expect_identical(cometr:::config_value("COMET_WORKSPACE"), "from_wd")
})

test_that("a change of configuration takes effect at once", {
  local_isolated_config()
  expect_null(cometr:::config_value("COMET_WORKSPACE"))
  withr::local_envvar(COMET_WORKSPACE = "a")
  expect_identical(cometr:::config_value("COMET_WORKSPACE"), "a")
  Sys.setenv(COMET_WORKSPACE = "b")
  expect_identical(cometr:::config_value("COMET_WORKSPACE"), "b")
})

test_that("a .comet.yml with !expr is never evaluated", {
  local_isolated_config()
  marker <- file.path(tempdir(), "cometr-expr-marker")
  unlink(marker)
  writeLines(sprintf("COMET_WORKSPACE: !expr file.create('%s')", marker), ".comet.yml")
  expect_warning(v <- cometr:::config_value("COMET_WORKSPACE"), class = "cometr_config_warning")
  expect_null(v)
  expect_false(file.exists(marker))
})

test_that("a malformed file and a .yaml file warn and are ignored", {
  local_isolated_config()
  writeLines("COMET_WORKSPACE workspace_error", ".comet.yml")
  expect_warning(expect_null(cometr:::config_value("COMET_WORKSPACE")),
                 "Error trying to read from config file")
  unlink(".comet.yml")
  writeLines("COMET_WORKSPACE: w", ".comet.yaml")
  expect_warning(expect_null(cometr:::config_value("COMET_WORKSPACE")),
                 "requires a .yml extension")
})

test_that("a missing API key, workspace or project is a classed configuration error", {
  local_isolated_config()
  Sys.setenv(COMET_URL_OVERRIDE = "http://127.0.0.1:9/clientlib/")
  err <- expect_error(get_workspaces(), class = "cometr_config_error")
  expect_match(conditionMessage(err), "COMET_API_KEY must be provided")
  Sys.setenv(COMET_API_KEY = "k")
  expect_error(get_projects(), "COMET_WORKSPACE must be provided", class = "cometr_config_error")
  Sys.setenv(COMET_WORKSPACE = "w")
  expect_error(get_experiments(), "COMET_PROJECT_NAME must be provided", class = "cometr_config_error")
})

test_that("create_experiment() names every missing setting in one error", {
  local_isolated_config()
  Sys.setenv(COMET_URL_OVERRIDE = "http://127.0.0.1:9/clientlib/")
  err <- expect_error(create_experiment(), class = "cometr_config_error")
  expect_match(conditionMessage(err),
               "COMET_API_KEY, COMET_PROJECT_NAME and COMET_WORKSPACE must be provided")
  expect_identical(err$key, c("COMET_API_KEY", "COMET_PROJECT_NAME", "COMET_WORKSPACE"))
  # The README's service recipe, as written, has all it needs.
  srv <- local_test_server(activate = FALSE)
  readme <- readLines(fixture("..", "..", "..", "README.md"))
  at <- grep("^COMET_URL_OVERRIDE=", readme)
  expect_length(at, 1L)
  # The command and its continuation lines, taken apart into its settings.
  end <- at
  while (grepl("\\\\$", readme[end])) end <- end + 1L
  words <- strsplit(paste(readme[at:end], collapse = " "), "[[:space:]\\\\]+")[[1]]
  env <- grep("^COMET_[A-Z_]+=", words, value = TRUE)
  env[startsWith(env, "COMET_URL_OVERRIDE=")] <- paste0("COMET_URL_OVERRIDE=", srv$url)
  res <- run_rscript(c("library(cometr)",
    "exp <- create_experiment(log_code = FALSE, log_system_details = FALSE, log_output = FALSE)",
    "exp$stop()", 'cat("OK\n")'), env = env)
  expect_identical(res$status, 0L)
  expect_true("OK" %in% res$stdout)
})

test_that("the URL override works with or without /clientlib and trailing slashes", {
  srv <- local_test_server()
  root <- sub("/clientlib/$", "", srv$url)
  for (u in c(srv$url, sub("/$", "", srv$url), paste0(root, "/"), root, paste0(root, "//"))) {
    withr::local_envvar(COMET_URL_OVERRIDE = u)
    expect_true("local" %in% unlist(get_workspaces()$workspaceNames), label = u)
  }
})

test_that("the API key, workspace and project can come from .comet.yml", {
  srv <- local_server(activate = FALSE)
  withr::defer(srv$stop())
  local_isolated_config()
  writeLines(c(paste0("COMET_URL_OVERRIDE: ", srv$url), "COMET_API_KEY: filekey",
               "COMET_WORKSPACE: fws"), ".comet.yml")
  create_project("fromfile", "d")
  expect_identical(get_projects()$projects[[1]]$workspaceName, "fws")
})

test_that("a working-directory .comet.yml that points the key elsewhere warns once", {
  srv <- local_test_server()
  url <- srv$url
  withr::local_envvar(COMET_URL_OVERRIDE = NA, COMET_API_KEY = "key-from-env")
  rm(list = ls(cometr:::config_state), envir = cometr:::config_state)
  withr::defer(rm(list = ls(cometr:::config_state), envir = cometr:::config_state))
  # The file gives both the server and the key: nothing of the user's leaves.
  withr::local_envvar(COMET_API_KEY = NA)
  writeLines(sprintf("COMET_URL_OVERRIDE: %s\nCOMET_API_KEY: key-from-file", url), ".comet.yml")
  expect_no_warning(get_workspaces())
  # The key comes from the environment: warned once, naming the file.
  writeLines(sprintf("COMET_URL_OVERRIDE: %s", url), ".comet.yml")
  withr::local_envvar(COMET_API_KEY = "key-from-env")
  w <- expect_warning(get_workspaces(), class = "cometr_config_warning")
  expect_match(conditionMessage(w), file.path(getwd(), ".comet.yml"), fixed = TRUE)
  expect_match(conditionMessage(w), "COMET_API_KEY", fixed = TRUE)
  expect_no_warning(get_workspaces())
})
