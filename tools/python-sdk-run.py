# Log one short run with the official Python SDK (comet_ml) to the server named by
# COMET_URL_OVERRIDE, then print "KEY=<experiment key>". Used by test-python-sdk.R.
import math
import sys

import comet_ml

asset_path = sys.argv[1]
exp = comet_ml.Experiment(
    project_name="pyproj",
    workspace="local",
    auto_metric_logging=False,
    auto_param_logging=False,
    auto_output_logging="simple",
    log_code=False,
    log_graph=False,
    log_env_details=False,
    log_env_gpu=False,
    log_env_cpu=False,
    log_env_host=False,
    log_git_metadata=False,
    log_git_patch=False,
    display_summary_level=0,
)
for step in range(1, 4):
    exp.log_metric("loss", 1.0 / step, step=step)
exp.log_metric("acc", float("nan"), step=1)
exp.log_parameter("lr", 0.01)
exp.log_parameter("layers", 3)
exp.log_other("note", "hello")
exp.add_tags(["py", "sdk"])
print("hello from python")
exp.log_asset(asset_path, file_name="data.txt", metadata={"k": "v"})
key = exp.get_key()
exp.end()
print("KEY=" + key)
