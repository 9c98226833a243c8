"""Who may do what: projects, groups, memberships and role bindings."""
import re

from django.conf import settings
from django.db import models
from django.db.models import Q

from rbac.permissions import ROLE_CHOICES


class Project(models.Model):
    """A tenant: environments live in exactly one project; templates are owned by one."""

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Quotas on environments that are not destroyed; empty: no limit.
    max_environments = models.PositiveIntegerField(null=True, blank=True)
    max_environments_per_user = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Group(models.Model):
    """A set of users; `source` says who manages membership (local admins, or an IdP via login or SCIM)."""

    LOCAL, OIDC, SAML, SCIM = "local", "oidc", "saml", "scim"
    SOURCE_CHOICES = [(LOCAL, "Local"), (OIDC, "OIDC"), (SAML, "SAML"), (SCIM, "SCIM")]

    name = models.CharField(max_length=200, unique=True)
    source = models.CharField(max_length=10, choices=SOURCE_CHOICES, default=LOCAL)
    external_id = models.CharField(max_length=255, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="portal_groups")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    """A user in a group, remembering where the membership came from."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    source = models.CharField(max_length=10, choices=Group.SOURCE_CHOICES, default=Group.LOCAL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "user"], name="membership_unique")]


class RoleBinding(models.Model):
    """A user or a group holds a role in one project, or org-wide when `project` is empty."""

    role = models.CharField(max_length=32, choices=ROLE_CHOICES)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="bindings")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False, group__isnull=True) | Q(user__isnull=True, group__isnull=False)),
                name="rolebinding_user_xor_group",
            ),
        ]
        indexes = [models.Index(fields=["user", "role"]), models.Index(fields=["group", "role"])]

    def __str__(self):
        who = self.user or self.group
        return f"{who} is {self.role} in {self.project or 'the organisation'}"


class AuditEvent(models.Model):
    """Who did what to which object, when and from where."""

    scope_project_field = "project"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True, help_text="'system' for the worker and beat")
    action = models.CharField(max_length=64)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["-created_at"]), models.Index(fields=["project", "-created_at"])]


# --- SCIM provisioning ---------------------------------------------------------------------------------

class ScimToken(models.Model):
    """A bearer token an identity provider uses to push users and groups over SCIM.

    Only a SHA-256 of the token is stored: the token is random (256 bits), so a fast hash is enough and lets
    each request find its token with one indexed lookup. The clear token is shown once, when created.
    """

    name = models.CharField(max_length=200, help_text="Which identity provider uses it, e.g. 'Okta production'.")
    prefix = models.CharField(max_length=32, help_text="The first characters, to recognise the token in lists.")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"


class ScimUser(models.Model):
    """What SCIM knows of a user beyond Django's own columns.

    The identity provider's `externalId`, and the SCIM attributes Terrace keeps without using them (phone
    numbers, the enterprise extension, ...), so that what an IdP writes it reads back unchanged. `userName`,
    `active`, the primary email and the name are mirrored into the User row, which stays the truth for login.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scim")
    external_id = models.CharField(max_length=255, blank=True, db_index=True)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class ScimGroup(models.Model):
    """Creation and change times of a group pushed over SCIM (the `meta` SCIM asks for; Group has none)."""

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="scim")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


# --- Single sign-on: group mapping rules and provider status (engineer "sso") ------------------------------

class GroupMappingRule(models.Model):
    """Which identity-provider groups a sign-in brings into Terrace, and into which portal group.

    Without any rule, an IdP group reaches only a portal group linked to it by `Group.external_id`. A rule
    matches IdP group names exactly, by prefix or by regular expression; a match goes to `group` when set,
    else to the group linked to that IdP group name, created on the spot when `auto_create` is on. So a
    prefix or regex rule is the filter that keeps an IdP's hundreds of groups out of Terrace.
    """

    EXACT, PREFIX, REGEX = "exact", "prefix", "regex"
    MATCH_CHOICES = [(EXACT, "Exact name"), (PREFIX, "Name starts with"), (REGEX, "Regular expression")]
    ANY_PROVIDER = ""
    PROVIDER_CHOICES = [(ANY_PROVIDER, "Any SSO provider"), ("oidc", "OpenID Connect"), ("saml", "SAML")]

    match = models.CharField(max_length=10, choices=MATCH_CHOICES, default=EXACT)
    pattern = models.CharField(max_length=255)
    provider = models.CharField(max_length=10, choices=PROVIDER_CHOICES, blank=True, default=ANY_PROVIDER)
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="mapping_rules",
        help_text="Portal group the matching IdP groups go to; empty: the group linked to each IdP group name.",
    )
    auto_create = models.BooleanField(
        default=False, help_text="Create a portal group for a matching IdP group that has none yet."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pattern", "pk"]

    def __str__(self):
        return f"{self.get_match_display()} {self.pattern!r}"

    def matches(self, provider, name):
        """True when this rule applies to the IdP group `name` seen at a sign-in through `provider`."""
        if self.provider and self.provider != provider:
            return False
        if self.match == self.EXACT:
            return name == self.pattern
        if self.match == self.PREFIX:
            return name.startswith(self.pattern)
        return re.fullmatch(self.pattern, name) is not None


class SsoProviderStatus(models.Model):
    """The last successful and the last failed sign-in per SSO provider, for the SSO status page."""

    provider_id = models.CharField(max_length=64, unique=True)
    last_login_at = models.DateTimeField(null=True, blank=True)
    last_login_username = models.CharField(max_length=150, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    def __str__(self):
        return self.provider_id
