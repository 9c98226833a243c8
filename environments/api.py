"""REST API for templates, environments and runs (mounted at /api/v1/ by portal.urls).

Three hops like the pages: URL → view → selector/service. Reads go through `environments.selectors` (which
scope every query with `rbac.scoping.scope()`), writes through `environments.services` (which re-check the
acting user's permissions); objects outside the user's scope answer 404. Variable values are validated by
the same form as the Create Environment page, and its errors come back under `variables.<name>`.
"""
import json

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from environments import selectors, services, streams
from environments.forms import FIELD_PREFIX, EnvironmentForm, EnvironmentUpdateForm
from environments.models import Environment, Run, Template, TemplateVersion
from portal.api import ApiError, ApiView, StrictInputSerializer, query_params, validated
from portal.api_base import bearer, token_user
from rbac import permissions as perms
from rbac.audit import client_ip
from rbac.scoping import has_perm
from rbac.tokens import InvalidToken

# --- Serializers ---------------------------------------------------------------------------------------

class TemplateVersionSerializer(serializers.ModelSerializer):
    template = serializers.IntegerField(source="template_id", read_only=True)
    template_slug = serializers.CharField(source="template.slug", read_only=True)
    variables = serializers.SerializerMethodField(help_text="The variable schema parsed from variables.tf "
                                                            "(defaults of sensitive variables left out).")
    outputs = serializers.JSONField(help_text="The outputs declared in outputs.tf.")

    class Meta:
        model = TemplateVersion
        fields = ["id", "template", "template_slug", "version", "state", "source", "source_ref", "source_url",
                  "source_path", "resolved_commit", "variables", "outputs", "changelog", "created_at", "published_at"]

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_variables(self, version):
        return _public_variables(version.variables)


def _public_variables(variables):
    """The variable schema without the default values of sensitive variables (secrets never leave)."""
    return [dict(v, default=None) if v.get("sensitive") and "default" in v else v for v in variables]


class TemplateVersionBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = TemplateVersion
        fields = ["id", "version", "state", "source", "created_at"]


class TemplateSerializer(serializers.ModelSerializer):
    project = serializers.SlugField(source="project.slug", read_only=True)
    latest_version = serializers.SerializerMethodField()

    class Meta:
        model = Template
        fields = ["id", "slug", "name", "description", "category", "icon", "project", "latest_version",
                  "requires_approval", "default_ttl_hours", "max_ttl_hours", "created_at"]

    @extend_schema_field(TemplateVersionBriefSerializer(allow_null=True))
    def get_latest_version(self, template):
        published = [v for v in template.version_list if v.state == TemplateVersion.PUBLISHED]
        latest = published[0] if published else None
        return TemplateVersionBriefSerializer(latest).data if latest else None


class TemplateDetailSerializer(TemplateSerializer):
    versions = serializers.SerializerMethodField()
    shares = serializers.SerializerMethodField()

    class Meta(TemplateSerializer.Meta):
        fields = TemplateSerializer.Meta.fields + ["readme", "versions", "shares"]

    @extend_schema_field(TemplateVersionBriefSerializer(many=True))
    def get_versions(self, template):
        return TemplateVersionBriefSerializer(template.version_list, many=True).data

    @extend_schema_field(serializers.ListField(child=serializers.CharField(), allow_null=True,
                                               help_text="Project slugs ('*' = all projects); null unless you "
                                                         "may share this template."))
    def get_shares(self, template):
        if not has_perm(self.context["request"].user, perms.TEMPLATE_SHARE, template.project):
            return None
        return [s.project.slug if s.project else "*" for s in template.shares.select_related("project")]


class ShareSerializer(StrictInputSerializer):
    project = serializers.CharField(max_length=63, help_text="A project slug, or '*' for all projects.")


class TemplateImportSerializer(StrictInputSerializer):
    project = serializers.SlugField(max_length=63, help_text="The project that will own the template.")
    catalog = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=100,
                                     help_text="A folder of the bundled catalogue, e.g. hello-sandbox.")
    publish = serializers.BooleanField(default=False, help_text="Publish the imported version at once.")


