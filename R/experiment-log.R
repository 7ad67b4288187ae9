# What an Experiment logs beyond cometr 0.4.0, named and shaped as in Comet's Python SDK:
# many metrics or parameters at once, images, figures, tables, curves, confusion
# matrices, text and a dataset hash. The methods themselves are declared (and
# documented) in the Experiment class in experiment.R, each a one-line call into a
# function here that gets the object's `self` and `private`.
#
# Media and tables travel as Comet's Python SDK sends them: as asset uploads of the
# type Comet's service and UI file them under (`image` for images and figures,
# `dataframe` for a data frame's CSV, `curve`, `confusion-matrix` and `text-sample`
# for JSON and text). The file is written to a temporary file, queued like every
# other upload (copied beside the spool, so it survives a crash until it is sent),
# and removed.

# ---- metrics and parameters ------------------------------------------------------

# `exp$log_metrics()`. A named list is one point per metric; a data frame is one row
# per step, queued in one call into the Rust core (src/rust/src/experiment_log.rs).
exp_log_metrics <- function(self, private, metrics, step, epoch, context) {
  check_string(context, "context")
  if (is.data.frame(metrics)) {
    frame <- metric_frame(metrics, step, epoch)
    private$check_active()
    if (length(frame$columns) == 0L || frame$rows == 0L) return(invisible(self))
    res <- rust_experiment_metrics(private$stream, frame$names, frame$columns, frame$step,
                                   frame$epoch, context, TRUE)
  } else {
    check_count(step, "step")
    check_count(epoch, "epoch")
    flat <- flatten_named(metrics, "metrics", "/", 1000L)
    for (i in seq_along(flat)) {
      v <- flat[[i]]
      if (!(is.numeric(v) || is.character(v) || is.logical(v)) || length(v) != 1L ||
          is.object(v)) {
        abort_input("metrics", sprintf(
          "must hold a single number, string or logical value per metric ('%s' does not)",
          show_value(names(flat)[[i]])))
      }
      if (is.character(v)) check_text(v, "metrics", 10000)
    }
    private$check_active()
    if (length(flat) == 0L) return(invisible(self))
    res <- rust_experiment_metrics(private$stream, names(flat), unname(flat), step, epoch,
                                   context, FALSE)
  }
  private$after_queue(res)
}

# The columns of a metrics data frame, checked with vectorised code (a training history
# may have 100,000 rows): `step` and `epoch` columns (or arguments, one value per row)
# and the metric columns (numbers, strings or logicals). Without steps, rows are
# numbered 1, 2, ...
metric_frame <- function(df, step, epoch) {
  cols <- names(df)
  if (is.null(cols) || anyNA(cols) || any(!nzchar(cols)) || anyDuplicated(cols) > 0L) {
    abort_input("metrics", "must have unique, non-empty column names")
  }
  check_text(cols, "metrics", 10000)
  rows <- nrow(df)
  counts <- function(arg, given) {
    v <- given
    if (!is.null(given)) {
      if (arg %in% cols) {
        abort_input(arg, sprintf("is given both as an argument and as a column of `metrics`"))
      }
      if (length(given) != rows) {
        abort_input(arg, sprintf("must have one value per row of `metrics` (%d)", rows))
      }
    } else if (arg %in% cols) {
      v <- df[[arg]]
    } else {
      return(NULL)
    }
    if (!is.numeric(v) || is.object(v) || anyNA(v) || any(!is.finite(v)) ||
        any(abs(v) > 2^53) || any(v != trunc(v))) {
      abort_input(arg, "must hold whole numbers, with no NA")
    }
    v
  }
  steps <- counts("step", step) %||% seq_len(rows)
  epochs <- counts("epoch", epoch)
  names <- setdiff(cols, c("step", "epoch"))
  columns <- lapply(names, function(n) {
    v <- df[[n]]
    if (!(is.numeric(v) || is.character(v) || is.logical(v)) || is.object(v) ||
        !is.null(dim(v))) {
      abort_input("metrics", sprintf(
        "must have columns of numbers, strings or logicals (column '%s' is %s)",
        show_value(n), class(v)[1]))
    }
    if (is.character(v)) check_text(v, "metrics", 10000)
    # Attributes (names, labels) are not metric values.
    attributes(v) <- NULL
    v
  })
  list(names = names, columns = columns, step = steps, epoch = epochs, rows = rows)
}

