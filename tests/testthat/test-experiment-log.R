# The logging methods beyond cometr 0.4.0 (R/experiment-log.R): each round-trips through
# the local server, which stores what Comet's service would (asset type, bytes, JSON).

# The one asset of `type` the experiment holds, with its content (`text`: as a string,
# whatever content type the server gave it by its name).
only_asset <- function(exp, type, text = FALSE) {
  assets <- exp$get_asset_list(type = type)$assets
  expect_length(assets, 1)
  a <- assets[[1]]
  a$content <- exp$get_asset(a$assetId)
  if (text) a$content <- as_text(a$content)
  a
}

as_text <- function(x) {
  if (!is.raw(x)) return(x)
  x <- rawToChar(x)
  Encoding(x) <- "UTF-8"
  x
}

test_that("log_metrics() logs a named list, flattened as comet_ml flattens it", {
  local_test_server()
  exp <- new_test_experiment()
  expect_identical(exp$log_metrics(list(loss = 0.5, train = list(acc = 0.75, ok = TRUE),
                                        note = "x", missing = NA),
                                   step = 3, epoch = 1, context = "train"), exp)
  m <- exp$get_metric("train/acc")$metrics
  expect_length(m, 1)
  expect_equal(as.numeric(m[[1]]$metricValue), 0.75)
  expect_equal(m[[1]]$step, 3)
  expect_equal(m[[1]]$epoch, 1)
  expect_identical(m[[1]]$runContext, "train")
  expect_identical(exp$get_metric("missing")$metrics[[1]]$metricValue, "NaN")
  expect_identical(exp$get_metric("note")$metrics[[1]]$metricValue, "x")
  expect_identical(tolower(exp$get_metric("train/ok")$metrics[[1]]$metricValue), "true")
  expect_error(exp$log_metrics(list(1, 2)), class = "cometr_input_error")
  expect_error(exp$log_metrics(list(a = 1:2)), "`metrics`", class = "cometr_input_error")
  expect_error(exp$log_metrics(list(a = 1), step = 0.5), "`step`", class = "cometr_input_error")
  expect_error(exp$log_metrics("loss"), "`metrics`", class = "cometr_input_error")
})

test_that("log_metrics() logs a data frame, one row per step, skipping NA cells", {
  local_test_server()
  exp <- new_test_experiment()
  n <- 2500
  df <- data.frame(step = seq_len(n) * 10, epoch = (seq_len(n) - 1L) %/% 100L,
                   loss = 1 / seq_len(n), val = ifelse(seq_len(n) %% 100 == 0, 0.5, NA))
  exp$log_metrics(df, context = "fit")
  loss <- exp$get_metric("loss")$metrics
  expect_length(loss, n)
  steps <- vapply(loss, function(p) as.numeric(p$step), 0)
  expect_identical(sort(steps), seq_len(n) * 10)
  last <- loss[[which.max(steps)]]
  expect_equal(as.numeric(last$metricValue), 1 / n)
  expect_equal(last$epoch, (n - 1) %/% 100)
  expect_identical(last$runContext, "fit")
  expect_length(exp$get_metric("val")$metrics, n / 100)
  expect_false("step" %in% vapply(exp$get_metrics_summary()$values, `[[`, "", "name"))

  # Without a step column, rows are steps 1, 2, ...; steps may come as an argument.
  exp$log_metrics(data.frame(acc = c(0.1, 0.2, 0.3)))
  expect_setequal(vapply(exp$get_metric("acc")$metrics, function(p) p$step, 0), 1:3)
  exp$log_metrics(data.frame(f1 = c(0.1, 0.2)), step = c(7, 9), epoch = 2:3)
  f1 <- exp$get_metric("f1")$metrics
  expect_setequal(vapply(f1, function(p) p$step, 0), c(7, 9))
  expect_setequal(vapply(f1, function(p) p$epoch, 0), 2:3)

  expect_error(exp$log_metrics(data.frame(step = c(1, NA), a = 1:2)), "`step`",
               class = "cometr_input_error")
  expect_error(exp$log_metrics(data.frame(step = 1:2, a = 1:2), step = 1:2), "`step`",
               class = "cometr_input_error")
  expect_error(exp$log_metrics(data.frame(a = 1:2), epoch = 1), "`epoch`",
               class = "cometr_input_error")
  expect_error(exp$log_metrics(data.frame(a = factor(c("x", "y")))), "`metrics`",
               class = "cometr_input_error")
  expect_error(exp$log_metrics(data.frame(step = 1:2)), NA)
})

