from ._sink import Sink as WarmupParamScheduler  # training only
