"""SCIM representations (RFC 7643) of Terrace users and groups, built on scim2-models, and the discovery documents.

The models published in /Schemas are the models requests are validated with, so what the server says it
supports and what it accepts cannot drift apart.
"""
import hashlib
import json
from typing import Annotated, Any, ClassVar

from pydantic import Field
from scim2_models import (
    URN,
    AuthenticationScheme,
    Bulk,
    CaseExact,
    ChangePassword,
    ComplexAttribute,
    Context,
    EnterpriseUser,
    ETag,
    Filter,
    Meta,
    Mutability,
    Patch,
    Reference,
    Required,
    Resource,
    ResourceType,
    SchemaExtension,
    ServiceProviderConfig,
    Sort,
    User,
)

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 100

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

UserResource = User[EnterpriseUser]


class GroupMember(ComplexAttribute):
    """A member of a group: Terrace groups hold users only (no nested groups)."""

    value: Annotated[str | None, Mutability.immutable, CaseExact.true] = None
    """Identifier of the member (a User id)."""

    ref: Annotated[Reference["User"] | None, Mutability.immutable] = Field(
        None, serialization_alias="$ref", validation_alias="$ref"
    )
    """The URI of the member User."""

    type: Annotated[str | None, Mutability.immutable] = Field(None, examples=["User"])
    """The type of the member: always 'User'."""


class Group(Resource[Any]):
    """A Terrace group pushed by an identity provider."""

    __schema__ = URN(GROUP_URN)

    display_name: Annotated[str | None, Required.true] = None
    """The group's name in Terrace."""

    members: list[GroupMember] | None = None
    """The users in the group."""

    Members: ClassVar[type[ComplexAttribute]] = GroupMember


GroupResource = Group


def etag_of(payload):
    """A weak ETag over a resource's content (meta excluded): it changes whenever the resource does."""
    body = json.dumps({k: v for k, v in payload.items() if k != "meta"}, sort_keys=True, default=str)
    return 'W/"' + hashlib.sha256(body.encode()).hexdigest()[:20] + '"'


def _meta(resource_type, location, created, modified):
    return {"resourceType": resource_type, "location": location, "created": created.isoformat(),
            "lastModified": modified.isoformat()}


# --- Users ---------------------------------------------------------------------------------------------

def user_scim(user):
    """The user's ScimUser row, or None for a user SCIM never wrote."""
    try:
        return user.scim
    except user._meta.get_field("scim").related_model.DoesNotExist:
        return None


def _derived_attributes(user):
    """SCIM attributes of a user SCIM never wrote, from Django's columns."""
    attrs = {"schemas": [USER_URN]}
    name = {k: v for k, v in (("givenName", user.first_name), ("familyName", user.last_name)) if v}
    if name:
        attrs["name"] = name
    if user.get_full_name():
        attrs["displayName"] = user.get_full_name()
    if user.email:
        attrs["emails"] = [{"value": user.email, "primary": True}]
    return attrs


def user_payload(user, base, scim_groups):
    """The SCIM document of `user` (a dict); `scim_groups` are the SCIM groups it belongs to as (pk, name)."""
    scim = user_scim(user)
    attrs = dict(scim.attributes) if scim else _derived_attributes(user)
    payload = {**attrs, "id": str(user.pk), "userName": user.username}
    # `active` unassigned means active; a deactivated user always says so.
    if scim is None or "active" in attrs or not user.is_active:
        payload["active"] = user.is_active
    if scim and scim.external_id:
        payload["externalId"] = scim.external_id
    if scim_groups:
        payload["groups"] = [
            {"value": str(pk), "$ref": f"{base}/Groups/{pk}", "display": name, "type": "direct"}
            for pk, name in scim_groups
        ]
    created = scim.created_at if scim else user.date_joined
    modified = scim.updated_at if scim else user.date_joined
    payload["meta"] = _meta("User", f"{base}/Users/{user.pk}", min(created, user.date_joined), modified)
    payload["meta"]["version"] = etag_of(payload)
    return payload


def user_model(payload):
    """The scim2-models object of a stored user document."""
    return UserResource.model_validate(payload)


def user_attributes_to_store(model):
    """What ScimUser.attributes keeps of a validated user: everything but Terrace's own columns and secrets."""
    data = model.model_dump(scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    for key in ("id", "meta", "userName", "externalId", "groups", "password"):
        data.pop(key, None)
    return data


# --- Groups --------------------------------------------------------------------------------------------

def group_payload(group, base, member_ids):
    """The SCIM document of a SCIM group (a dict)."""
    payload = {"schemas": [GROUP_URN], "id": str(group.pk), "displayName": group.name}
    if group.external_id:
        payload["externalId"] = group.external_id
    if member_ids:
        payload["members"] = [{"value": str(pk), "$ref": f"{base}/Users/{pk}", "type": "User"}
                              for pk in sorted(member_ids)]
    scim = getattr(group, "scim", None)
    created = scim.created_at if scim else None
    modified = scim.updated_at if scim else None
    if created:
        payload["meta"] = _meta("Group", f"{base}/Groups/{group.pk}", created, modified)
    else:
        payload["meta"] = {"resourceType": "Group", "location": f"{base}/Groups/{group.pk}"}
    payload["meta"]["version"] = etag_of(payload)
    return payload


def group_model(payload):
    return GroupResource.model_validate(payload)


# --- Discovery -----------------------------------------------------------------------------------------

def service_provider_config(base):
    config = ServiceProviderConfig(
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_PAGE_SIZE),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=True),
        authentication_schemes=[AuthenticationScheme(
            type="oauthbearertoken", name="Bearer token",
            description="A SCIM token created by an org admin under Administration → SCIM tokens.", primary=True,
        )],
        meta=Meta(resource_type="ServiceProviderConfig", location=f"{base}/ServiceProviderConfig"),
    )
    return config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


def resource_types(base):
    """{id: document} of the resource types served."""
    user = ResourceType(
        id="User", name="User", endpoint="/Users", description="Terrace users", schema_=USER_URN,
        schema_extensions=[SchemaExtension(schema_=ENTERPRISE_URN, required=False)],
        meta=Meta(resource_type="ResourceType", location=f"{base}/ResourceTypes/User"),
    )
    group = ResourceType(
        id="Group", name="Group", endpoint="/Groups", description="Terrace groups managed by SCIM",
        schema_=GROUP_URN, meta=Meta(resource_type="ResourceType", location=f"{base}/ResourceTypes/Group"),
    )
    return {rt.id: rt.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE) for rt in (user, group)}


def schemas(base):
    """{urn: document} of the schemas served: the ones requests are validated with."""
    out = {}
    for model in (UserResource, EnterpriseUser, GroupResource):
        schema = model.to_schema()
        schema.meta = Meta(resource_type="Schema", location=f"{base}/Schemas/{schema.id}")
        out[schema.id] = schema.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return out
