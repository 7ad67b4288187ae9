# Conditions: every error the package raises is a classed `cometr_error`, so users can
# catch a family (`cometr_http_error`) or everything from the package at once.

cometr_condition <- function(message, class, ..., call = NULL, type = "error") {
  structure(
    class = c(class, paste0("cometr_", type), type, "condition"),
    list(message = message, call = call, ...)
  )
}

cometr_abort <- function(message, class = NULL, ..., call = NULL) {
  log_message("ERROR", message)
  stop(cometr_condition(message, class, ..., call = call))
}

cometr_warn <- function(message, class = NULL, ...) {
  log_message("WARNING", message)
  warning(cometr_condition(message, class, ..., type = "warning"))
}

abort_input <- function(arg, problem) {
  cometr_abort(sprintf("`%s` %s", arg, problem), "cometr_input_error", argument = arg)
}

# Values shown in messages are shortened, so a huge input makes a short message.
show_value <- function(x, width = 60) {
  text <- tryCatch(paste(format(x), collapse = " "), error = function(e) class(x)[1])
  text <- enc2utf8(text)
  if (!validUTF8(text)) text <- iconv(text, "UTF-8", "UTF-8", sub = "?")
  if (nchar(text) > width) paste0(substr(text, 1, width), "...") else text
}

`%||%` <- function(x, y) if (length(x) == 0L) y else x

drop_nulls <- function(x) x[!vapply(x, is.null, logical(1))]
