"""detectron2.config's lazy configs: `LazyCall(f)(**kw)` records a call, `instantiate` makes it."""

import builtins
import importlib.util
import sys
import types
from pathlib import Path

from omegaconf import DictConfig, ListConfig

FLAGS = {"allow_objects": True}


class LazyCall:
    def __init__(self, target):
        self._target = target

    def __call__(self, **kwargs):
        return DictConfig({"_target_": self._target, **kwargs}, flags=FLAGS)


def _cast(module: types.ModuleType) -> None:
    for name, value in list(vars(module).items()):
        if isinstance(value, dict) and not name.startswith("_"):
            setattr(module, name, DictConfig(value, flags=FLAGS))


class LazyConfig:
    @staticmethod
    def load(path):
        """Run a config file whose relative imports reach its sibling config files; their dicts become configs."""
        path = Path(path).resolve()
        package = path.parent.name
        sys.path.insert(0, str(path.parent.parent))
        original = builtins.__import__

        def importing(name, globals=None, locals=None, fromlist=(), level=0):
            module = original(name, globals, locals, fromlist, level)
            for sub in [module, *(getattr(module, f, None) for f in fromlist or ())]:
                if isinstance(sub, types.ModuleType) and sub.__name__.startswith(package + "."):
                    _cast(sub)
            return module

        spec = importlib.util.spec_from_file_location(f"{package}._lazy_config", path)
        module = importlib.util.module_from_spec(spec)
        module.__package__ = package
        builtins.__import__ = importing
        try:
            spec.loader.exec_module(module)
        finally:
            builtins.__import__ = original
        _cast(module)
        return DictConfig({k: v for k, v in vars(module).items() if isinstance(v, DictConfig)}, flags=FLAGS)


def instantiate(cfg):
    if isinstance(cfg, (ListConfig, list)):
        return [instantiate(x) for x in cfg]
    if isinstance(cfg, (DictConfig, dict)):
        if "_target_" in cfg:
            kwargs = {k: instantiate(cfg[k]) for k in cfg if k != "_target_"}
            return cfg["_target_"](**kwargs)
        return {k: instantiate(cfg[k]) for k in cfg}
    return cfg
