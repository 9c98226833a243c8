"""Values every page may use; computed only when a template reads them."""
from django.utils.functional import SimpleLazyObject

from rbac import permissions as perms
from rbac.models import Project
from rbac.scoping import scope


def navigation(request):
    def can_administer():
        return scope(Project.objects.all(), request.user, perms.PROJECT_MANAGE).exists()

    return {"can_administer": SimpleLazyObject(can_administer)}
