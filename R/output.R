# Output capture at R's level (log_output / log_error). The capture itself starts in
# Rust (`rust_experiment_capture()`, src/rust/src/output.rs): it takes R's console, so
# what R prints is captured without prompts or echoed input and reaches the console in
# its order. knitr does not print to the console: evaluate sinks each chunk's output
# into a connection and turns conditions into chunk output, so while knitting the
# capture also wraps knitr's `evaluate` hook (below).
#
# Why knitr's `evaluate` hook, of the R-level choices: its output handler receives the
# text of each top-level expression as soon as that expression ends, so lines printed
# just before `exp$stop()` in the same chunk are captured; knitr's `output` hooks only
# run after a whole chunk (too late for a chunk that stops the experiment), a sink of
# our own would break evaluate's sink stack, and task callbacks do not run inside a knit.
# knitr restores its hooks when the knit ends.

# While knitting, pass the text of every evaluated expression (and, for log_error,
# its messages, warnings and errors) to the running capture.
capture_knitr <- function() {
  if (!isTRUE(getOption("knitr.in.progress")) || !isNamespaceLoaded("knitr")) {
    return(invisible(FALSE))
  }
  hooks <- knitr::knit_hooks
  prev <- hooks$get("evaluate")
  if (isTRUE(attr(prev, "cometr_capture"))) return(invisible(TRUE))
  if (!is.function(prev)) return(invisible(FALSE))
  hook <- function(code, ..., output_handler = NULL) {
    if (is.null(output_handler)) return(prev(code, ...))
    prev(code, ..., output_handler = recording_handler(output_handler))
  }
  attr(hook, "cometr_capture") <- TRUE
  hooks$set(evaluate = hook)
  invisible(TRUE)
}

# An evaluate output handler that records what it is handed, then does what `handler`
# does.
recording_handler <- function(handler) {
  wrap <- function(name, text_of, stderr) {
    inner <- handler[[name]]
    if (!is.function(inner)) return()
    handler[[name]] <<- function(x, ...) {
      record_output(text_of(x), stderr)
      inner(x, ...)
    }
  }
  wrap("text", identity, FALSE)
  wrap("message", conditionMessage, TRUE)
  wrap("warning", function(w) paste0("Warning: ", conditionMessage(w), "\n"), TRUE)
  wrap("error", function(e) paste0("Error: ", conditionMessage(e), "\n"), TRUE)
  handler
}

# Capture never gets in the way of the document: a failure to record is ignored.
record_output <- function(text, stderr) {
  text <- paste(as.character(text), collapse = "")
  if (nzchar(text)) try(rust_output_record(enc2utf8(text), stderr), silent = TRUE)
  invisible()
}
