from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"

    def ready(self):
        from allauth.account.signals import user_logged_in

        from portal.adapters import sso_user_logged_in

        # Group sync at every SSO sign-in (the signal carries the sociallogin; local sign-ins pass through).
        user_logged_in.connect(sso_user_logged_in, dispatch_uid="terrace_sso_group_sync")