# A named (nested) list flattened as comet_ml flattens it: nested names joined with
# `sep` ("/" for metrics, "|" for parameters), at most `depth` levels. Values stay as
# they are; the caller checks them.
flatten_named <- function(x, arg, sep, depth) {
  if (!is.list(x) || is.object(x)) abort_input(arg, "must be a named list")
  out <- list()
  nested <- FALSE
  walk <- function(x, prefix, level) {
    nms <- names(x)
    if (length(x) > 0L && (is.null(nms) || anyNA(nms) || any(!nzchar(nms)))) {
      abort_input(arg, "must be a named list (every element named)")
    }
    check_text(nms %||% character(), arg, 10000)
    for (i in seq_along(x)) {
      key <- if (is.null(prefix)) nms[[i]] else paste0(prefix, sep, nms[[i]])
      v <- x[[i]]
      if (is.list(v) && !is.object(v) && level < depth) {
        nested <<- TRUE
        walk(v, key, level + 1L)
      } else {
        if (key %in% names(out)) abort_input(arg, sprintf("names '%s' twice", show_value(key)))
        # `[<-` with a list keeps a NULL value, for the caller to refuse.
        out[key] <<- list(v)
      }
    }
  }
  walk(x, NULL, 1L)
  attr(out, "nested") <- nested
  out
}

# `exp$log_parameters()`: each leaf of the (nested) list is a parameter, named as
# comet_ml names it (`optimizer|lr`); a nested list also logs the other
# `hasNestedParams`, as comet_ml does.
exp_log_parameters <- function(self, private, parameters, step) {
  check_count(step, "step")
  flat <- flatten_named(parameters, "parameters", "|", 10L)
  for (i in seq_along(flat)) {
    v <- flat[[i]]
    if (!(is.numeric(v) || is.character(v) || is.logical(v)) || is.object(v) ||
        length(v) == 0L) {
      abort_input("parameters", sprintf(
        "must hold numbers, strings or logicals ('%s' does not)", show_value(names(flat)[[i]])))
    }
    if (is.character(v)) check_text(v, "parameters")
  }
  private$check_active()
  for (i in seq_along(flat)) {
    res <- rust_experiment_parameter(private$stream, names(flat)[[i]], flat[[i]], step)
    # Only the last answer is acted on: whether the sender has problems to report.
    if (i < length(flat)) rust_result(res) else private$after_queue(res)
  }
  if (isTRUE(attr(flat, "nested"))) self$log_other("hasNestedParams", TRUE)
  invisible(self)
}

# `exp$log_dataset_hash()`: as comet_ml, the parameter `dataset_hash`, the first 12
# hexadecimal digits of an MD5 hash. R objects are hashed from their serialized form
# (format 2, without the header naming the R version, so the hash is the same in
# every R version).
exp_log_dataset_hash <- function(self, private, data) {
  bytes <- tryCatch(serialize(data, NULL, version = 2L),
                    error = function(e) abort_input("data", "cannot be serialized"))
  path <- tempfile()
  on.exit(unlink(path))
  writeBin(bytes[-seq_len(14L)], path)
  hash <- substr(unname(tools::md5sum(path)), 1L, 12L)
  self$log_parameter("dataset_hash", hash)
}

# ---- assets ----------------------------------------------------------------------

