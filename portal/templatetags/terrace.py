"""Template filters shared by the pages."""
import json

from django import template

register = template.Library()


@register.filter
def tfvalue(value):
    """A Terraform value as people write it: strings bare, everything else as JSON (true, ["a"], {"k": 1})."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


@register.simple_tag(takes_context=True)
def page_url(context, number):
    """The current URL's query string with `page` set to `number` (filters and search are kept)."""
    query = context["request"].GET.copy()
    query["page"] = number
    return "?" + query.urlencode()
