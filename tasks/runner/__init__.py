"""The Terraform runner: everything that happens in a worker between claiming a run and recording its end."""