# Queue the temporary file `path` as an asset of `type`, then remove it (the upload
# keeps a copy until it is sent).
log_generated <- function(private, path, type, name, step = NULL, epoch = NULL,
                          overwrite = FALSE, metadata = NULL) {
  on.exit(unlink(path))
  private$upload(asset_params(type, name, step, epoch, overwrite), file = path,
                 metadata = metadata, copy = TRUE)
}

# The upload's query parameters, as comet_ml sends them (`extension` without the dot).
asset_params <- function(type, name, step = NULL, epoch = NULL, overwrite = FALSE) {
  ext <- tools::file_ext(name)
  list(type = type, fileName = name, step = step, epoch = epoch, overwrite = overwrite,
       extension = if (nzchar(ext)) ext)
}

check_asset_args <- function(name, step, overwrite, metadata, epoch = NULL) {
  check_string(name, "name")
  if (identical(name, "")) abort_input("name", "must not be empty")
  check_count(step, "step")
  check_count(epoch, "epoch")
  check_flag(overwrite, "overwrite")
  check_metadata(metadata, json_ok = TRUE)
}

# `exp$log_image()`: a file is sent as it is; a matrix or array (grey, grey and
# alpha, RGB or RGBA channels last) or a raster is written as PNG.
exp_log_image <- function(self, private, image, name, overwrite, step, metadata) {
  check_asset_args(name, step, overwrite, metadata)
  private$check_active()
  if (is.character(image) && !is.object(image)) {
    check_string(image, "image", null_ok = FALSE)
    if (!file.exists(image) || dir.exists(image)) {
      abort_input("image", sprintf("is not an existing file: %s", show_value(image)))
    }
    return(private$upload(asset_params("image", name %||% basename(image), step, NULL, overwrite),
                          file = normalizePath(image), metadata = metadata))
  }
  path <- tempfile(fileext = ".png")
  write_png(image_array(image), path)
  log_generated(private, path, "image", name %||% "image.png", step, NULL, overwrite, metadata)
}

# An image as a numeric array of rows x columns x channels with values in [0, 1].
image_array <- function(image) {
  if (inherits(image, "raster")) {
    colours <- as.matrix(image)
    rgba <- grDevices::col2rgb(as.vector(colours), alpha = TRUE)
    # as.vector() of the colour matrix runs down its columns, as array() fills.
    return(array(t(rgba) / 255, c(dim(colours), 4L)))
  }
  if (is.logical(image) && !is.object(image)) image <- image + 0
  d <- dim(image)
  ok <- is.numeric(image) && !is.object(image) && length(d) %in% 2:3 && all(d > 0L) &&
    (length(d) == 2L || d[[3]] %in% 1:4) && !anyNA(image) && all(is.finite(image))
  if (!ok) {
    abort_input("image", paste(
      "must be a file, a raster, or a numeric matrix or array (rows x columns x 1 to 4",
      "channels) with no missing values"))
  }
  lo <- min(image)
  hi <- max(image)
  # Values in [0, 1] are intensities, in [0, 255] bytes; other ranges are scaled from
  # their minimum to their maximum (as comet_ml scales an array).
  if (lo < 0 || hi > 255) {
    image <- if (hi > lo) (image - lo) / (hi - lo) else image * 0
  } else if (hi > 1) {
    image <- image / 255
  }
  if (length(d) == 2L) dim(image) <- c(d, 1L)
  image
}

# Write a [0, 1] array as PNG: with the png package when it is installed, else through
# R's png() device.
write_png <- function(a, path) {
  if (requireNamespace("png", quietly = TRUE)) {
    # A grey image goes as a matrix (a 1-row or 1-column one must stay one).
    png::writePNG(if (dim(a)[[3]] == 1L) matrix(a, dim(a)[[1]], dim(a)[[2]]) else a, path)
    return(invisible(path))
  }
  d <- dim(a)
  rgba <- switch(d[[3]],
    grDevices::gray(a[, , 1]),
    grDevices::gray(a[, , 1], alpha = a[, , 2]),
    grDevices::rgb(a[, , 1], a[, , 2], a[, , 3]),
    grDevices::rgb(a[, , 1], a[, , 2], a[, , 3], a[, , 4])
  )
  raster <- grDevices::as.raster(matrix(rgba, d[[1]], d[[2]]))
  with_device(path, "png", width = d[[2]], height = d[[1]], units = "px", {
    graphics::par(mar = c(0, 0, 0, 0))
    graphics::plot.new()
    graphics::plot.window(c(0, 1), c(0, 1), xaxs = "i", yaxs = "i")
    graphics::rasterImage(raster, 0, 0, 1, 1, interpolate = FALSE)
  })
}

