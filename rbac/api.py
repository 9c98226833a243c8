"""REST API for projects, groups and role bindings (mounted at /api/v1/ by portal.urls).

Same rules as the admin pages: projects go through `scope()` (404 when you cannot see one, 403 when you see it
but may not manage it); groups are organisation-wide, so only org admins list or change them (403 for everyone
else); role bindings are visible to whoever may manage them. Writes go through `rbac.services`, which re-check
permissions and write the audit trail.
"""
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from portal.api import ApiError, ApiView, StrictInputSerializer, query_params, validated
from rbac import permissions as perms
from rbac import services
from rbac.audit import client_ip
from rbac.models import Group, Membership, Project, RoleBinding
from rbac.scoping import has_org_perm, scope


def _require_org_admin(request):
    if not has_org_perm(request.user, perms.ORG_MANAGE):
        raise PermissionDenied("Only org admins may manage groups.")


# --- Serializers ---------------------------------------------------------------------------------------

class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "slug", "name", "description", "created_at"]


class ProjectCreateSerializer(StrictInputSerializer):
    slug = serializers.CharField(max_length=63)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class MemberSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "source", "created_at"]


class GroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = Group
        fields = ["id", "name", "source", "external_id"]


class GroupDetailSerializer(GroupSerializer):
    members = serializers.SerializerMethodField()

    class Meta(GroupSerializer.Meta):
        fields = GroupSerializer.Meta.fields + ["members"]

    @extend_schema_field(MemberSerializer(many=True))
    def get_members(self, group):
        return MemberSerializer(group.membership_set.select_related("user").order_by("user__username"),
                                many=True).data



class GroupCreateSerializer(StrictInputSerializer):
    name = serializers.CharField(max_length=200)
    external_id = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class MemberAddSerializer(StrictInputSerializer):
    user = serializers.CharField(max_length=150, help_text="Username.")


