import torch


class DetectionCheckpointer:
    def __init__(self, model):
        self.model = model

    def load(self, path):
        """The checkpoint's `model` dict, strictly: every official inference weight must be in the file."""
        self.model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["model"])