test_that("log_parameters() flattens nested lists with | and says they were nested", {
  local_test_server()
  exp <- new_test_experiment()
  exp$log_parameters(list(epochs = 10L, optimizer = list(name = "adam", lr = 0.01),
                          layers = c(64, 32)), step = 2)
  p <- exp$get_parameters()$values
  values <- setNames(vapply(p, `[[`, "", "valueCurrent"), vapply(p, `[[`, "", "name"))
  expect_setequal(names(values), c("epochs", "optimizer|name", "optimizer|lr", "layers"))
  expect_identical(values[["optimizer|name"]], "adam")
  expect_equal(as.numeric(values[["optimizer|lr"]]), 0.01)
  others <- exp$get_other()$values
  nested <- Filter(function(o) o$name == "hasNestedParams", others)
  expect_length(nested, 1)
  expect_identical(tolower(nested[[1]]$valueCurrent), "true")
  expect_error(exp$log_parameters(list(a = NULL)), "`parameters`", class = "cometr_input_error")
  expect_error(exp$log_parameters(list(a = 1, a = 2)), "`parameters`",
               class = "cometr_input_error")
  expect_error(exp$log_parameters(list(a = 1), step = "x"), "`step`",
               class = "cometr_input_error")
})

test_that("log_dataset_hash() logs 12 hex digits that follow the data", {
  local_test_server()
  exp <- new_test_experiment()
  exp$log_dataset_hash(iris)
  p <- exp$get_parameters()$values
  h <- Filter(function(v) v$name == "dataset_hash", p)[[1]]$valueCurrent
  expect_match(h, "^[0-9a-f]{12}$")
  exp2 <- new_test_experiment()
  exp2$log_dataset_hash(iris[-1, ])
  h2 <- Filter(function(v) v$name == "dataset_hash", exp2$get_parameters()$values)[[1]]$valueCurrent
  expect_false(identical(h, h2))
})

test_that("log_image() sends a file as it is and writes arrays and rasters as PNG", {
  local_test_server()
  exp <- new_test_experiment()
  png_magic <- as.raw(c(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a))
  exp$log_image(outer(1:16, 1:8) / 128, name = "grad.png", step = 4,
                metadata = list(kind = "gradient"))
  a <- only_asset(exp, "image")
  expect_identical(a$fileName, "grad.png")
  expect_equal(a$step, 4)
  expect_identical(jsonlite::parse_json(a$metadata), list(kind = "gradient"))
  expect_identical(a$content[1:8], png_magic)
  back <- png::readPNG(a$content)
  expect_identical(dim(back), c(16L, 8L))
  expect_equal(back[16, 8], 1, tolerance = 1 / 255)

  expect_error(exp$log_image(tempfile()), "`image`", class = "cometr_input_error")
  expect_error(exp$log_image(matrix(c(1, NA), 1)), "`image`", class = "cometr_input_error")
  expect_error(exp$log_image(array(0, c(2, 2, 5))), "`image`", class = "cometr_input_error")
  expect_error(exp$log_image(matrix(1), overwrite = NA), "overwrite",
               class = "cometr_input_error")
  expect_error(exp$log_image(matrix(1), name = ""), "`name`", class = "cometr_input_error")

  # A one-pixel image stays an image.
  exp$log_image(matrix(0.5), name = "dot.png")
  dot <- Filter(function(x) x$fileName == "dot.png", exp$get_asset_list("image")$assets)[[1]]
  expect_identical(dim(png::readPNG(exp$get_asset(dot$assetId))), c(1L, 1L))

  # A file is sent byte for byte, under its own name (creating an experiment stops the
  # one before).
  f <- file.path(tempdir(), "photo.png")
  png::writePNG(array(c(1, 0, 0), c(1, 1, 3)), f)
  exp2 <- new_test_experiment()
  exp2$log_image(f)
  b <- only_asset(exp2, "image")
  expect_identical(b$fileName, "photo.png")
  expect_identical(b$content, readBin(f, "raw", file.size(f)))

  # 0-255 values and RGB arrays; rasters.
  exp3 <- new_test_experiment()
  exp3$log_image(array(rep(c(255, 0, 0), each = 6), c(2, 3, 3)), name = "red.png")
  exp3$log_image(as.raster(matrix(c("#0000FF", "#FFFFFF"), 1)), name = "raster.png")
  imgs <- exp3$get_asset_list(type = "image")$assets
  red <- png::readPNG(exp3$get_asset(imgs[[match("red.png", values_of(imgs, "fileName"))]]$assetId))
  expect_identical(dim(red), c(2L, 3L, 3L))
  expect_equal(red[1, 1, ], c(1, 0, 0))
  ras <- png::readPNG(exp3$get_asset(imgs[[match("raster.png", values_of(imgs, "fileName"))]]$assetId))
  expect_equal(ras[1, 1, 1:3], c(0, 0, 1))

})

