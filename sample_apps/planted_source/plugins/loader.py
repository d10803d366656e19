"""Loads extra plugins from a folder beside the program: code Nuitka never compiles."""
import importlib.util


def load_file(path):
    spec = importlib.util.spec_from_file_location("extra_plugin", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