# Draw `code` on a new PNG or SVG device writing `path`, then close it and return to
# the device that was current.
with_device <- function(path, format, width, height, units = "in", code) {
  old <- grDevices::dev.cur()
  if (format == "svg") {
    grDevices::svg(path, width = width, height = height)
  } else {
    grDevices::png(path, width = width, height = height, units = units,
                   res = if (units == "in") 96 else NA)
  }
  dev <- grDevices::dev.cur()
  on.exit({
    grDevices::dev.off(dev)
    if (old > 1L) grDevices::dev.set(old)
  })
  force(code)
  invisible(path)
}

# `exp$log_figure()`: a plot rendered to PNG (or SVG) and logged as an image, as
# comet_ml logs a figure. `plot` is a ggplot, a recorded plot (grDevices::recordPlot()),
# a grid grob, or a function that draws; NULL takes the last plot: the current
# device's, else ggplot2's last_plot().
exp_log_figure <- function(self, private, plot, name, overwrite, step, metadata, format,
                           width, height) {
  check_asset_args(name, step, overwrite, metadata)
  if (!is.character(format) || length(format) != 1L || !format %in% c("png", "svg")) {
    abort_input("format", "must be \"png\" or \"svg\"")
  }
  if (format == "svg" && !isTRUE(capabilities("cairo"))) {
    abort_input("format", "\"svg\" needs R built with cairo; use \"png\"")
  }
  check_number(width, "width", "must be a positive number of inches", min = 0.1, max = 100)
  check_number(height, "height", "must be a positive number of inches", min = 0.1, max = 100)
  plot <- plot %||% last_plot_drawn()
  draw <- plot_drawer(plot)
  private$check_active()
  path <- tempfile(fileext = paste0(".", format))
  tryCatch(
    with_device(path, format, width, height, code = draw()),
    error = function(e) {
      unlink(path)
      abort_input("plot", sprintf("could not be drawn (at width %s and height %s inches): %s",
                                  format(width), format(height), conditionMessage(e)))
    }
  )
  log_generated(private, path, "image", name %||% paste0("figure.", format), step, NULL,
                overwrite, metadata)
}

last_plot_drawn <- function() {
  if (grDevices::dev.cur() > 1L) {
    rec <- tryCatch(grDevices::recordPlot(), error = function(e) NULL)
    if (!is.null(rec) && length(rec[[1]]) > 0L) return(rec)
  }
  if (isNamespaceLoaded("ggplot2")) {
    last <- ggplot2::last_plot()
    if (!is.null(last)) return(last)
  }
  abort_input("plot", paste(
    "is NULL and there is no plot to log: pass a ggplot, a plot recorded with",
    "grDevices::recordPlot(), a grid grob, or a function that draws"))
}

plot_drawer <- function(plot) {
  if (inherits(plot, "recordedplot")) return(function() grDevices::replayPlot(plot))
  if (inherits(plot, c("ggplot", "gg"))) return(function() print(plot))
  if (inherits(plot, "grob")) {
    return(function() {
      grid::grid.newpage()
      grid::grid.draw(plot)
    })
  }
  if (is.function(plot)) return(function() plot())
  abort_input("plot", paste(
    "must be a ggplot, a plot recorded with grDevices::recordPlot(), a grid grob,",
    "or a function that draws"))
}