test_that("log_figure() renders base, ggplot and recorded plots to PNG and SVG", {
  local_test_server()
  exp <- new_test_experiment()
  exp$log_figure(function() plot(1:10), name = "base.png", step = 1)
  exp$log_figure(ggplot2::ggplot(mtcars, ggplot2::aes(wt, mpg)) + ggplot2::geom_point(),
                 name = "gg.png", width = 4, height = 3)
  exp$log_figure(function() plot(1:3), name = "vector.svg", format = "svg")
  grDevices::pdf(NULL)
  grDevices::dev.control("enable")
  plot(3:1)
  exp$log_figure(name = "last.png")
  grDevices::dev.off()
  imgs <- exp$get_asset_list(type = "image")$assets
  names <- values_of(imgs, "fileName")
  expect_setequal(names, c("base.png", "gg.png", "vector.svg", "last.png"))
  get <- function(n) exp$get_asset(imgs[[match(n, names)]]$assetId)
  expect_identical(dim(png::readPNG(get("gg.png")))[1:2], c(288L, 384L))
  expect_identical(dim(png::readPNG(get("last.png")))[1:2], c(480L, 672L))
  svg <- get("vector.svg")
  if (is.raw(svg)) svg <- rawToChar(svg)
  expect_match(svg, "<svg", fixed = TRUE)
  expect_error(exp$log_figure("not a plot"), "`plot`", class = "cometr_input_error")
  expect_error(exp$log_figure(function() stop("no data")), "no data",
               class = "cometr_input_error")
  expect_error(exp$log_figure(function() plot(1), format = "jpeg"), "`format`",
               class = "cometr_input_error")
})

test_that("log_table() sends a data frame as CSV or TSV, and a file as it is", {
  local_test_server()
  exp <- new_test_experiment()
  df <- data.frame(name = c("a", "b,c"), value = c(1.5, NA), flag = c(TRUE, FALSE))
  exp$log_table(df, name = "scores.csv")
  a <- only_asset(exp, "dataframe", text = TRUE)
  expect_identical(a$fileName, "scores.csv")
  expect_identical(a$content, "\"name\",\"value\",\"flag\"\n\"a\",1.5,TRUE\n\"b,c\",,FALSE\n")
  expect_equal(utils::read.csv(text = a$content), df)

  exp$log_table(matrix(1:4, 2, dimnames = list(NULL, c("x", "y"))), name = "m.tsv")
  tsv <- Filter(function(x) x$fileName == "m.tsv", exp$get_asset_list()$assets)[[1]]
  expect_identical(as_text(exp$get_asset(tsv$assetId)), "\"x\"\t\"y\"\n1\t3\n2\t4\n")

  expect_error(exp$log_table(df, name = "scores.xlsx"), "`name`", class = "cometr_input_error")
  expect_error(exp$log_table(list(1)), "`table`", class = "cometr_input_error")

  f <- file.path(tempdir(), "given.csv")
  writeLines(c("a,b", "1,2"), f)
  exp2 <- new_test_experiment()
  exp2$log_table(f)
  b <- only_asset(exp2, "asset", text = TRUE)
  expect_identical(b$fileName, "given.csv")
  expect_identical(b$content, "a,b\n1,2\n")

})

