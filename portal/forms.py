"""Forms of portal-level pages (personal API tokens)."""
from datetime import timedelta

from django import forms
from django.utils import timezone

from rbac import permissions as perms
from rbac.models import Project
from rbac.scoping import scope

EXPIRY_CHOICES = [("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never")]


class ApiTokenForm(forms.Form):
    """A new personal API token: a name, an optional expiry and an optional project to limit it to."""

    name = forms.CharField(max_length=100, help_text="What uses it, e.g. 'CI pipeline' or 'my laptop'.")
    # Expiring by default: a forgotten token should not live forever.
    expires_in = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, label="Expires in", initial="30")
    project = forms.ModelChoiceField(queryset=Project.objects.none(), required=False,
                                     empty_label="All my projects",
                                     help_text="A token limited to one project can see and change nothing else.")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = scope(Project.objects.all(), user, perms.PROJECT_VIEW)

    def clean(self):
        cleaned = super().clean()
        days = cleaned.get("expires_in")
        cleaned["expires_at"] = timezone.now() + timedelta(days=int(days)) if days else None
        return cleaned