# `exp$log_table()`: a data frame (or matrix) as CSV or TSV, by the name's extension,
# of type `dataframe` as comet_ml logs a pandas data frame; or a file, as it is.
exp_log_table <- function(self, private, table, name, overwrite, metadata) {
  check_asset_args(name, NULL, overwrite, metadata)
  if (is.character(table) && !is.object(table) && length(table) == 1L) {
    check_string(table, "table", null_ok = FALSE)
    if (!file.exists(table) || dir.exists(table)) {
      abort_input("table", sprintf("is not a data frame or an existing file: %s",
                                   show_value(table)))
    }
    private$check_active()
    return(private$upload(asset_params("asset", name %||% basename(table), NULL, NULL, overwrite),
                          file = normalizePath(table), metadata = metadata))
  }
  if (is.matrix(table)) table <- as.data.frame(table, stringsAsFactors = FALSE)
  if (!is.data.frame(table)) abort_input("table", "must be a data frame, a matrix or a file")
  name <- name %||% "table.csv"
  ext <- tolower(tools::file_ext(name))
  if (!ext %in% c("csv", "tsv")) abort_input("name", "must end in .csv or .tsv")
  if (any(vapply(table, is.list, logical(1)))) {
    abort_input("table", "must not have list columns")
  }
  private$check_active()
  path <- tempfile(fileext = paste0(".", ext))
  utils::write.table(table, path, sep = if (ext == "csv") "," else "\t", na = "",
                     row.names = FALSE, qmethod = "double", fileEncoding = "UTF-8")
  log_generated(private, path, "dataframe", name, NULL, NULL, overwrite, metadata)
}

# `exp$log_curve()`: `{"x": [...], "y": [...], "name": name}`, of type `curve`.
exp_log_curve <- function(self, private, name, x, y, overwrite, step, metadata) {
  check_name(name, "name")
  check_asset_args(NULL, step, overwrite, metadata)
  for (a in c("x", "y")) {
    v <- get(a)
    if (!is.numeric(v) || is.object(v) || length(v) == 0L || anyNA(v) || any(!is.finite(v))) {
      abort_input(a, "must be a numeric vector of finite numbers")
    }
  }
  if (length(x) != length(y)) abort_input("y", "must be as long as `x`")
  private$check_active()
  path <- tempfile(fileext = ".json")
  write_text(json_text(list(x = as.numeric(x), y = as.numeric(y), name = jsonlite::unbox(name))),
             path)
  log_generated(private, path, "curve", name, step, NULL, overwrite, metadata)
}

# JSON of a list whose vectors stay arrays (scalars to be unboxed are marked with
# jsonlite::unbox()), with full numeric precision.
json_text <- function(x) {
  enc2utf8(as.character(jsonlite::toJSON(x, digits = NA, null = "null", na = "null")))
}

# A string as UTF-8 bytes, with no newline added (as comet_ml writes JSON and text).
write_text <- function(text, path) writeBin(charToRaw(enc2utf8(text)), path)

# The most categories a confusion matrix may have (a million cells of JSON).
max_categories <- 1000L

