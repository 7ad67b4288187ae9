# What the logging methods beyond cometr 0.4.0 (R/experiment-log.R) send reads back
# through comet_ml's API() as the same kind of object Comet's Python users get: metrics,
# flattened parameters, images (bytes), curves (get_curves()), confusion matrices and
# text samples (JSON and text), tables. The SDK runs in the virtualenv of
# fixtures/python/sdk.sh.

test_that("comet_ml's API() reads what the new logging methods logged", {
  cache <- Sys.getenv("XDG_CACHE_HOME", file.path(Sys.getenv("HOME"), ".cache"))
  srv <- local_test_server()
  exp <- new_test_experiment()
  exp$log_metrics(data.frame(step = 1:3, loss = c(0.5, 0.25, 0.125)))
  exp$log_parameters(list(optimizer = list(name = "adam", lr = 0.01)))
  exp$log_dataset_hash(mtcars)
  img <- tempfile(fileext = ".png")
  png::writePNG(array(c(0, 0.5, 1), c(1, 1, 3)), img)
  exp$log_image(img, name = "pixel.png")
  exp$log_figure(function() plot(1:3), name = "fig.png")
  exp$log_curve("pr", x = c(0, 0.5, 1), y = c(1, 0.5, 0.25), step = 2)
  exp$log_confusion_matrix(c("a", "b", "b"), c("a", "a", "b"))
  exp$log_text("hello from R", step = 1)
  exp$log_table(data.frame(x = 1:2, y = c("u", "v")), name = "t.csv")
  key <- exp$get_key()
  figure <- Filter(function(a) a$fileName == "fig.png", exp$get_asset_list("image")$assets)
  figure_bytes <- exp$get_asset(figure[[1]]$assetId)
  hash <- Filter(function(p) p$name == "dataset_hash", exp$get_parameters()$values)[[1]]
  exp$stop()

  need_python_sdk()
  withr::local_envvar(COMET_URL_OVERRIDE = srv$url, COMET_API_KEY = "python-key",
                      XDG_CACHE_HOME = cache)
  out <- suppressWarnings(system2(
    "sh", c(shQuote(fixture("python", "sdk.sh")),
            shQuote(fixture("python", "experiment-log-reads.py")), shQuote(key)),
    stdout = TRUE, stderr = TRUE
  ))
  status <- attr(out, "status") %||% 0L
  need_python_sdk(status, out)
  expect_identical(status, 0L, label = paste(out, collapse = "\n"))
  line <- sub("^RESULT=", "", grep("^RESULT=", out, value = TRUE))
  expect_length(line, 1)
  got <- jsonlite::parse_json(line)

  expect_identical(got$loss, list(list(1L, 0.5), list(2L, 0.25), list(3L, 0.125)))
  expect_identical(got$parameters[["optimizer|name"]], "adam")
  expect_equal(as.numeric(got$parameters[["optimizer|lr"]]), 0.01)
  expect_identical(got$parameters[["dataset_hash"]], hash$valueCurrent)

  bytes <- function(b64) jsonlite::base64_dec(b64)
  expect_setequal(names(got$images), c("pixel.png", "fig.png"))
  expect_identical(bytes(got$images[["pixel.png"]]), readBin(img, "raw", file.size(img)))
  expect_identical(bytes(got$images[["fig.png"]]), figure_bytes)

  expect_identical(got$curves, list(list(name = "pr", step = 2L, x = list(0L, 0.5, 1L),
                                         y = list(1L, 0.5, 0.25))))
  cm <- got$confusion_matrices[[1]]
  expect_identical(unlist(cm$labels), c("a", "b"))
  expect_identical(lapply(cm$matrix, unlist), list(c(1L, 0L), c(1L, 1L)))
  expect_identical(cm$title, "Confusion Matrix")
  expect_identical(got$texts, list("hello from R"))
  expect_identical(rawToChar(bytes(got$tables[["t.csv"]])),
                   "\"x\",\"y\"\n1,\"u\"\n2,\"v\"\n")
})
