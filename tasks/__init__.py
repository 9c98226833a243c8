"""Worker side: Celery tasks (thin) and the Terraform runner."""
