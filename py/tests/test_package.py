"""The package itself: its public names, its type stubs against the
extension module, docstrings on everything public."""

import ast
import inspect
import pathlib

import libmqtt
import libmqtt._core as core
import libmqtt.broker
import libmqtt.server


def _stub():
    path = pathlib.Path(libmqtt.__file__).with_name("_core.pyi")
    return ast.parse(path.read_text(encoding="utf-8"))


def test_stubs_match_the_extension_module():
    tree = _stub()
    stub_classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    stub_functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    runtime = {name for name in dir(core) if not name.startswith("_")}
    assert runtime == set(stub_classes) | stub_functions, "stub and module disagree"
    for name, node in stub_classes.items():
        cls = getattr(core, name)
        stubbed = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
        stubbed |= {n.target.id for n in node.body if isinstance(n, ast.AnnAssign)}
        public = {m for m in dir(cls) if not m.startswith("_")}
        assert public == stubbed - {"__init__"} - {m for m in stubbed if m.startswith("_")}, name


def test_package_files_are_typed():
    root = pathlib.Path(libmqtt.__file__).parent
    assert (root / "py.typed").exists()


def test_every_public_name_is_exported_and_documented():
    for name in libmqtt.__all__:
        obj = getattr(libmqtt, name)
        if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj):
            assert obj.__doc__ and obj.__doc__.strip(), name
    for module in (libmqtt.server, libmqtt.broker):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj):
                assert obj.__doc__ and obj.__doc__.strip(), name
    for cls in (libmqtt.Client, libmqtt.Broker, libmqtt.Decoder, libmqtt.server.ServerConnection):
        for meth in dir(cls):
            if not meth.startswith("_"):
                assert getattr(cls, meth).__doc__, f"{cls.__name__}.{meth}"


def test_classes_show_their_public_module():
    assert libmqtt.Client.__module__ == "libmqtt"
    assert libmqtt.Publish.__module__ == "libmqtt"
    assert libmqtt.server.ServerConnection.__module__ == "libmqtt.server"
    assert repr(libmqtt.Client("x")).startswith("<libmqtt.Client")
