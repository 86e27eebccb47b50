from ._sink import Sink

default_argument_parser = Sink()
