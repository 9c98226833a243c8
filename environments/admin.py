from django.contrib import admin

from environments.models import Environment, Run, Template, TemplateShare, TemplateVersion

admin.site.register(Template)
admin.site.register(TemplateVersion)
admin.site.register(TemplateShare)
admin.site.register(Environment)
admin.site.register(Run)
