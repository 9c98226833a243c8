"""Execute one queued run in the foreground (debugging): `manage.py run_execute RUN_ID`."""
from django.core.management.base import BaseCommand

from tasks.runner.execute import execute_run


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)

    def handle(self, *args, run_id, **options):
        status = execute_run(run_id, worker="manage.py")
        self.stdout.write(f"run {run_id}: {status or 'not queued'}")