class TemplateCreateSerializer(StrictInputSerializer):
    project = serializers.SlugField(max_length=63, help_text="The project that will own the template.")
    slug = serializers.SlugField(max_length=100)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    category = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    icon = serializers.CharField(required=False, allow_blank=True, default="", max_length=50)


class GitImportSerializer(StrictInputSerializer):
    version = serializers.CharField(max_length=50, help_text="The new version's name, e.g. 1.2.0.")
    ref = serializers.CharField(required=False, allow_blank=True, default="", max_length=200,
                                help_text="Branch, tag or commit (default: the repository's HEAD).")
    url = serializers.CharField(required=False, max_length=500,
                                help_text="Repository URL (default: the one set on the template).")
    path = serializers.CharField(required=False, allow_blank=True, max_length=300,
                                 help_text="Folder inside the repository (default: the template's).")
    changelog = serializers.CharField(required=False, allow_blank=True, default="", max_length=10000)


class UploadImportSerializer(serializers.Serializer):
    archive = serializers.FileField(help_text="A .zip or .tar.gz of the module.")
    version = serializers.CharField(max_length=50)
    path = serializers.CharField(required=False, allow_blank=True, default="", max_length=300,
                                 help_text="Folder inside the archive holding the module.")
    changelog = serializers.CharField(required=False, allow_blank=True, default="", max_length=10000)


class EnvironmentUpdateSerializer(StrictInputSerializer):
    version = serializers.CharField(required=False, max_length=50,
                                    help_text="Target version of the environment's template (default: its current).")
    template_version = serializers.IntegerField(required=False, min_value=1, help_text="Or the version's id.")
    variables = serializers.DictField(child=serializers.JSONField(), required=False, default=dict,
                                      help_text="Values to change; others keep their current value.")


