from django.contrib import admin

from rbac.models import AuditEvent, Group, Membership, Project, RoleBinding

admin.site.register(Project)
admin.site.register(Group)
admin.site.register(Membership)
admin.site.register(RoleBinding)
admin.site.register(AuditEvent)
