## ---- include = FALSE---------------------------------------------------------
knitr::opts_chunk$set(collapse = TRUE, comment = "#>")


## -----------------------------------------------------------------------------
library(cometr)
srv <- local_server()


## -----------------------------------------------------------------------------
exp <- create_experiment(experiment_name = "vignette", log_code = FALSE,
                         log_output = FALSE)
exp$log_parameter("learning_rate", 0.1)
exp$add_tags(c("vignette", "example"))
loss <- 1
for (step in 1:50) {
  loss <- loss * 0.9
  exp$log_metric("loss", loss, step = step)
}
exp$log_other("dataset", "synthetic")


## -----------------------------------------------------------------------------
length(exp$get_metric("loss")$metrics)
summary <- exp$get_metrics_summary()$values[[1]]
summary[c("name", "valueMin", "valueMax", "stepMax")]
unlist(exp$get_tags()$tags)


## -----------------------------------------------------------------------------
f <- tempfile(fileext = ".csv")
write.csv(head(cars), f, row.names = FALSE)
exp$upload_asset(f, name = "cars.csv")
assets <- exp$get_asset_list()$assets
vapply(assets, function(a) a$fileName, "")
# The file comes back as raw bytes (it is not plain text).
cat(rawToChar(exp$get_asset(assets[[1]]$assetId)))


## -----------------------------------------------------------------------------
exp$stop()
again <- get_experiment(exp$get_key())
again$log_metric("loss", 0.001, step = 51)
length(again$get_metric("loss")$metrics)
again$stop()
srv$stop()

