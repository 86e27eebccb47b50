from .._sink import Sink

get_world_size = get_rank = get_local_rank = synchronize = Sink()
