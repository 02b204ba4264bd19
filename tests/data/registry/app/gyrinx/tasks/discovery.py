"""Per-app route discovery, as gyrinx-app/gyrinx gyrinx/tasks/discovery.py does it.

Each first-party installed app may declare ``task_routes`` in ``<app>/tasks.py``; apps
are walked in ``INSTALLED_APPS`` order, routes in list order; a duplicate name is refused.
"""

import importlib
import importlib.util

from django.apps import apps as django_apps
from django.core.exceptions import ImproperlyConfigured

from gyrinx.tasks.route import TaskRoute

FIRST_PARTY_PREFIXES = ("gyrinx.", "n23.", "n26.")


def first_party_task_modules() -> list[str]:
    """Every first-party ``<app>.tasks`` module that exists, in INSTALLED_APPS order."""
    modules = []
    for app_config in django_apps.get_app_configs():
        if not app_config.name.startswith(FIRST_PARTY_PREFIXES):
            continue
        candidate = f"{app_config.name}.tasks"
        if importlib.util.find_spec(candidate) is not None:
            modules.append(candidate)
    return modules


def discover_task_routes() -> list[TaskRoute]:
    """Every declared route; ImproperlyConfigured for a non-route or a duplicate name."""
    routes: list[TaskRoute] = []
    seen: dict[str, str] = {}
    for module_path in first_party_task_modules():
        declared = getattr(importlib.import_module(module_path), "task_routes", None)
        for route in declared or []:
            if not isinstance(route, TaskRoute):
                raise ImproperlyConfigured(f"{module_path}.task_routes contains {route!r}, which is not a TaskRoute.")
            if route.name in seen:
                raise ImproperlyConfigured(
                    f"Duplicate task name '{route.name}' declared in both {seen[route.name]} and {module_path}."
                )
            seen[route.name] = module_path
            routes.append(route)
    return routes
