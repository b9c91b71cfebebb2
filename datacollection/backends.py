"""One resolver for every pluggable backend configured as a settings dict, the way WAGTAILSEARCH_BACKENDS
works: `{"default": {"BACKEND": "dotted.module", ...}}` where the module ends with `<ATTRIBUTE> = <class>`.

Used for knowledge search backends, embedders, re-rankers and LLM providers. Each backend class names the
keys it reads (`settings_keys`, `option_keys`); any other key is refused with the alias named, so a typo
fails at start-up instead of silently keeping a default. An instance is created once
per alias and configuration (clients inside are lazy and reused); keying by the configuration too means a
changed setting (override_settings in tests) gets a fresh instance. Errors name the setting and the alias.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from importlib import import_module
from typing import Any, Generic, TypeVar, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from datacollection.conf import keys_check

T = TypeVar("T")


class BackendRegistry(Generic[T]):
    def __init__(
        self,
        setting: str,
        *,
        attribute: str,
        base: type,
        default: dict[str, dict[str, Any]] | None = None,
        wrap: Callable[[str, dict[str, Any], T], T] | None = None,
        wrap_keys: Collection[str] = (),
    ) -> None:
        self.setting = setting
        self.attribute = attribute
        self.base = base
        self.default = default or {}
        self.wrap = wrap
        self.wrap_keys = frozenset(wrap_keys)  # keys `wrap` reads, accepted on every alias
        self._instances: dict[tuple[str, str], T] = {}

    def configured(self) -> dict[str, dict[str, Any]]:
        return getattr(settings, self.setting, self.default)

    def get(self, alias: str = "default", **overrides: Any) -> T:
        """The instance for `alias`; `overrides` replace settings keys (e.g. INDEX for a throwaway index)."""
        configured = self.configured()
        if alias not in configured:
            known = ", ".join(sorted(configured)) or "none"
            raise ImproperlyConfigured(f"Unknown alias {alias!r} in {self.setting}; configured: {known}.")
        params = {**configured[alias], **overrides}
        key = (alias, repr(sorted(params.items())))
        if key not in self._instances:
            self._instances[key] = self._load(alias, params)
        return self._instances[key]

    def check(self) -> None:
        """Load every configured alias's class and check its keys, creating nothing (AppConfig.ready())."""
        for alias, params in self.configured().items():
            self._class(alias, params)

    def _load(self, alias: str, params: dict[str, Any]) -> T:
        instance: T = cast(Any, self._class(alias, params))(alias, params)
        return self.wrap(alias, params, instance) if self.wrap else instance

    def _class(self, alias: str, params: dict[str, Any]) -> type:
        """The alias's backend class, after refusing keys that neither it nor the registry reads."""
        where = f"{self.setting}[{alias!r}]"
        path = params.get("BACKEND")
        if not path:
            raise ImproperlyConfigured(f"{where} has no BACKEND.")
        try:
            backend_cls: Any = getattr(import_module(path), self.attribute)
        except (ImportError, AttributeError) as e:
            raise ImproperlyConfigured(f"{where}: cannot load {path!r} ({e}).") from e
        if not (isinstance(backend_cls, type) and issubclass(backend_cls, self.base)):
            raise ImproperlyConfigured(f"{where}: {path}.{self.attribute} is not a {self.base.__name__}.")
        settings_keys: frozenset[str] = getattr(backend_cls, "settings_keys", frozenset())
        option_keys = getattr(backend_cls, "option_keys", None)
        keys_check(where, params, known={"BACKEND", "OPTIONS", *self.wrap_keys, *settings_keys})
        if option_keys is not None:
            keys_check(f"{where}['OPTIONS']", params.get("OPTIONS") or {}, known=option_keys)
        return backend_cls
