def _assert_strides_are_log2_contiguous(strides):  # imported by the official ViT, unused
    pass