test_that("log_curve() sends the JSON comet_ml sends, as a curve", {
  local_test_server()
  exp <- new_test_experiment()
  exp$log_curve("roc", x = c(0, 0.25, 1), y = c(0, 0.8, 1), step = 2)
  a <- only_asset(exp, "curve", text = TRUE)
  expect_identical(a$fileName, "roc")
  expect_equal(a$step, 2)
  expect_identical(a$content, '{"x":[0,0.25,1],"y":[0,0.8,1],"name":"roc"}')
  expect_error(exp$log_curve("c", x = 1:3, y = 1:2), "`y`", class = "cometr_input_error")
  expect_error(exp$log_curve("c", x = c(1, Inf), y = 1:2), "`x`", class = "cometr_input_error")
  expect_error(exp$log_curve(NULL, 1, 1), "`name`", class = "cometr_input_error")
})

test_that("log_confusion_matrix() sends the JSON Comet's UI reads", {
  local_test_server()
  exp <- new_test_experiment()
  exp$log_confusion_matrix(actual = c("cat", "dog", "dog", "bird"),
                           predicted = c("cat", "cat", "dog", "dog"), step = 5)
  a <- only_asset(exp, "confusion-matrix", text = TRUE)
  expect_identical(a$fileName, "confusion-matrix.json")
  expect_equal(a$step, 5)
  cm <- jsonlite::parse_json(a$content)
  expect_identical(cm$version, 1L)
  expect_identical(cm$title, "Confusion Matrix")
  expect_identical(unlist(cm$labels), c("bird", "cat", "dog"))
  # Rows are actual categories, columns predicted ones.
  expect_identical(lapply(cm$matrix, unlist), list(c(0L, 0L, 1L), c(0L, 1L, 0L), c(0L, 1L, 1L)))
  expect_identical(cm$rowLabel, "Actual Category")
  expect_identical(cm$columnLabel, "Predicted Category")
  expect_identical(cm$maxSamplesPerCell, 25L)
  expect_null(cm$sampleMatrix)

  expect_error(exp$log_confusion_matrix(1:3, 1:2), "`predicted`", class = "cometr_input_error")
  expect_error(exp$log_confusion_matrix("a", "b", labels = "a"), "`predicted`",
               class = "cometr_input_error")
  expect_error(exp$log_confusion_matrix(matrix = matrix(1:6, 2)), "`matrix`",
               class = "cometr_input_error")
  expect_error(exp$log_confusion_matrix(), "`actual`", class = "cometr_input_error")
  expect_error(exp$log_confusion_matrix(1, 1, labels = 1:5000), "`labels`",
               class = "cometr_input_error")
  expect_error(exp$log_confusion_matrix(1:2000, 1:2000), "`actual`",
               class = "cometr_input_error")

  exp2 <- new_test_experiment()
  exp2$log_confusion_matrix(matrix = matrix(c(5, 1, 2, 7), 2), labels = c("no", "yes"),
                            title = "Churn", file_name = "churn.json")
  b <- only_asset(exp2, "confusion-matrix", text = TRUE)
  expect_identical(b$fileName, "churn.json")
  churn <- jsonlite::parse_json(b$content)
  expect_identical(lapply(churn$matrix, unlist), list(c(5L, 2L), c(1L, 7L)))
  expect_identical(unlist(churn$labels), c("no", "yes"))
  expect_identical(churn$title, "Churn")

  f <- factor(c("lo", "hi"), levels = c("lo", "mid", "hi"))
  exp2$log_confusion_matrix(f, f, file_name = "levels.json")
  lv <- Filter(function(x) x$fileName == "levels.json", exp2$get_asset_list()$assets)[[1]]
  expect_identical(unlist(jsonlite::parse_json(as_text(exp2$get_asset(lv$assetId)))$labels),
                   c("lo", "mid", "hi"))

})

