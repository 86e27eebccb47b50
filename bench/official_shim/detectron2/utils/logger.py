from .._sink import Sink

setup_logger = Sink()