class RunSerializer(serializers.ModelSerializer):
    environment = serializers.IntegerField(source="environment_id", read_only=True)
    environment_name = serializers.CharField(source="environment.name", read_only=True)
    project = serializers.SlugField(source="environment.project.slug", read_only=True)
    triggered_by = serializers.CharField(source="triggered_by.username", read_only=True, allow_null=True,
                                         default=None)
    plan_summary = serializers.JSONField(allow_null=True)
    decided_by = serializers.CharField(source="decided_by.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Run
        fields = ["id", "environment", "environment_name", "project", "operation", "status", "gate",
                  "triggered_by", "created_at", "started_at", "planned_at", "finished_at", "exit_code",
                  "plan_summary", "error", "cancel_requested_at", "decided_by", "decided_at", "decision_comment"]


class EnvironmentSerializer(serializers.ModelSerializer):
    project = serializers.SlugField(source="project.slug", read_only=True)
    template = serializers.SlugField(source="template_version.template.slug", read_only=True)
    template_version = serializers.IntegerField(source="template_version_id", read_only=True)
    version = serializers.CharField(source="template_version.version", read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True, allow_null=True, default=None)
    variables = serializers.JSONField(help_text="Non-sensitive values as set (defaults are not repeated).")
    sensitive_variables_set = serializers.SerializerMethodField()
    outputs = serializers.JSONField(help_text="Terraform outputs; sensitive ones redacted.")

    class Meta:
        model = Environment
        fields = ["id", "name", "project", "template", "template_version", "version", "owner", "status",
                  "status_reason", "variables", "sensitive_variables_set", "outputs", "expires_at",
                  "created_at", "updated_at"]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_sensitive_variables_set(self, environment):
        """Names only: sensitive values are write-only."""
        if not environment.secret_variables:
            return []
        return sorted(services.environment_secret_values(environment))


class EnvironmentDetailSerializer(EnvironmentSerializer):
    runs = serializers.SerializerMethodField()
    active_run = serializers.SerializerMethodField()

    class Meta(EnvironmentSerializer.Meta):
        fields = EnvironmentSerializer.Meta.fields + ["active_run", "runs"]

    def _runs(self, environment):
        if not hasattr(environment, "_api_runs"):
            runs = environment.runs.select_related("triggered_by", "decided_by", "environment__project")
            environment._api_runs = list(runs.order_by("-created_at")[:20])
        return environment._api_runs

    @extend_schema_field(RunSerializer(allow_null=True))
    def get_active_run(self, environment):
        run = next((r for r in self._runs(environment) if r.is_active), None)
        return RunSerializer(run).data if run else None

    @extend_schema_field(RunSerializer(many=True))
    def get_runs(self, environment):
        return RunSerializer(self._runs(environment), many=True).data


class EnvironmentCreateSerializer(StrictInputSerializer):
    project = serializers.SlugField(max_length=63)
    name = serializers.SlugField(max_length=63, help_text="Lowercase letters, digits and hyphens.")
    template = serializers.SlugField(max_length=100, required=False,
                                     help_text="Template slug; its latest published version unless `version`.")
    version = serializers.CharField(max_length=50, required=False)
    template_version = serializers.IntegerField(required=False, min_value=1,
                                                help_text="A template version id, instead of template/version.")
    variables = serializers.DictField(child=serializers.JSONField(), required=False, default=dict,
                                      help_text="Variable values: JSON values, or text as typed in the form.")
    lifetime_hours = serializers.IntegerField(required=False, min_value=1, max_value=24 * 365 * 10,
                                              help_text="Hours until it expires (default: the template's).")

    def validate(self, data):
        if not data.get("template") and not data.get("template_version"):
            raise serializers.ValidationError({"template": ["Give a template slug or a template_version id."]})
        return data


class ExtendSerializer(StrictInputSerializer):
    expires_at = serializers.DateTimeField(required=False, allow_null=True,
                                           help_text="The new expiry; null for none (if the template allows).")
    hours = serializers.IntegerField(required=False, min_value=1, max_value=24 * 365 * 10,
                                     help_text="Or: expire this many hours from now.")

    def validate(self, data):
        if ("expires_at" in data) == ("hours" in data):
            raise serializers.ValidationError({"expires_at": ["Give either expires_at or hours."]})
        return data


class DecisionSerializer(StrictInputSerializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ForgetSerializer(StrictInputSerializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class EnvironmentCreatedSerializer(serializers.Serializer):
    environment = EnvironmentSerializer()
    run = RunSerializer()


class RunEventSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    time = serializers.DateTimeField()
    kind = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    data = serializers.JSONField(allow_null=True)


class RunEventsPageSerializer(serializers.Serializer):
    run = serializers.IntegerField()
    status = serializers.CharField()
    events = RunEventSerializer(many=True)
    next = serializers.IntegerField(help_text="Pass as `after` to get the following events.")
    finished = serializers.BooleanField(help_text="True once the run ended and every event was returned.")


# --- Query parameters (validated: a bad filter is a 400 with the parameter's name) ---------------------

ENV_ORDERING = ["created_at", "-created_at", "name", "-name", "updated_at", "-updated_at", "status", "-status"]
RUN_ORDERING = ["created_at", "-created_at", "finished_at", "-finished_at"]


class EnvironmentFilterSerializer(serializers.Serializer):
    project = serializers.SlugField(required=False, help_text="Project slug.")
    status = serializers.ChoiceField(choices=Environment.STATUS_CHOICES, required=False)
    live = serializers.BooleanField(required=False, default=False, help_text="Leave out destroyed environments.")
    template = serializers.SlugField(required=False, help_text="Template slug.")
    owner = serializers.CharField(required=False, max_length=150, help_text="Owner's username ('me' for you).")
    name = serializers.SlugField(required=False, max_length=63)
    updated_after = serializers.DateTimeField(required=False, help_text="Only environments changed since then.")
    ordering = serializers.ChoiceField(choices=ENV_ORDERING, required=False, default="-created_at")


class RunFilterSerializer(serializers.Serializer):
    project = serializers.SlugField(required=False)
    environment = serializers.IntegerField(required=False, min_value=1)
    status = serializers.ChoiceField(choices=Run.STATUS_CHOICES, required=False)
    operation = serializers.ChoiceField(choices=Run.OPERATION_CHOICES, required=False)
    ordering = serializers.ChoiceField(choices=RUN_ORDERING, required=False, default="-created_at")


class TemplateFilterSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, max_length=200, help_text="Part of the name.")
    category = serializers.CharField(required=False, max_length=100)
    project = serializers.SlugField(required=False, help_text="Only templates usable in this project.")


class TemplateVersionFilterSerializer(serializers.Serializer):
    template = serializers.SlugField(required=False, help_text="Template slug.")
    state = serializers.ChoiceField(choices=TemplateVersion.STATE_CHOICES, required=False)


class EventsQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(required=False, default=0, min_value=0,
                                     help_text="Events with seq greater than this (the SSE stream's cursor).")
    limit = serializers.IntegerField(required=False, default=1000, min_value=1, max_value=5000)


# --- Templates -----------------------------------------------------------------------------------------

def _project_field(request, slug):
    """The project a body names, among those the user can see (else a field error: no existence leak)."""
    project = selectors.project_list(request.user).filter(slug=slug).first()
    if project is None:
        raise ApiError("No such project.", fields={"project": ["No such project (or not visible to you)."]})
    return project


def _versions_prefetch(queryset):
    from django.db.models import Prefetch

    return queryset.prefetch_related(
        Prefetch("versions", queryset=TemplateVersion.objects.order_by("-created_at"), to_attr="version_list")
    )


@extend_schema(tags=["templates"])
class TemplateViewSet(ApiView, viewsets.ReadOnlyModelViewSet):
    """Templates you may see: owned by one of your projects, or shared with it."""

    serializer_class = TemplateSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return _versions_prefetch(selectors.template_list(self.request.user)).order_by("name", "pk")

    def get_serializer_class(self):
        return TemplateDetailSerializer if self.action == "retrieve" else TemplateSerializer

    @extend_schema(parameters=[TemplateFilterSerializer])
    def list(self, request):
        f = query_params(request, TemplateFilterSerializer)
        qs = self.get_queryset()
        if f.get("q"):
            qs = qs.filter(name__icontains=f["q"])
        if f.get("category"):
            qs = qs.filter(category=f["category"])
        if f.get("project"):
            project = selectors.project_list(request.user).filter(slug=f["project"]).first()
            if project is None:
                raise ApiError("No such project.", fields={"project": ["No such project."]})
            usable = selectors.template_versions_for_project(request.user, project).values("template_id")
            qs = qs.filter(pk__in=usable)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(TemplateSerializer(page, many=True, context={"request": request}).data)

    def _template(self, request, pk):
        """The template to share, 404 if out of sight, 403 (before reading the body, like the page) if the user
        may not share it; the service checks again."""
        template = get_object_or_404(selectors.template_list(request.user), pk=pk)
        if not has_perm(request.user, perms.TEMPLATE_SHARE, template.project):
            raise PermissionDenied("You may not share this template.")
        return template

    def _target(self, request, slug):
        if slug == "*":
            return None
        target = selectors.project_list(request.user).filter(slug=slug).first()
        if target is None:
            raise ApiError("No such project.", fields={"project": ["No such project (or not visible to you)."]})
        return target

    @extend_schema(request=ShareSerializer, responses=TemplateDetailSerializer)
    @action(detail=True, methods=["post"])
    def share(self, request, pk=None):
        """Share the template with a project ('*': every project)."""
        template = self._template(request, pk)
        data = validated(ShareSerializer, request.data)
        services.template_share(template, self._target(request, data["project"]), actor=request.user)
        return self._detail(request, pk)

    @extend_schema(request=ShareSerializer, responses=TemplateDetailSerializer)
    @action(detail=True, methods=["post"])
    def unshare(self, request, pk=None):
        """Stop sharing the template with a project; its existing environments keep working."""
        template = self._template(request, pk)
        data = validated(ShareSerializer, request.data)
        services.template_unshare(template, self._target(request, data["project"]), actor=request.user)
        return self._detail(request, pk)

    def _detail(self, request, pk):
        template = self.get_queryset().get(pk=pk)
        return Response(TemplateDetailSerializer(template, context={"request": request}).data)

    def _managed(self, request, pk):
        """A visible template (404 otherwise) that the user may manage (403 before the body is read, like
        sharing; the import services check again)."""
        template = get_object_or_404(selectors.template_list(request.user), pk=pk)
        if not has_perm(request.user, perms.TEMPLATE_MANAGE, template.project):
            raise PermissionDenied("You may not manage templates of this project.")
        return template

    @extend_schema(request=TemplateCreateSerializer, responses={201: TemplateSerializer})
    def create(self, request):
        """A new, empty template owned by a project (import its versions next)."""
        data = validated(TemplateCreateSerializer, request.data)
        project = _project_field(request, data["project"])
        template = services.template_create(request.user, project, slug=data["slug"], name=data["name"],
                                            description=data["description"], category=data["category"],
                                            icon=data["icon"], ip=client_ip(request))
        template = self.get_queryset().get(pk=template.pk)
        return Response(TemplateSerializer(template).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=GitImportSerializer, responses={201: TemplateVersionSerializer},
                   operation_id="templates_import_git")
    @action(detail=True, methods=["post"], url_path="versions/git", url_name="import-git")
    def import_git(self, request, pk=None):
        """Import a Git ref as a new draft version (records the resolved commit)."""
        template = self._managed(request, pk)
        data = validated(GitImportSerializer, request.data)
        version = services.template_version_import_git(
            request.user, template, version=data["version"], ref=data["ref"], url=data.get("url"),
            path=data.get("path"), changelog=data["changelog"], ip=client_ip(request))
        return Response(TemplateVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(request={"multipart/form-data": UploadImportSerializer}, responses={201: TemplateVersionSerializer},
                   operation_id="templates_import_upload")
    @action(detail=True, methods=["post"], url_path="versions/upload", url_name="import-upload",
            parser_classes=[MultiPartParser])
    def import_upload(self, request, pk=None):
        """Import an uploaded .zip / .tar.gz as a new draft version (every entry checked)."""
        from environments.template_views import MAX_UPLOAD

        template = self._managed(request, pk)
        data = validated(UploadImportSerializer, request.data)
        upload = data["archive"]
        if upload.size > MAX_UPLOAD:
            raise ApiError(f"{upload.name}: larger than {MAX_UPLOAD // (1024 * 1024)} MiB.",
                           fields={"archive": [f"Larger than {MAX_UPLOAD // (1024 * 1024)} MiB."]})
        version = services.template_version_import_archive(
            request.user, template, filename=upload.name, data=upload.read(), version=data["version"],
            path=data["path"], changelog=data["changelog"], ip=client_ip(request))
        return Response(TemplateVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=TemplateImportSerializer, responses={201: TemplateVersionSerializer})
    @action(detail=False, methods=["post"], url_path="import")
    def import_catalog(self, request):
        """Import a folder of the bundled catalogue as a (draft, unless `publish`) version of a project's template."""
        data = validated(TemplateImportSerializer, request.data)
        project = _project_field(request, data["project"])
        folder = settings.CATALOG_DIR / data["catalog"]
        if not (folder.is_dir() and any(folder.glob("*.tf"))):
            raise ApiError("No such catalogue folder.", fields={"catalog": ["No such catalogue folder."]})
        version = services.template_version_import_folder(request.user, project, folder, ip=client_ip(request))
        if data["publish"] and version.state == TemplateVersion.DRAFT:
            version = services.template_version_publish(request.user, version, ip=client_ip(request))
        return Response(TemplateVersionSerializer(version).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["templates"])
class TemplateVersionViewSet(ApiView, viewsets.ReadOnlyModelViewSet):
    """Versions of the templates you may see, with their variable and output schema."""

    serializer_class = TemplateVersionSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        templates = selectors.template_list(self.request.user).values("pk")
        qs = TemplateVersion.objects.filter(template__in=templates).select_related("template")
        return qs.order_by("template__name", "-created_at", "pk")

    @extend_schema(parameters=[TemplateVersionFilterSerializer])
    def list(self, request):
        f = query_params(request, TemplateVersionFilterSerializer)
        qs = self.get_queryset()
        if f.get("template"):
            qs = qs.filter(template__slug=f["template"])
        if f.get("state"):
            qs = qs.filter(state=f["state"])
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(TemplateVersionSerializer(page, many=True).data)

    def _transition(self, request, pk, service):
        version = get_object_or_404(self.get_queryset(), pk=pk)
        version = service(request.user, version, ip=client_ip(request))
        return Response(TemplateVersionSerializer(version).data)

    @extend_schema(request=None, responses=TemplateVersionSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        """draft → published: new environments may use it; older environments see "update available"."""
        return self._transition(request, pk, services.template_version_publish)

    @extend_schema(request=None, responses=TemplateVersionSerializer)
    @action(detail=True, methods=["post"])
    def deprecate(self, request, pk=None):
        """published → deprecated: existing environments keep working; no new ones."""
        return self._transition(request, pk, services.template_version_deprecate)


# --- Environments --------------------------------------------------------------------------------------

def _as_form_text(value):
    """A JSON value as the create form would receive it typed in (the form then parses it back)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _form_errors(form, variables):
    """The form's errors, plus values it has no field for, as API field paths (`variables.<name>`)."""
    errors = {}
    for key in variables:
        if FIELD_PREFIX + key not in form.fields:
            known = any(v["name"] == key for v in form.version.variables)
            errors[f"variables.{key}"] = ["Set by the platform; it cannot be given." if known
                                          else "This template has no such variable."]
        elif form.fields[FIELD_PREFIX + key].disabled:
            errors[f"variables.{key}"] = ["Locked by the platform team; it cannot be changed."]
    if not form.is_valid():
        for field, messages in form.errors.items():
            path = f"variables.{field[len(FIELD_PREFIX):]}" if field.startswith(FIELD_PREFIX) else field
            errors.setdefault(path, []).extend(messages)
    if errors:
        first_path, first = next(iter(errors.items()))
        raise ApiError(first[0] if first_path == "__all__" else f"{first_path}: {first[0]}", fields=errors)


def _form_data(variables):
    return {FIELD_PREFIX + key: _as_form_text(value) for key, value in variables.items()}


def validate_environment_input(version, name, variables):
    """(name, values) through the Create Environment form; its errors as API field paths."""
    form = EnvironmentForm(version, {"name": name, **_form_data(variables)})
    _form_errors(form, variables)
    return form.cleaned_data["name"], form.cleaned_data["values"]


def validate_update_input(version, environment, variables):
    """Values through the Update form (unset ones keep their current value); errors as API field paths."""
    form = EnvironmentUpdateForm(version, _form_data(variables), environment=environment)
    _form_errors(form, variables)
    return form.cleaned_data["values"]


@extend_schema(tags=["environments"])
class EnvironmentViewSet(ApiView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Environments you may see; create one from a template shared with the project; destroy or retry it."""

    serializer_class = EnvironmentSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.environment_list(self.request.user)

    def get_serializer_class(self):
        return EnvironmentDetailSerializer if self.action == "retrieve" else EnvironmentSerializer

    @extend_schema(parameters=[EnvironmentFilterSerializer])
    def list(self, request):
        f = query_params(request, EnvironmentFilterSerializer)
        qs = self.get_queryset()
        if f.get("project"):
            qs = qs.filter(project__slug=f["project"])
        if f.get("status"):
            qs = qs.filter(status=f["status"])
        if f.get("live"):
            qs = qs.exclude(status=Environment.DESTROYED)
        if f.get("template"):
            qs = qs.filter(template_version__template__slug=f["template"])
        if f.get("owner"):
            qs = qs.filter(owner=request.user) if f["owner"] == "me" else qs.filter(owner__username=f["owner"])
        if f.get("name"):
            qs = qs.filter(name=f["name"])
        if f.get("updated_after"):
            qs = qs.filter(updated_at__gt=f["updated_after"])
        qs = qs.order_by(f["ordering"], "-pk")
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(EnvironmentSerializer(page, many=True).data)

    @extend_schema(request=EnvironmentCreateSerializer, responses={201: EnvironmentCreatedSerializer})
    def create(self, request):
        """Create an environment and queue its first apply; variables are checked like the form does."""
        data = validated(EnvironmentCreateSerializer, request.data)
        project = selectors.project_list(request.user).filter(slug=data["project"]).first()
        if project is None:
            raise ApiError("No such project.", fields={"project": ["No such project (or not visible to you)."]})
        if not has_perm(request.user, perms.ENVIRONMENT_CREATE, project):
            raise PermissionDenied("You may not create environments in this project.")
        versions = selectors.template_versions_for_project(request.user, project)
        if data.get("template_version"):
            version = versions.filter(pk=data["template_version"]).first()
            field = "template_version"
        else:
            of_template = versions.filter(template__slug=data["template"])
            field = "version" if data.get("version") and of_template.exists() else "template"
            if data.get("version"):
                of_template = of_template.filter(version=data["version"])
            version = of_template.order_by("-created_at").first()
        if version is None:
            raise ApiError("No such published template version available to this project.",
                           fields={field: ["Not a published template version available to this project."]})
        name, values = validate_environment_input(version, data["name"], data["variables"])
        try:
            environment, run = services.environment_create(
                request.user, project, version, name, values, lifetime_hours=data.get("lifetime_hours"),
                ip=client_ip(request))
        except services.InvalidRequest as exc:
            if isinstance(exc, (services.QuotaExceeded, services.PolicyViolation)):
                raise  # the exception handler gives them their code and field paths
            field = getattr(exc, "field", None) or ("name" if "named" in str(exc) else None)
            raise ApiError(str(exc), fields={field: [str(exc)]} if field else {})
        environment = self.get_queryset().get(pk=environment.pk)
        return Response({"environment": EnvironmentSerializer(environment).data, "run": RunSerializer(run).data},
                        status=status.HTTP_201_CREATED)

    def _queue(self, request, pk, service):
        environment = get_object_or_404(self.get_queryset(), pk=pk)
        run = service(request.user, environment, ip=client_ip(request))
        run = selectors.run_list(request.user).get(pk=run.pk)
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    # Named destroy_environment because DRF reserves `destroy` for DELETE; the URL is …/destroy/.
    @extend_schema(request=None, responses={202: RunSerializer}, operation_id="environments_destroy")
    @action(detail=True, methods=["post"], url_path="destroy", url_name="destroy")
    def destroy_environment(self, request, pk=None):
        """Queue `terraform destroy`; answers the run to follow."""
        return self._queue(request, pk, services.environment_destroy)

    @extend_schema(request=None, responses={202: RunSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Run apply again on a failed environment (same version and variables)."""
        return self._queue(request, pk, services.environment_retry)

    @extend_schema(request=EnvironmentUpdateSerializer, responses={202: RunSerializer},
                   operation_id="environments_update")
    @action(detail=True, methods=["post"], url_path="update", url_name="update")
    def update_environment(self, request, pk=None):
        """Change variables and/or move to another version of its template. The plan waits for confirmation
        (POST /runs/{id}/approve/ once you have seen it), then is applied."""
        environment = get_object_or_404(self.get_queryset(), pk=pk)
        data = validated(EnvironmentUpdateSerializer, request.data)
        versions = TemplateVersion.objects.filter(template=environment.template_version.template_id)
        if data.get("template_version"):
            version, field = versions.filter(pk=data["template_version"]).first(), "template_version"
        elif data.get("version"):
            version, field = versions.filter(version=data["version"]).first(), "version"
        else:
            version, field = environment.template_version, None
        if version is None:
            raise ApiError("No such version of this environment's template.",
                           fields={field: ["No such version of this environment's template."]})
        values = validate_update_input(version, environment, data["variables"])
        update = services.environment_update_request(request.user, environment, version, values, ip=client_ip(request))
        run = selectors.run_list(request.user).get(pk=update.run_id)
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=ExtendSerializer, responses=EnvironmentSerializer)
    @action(detail=True, methods=["post"])
    def extend(self, request, pk=None):
        """Move the environment's expiry (its owner or a project admin; at most the template's maximum)."""
        environment = get_object_or_404(self.get_queryset(), pk=pk)
        data = validated(ExtendSerializer, request.data)
        if "hours" in data:
            from datetime import timedelta

            from django.utils import timezone

            expires_at = timezone.now() + timedelta(hours=data["hours"])
        else:
            expires_at = data["expires_at"]
        try:
            services.environment_extend(environment, request.user, expires_at, ip=client_ip(request))
        except services.InvalidRequest as exc:
            field = "hours" if "hours" in data and exc.field == "expires_at" else exc.field
            raise ApiError(str(exc), fields={field: [str(exc)]} if field else {})
        return Response(EnvironmentSerializer(self.get_queryset().get(pk=pk)).data)

    @extend_schema(request=ForgetSerializer, responses=EnvironmentSerializer)
    @action(detail=True, methods=["post"])
    def forget(self, request, pk=None):
        """Mark a failed environment as cleaned up without Terraform (project admins); leftovers are audited."""
        environment = get_object_or_404(self.get_queryset(), pk=pk)
        data = validated(ForgetSerializer, request.data)
        services.environment_forget(request.user, environment, data["note"], ip=client_ip(request))
        return Response(EnvironmentSerializer(self.get_queryset().get(pk=pk)).data)



# --- Runs ----------------------------------------------------------------------------------------------

@extend_schema(tags=["runs"])
class RunViewSet(ApiView, viewsets.ReadOnlyModelViewSet):
    """Runs of the environments you may see."""

    serializer_class = RunSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.run_list(self.request.user).select_related("decided_by")

    @extend_schema(parameters=[RunFilterSerializer])
    def list(self, request):
        f = query_params(request, RunFilterSerializer)
        qs = self.get_queryset()
        if f.get("project"):
            qs = qs.filter(environment__project__slug=f["project"])
        if f.get("environment"):
            qs = qs.filter(environment_id=f["environment"])
        if f.get("status"):
            qs = qs.filter(status=f["status"])
        if f.get("operation"):
            qs = qs.filter(operation=f["operation"])
        qs = qs.order_by(f["ordering"], "-pk")
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(RunSerializer(page, many=True).data)

    @extend_schema(request=None, responses={202: RunSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a run: a queued one ends at once, a running one is interrupted (state written is kept)."""
        run = get_object_or_404(self.get_queryset(), pk=pk)
        services.run_cancel(request.user, run, ip=client_ip(request))
        return Response(RunSerializer(self.get_queryset().get(pk=run.pk)).data, status=status.HTTP_202_ACCEPTED)

    def _decide(self, request, pk, service):
        run = get_object_or_404(self.get_queryset(), pk=pk)
        data = validated(DecisionSerializer, request.data)
        service(run, request.user, data["comment"], ip=client_ip(request))
        return Response(RunSerializer(self.get_queryset().get(pk=run.pk)).data)

    @extend_schema(request=DecisionSerializer, responses=RunSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve (or confirm) a plan awaiting a decision: the saved plan is applied."""
        return self._decide(request, pk, services.run_approve)

    @extend_schema(request=DecisionSerializer, responses=RunSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Reject a plan awaiting a decision: nothing is applied."""
        return self._decide(request, pk, services.run_reject)

    @extend_schema(parameters=[EventsQuerySerializer], responses=RunEventsPageSerializer)
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        """The run's log after sequence number `after` (the cursor of the live stream), `limit` at most."""
        run = get_object_or_404(self.get_queryset(), pk=pk)
        q = query_params(request, EventsQuerySerializer)
        events = selectors.run_events_after(run, q["after"], q["limit"])
        return Response({
            "run": run.pk,
            "status": run.status,
            "events": [e.as_dict() for e in events],
            "next": events[-1].seq if events else q["after"],
            "finished": run.status in Run.FINISHED and len(events) < q["limit"],
        })


def _stream_user(request):
    """The user of a stream request: a bearer token if one is sent, else the session. None: not signed in."""
    raw = bearer(request.headers.get("Authorization"))
    if raw is None:
        return None
    user, _token = token_user(raw)
    return user


async def run_events_stream(request, pk):
    """GET /api/v1/runs/<pk>/events/stream/ — the live log as SSE, for API tokens (or the session).

    The same stream as the run page's (`environments.streams`): `id: <seq>`, `Last-Event-ID` or `?after=N`.
    """
    try:
        user = await sync_to_async(_stream_user)(request)
    except InvalidToken as exc:
        response = HttpResponse(str(exc), status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="terrace"'
        return response
    if user is None:
        user = await request.auser()
    if not user.is_authenticated:
        response = HttpResponse("Authentication required.", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="terrace"'
        return response
    try:
        return await streams.run_events_response(request, user, pk)
    except Http404:
        return HttpResponse("Not found.", status=404, content_type="text/plain")


# --- Router --------------------------------------------------------------------------------------------

def register(router):
    router.register("templates", TemplateViewSet, basename="templates")
    router.register("template-versions", TemplateVersionViewSet, basename="template-versions")
    router.register("environments", EnvironmentViewSet, basename="environments")
    router.register("runs", RunViewSet, basename="runs")