# `exp$log_confusion_matrix()`: the JSON comet_ml's ConfusionMatrix.to_json() writes
# and Comet's UI reads (rows are actual categories, columns predicted), of type
# `confusion-matrix`.
exp_log_confusion_matrix <- function(self, private, actual, predicted, labels, matrix, title,
                                     row_label, column_label, file_name, overwrite, step, epoch,
                                     metadata) {
  check_string(title, "title", null_ok = FALSE)
  check_string(row_label, "row_label", null_ok = FALSE)
  check_string(column_label, "column_label", null_ok = FALSE)
  check_string(file_name, "file_name", null_ok = FALSE)
  check_asset_args(NULL, step, overwrite, metadata, epoch)
  if (!is.null(labels)) {
    if (is.factor(labels)) labels <- as.character(labels)
    if (!(is.character(labels) || is.numeric(labels)) || is.object(labels) ||
        length(labels) == 0L || anyNA(labels) || anyDuplicated(labels) > 0L) {
      abort_input("labels", "must be a vector of distinct category labels")
    }
  }
  counts <- if (!is.null(matrix)) {
    if (!is.null(actual) || !is.null(predicted)) {
      abort_input("matrix", "cannot be given with `actual` and `predicted`")
    }
    if (!is.matrix(matrix) || !is.numeric(matrix) || nrow(matrix) != ncol(matrix) ||
        nrow(matrix) == 0L || anyNA(matrix) || any(!is.finite(matrix))) {
      abort_input("matrix", "must be a square numeric matrix with no missing values")
    }
    labels <- labels %||% rownames(matrix) %||% colnames(matrix) %||%
      as.character(seq_len(nrow(matrix)) - 1L)
    if (length(labels) != nrow(matrix)) abort_input("labels", "must name every row of `matrix`")
    unname(matrix)
  } else {
    categories <- function(v, arg) {
      if (is.null(v)) abort_input(arg, "is required unless `matrix` is given")
      ok <- (is.factor(v) || (!is.object(v) && (is.character(v) || is.numeric(v) ||
                                                 is.logical(v)))) && length(v) > 0L && !anyNA(v)
      if (!ok) {
        abort_input(arg, "must be a vector of categories (a factor, strings or numbers) with no NA")
      }
      check_text(as.character(v), arg, 10000)
      v
    }
    actual <- categories(actual, "actual")
    predicted <- categories(predicted, "predicted")
    if (length(actual) != length(predicted)) abort_input("predicted", "must be as long as `actual`")
    if (is.null(labels)) {
      labels <- if (is.factor(actual)) {
        union(levels(actual), if (is.factor(predicted)) levels(predicted) else unique(predicted))
      } else {
        sort(unique(c(as.vector(actual), as.vector(predicted))))
      }
      if (length(labels) > max_categories) {
        abort_input("actual", sprintf("has more than %d distinct categories", max_categories))
      }
    }
    key <- as.character(labels)
    if (length(key) > max_categories) {
      abort_input("labels", sprintf("has more than %d categories", max_categories))
    }
    i <- match(as.character(actual), key)
    j <- match(as.character(predicted), key)
    if (anyNA(i)) abort_input("actual", "holds a category that is not in `labels`")
    if (anyNA(j)) abort_input("predicted", "holds a category that is not in `labels`")
    n <- length(key)
    base::matrix(tabulate((j - 1L) * n + i, n * n), n, n)
  }
  labels <- as.character(labels)
  check_text(labels, "labels", 10000)
  if (length(labels) > max_categories) {
    abort_input("labels", sprintf("has more than %d categories", max_categories))
  }
  private$check_active()
  body <- list(
    version = jsonlite::unbox(1L), title = jsonlite::unbox(title), labels = labels,
    matrix = lapply(seq_len(nrow(counts)), function(r) counts[r, ]),
    rowLabel = jsonlite::unbox(row_label), columnLabel = jsonlite::unbox(column_label),
    maxSamplesPerCell = jsonlite::unbox(25L), sampleMatrix = NULL, type = NULL
  )
  path <- tempfile(fileext = ".json")
  write_text(json_text(body), path)
  log_generated(private, path, "confusion-matrix", file_name, step, epoch, overwrite, metadata)
}

# `exp$log_text()`: a text sample, of type `text-sample`, sent under the placeholder
# name comet_ml sends (Comet's service names text samples itself).
exp_log_text <- function(self, private, text, step, metadata) {
  check_string(text, "text", null_ok = FALSE, max_chars = Inf)
  check_asset_args(NULL, step, FALSE, metadata)
  private$check_active()
  path <- tempfile(fileext = ".txt")
  write_text(text, path)
  log_generated(private, path, "text-sample", "auto-generated-in-the-backend", step, NULL,
                FALSE, metadata)
}
