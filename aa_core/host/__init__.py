"""The plugin host: entry-point discovery, hook specifications and loading, on pluggy."""
from ._component import KINDS, MODEL_KINDS, MULTI_KINDS, Command, Component, Section, Task, resolve
from ._discovery import COMPONENT_GROUP, FIRST_PARTY, PLUGIN_GROUP, PluginInfo, first_party_provider, scan
from ._hookspecs import hookimpl, hookspec
from ._manager import PluginHost, Registered, host, reset_host

__all__ = [
    "COMPONENT_GROUP", "FIRST_PARTY", "KINDS", "MODEL_KINDS", "MULTI_KINDS", "PLUGIN_GROUP", "Command", "Component", "PluginHost", "PluginInfo",
    "Registered", "Section", "Task", "first_party_provider", "hookimpl", "hookspec", "host", "reset_host", "resolve", "scan",
]
