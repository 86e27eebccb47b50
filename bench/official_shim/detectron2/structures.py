class ImageList:  # imported by the official meta-architecture, unused at inference
    pass
