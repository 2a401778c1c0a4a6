"""Plugins add hooks for other plugins (``aa_add_hookspecs``, as pytest's ``pytest_addhooks``): the hook is
validated once its provider loads, in either order; an implementation of a hook nobody specifies is a
load error unless it is optional or a first-party plugin's hook (``aa_serve_handlers`` without aa-serve)."""
from __future__ import annotations

import sys
import warnings

import pytest

from aa_core.host import PluginHost, PluginInfo

PROVIDER = '''
from aa_core.plugin import hookimpl, hookspec

class Spec:
    @hookspec
    def aa_greetings(): ...

@hookimpl
def aa_add_hookspecs(host):
    host.add_hookspecs(Spec)
'''

USER = '''
from aa_core.plugin import hookimpl

@hookimpl
def aa_greetings():
    return ["hello"]
'''

BAD_USER = '''
from aa_core.plugin import hookimpl

@hookimpl
def aa_greetings(name):
    return [name]
'''

OPTIONAL_USER = '''
from aa_core.plugin import hookimpl

@hookimpl(optionalhook=True)
def aa_farewells():
    return ["bye"]
'''

SERVE_USER = '''
from aa_core.plugin import hookimpl

@hookimpl
def aa_serve_handlers():
    from aa_serve import ServeHandler
    return [ServeHandler("mine", "x:Y", datasets=("mine",))]
'''

MISSPELT_ADDED = '''
from aa_core.plugin import hookimpl

@hookimpl
def aa_greeting():
    return ["hello"]
'''


@pytest.fixture
def modules(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name: str, text: str) -> str:
        (tmp_path / f"{name}.py").write_text(text)
        sys.modules.pop(name, None)
        return name

    return write


def info(module: str, dist: str) -> PluginInfo:
    return PluginInfo(module, module, dist, "1.0", ())


@pytest.mark.parametrize("provider_first", [True, False])
def test_a_plugin_adds_a_hook_that_another_implements_in_either_order(modules, provider_first):
    plugins = [info(modules("hs_provider", PROVIDER), "dist-provider"), info(modules("hs_user", USER), "dist-user")]
    host = PluginHost(plugins if provider_first else plugins[::-1])
    user = next(p for p in host.plugins if p.distribution == "dist-user")
    assert host.load(user), host.load_errors  # loading it loads the provider first when it comes first
    assert host.load_all() == {}
    assert [(x, p.distribution) for x, p in host.collect("aa_greetings")] == [("hello", "dist-user")]
    assert "aa_greetings" in host.hook_names


def test_an_implementation_that_does_not_fit_the_added_hook_fails_only_its_plugin(modules):
    host = PluginHost([info(modules("hs_bad_user", BAD_USER), "dist-bad"), info(modules("hs_provider2", PROVIDER), "dist-provider")])
    host.load_all()
    assert "dist-provider:hs_provider2" not in host.load_errors
    assert "takes name" in host.load_errors["dist-bad:hs_bad_user"]
    assert host.collect("aa_greetings") == []


def test_an_unspecified_hook_is_a_load_error_with_a_suggestion_unless_optional(modules):
    host = PluginHost([info(modules("hs_provider3", PROVIDER), "dist-provider"), info(modules("hs_misspelt", MISSPELT_ADDED), "dist-m"),
                       info(modules("hs_optional", OPTIONAL_USER), "dist-o")])
    errors = host.load_all()
    assert set(errors) == {"dist-m:hs_misspelt"}
    assert "aa_greeting is not a hook" in errors["dist-m:hs_misspelt"] and "aa_greetings" in errors["dist-m:hs_misspelt"]


def test_aa_serve_handlers_without_aa_serve_does_not_break_loading(modules):
    """aa-qa implements aa-serve's hook; without aa-serve (here: not among the host's plugins) it still loads."""
    host = PluginHost([info(modules("hs_serve_user", SERVE_USER), "dist-s")])
    assert host.load_all() == {}
    assert "aa_serve_handlers" not in host.hook_names


def test_the_serve_contract_moved_to_aa_serve_and_the_old_names_warn():
    import aa_serve

    for name in ("ServeHandler", "ServeTask", "ServeHost"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import aa_core.plugin

            old = getattr(aa_core.plugin, name)
        assert old is getattr(aa_serve, name)
        assert any(issubclass(w.category, DeprecationWarning) and "aa_serve" in str(w.message) and "0.3" in str(w.message) for w in caught)
