"""Forms of the platform admin pages. They check input; the services decide and re-check permissions."""
from django import forms
from django.contrib.auth import get_user_model

from rbac import permissions as perms
from rbac.models import Group, GroupMappingRule, Project
from rbac.services import SLUG_RE

# org_admin is only granted org-wide (see rbac.services.role_binding_create), never on these pages.
PROJECT_ROLE_CHOICES = [(role, label) for role, label in perms.ROLE_CHOICES if role != perms.ORG_ADMIN]


def user_lookup(value):
    """The active user whose username or email is `value`; raises ValidationError naming the problem."""
    value = (value or "").strip()
    users = get_user_model().objects.filter(is_active=True)
    user = users.filter(username__iexact=value).first()
    if user is not None:
        return user
    by_email = list(users.filter(email__iexact=value)[:2])
    if len(by_email) == 1:
        return by_email[0]
    if len(by_email) > 1:
        raise forms.ValidationError("Several users have this email address; use the username.")
    raise forms.ValidationError(f"No active user with the username or email {value!r}.")


class UserField(forms.CharField):
    """A username or email address, cleaned to the User it names."""

    def clean(self, value):
        value = super().clean(value)
        return user_lookup(value) if value else None


class ServiceErrorsMixin:
    """Put a rbac.services.InvalidRequest next to the field it names (or above the form)."""

    field_aliases = {}

    def add_service_error(self, exc):
        field = self.field_aliases.get(exc.field, exc.field)
        self.add_error(field if field in self.fields else None, str(exc))


class ProjectForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=200, label="Project name")
    slug = forms.CharField(max_length=63, help_text="Lowercase letters, digits and hyphens; cannot change later.")

    def clean_slug(self):
        slug = self.cleaned_data["slug"].strip()
        if not SLUG_RE.match(slug):
            raise forms.ValidationError(
                "Use 1-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit."
            )
        # Checked here too so that every error shows at once; the service re-checks under the constraint.
        if Project.objects.filter(slug=slug).exists():
            raise forms.ValidationError(f"A project with the slug {slug!r} already exists.")
        return slug


class RoleBindingForm(ServiceErrorsMixin, forms.Form):
    """A role for a user or a group in one project."""

    user = UserField(required=False, label="User", help_text="Username or email.")
    group = forms.ModelChoiceField(
        queryset=Group.objects.all(), to_field_name="name", required=False, label="Group",
        widget=forms.TextInput, help_text="Group name.",
        error_messages={"invalid_choice": "No group with this name."},
    )
    role = forms.ChoiceField(choices=PROJECT_ROLE_CHOICES, initial=perms.ENV_TEMPLATE_USER)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if bool(data.get("user")) == bool(data.get("group")):
            raise forms.ValidationError("Give either a user or a group.")
        return data


class GroupForm(ServiceErrorsMixin, forms.Form):
    field_aliases = {"external_id": "idp_group"}

    name = forms.CharField(max_length=200)
    idp_group = forms.CharField(
        max_length=255, required=False, label="Identity-provider group",
        help_text="Optional. The group name in your IdP's claims; SSO login then keeps membership in sync.",
    )


class MemberForm(ServiceErrorsMixin, forms.Form):
    user = UserField(label="User", help_text="Username or email.")


class OnboardForm(ProjectForm):
    """The one-page "Onboard a developer" form: the project's name and slug, then who and what."""

    developer = UserField(help_text="Username or email of an existing user.")
    group_name = forms.CharField(
        max_length=200, required=False, label="Group",
        help_text="Optional; default <slug>-developers. An existing group of that name is reused.",
    )
    idp_group = forms.CharField(
        max_length=255, required=False, label="Identity-provider group",
        help_text="Optional. Links the group to this IdP group so SSO login adds the rest of the team.",
    )
    role = forms.ChoiceField(choices=PROJECT_ROLE_CHOICES, initial=perms.ENV_TEMPLATE_USER)
    templates = forms.ModelMultipleChoiceField(
        queryset=None, required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Shared with the new project, so the developer can create environments from them.",
    )

    def __init__(self, *args, templates, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["templates"].queryset = templates
        self.fields["templates"].label_from_instance = lambda t: f"{t.name} ({t.project.name})"


class ProjectQuotaForm(ServiceErrorsMixin, forms.Form):
    max_environments = forms.IntegerField(
        min_value=0, required=False, label="Active environments in the project",
        help_text="Environments not yet destroyed. Empty: no limit.",
    )
    max_environments_per_user = forms.IntegerField(
        min_value=0, required=False, label="Active environments per person",
        help_text="Counted by owner. Empty: no limit.",
    )


class ScimTokenForm(forms.Form):
    """A new SCIM bearer token for an identity provider."""

    name = forms.CharField(
        max_length=200, label="Name", help_text="Which identity provider uses it, e.g. “Okta production”.",
    )


# --- Single sign-on (engineer "sso") --------------------------------------------------------------------

class GroupMappingRuleForm(ServiceErrorsMixin, forms.Form):
    """A rule bringing IdP groups into Terrace at sign-in (see rbac.models.GroupMappingRule)."""

    match = forms.ChoiceField(choices=GroupMappingRule.MATCH_CHOICES, initial=GroupMappingRule.EXACT)
    pattern = forms.CharField(max_length=255, label="IdP group name, prefix or expression",
                              help_text="Case-sensitive. A regular expression must match the whole name.")
    provider = forms.ChoiceField(choices=GroupMappingRule.PROVIDER_CHOICES, required=False, label="Sign-ins through")
    group = forms.ModelChoiceField(
        queryset=Group.objects.exclude(source=Group.LOCAL), to_field_name="name", required=False,
        label="Portal group", widget=forms.TextInput,
        help_text="Optional: every matching IdP group gives membership of this group (an SSO-managed group; "
                  "local groups are never changed by sign-ins). Empty: the group linked to each IdP group.",
        error_messages={"invalid_choice": "No SSO-managed group with this name (local groups cannot be targets)."},
    )
    auto_create = forms.BooleanField(
        required=False, label="Create missing groups",
        help_text="Create a portal group for a matching IdP group that has none (without a portal group above).",
    )
