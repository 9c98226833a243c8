"""Write the offline Terraform provider mirror and CLI config used by the embedded mode and tests."""
from django.conf import settings
from django.core.management.base import BaseCommand

from tasks.runner.toolchain import find_null_provider, toolchain_write


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        config = toolchain_write(settings.TERRAFORM_TOOLCHAIN_DIR)
        provider = find_null_provider()
        self.stdout.write(f"Terraform binary: {settings.TERRAFORM_BIN}")
        self.stdout.write(f"CLI config: {config} (null provider: {provider or 'not found'})")
