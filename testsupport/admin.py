"""The POST body an admin change (or add) page sends back: every field of its form as the page
shows it, and the management data of its inline formsets, plus the changes a test makes."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse


def admin_form_data(page: HttpResponse, **changes: Any) -> dict[str, Any]:
    """``page``: the GET response of the change or add page."""
    form = page.context["adminform"].form
    data: dict[str, Any] = {}
    for name, field in form.fields.items():
        value = form[name].value()  # already prepared: JSON text for JSON fields, pks for genres
        if value is None and hasattr(field, "queryset"):
            continue  # an empty many-to-many sends nothing
        data[name] = "" if value is None else value
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        for inline_form in inline.formset.forms:
            for name in inline_form.fields:
                value = inline_form[name].value()
                data[inline_form.add_prefix(name)] = "" if value is None else value
    data.update(changes)
    return data
