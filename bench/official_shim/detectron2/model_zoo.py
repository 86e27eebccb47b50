from ._sink import Sink

get_config = Sink()  # training only: the optimizer config
