"""Filters of the catalogue pages: template icons, cost estimates, rendered READMEs, source links."""
from django import template
from django.conf import settings
from django.utils.safestring import mark_safe

from environments.markdown import markdown_render

register = template.Library()

# terrace.yaml `icon` names -> simple line drawings (24x24, stroke in the text colour). Inline SVG: no icon
# font or emoji font needed on the viewer's machine. Unknown names get the box.
ICONS = {
    "box": '<path d="M12 3 20 7.5v9L12 21l-8-4.5v-9z"/><path d="M4 7.5 12 12l8-4.5M12 12v9"/>',
    "flask": '<path d="M9 3h6M10 3v6L4.5 19a1.5 1.5 0 0 0 1.3 2h12.4a1.5 1.5 0 0 0 1.3-2L14 9V3"/>'
             '<path d="M7 15h10"/>',
    "chat": '<path d="M4 5h16v11H9l-5 4z"/><path d="M8 9h8M8 12h5"/>',
    "server": '<rect x="4" y="4" width="16" height="6" rx="1"/><rect x="4" y="14" width="16" height="6" rx="1"/>'
              '<path d="M8 7h.01M8 17h.01"/>',
    "gpu": '<rect x="6" y="6" width="12" height="12" rx="1"/><rect x="9.5" y="9.5" width="5" height="5"/>'
           '<path d="M9 2v4M15 2v4M9 18v4M15 18v4M2 9h4M2 15h4M18 9h4M18 15h4"/>',
    "cpu": '<rect x="6" y="6" width="12" height="12" rx="1"/>'
           '<path d="M9 2v4M15 2v4M9 18v4M15 18v4M2 9h4M2 15h4M18 9h4M18 15h4"/>',
    "rocket": '<path d="M12 2c3 2.5 4.5 6 4 11l-2 3h-4l-2-3c-.5-5 1-8.5 4-11z"/><circle cx="12" cy="9" r="1.5"/>'
              '<path d="M8 13l-3 3v3l4-2M16 13l3 3v3l-4-2M11 19l1 3 1-3"/>',
    "database": '<ellipse cx="12" cy="5" rx="8" ry="3"/><path d="M4 5v14c0 1.7 3.6 3 8 3s8-1.3 8-3V5"/>'
                '<path d="M4 12c0 1.7 3.6 3 8 3s8-1.3 8-3"/>',
    "network": '<circle cx="12" cy="12" r="9"/><path d="M3 12h18M12 3c3 3 3 15 0 18M12 3c-3 3-3 15 0 18"/>',
}
SVG = ('<svg class="icon" data-icon="{name}" viewBox="0 0 24 24" width="24" height="24" fill="none" '
       'stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round" '
       'aria-hidden="true">{body}</svg>')


@register.filter
def template_icon(name):
    """The inline SVG drawing of a template's icon name."""
    name = (name or "").strip().lower()
    name = name if name in ICONS else "box"
    return mark_safe(SVG.format(name=name, body=ICONS[name]))  # noqa: S308 (fixed markup from ICONS only)


@register.filter
def monthly_cost(metadata):
    """"≈ $90 / month" from a version's metadata, or "" when the template gives no estimate."""
    cost = (metadata or {}).get("estimated_monthly_cost") or {}
    if "usd" not in cost:
        return ""
    usd = cost["usd"]
    return f"≈ ${usd:,.0f} / month" if usd >= 1 or usd == 0 else f"≈ ${usd:.2f} / month"


@register.filter
def render_markdown(text):
    """A README as sanitised HTML (environments.markdown)."""
    return markdown_render(text)


@register.filter
def source_url(version):
    """A link to a version's source: the Git repository, or the bundled folder under CATALOG_SOURCE_URL."""
    ref = version.source_ref or ""
    if version.source == "git":
        url = version.source_url or ""
        return url if url.startswith(("https://", "http://")) else ""
    if version.source == "catalog" and settings.CATALOG_SOURCE_URL and ref.startswith("catalog/"):
        return settings.CATALOG_SOURCE_URL.rstrip("/") + "/" + ref.removeprefix("catalog/")
    return ""
