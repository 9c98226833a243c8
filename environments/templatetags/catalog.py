"""Filters of the catalogue pages: template icons, cost estimates, rendered READMEs, source links."""
from django import template
from django.conf import settings

from environments.markdown import markdown_render

register = template.Library()

# terrace.yaml `icon` names -> a glyph; unknown names get the box. Plain characters: no icon font to ship.
ICONS = {
    "box": "\U0001F4E6",
    "flask": "\U0001F9EA",
    "chat": "\U0001F4AC",
    "server": "\U0001F5A5",
    "gpu": "\U0001F9E0",
    "cpu": "\U0001F9EE",
    "rocket": "\U0001F680",
    "database": "\U0001F5C4",
    "network": "\U0001F310",
    "lock": "\U0001F512",
    "chart": "\U0001F4CA",
}


@register.filter
def template_icon(name):
    """The glyph for a template's icon name."""
    return ICONS.get((name or "").strip().lower(), ICONS["box"])


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