class RoleBindingSerializer(serializers.ModelSerializer):
    project = serializers.SlugField(source="project.slug", read_only=True, allow_null=True, default=None)
    user = serializers.CharField(source="user.username", read_only=True, allow_null=True, default=None)
    group = serializers.CharField(source="group.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = RoleBinding
        fields = ["id", "role", "project", "user", "group", "created_at"]


class RoleBindingCreateSerializer(StrictInputSerializer):
    role = serializers.ChoiceField(choices=perms.ROLE_CHOICES)
    project = serializers.SlugField(required=False, allow_null=True, default=None,
                                    help_text="Project slug; empty for an org-wide binding.")
    user = serializers.CharField(required=False, allow_null=True, default=None, max_length=150)
    group = serializers.CharField(required=False, allow_null=True, default=None, max_length=200)


class RoleBindingFilterSerializer(serializers.Serializer):
    project = serializers.SlugField(required=False, help_text="Project slug ('*' is not a slug: use org=true).")
    org = serializers.BooleanField(required=False, default=False, help_text="Only org-wide bindings.")


# --- Projects ------------------------------------------------------------------------------------------

@extend_schema(tags=["projects"])
class ProjectViewSet(ApiView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Projects you hold a role in (all of them for org admins); org admins create them."""

    serializer_class = ProjectSerializer
    lookup_field = "slug"
    lookup_value_regex = r"[a-z0-9-]+"

    def get_queryset(self):
        return scope(Project.objects.all(), self.request.user, perms.PROJECT_VIEW).order_by("name", "pk")

    @extend_schema(request=ProjectCreateSerializer, responses={201: ProjectSerializer})
    def create(self, request):
        data = validated(ProjectCreateSerializer, request.data)
        project = services.project_create(request.user, slug=data["slug"], name=data["name"],
                                          description=data["description"], ip=client_ip(request))
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


# --- Groups --------------------------------------------------------------------------------------------

@extend_schema(tags=["groups"])
class GroupViewSet(ApiView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Groups (organisation-wide): org admins only."""

    serializer_class = GroupSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return Group.objects.order_by("name", "pk")

    def get_serializer_class(self):
        return GroupDetailSerializer if self.action == "retrieve" else GroupSerializer

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        _require_org_admin(request)

    @extend_schema(request=GroupCreateSerializer, responses={201: GroupSerializer})
    def create(self, request):
        data = validated(GroupCreateSerializer, request.data)
        group = services.group_create(request.user, name=data["name"], external_id=data["external_id"],
                                      ip=client_ip(request))
        return Response(GroupSerializer(group).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MemberAddSerializer, responses={201: MemberSerializer})
    @action(detail=True, methods=["post"])
    def members(self, request, pk=None):
        """Add a user to the group."""
        group = get_object_or_404(self.get_queryset(), pk=pk)
        data = validated(MemberAddSerializer, request.data)
        user = get_user_model().objects.filter(username=data["user"]).first()
        if user is None:
            raise ApiError("No such user.", fields={"user": ["No such user."]})
        membership = services.membership_add(request.user, group, user, ip=client_ip(request))
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"members/(?P<membership_id>\d+)", url_name="member")
    def member_remove(self, request, pk=None, membership_id=None):
        """Remove a membership from the group."""
        group = get_object_or_404(self.get_queryset(), pk=pk)
        membership = get_object_or_404(Membership.objects.select_related("user", "group"), group=group,
                                       pk=membership_id)
        services.membership_remove(request.user, membership, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Role bindings -------------------------------------------------------------------------------------

def role_bindings_visible(user):
    """Bindings the user may manage: of the projects where they hold project.manage, plus the org-wide ones for
    org admins (the same rule `rbac.services` applies to changes)."""
    managed = scope(Project.objects.all(), user, perms.PROJECT_MANAGE).values("pk")
    qs = RoleBinding.objects.select_related("project", "user", "group")
    if has_org_perm(user, perms.ORG_MANAGE):
        return qs.filter(Q(project__in=managed) | Q(project__isnull=True))
    return qs.filter(project__in=managed)


@extend_schema(tags=["role-bindings"])
class RoleBindingViewSet(ApiView, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                         viewsets.GenericViewSet):
    """Role bindings you may manage; create and delete them."""

    serializer_class = RoleBindingSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return role_bindings_visible(self.request.user).order_by("pk")

    @extend_schema(parameters=[RoleBindingFilterSerializer])
    def list(self, request):
        f = query_params(request, RoleBindingFilterSerializer)
        qs = self.get_queryset()
        if f.get("project"):
            qs = qs.filter(project__slug=f["project"])
        if f.get("org"):
            qs = qs.filter(project__isnull=True)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(RoleBindingSerializer(page, many=True).data)

    @extend_schema(request=RoleBindingCreateSerializer, responses={201: RoleBindingSerializer})
    def create(self, request):
        data = validated(RoleBindingCreateSerializer, request.data)
        project = None
        if data["project"]:
            project = scope(Project.objects.all(), request.user, perms.PROJECT_VIEW).filter(
                slug=data["project"]).first()
            if project is None:
                raise ApiError("No such project.", fields={"project": ["No such project (or not visible to you)."]})
        user = group = None
        if data["user"]:
            user = get_user_model().objects.filter(username=data["user"]).first()
            if user is None:
                raise ApiError("No such user.", fields={"user": ["No such user."]})
        if data["group"]:
            group = Group.objects.filter(name=data["group"]).first()
            if group is None:
                raise ApiError("No such group.", fields={"group": ["No such group."]})
        binding = services.role_binding_create(request.user, role=data["role"], project=project, user=user,
                                               group=group, ip=client_ip(request))
        return Response(RoleBindingSerializer(binding).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        binding = get_object_or_404(self.get_queryset(), pk=pk)
        services.role_binding_delete(request.user, binding, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


def register(router):
    router.register("projects", ProjectViewSet, basename="projects")
    router.register("groups", GroupViewSet, basename="groups")
    router.register("role-bindings", RoleBindingViewSet, basename="role-bindings")
