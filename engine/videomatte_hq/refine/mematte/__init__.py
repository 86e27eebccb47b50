"""MEMatte ViT-S (Lin et al. 2024), re-implemented in plain torch; see model.py."""