test_that("log_text() sends a text sample as comet_ml does", {
  local_test_server()
  exp <- new_test_experiment()
  exp$log_text("caf\u00e9 predicted: cat", step = 1, metadata = list(source = "test"))
  a <- only_asset(exp, "text-sample", text = TRUE)
  expect_identical(a$fileName, "auto-generated-in-the-backend")
  expect_identical(a$content, "caf\u00e9 predicted: cat")
  expect_identical(jsonlite::parse_json(a$metadata), list(source = "test"))
  expect_error(exp$log_text(c("a", "b")), "`text`", class = "cometr_input_error")
})

test_that("the new methods refuse to log to a stopped experiment, and are queued", {
  local_test_server()
  exp <- new_test_experiment()
  exp$stop()
  expect_error(exp$log_metrics(list(a = 1)), class = "cometr_experiment_ended_error")
  expect_error(exp$log_metrics(data.frame(a = 1)), class = "cometr_experiment_ended_error")
  expect_error(exp$log_image(matrix(0.5)), class = "cometr_experiment_ended_error")
  expect_error(exp$log_text("x"), class = "cometr_experiment_ended_error")
  expect_error(exp$log_parameters(list(a = 1)), class = "cometr_experiment_ended_error")
})

test_that("media logged while the server is down arrive once it is back", {
  srv <- local_test_server()
  exp <- new_test_experiment()
  srv$inject_fault("upload-asset", status = 503L, times = 3L)
  took <- system.time({
    exp$log_curve("c", 1:2, 3:4)
    exp$log_text("later")
  })[["elapsed"]]
  expect_lt(took, 1)
  exp$stop()
  got <- suppressMessages(get_experiment(exp$get_key()))
  on.exit(got$stop())
  types <- values_of(got$get_asset_list()$assets, "type")
  expect_setequal(types, c("curve", "text-sample"))
})

test_that("offline, the new methods are archived and upload_offline() delivers them", {
  srv <- local_test_server()
  dir <- file.path(tempfile(), "runs")
  withr::with_envvar(c(COMET_OFFLINE = "TRUE", COMET_OFFLINE_DIRECTORY = dir), {
    exp <- suppressMessages(create_experiment(log_code = FALSE, log_system_details = FALSE,
                                              log_output = FALSE, keep_active = FALSE))
    exp$log_metrics(data.frame(step = 1:500, loss = 1 / (1:500)))
    exp$log_parameters(list(model = list(depth = 4)))
    exp$log_curve("roc", x = c(0, 1), y = c(0, 1))
    exp$log_image(matrix(0.5, 2, 2), name = "grey.png")
    key <- exp$get_key()
    suppressMessages(exp$stop())
  })
  suppressMessages(capture.output(upload_offline(dir)))
  got <- suppressMessages(get_experiment(key))
  on.exit(got$stop())
  d <- as.data.frame(got)
  expect_identical(sort(d$step), 1:500)
  expect_equal(d$value[order(d$step)], 1 / (1:500))
  expect_identical(as.data.frame(got, what = "parameters")$value[[1]], "4")
  assets <- got$get_asset_list()$assets
  expect_setequal(values_of(assets, "type"), c("curve", "image"))
  img <- assets[[match("image", values_of(assets, "type"))]]
  expect_identical(img$fileName, "grey.png")
  expect_identical(dim(png::readPNG(got$get_asset(img$assetId))), c(2L, 2L))
})
